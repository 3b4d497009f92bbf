"""Intent accuracy of the trained model on the held-out set (nlu/tests/heldout/).

The held-out utterances are never used for training. Each is sent to the running Rasa
server's ``/model/parse``; a prediction of ``nlu_fallback`` counts as a miss. English must
reach 0.95, Kiswahili and code-mixed 0.90.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from tests.support.processes import rasa_api_params

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
HELDOUT = ROOT / "nlu" / "tests" / "heldout"
THRESHOLDS = {"en": 0.95, "sw": 0.90, "mixed": 0.90}


@dataclass(frozen=True)
class Example:
    lang: str
    intent: str
    text: str


def read_examples(path: Path, lang: str) -> list[Example]:
    """The examples of a Rasa NLU YAML file (``- intent: x`` + ``examples: |`` blocks).

    A deliberately small reader for the plain format used in nlu/tests/heldout/.
    """
    examples: list[Example] = []
    intent: str | None = None
    for raw in path.read_text("utf-8").splitlines():
        line = raw.strip()
        if line.startswith("- intent:"):
            intent = line.removeprefix("- intent:").strip()
        elif intent and raw.startswith("      - "):
            examples.append(Example(lang, intent, line.removeprefix("- ").strip()))
    return examples


def heldout() -> list[Example]:
    return [ex for lang in THRESHOLDS for ex in read_examples(HELDOUT / f"{lang}.yml", lang)]


async def predict(session: aiohttp.ClientSession, url: str, text: str) -> str:
    parse = f"{url}/model/parse"
    async with session.post(parse, json={"text": text}, params=rasa_api_params()) as response:
        response.raise_for_status()
        body = await response.json()
    return (body.get("intent") or {}).get("name") or ""


async def predict_all(url: str, examples: list[Example]) -> list[str]:
    limit = asyncio.Semaphore(8)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def one(example: Example) -> str:
            async with limit:
                return await predict(session, url, example.text)

        return await asyncio.gather(*(one(ex) for ex in examples))


def report(examples: list[Example], predicted: list[str]) -> dict[str, float]:
    """Prints accuracy per language and per topic, and the misses; returns per language."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    per_topic: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    misses: list[str] = []
    for example, guess in zip(examples, predicted, strict=True):
        hit = int(guess == example.intent)
        for bucket in (totals[example.lang], per_topic[(example.lang, example.intent)]):
            bucket[0] += hit
            bucket[1] += 1
        if not hit:
            misses.append(f"  [{example.lang}] {example.intent} -> {guess}: {example.text}")
    accuracy = {lang: ok / n for lang, (ok, n) in totals.items()}
    print("\nheld-out intent accuracy")
    for lang, value in accuracy.items():
        print(f"  {lang:5} {value:.3f} ({totals[lang][0]}/{totals[lang][1]})")
    for (lang, intent), (ok, n) in sorted(per_topic.items()):
        print(f"  {lang:5} {intent:18} {ok}/{n}")
    print("misses:", *misses, sep="\n")
    return accuracy


def test_heldout_set_has_enough_examples_per_topic() -> None:
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for example in heldout():
        counts[(example.lang, example.intent)] += 1
    assert counts, "no held-out examples found"
    for lang in THRESHOLDS:
        intents = {intent for (lg, intent) in counts if lg == lang}
        assert "out_of_scope" in intents
        for intent in intents:
            assert counts[(lang, intent)] >= 8, (lang, intent)


def test_heldout_is_not_in_the_training_data() -> None:
    training = {
        ex.text.lower()
        for path in (ROOT / "nlu" / "data").glob("*.yml")
        for ex in read_examples(path, "train")
    }
    leaked = [ex.text for ex in heldout() if ex.text.lower() in training]
    assert not leaked


async def test_heldout_intent_accuracy(rasa_server) -> None:
    examples = heldout()
    predicted = await predict_all(rasa_server.url, examples)
    accuracy = report(examples, predicted)
    for lang, threshold in THRESHOLDS.items():
        assert accuracy[lang] >= threshold, f"{lang}: {accuracy[lang]:.3f} < {threshold}"
