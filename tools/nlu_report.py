"""Score a running Rasa server on the held-out utterances (nlu/tests/heldout/).

Used by tests/e2e/test_nlu_heldout.py, and on its own against any server, e.g. one started
from a model trained elsewhere::

    .venv/bin/python -m tools.nlu_report --url http://127.0.0.1:5105 --token x

Each utterance goes to ``/model/parse``; ``nlu_fallback`` counts as a miss. The report
(accuracy per language, precision/recall/support per intent, the most frequent confusions)
is printed and saved as ``var/nlu-report/heldout.{json,txt}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
HELDOUT = ROOT / "nlu" / "tests" / "heldout"
TRAINING = ROOT / "nlu" / "data"
REPORT_DIR = ROOT / "var" / "nlu-report"
LANGUAGES = ("en", "sw", "mixed")
TOP_CONFUSIONS = 15


@dataclass(frozen=True)
class Example:
    lang: str
    intent: str
    text: str


@dataclass(frozen=True)
class IntentScore:
    intent: str
    precision: float
    recall: float
    support: int


@dataclass(frozen=True)
class Confusion:
    expected: str
    predicted: str
    count: int


@dataclass(frozen=True)
class Miss:
    lang: str
    expected: str
    predicted: str
    text: str


@dataclass(frozen=True)
class Report:
    accuracy: dict[str, float]
    intents: list[IntentScore]
    confusions: list[Confusion]
    misses: list[Miss]

    def recall(self, intent: str) -> float:
        return next(score.recall for score in self.intents if score.intent == intent)


def read_examples(path: Path, lang: str) -> list[Example]:
    """The examples of a Rasa NLU YAML file (``- intent: x`` + ``examples: |`` blocks).

    A deliberately small reader for the plain format of nlu/data/ and nlu/tests/heldout/.
    """
    examples: list[Example] = []
    intent: str | None = None
    in_block = False
    for raw in path.read_text("utf-8").splitlines():
        line = raw.strip()
        if line.startswith("- intent:"):
            intent, in_block = line.removeprefix("- intent:").strip(), False
        elif line == "examples: |":
            in_block = intent is not None
        elif in_block and raw.startswith("      - "):
            examples.append(Example(lang, intent or "", line.removeprefix("- ").strip()))
        elif line and not line.startswith("#"):
            in_block = False
    return examples


def heldout() -> list[Example]:
    return [ex for lang in LANGUAGES for ex in read_examples(HELDOUT / f"{lang}.yml", lang)]


def training_texts() -> set[str]:
    """Every training utterance, lower-cased: the held-out set must share none of them."""
    return {
        ex.text.lower() for path in TRAINING.glob("*.yml") for ex in read_examples(path, "train")
    }


async def predict_all(url: str, token: str, examples: Sequence[Example]) -> list[str]:
    """The intent the server predicts for each example, in order."""
    limit = asyncio.Semaphore(8)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def one(example: Example) -> str:
            async with (
                limit,
                session.post(
                    f"{url}/model/parse", json={"text": example.text}, params={"token": token}
                ) as response,
            ):
                response.raise_for_status()
                body = await response.json()
            return str((body.get("intent") or {}).get("name") or "")

        return await asyncio.gather(*(one(ex) for ex in examples))


def score(examples: Sequence[Example], predicted: Sequence[str]) -> Report:
    """Accuracy per language; precision and recall per intent over all languages."""
    per_lang: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    support: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    guessed: Counter[str] = Counter()
    confusions: Counter[tuple[str, str]] = Counter()
    misses: list[Miss] = []
    for example, guess in zip(examples, predicted, strict=True):
        hit = guess == example.intent
        per_lang[example.lang][0] += hit
        per_lang[example.lang][1] += 1
        support[example.intent] += 1
        guessed[guess] += 1
        if hit:
            hits[example.intent] += 1
        else:
            confusions[(example.intent, guess)] += 1
            misses.append(Miss(example.lang, example.intent, guess, example.text))
    intents = [
        IntentScore(
            intent,
            precision=hits[intent] / guessed[intent] if guessed[intent] else 0.0,
            recall=hits[intent] / n,
            support=n,
        )
        for intent, n in sorted(support.items())
    ]
    return Report(
        accuracy={lang: ok / n for lang, (ok, n) in per_lang.items()},
        intents=intents,
        confusions=[Confusion(a, b, n) for (a, b), n in confusions.most_common(TOP_CONFUSIONS)],
        misses=misses,
    )


def render(report: Report, totals: Mapping[str, int]) -> str:
    lines = ["held-out intent accuracy"]
    lines += [
        f"  {lang:5} {value:.3f} ({round(value * totals[lang])}/{totals[lang]})"
        for lang, value in report.accuracy.items()
    ]
    lines += ["", f"  {'intent':28} precision  recall  support"]
    lines += [
        f"  {s.intent:28} {s.precision:9.3f} {s.recall:7.3f} {s.support:8}" for s in report.intents
    ]
    lines += ["", "top confusions (expected -> predicted: count)"]
    lines += [f"  {c.expected} -> {c.predicted}: {c.count}" for c in report.confusions]
    lines += ["", "misses"]
    lines += [f"  [{m.lang}] {m.expected} -> {m.predicted}: {m.text}" for m in report.misses]
    return "\n".join(lines) + "\n"


def save(report: Report, text: str, folder: Path = REPORT_DIR) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "heldout.json").write_text(json.dumps(asdict(report), indent=2, ensure_ascii=False))
    (folder / "heldout.txt").write_text(text, "utf-8")


async def evaluate(url: str, token: str) -> Report:
    """Scores the server at ``url``, prints the report and saves it under var/nlu-report/."""
    examples = heldout()
    report = score(examples, await predict_all(url, token, examples))
    text = render(report, Counter(ex.lang for ex in examples))
    print(text)
    save(report, text)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:5005")
    parser.add_argument("--token", required=True, help="the server's --auth-token")
    args = parser.parse_args()
    asyncio.run(evaluate(args.url, args.token))


if __name__ == "__main__":
    main()
