"""Which FAQ topics a search query is about.

First the bot's own understanding (Rasa's intent for the query, when it is sure enough and
names a menu topic); when Rasa is down or unsure, a keyword match over the answers as the
page renders them. The keyword match folds case and accents, ignores common words of both
languages (queries are often code-mixed) and compares word stems loosely, since Kiswahili
adds prefixes (``kuthibitisha``) and English suffixes (``validation``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import TypeVar

from ntsa_assistant.faq.answers import MENU_TOPICS, Topic, topic_command
from ntsa_assistant.protocol import Intent

# Rasa's confidence below which its reading of a query is not trusted to pick the answer.
CONFIDENCE_FLOOR = 0.5
# Longer queries are cut to this many characters before anything reads them.
MAX_QUERY_LENGTH = 200

# Common words of both languages: they say nothing about the topic.
_COMMON_WORDS = """
the and for how what when where which who why does did can could should would you your are
was were will with from that this have has not about into there their our its get got any
all need want know tell please
na ya wa kwa la za ni je nini gani lini vipi kama au hii hiyo huu ile kwenye katika kuhusu
sana tu pia bado ndiyo hapana mimi wewe yangu yako nataka naomba tafadhali jinsi
"""
_STOPWORDS = frozenset(_COMMON_WORDS.split())
# Each menu topic's own intent, and the chat's actions whose page section is a topic.
_INTENT_TO_TOPIC = {
    **{topic_command(topic): topic for topic in MENU_TOPICS},
    Intent.TRAINING_REGISTER.value: Topic.TRAINING,
    Intent.HUMAN_HANDOFF.value: Topic.CONTACT,
}

T = TypeVar("T")


def fold(text: str) -> str:
    """Lower case without accents: ``Élan`` → ``elan``."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def words(text: str) -> list[str]:
    return re.findall(r"\w+", fold(text))


def stems(query: str) -> list[str]:
    """The query's meaningful words, each cut to a stem (at least 4 letters are kept)."""
    found: list[str] = []
    for word in words(query[:MAX_QUERY_LENGTH]):
        if len(word) < 3 or word in _STOPWORDS:
            continue
        stem = word[: max(4, len(word) - 3)]
        if stem not in found:
            found.append(stem)
    return found


def keyword_matches(
    query: str, documents: Mapping[T, Sequence[str]], title_weight: int = 2
) -> list[T]:
    """The documents that share a stem with ``query``, best first (ties keep their order).

    A document is its title followed by its texts; a stem found in the title counts more.
    """
    wanted = stems(query)
    if not wanted:
        return []
    scored: list[tuple[int, int, T]] = []
    for position, (key, (title, *texts)) in enumerate(documents.items()):
        title_words = " ".join(words(title))
        body_words = " ".join(words(" ".join(texts)))
        score = sum(
            title_weight if stem in title_words else 1 if stem in body_words else 0
            for stem in wanted
        )
        if score:
            scored.append((-score, position, key))
    return [key for _, _, key in sorted(scored, key=lambda item: item[:2])]


def understood_topic(
    ranking: Iterable[tuple[str, float]], floor: float = CONFIDENCE_FLOOR
) -> Topic | None:
    """The menu topic Rasa's best intent names, if Rasa is sure enough; else None."""
    best = next(iter(ranking), None)
    if best is None:
        return None
    intent, confidence = best
    if confidence < floor:
        return None
    return _INTENT_TO_TOPIC.get(intent)
