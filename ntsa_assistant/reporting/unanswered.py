"""What the assistant missed: the messages it did not understand, grouped by similarity, and
a Rasa NLU draft of them for a person to label.

A missed message is a typed turn that fell back, the person's last words before a handoff
that two misses in a row led to, or their own words for a handoff when no topic fitted
("Something else"). The record keeps them masked and clipped; a person who wrote the same
thing twice counts once.

Grouping: each text is normalised (lower case, accents and punctuation dropped, masked
numbers as ``#``), the most common English and Kiswahili function words are left out (so
"how do I pay for my logbook" and "… my licence" stay apart), and what is left is compared
by the Jaccard similarity of its character trigrams, which tolerates typos, Sheng spellings
and word order. Greedily, the most frequent texts first, a text joins the group whose first
text it resembles most if that is at least :data:`SIMILAR`, else it starts a group. Plain
standard library: a few thousand messages take well under a second.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import LiteralScalarString

from ntsa_assistant.reporting.activity import NUMBER_MASK
from ntsa_assistant.reporting.metrics import LANGUAGES, UNKNOWN_LANGUAGE, Event, Period
from ntsa_assistant.storage.models import EventKind

SIMILAR = 0.4
DRAFT_INTENT = "label_me_{:02d}"
NLU_FORMAT_VERSION = "3.1"


class Source:
    FALLBACK = "fell back"
    MISSES = "handoff after misses"
    UNLISTED = "handoff: no topic fitted"


_SOURCES = {
    EventKind.TURN: Source.FALLBACK,
    EventKind.HANDOFF_OPENED: Source.MISSES,
    EventKind.HANDOFF_QUEUED: Source.UNLISTED,
}
_WORDS = re.compile(r"[^\w#]+")
_FUNCTION_WORD_LIST = """
    a an the my i me is are was were do does did how what when where why who which can could
    to for of in on at and or with it its this that be been have has had please your you our
    we am not no yes if from by about will would should there here so just get
    na ya wa za la kwa ni je mimi wewe yangu wangu langu changu yako nataka naomba tafadhali
    hii hiyo kama lakini au tu pia sana gani nini vipi
"""
_FUNCTION_WORDS = frozenset(_FUNCTION_WORD_LIST.split())
# Rasa reads "[text](entity)" in an example as an annotated entity.
_ENTITY_BRACKETS = str.maketrans("[]{}", "()()")


@dataclass(frozen=True)
class Missed:
    text: str
    language: str
    chat: str | None
    source: str


@dataclass
class Group:
    texts: Counter[str] = field(default_factory=Counter)  # text → how many times
    languages: Counter[str] = field(default_factory=Counter)
    sources: Counter[str] = field(default_factory=Counter)
    chats: set[str] = field(default_factory=set)
    _grams: frozenset[str] = frozenset()

    @property
    def count(self) -> int:
        return sum(self.texts.values())

    @property
    def people(self) -> int:
        return len(self.chats)

    @property
    def example(self) -> str:
        return self.texts.most_common(1)[0][0]

    def add(self, item: Missed, times: int = 1) -> None:
        self.texts[item.text] += times
        self.languages[item.language] += times
        self.sources[item.source] += times
        if item.chat is not None:
            self.chats.add(item.chat)


def missed(events: Iterable[Event], period: Period) -> list[Missed]:
    """The missed messages of the period, each (chat, text) once."""
    seen: set[tuple[str | None, str]] = set()
    found: list[Missed] = []
    for event in events:
        if not event.text or event.kind not in _SOURCES or not period.holds(event.at):
            continue
        if event.kind is EventKind.TURN and not event.fell_back:
            continue
        key = (event.chat, normalise(event.text))
        if key in seen:
            continue
        seen.add(key)
        language = event.language if event.language in LANGUAGES else UNKNOWN_LANGUAGE
        found.append(Missed(event.text, language, event.chat, _SOURCES[event.kind]))
    return found


def normalise(text: str) -> str:
    """``"Renew  my DL, ****!"`` → ``"renew my dl #"``."""
    text = text.replace(NUMBER_MASK, " # ").lower()
    text = "".join(
        ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch)
    )
    return " ".join(_WORDS.sub(" ", text).split())


def trigrams(text: str) -> frozenset[str]:
    words = normalise(text).split()
    content = [word for word in words if word not in _FUNCTION_WORDS] or words
    padded = f"  {' '.join(content)} "
    return frozenset(padded[i : i + 3] for i in range(len(padded) - 2))


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def group(items: Sequence[Missed], threshold: float = SIMILAR) -> list[Group]:
    """Groups of similar texts, the largest first (then by their example)."""
    by_text: dict[str, list[Missed]] = {}
    for item in items:
        by_text.setdefault(normalise(item.text), []).append(item)
    groups: list[Group] = []
    for _, same in sorted(by_text.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        grams = trigrams(same[0].text)
        best = max(groups, key=lambda g: similarity(grams, g._grams), default=None)
        if best is None or similarity(grams, best._grams) < threshold:
            best = Group(_grams=grams)
            groups.append(best)
        for item in same:
            best.add(item)
    return sorted(groups, key=lambda g: (-g.count, g.example))


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _languages(counts: Counter[str]) -> str:
    return " ".join(f"{lang} {n}" for lang, n in sorted(counts.items()))


def format_groups(groups: Sequence[Group], period: Period, *, examples: int = 3) -> list[str]:
    """The terminal list: count, people, languages and up to ``examples`` texts per group."""
    total = sum(g.count for g in groups)
    lines = [
        f"What the assistant missed, {period.first} to {period.last}: "
        f"{plural(total, 'message')} in {plural(len(groups), 'group')} (masked)"
    ]
    if not groups:
        return lines
    lines.append(f"{'count':>5}  {'people':>6}  {'languages':<11}  example")
    for one in groups:
        texts = [text for text, _ in one.texts.most_common(examples)]
        lines.append(
            f"{one.count:>5}  {one.people:>6}  {_languages(one.languages):<11}  {texts[0]}"
        )
        lines.extend(f"{'':>5}  {'':>6}  {'':<11}  {text}" for text in texts[1:])
    return lines


def nlu_draft(groups: Sequence[Group]) -> str:
    """A Rasa NLU training-data file (format 3.1): one placeholder intent per group, to be
    renamed to a real intent (or merged into one) by the person who labels it."""
    intents = CommentedSeq()
    for number, one in enumerate(groups, start=1):
        lines = "".join(f"- {text.translate(_ENTITY_BRACKETS)}\n" for text in one.texts)
        intents.append(
            CommentedMap(
                [
                    ("intent", DRAFT_INTENT.format(number)),
                    ("examples", LiteralScalarString(lines)),
                ]
            )
        )
        intents.yaml_set_comment_before_after_key(
            number - 1,
            before=f"{one.count} message(s) from {one.people} chat(s); {_languages(one.languages)}",
            indent=0,
        )
    document = CommentedMap([("version", NLU_FORMAT_VERSION), ("nlu", intents)])
    document.yaml_set_start_comment(
        "Draft from `ntsa-assistant report --export-nlu`: messages the assistant did not\n"
        "understand, grouped by similarity and masked. Rename each label_me_NN to the intent\n"
        "it should be (or drop it), check the examples, then move them into nlu/data/."
    )
    out = StringIO()
    yaml = YAML()
    yaml.width = 4096  # one example per line, however long
    yaml.dump(document, out)
    return out.getvalue()


def write_nlu_draft(groups: Sequence[Group], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(nlu_draft(groups), encoding="utf-8")
