"""What a person types where buttons are offered, read as the answer it stands for.

People on phones type as often as they tap: "ndiyo", "skip", "2", "hapana asante", the
button's own title with a typo. One pure function, :func:`read_answer`, reads such a text
against the choices a step offered and says which option it names and which of the
generic answers (yes, no, skip, cancel, back) it carries, in English, Kiswahili and common
Sheng or misspellings. It decides nothing: each step maps the reading to what it does
("no" skips the e-mail, but declines a shared phone), so a word means one thing per step.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum


class Word(StrEnum):
    """The generic answers a typed text may carry."""

    YES = "yes"
    NO = "no"
    SKIP = "skip"
    CANCEL = "cancel"
    BACK = "back"


# Whole (normalised) phrases and the answers they carry. "sitaki" (I don't want) both
# declines and stops; "hakuna" / "sina" (there is none / I have none) skip or decline.
_PHRASES: dict[str, frozenset[Word]] = {}


def _add(words: Iterable[Word], *phrases: str) -> None:
    for phrase in phrases:
        _PHRASES[phrase] = _PHRASES.get(phrase, frozenset()) | frozenset(words)


_add(
    [Word.YES],
    *("yes", "y", "yeah", "yea", "yep", "yup", "yap", "yah", "ya", "ok", "okay", "okey"),
    *("k", "kk", "sure", "alright", "confirm", "confirmed", "correct", "right", "fine"),
    *("go ahead", "go on", "continue", "proceed", "of course", "yes do it", "do it"),
    *("ndiyo", "ndio", "ndiyoo", "ndiop", "eeh", "ee", "eh", "ehe", "naam", "sawa", "poa"),
    *("sawa sawa", "ni sawa", "iko sawa", "sawa kabisa", "fiti", "freshi", "safi"),
    *("endelea", "thibitisha", "kubali", "nakubali", "haya", "yes sawa", "ok sawa"),
)
_add(
    [Word.NO],
    *("no", "n", "nope", "nah", "naa", "not now", "no way", "not really", "dont"),
    *("i dont want", "dont want", "i do not want", "i dont", "never"),
    *("hapana", "hapna", "la", "hakuna haja", "sipendi", "sitaki hiyo"),
)
_add(
    [Word.SKIP],
    *("skip", "skip it", "skip this", "ruka", "ruka hii", "none", "no email", "no e mail"),
    *("i dont have", "i dont have one", "i dont have email", "i have no email", "nil"),
    *("not applicable", "na", "n a", "nothing", "pass", "later", "next", "baadaye"),
    *("hakuna", "sina", "sina email", "sina e mail", "sina barua pepe", "hakuna email"),
    *("sina barua", "ruka tu", "endelea bila", "bila email", "without email"),
)
_add(
    [Word.NO, Word.CANCEL],
    *("sitaki", "sitaki tena", "sitaki kuendelea", "nimebadilisha nia"),
)
_add(
    [Word.CANCEL],
    *("cancel", "cancel it", "cancel that", "cancel this", "stop", "stop it", "stop this"),
    *("quit", "exit", "end", "abort", "forget it", "never mind", "nevermind", "leave it"),
    *("acha", "acha tu", "achana nayo", "wacha", "wacha tu", "simamisha", "sitisha"),
    *("ghairi", "basi", "basi tu", "tosha", "stop registration", "cancel registration"),
)
_add([Word.BACK], "back", "go back", "previous", "rudi", "rudi nyuma", "nyuma")

# Politeness and address around an answer ("yes please", "hapana asante boss").
_FILLERS = frozenset(
    {
        *("please", "pls", "plz", "pliz", "plis", "plse", "kindly", "thanks", "thx", "thank"),
        *("you", "tafadhali", "tafadhari", "asante", "asanti", "sana", "boss", "bro", "sir"),
        *("madam", "maze", "buda", "bana", "aki", "just", "tu", "jamani", "mkuu", "bwana"),
    }
)

# Words around an option's name ("I am a motorist", "mimi ni dealer").
_OPTION_FILLERS = _FILLERS | frozenset(
    {"i", "im", "am", "a", "an", "the", "my", "we", "are", "our", "for", "mimi", "ni", "sisi"}
)

_ORDINALS = {
    **{"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6},
    **{"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6},
    **{"kwanza": 1, "pili": 2, "tatu": 3, "nne": 4, "tano": 5, "sita": 6},
    **{"moja": 1, "mbili": 2},
}
# Words that may come before a number ("option 2", "namba 3", "ya pili", "the first one").
_NUMBER_MARKERS = frozenset(
    {"the", "no", "nr", "number", "num", "option", "choice", "namba", "nambari", "chaguo"}
    | {"ya", "la", "cha", "wa", "session", "kipindi"}
)
_NUMBER = re.compile(r"(\d{1,2})(?:st|nd|rd|th)?")


@dataclass(frozen=True)
class Reading:
    """What a typed text says at a step: the option it names (0-based index into the
    offered options), and the generic answers it carries."""

    option: int | None = None
    words: frozenset[Word] = frozenset()

    def says(self, *words: Word) -> bool:
        """Whether the text carries any of ``words``."""
        return any(word in self.words for word in words)


Option = str | Sequence[str]  # a button's title, or every name it goes by


def normalise(text: str) -> str:
    """Lower case, without accents, emoji or punctuation, single-spaced."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    letters = "".join(
        char if unicodedata.category(char)[0] in "LN" or char.isspace() else " "
        for char in decomposed
        if not unicodedata.combining(char)
    )
    return " ".join(letters.split())


def read_answer(
    text: str, options: Sequence[Option] = (), *, typos: bool = True, numbered: bool = True
) -> Reading:
    """Reads ``text`` against the offered ``options`` (in the order they were shown).

    The option is named by its number ("2", "namba 2", "the second one"), or by one of its
    names typed in full (case, accents and punctuation aside, a small typo forgiven), or by
    words found only in that option's name ("19 jan" for one session on that day). Where
    the text may just as well be a free answer (a name), ``typos=False`` reads the generic
    answers only as spelt, so that "Basil" is not taken for "basi" (enough). Where the
    options are not the numbered list the person sees (a lone "✖ Cancel" under a menu),
    ``numbered=False`` names them only by their names."""
    plain = normalise(text)
    names = [[normalise(n) for n in ([o] if isinstance(o, str) else o)] for o in options]
    return Reading(_option(plain, names, numbered), _words(plain, typos))


def pick(text: str, titles: Sequence[str]) -> int | None:
    """The menu option a typed text stands for, read strictly (for any menu, whatever it
    offers): its number, or its title typed in full (a small typo forgiven); in a menu of
    two whose titles say yes and no ("Yes, cancel it" / "No, keep it"), a yes or a no. Never
    a word that merely occurs in a title: "is training free?" does not press "Register for
    training". None when the text names no option, or more than one."""
    plain = normalise(text)
    names = [[normalise(title)] for title in titles]
    option = _option(plain, names, numbered=True, whole=True)
    if option is not None:
        return option
    if len(titles) == 2:
        says = [_words(_first_words(name[0]), typos=False) for name in names]
        typed = _words(plain, typos=True)
        for answer in (Word.YES, Word.NO):
            hits = {i for i, words in enumerate(says) if answer in words}
            if (
                answer in typed
                and len(hits) == 1
                and typed.isdisjoint({Word.YES, Word.NO} - {answer})
            ):
                return hits.pop()
    return None


def _first_words(title: str) -> str:
    """A confirm button's yes or no is its first word: "yes cancel it" → "yes"."""
    return title.split()[0] if title else ""


def _strip_fillers(plain: str) -> list[str]:
    return [token for token in plain.split() if token not in _FILLERS]


def _words(plain: str, typos: bool) -> frozenset[Word]:
    if plain in _PHRASES:
        return _PHRASES[plain]
    tokens = _strip_fillers(plain)
    if not tokens:
        return frozenset()
    found = _phrase_words(" ".join(tokens), typos)
    if found or len(tokens) == 1:
        return found
    per_token = [_phrase_words(token, typos) for token in tokens]
    if all(per_token):  # "ok sawa", "no no", "hapana sitaki": every word agrees
        return frozenset.intersection(*per_token)
    return frozenset()


def _phrase_words(phrase: str, typos: bool) -> frozenset[Word]:
    """The answers of one phrase: exact, with repeated letters squeezed ("yesss",
    "noooo"), or one typo away from a known phrase of four letters or more."""
    for candidate in (phrase, _squeeze(phrase)):
        if candidate in _PHRASES:
            return _PHRASES[candidate]
    if not typos:
        return frozenset()
    near = [
        words
        for known, words in _PHRASES.items()
        if len(known) >= 4 and abs(len(known) - len(phrase)) <= 1 and _distance(known, phrase) <= 1
    ]
    return frozenset.intersection(*near) if near else frozenset()


def _squeeze(phrase: str) -> str:
    return re.sub(r"(.)\1+", r"\1", phrase)


def _option(
    plain: str, names: list[list[str]], numbered: bool, *, whole: bool = False
) -> int | None:
    """The option named by number or by name; ``whole``: only by a whole name."""
    if not names or not plain:
        return None
    number = _number(plain)
    if number is not None:
        return number - 1 if numbered and 1 <= number <= len(names) else None
    for match in (_exact, _near) if whole else (_exact, _near, _contained):
        hits = {index for index, option in enumerate(names) if match(plain, option)}
        if len(hits) == 1:
            return hits.pop()
        if hits:
            return None  # names two options: ask again rather than guess
    return None


def _number(plain: str) -> int | None:
    tokens = plain.split()
    while len(tokens) > 1 and tokens[0] in _NUMBER_MARKERS:
        tokens = tokens[1:]
    if len(tokens) == 2 and tokens[1] == "one":  # "the first one", "second one"
        tokens = tokens[:1]
    if len(tokens) != 1:
        return None
    digits = _NUMBER.fullmatch(tokens[0])
    if digits:
        return int(digits.group(1))
    return _ORDINALS.get(tokens[0])


def _exact(plain: str, names: list[str]) -> bool:
    return plain in names


def _near(plain: str, names: list[str]) -> bool:
    return any(
        len(name) >= 4 and _distance(plain, name) <= max(1, len(name) // 8) for name in names
    )


def _contained(plain: str, names: list[str]) -> bool:
    """Every word typed is a word of the name, or its start (at least one word, not only
    fillers)."""
    tokens = [token for token in plain.split() if token not in _OPTION_FILLERS]
    if not tokens or len("".join(tokens)) < 2:
        return False
    return any(all(_word_in(token, name.split()) for token in tokens) for name in names)


def _word_in(token: str, words: list[str]) -> bool:
    """``token`` is one of ``words``, or the start of one ("jan" for "january")."""
    return any(word == token or (len(token) >= 3 and word.startswith(token)) for word in words)


def _distance(a: str, b: str) -> int:
    """Edit distance with adjacent transpositions ("cacnel" is one typo from "cancel")."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            cost = 0 if char_a == char_b else 1
            best = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                best = min(best, previous2[j - 2] + 1)
            current.append(best)
        previous2, previous = previous, current
    return previous[-1]
