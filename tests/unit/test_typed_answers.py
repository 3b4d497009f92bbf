"""Reading what people type where buttons are offered (ntsa_assistant.core.typed)."""

from __future__ import annotations

import pytest

from ntsa_assistant.core import typed
from ntsa_assistant.core.typed import Reading, Word, normalise, read_answer

YES, NO, SKIP, CANCEL, BACK = Word.YES, Word.NO, Word.SKIP, Word.CANCEL, Word.BACK


@pytest.mark.parametrize(
    ("text", "words"),
    [
        # English, with politeness, shouting, punctuation and stretched letters
        *[(w, {YES}) for w in ("yes", "Yes.", "YES!!", "yesss", "y", "ok", "Okay", "sure")],
        *[(w, {YES}) for w in ("yes please", "ok thanks", "go ahead", "yeah", "yep", "okey")],
        *[(w, {NO}) for w in ("no", "No.", "nope", "nah", "no thanks", "no thank you", "noooo")],
        *[(w, {SKIP}) for w in ("skip", "Skip it", "none", "None.", "later", "pass")],
        *[(w, {CANCEL}) for w in ("cancel", "Stop", "stop it", "quit", "never mind", "exit")],
        *[(w, {BACK}) for w in ("back", "go back", "previous")],
        # Kiswahili and Sheng
        *[(w, {YES}) for w in ("ndiyo", "Ndio", "sawa", "sawa sawa", "ni sawa", "poa", "eeh")],
        *[(w, {YES}) for w in ("ndiyo tafadhali", "sawa boss", "ok sawa", "naam", "haya")],
        *[(w, {NO}) for w in ("hapana", "Hapana asante", "hapana bana", "la", "sipendi")],
        *[(w, {SKIP}) for w in ("ruka", "Ruka!", "hakuna", "sina", "sina email", "baadaye")],
        *[(w, {SKIP}) for w in ("sina barua pepe", "hakuna email")],
        *[(w, {CANCEL}) for w in ("acha", "Acha tu", "wacha", "simamisha", "ghairi", "basi")],
        *[(w, {BACK}) for w in ("rudi", "rudi nyuma", "nyuma")],
        # "sitaki" (I don't want) declines and stops: each step decides which it means
        *[(w, {NO, CANCEL}) for w in ("sitaki", "Sitaki!", "sitaki tena", "sitaki kuendelea")],
        # one typo away from a word of four letters or more
        *[(w, {CANCEL}) for w in ("cancle", "cacnel", "cancell", "stpo", "acah")],
        *[(w, {SKIP}) for w in ("skp", "skipp", "rukaa")],
        *[(w, {YES}) for w in ("ndiy", "sawaa", "okayy")],
        *[(w, {NO}) for w in ("hapna", "hapanaa", "hpana")],
    ],
)
def test_generic_answers_in_both_languages(text: str, words: set[Word]) -> None:
    assert read_answer(text).words == frozenset(words)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "😀😀😀",
        "Wanjiru Kamau",
        "jane@example.com",
        "not-an-email",
        "0712 345 678",
        "P051234567K",
        "21000102",
        "when does TIMS close",
        "no, send me a code instead",  # a request, not a bare "no": NLU reads it
        "hapana, nitumie code badala yake",
        "no cancel",  # two different answers: neither is taken
        "done",  # one typo from "none" and from "dont": ambiguous, so nothing
    ],
)
def test_other_texts_carry_no_generic_answer(text: str) -> None:
    assert read_answer(text).words == frozenset()


def test_short_words_forgive_no_typo() -> None:
    assert read_answer("yrs").words == frozenset()  # not "yes": three letters, no typo
    assert read_answer("nk").words == frozenset()


def test_free_text_steps_read_words_only_as_spelt() -> None:
    assert read_answer("Basil").says(CANCEL)  # one typo from "basi" (enough)
    assert read_answer("Basil", typos=False).words == frozenset()
    assert read_answer("acha", typos=False).says(CANCEL)
    assert read_answer("ACHA!", typos=False).says(CANCEL)


AUDIENCES = ["Motorist", "Motor dealer", "Bank / SACCO", ("Insurance", "Bima")]


@pytest.mark.parametrize(
    ("text", "option"),
    [
        ("1", 0),
        ("2.", 1),
        ("#3", 2),
        ("4", 3),
        ("no 2", 1),
        ("option 3", 2),
        ("namba 2", 1),
        ("nambari 4", 3),
        ("the first one", 0),
        ("second", 1),
        ("2nd", 1),
        ("ya kwanza", 0),
        ("ya pili", 1),
        ("tatu", 2),
        ("motorist", 0),
        ("MOTORIST", 0),
        ("motorists", 0),  # one letter more
        ("Motr dealer", 1),  # one letter less
        ("bank/sacco", 2),
        ("sacco", 2),  # a word found in one option only
        ("I am a motor dealer", 1),
        ("bima", 3),  # another name of the option (its Kiswahili title)
        ("insurance please", 3),
    ],
)
def test_an_option_by_number_or_title(text: str, option: int) -> None:
    assert read_answer(text, AUDIENCES).option == option


@pytest.mark.parametrize(
    "text",
    [
        "5",  # beyond the options shown
        "0",
        "company",
        "yes",
        "",
    ],
)
def test_no_option_when_none_or_several_fit(text: str) -> None:
    assert read_answer(text, AUDIENCES).option is None


def test_words_of_two_options_name_neither() -> None:
    sessions = ["19 Jan, 10:00 (EN)", "19 Jan, 14:00 (SW)"]
    assert read_answer("19 jan", sessions).option is None  # ask again rather than guess
    assert read_answer("19 jan 14:00", sessions).option == 1
    assert read_answer("motor", AUDIENCES).option is None  # starts "motorist" too
    assert read_answer("dealer", AUDIENCES).option == 1
    assert read_answer("19 january", ["Tue, 19 January, 10:00", "Wed, 20 January"]).option == 0


def test_a_number_is_no_option_when_none_are_offered() -> None:
    assert read_answer("2") == Reading()


def test_titles_match_without_emoji_accents_or_case() -> None:
    options = ["✅ Register me", "✖ Cancel"]
    assert read_answer("register me", options).option == 0
    assert read_answer("Régister me!", options).option == 0
    assert read_answer("cancel", options).option == 1
    assert read_answer("cancel", options).says(CANCEL)


def test_a_reading_says_any_of_several_words() -> None:
    reading = read_answer("sitaki")
    assert reading.says(NO)
    assert reading.says(SKIP, CANCEL)
    assert not reading.says(YES, SKIP)


def test_normalise() -> None:
    assert normalise("  ✅ Ndiyo,   SAWA! ") == "ndiyo sawa"
    assert normalise("Café-au-lait") == "cafe au lait"
    assert normalise("10:00 (EN) · 2 seats") == "10 00 en 2 seats"


# --- pick: any menu, read strictly (the gateway's typed tap) ------------------------------

CONFIRM_EN = ["Yes, cancel it", "No, keep it"]
CONFIRM_SW = ["Ndiyo, ughairi", "Hapana, ubaki"]
FAQ_BUTTONS = ["Tell me more", "Topics"]


@pytest.mark.parametrize(
    ("text", "titles", "expected"),
    [
        ("2", FAQ_BUTTONS, 1),
        ("namba 1", FAQ_BUTTONS, 0),
        ("3", FAQ_BUTTONS, None),
        ("Topics", FAQ_BUTTONS, 1),
        ("topcs", FAQ_BUTTONS, 1),
        ("tell me more", FAQ_BUTTONS, 0),
        ("more", FAQ_BUTTONS, None),  # a word of a title is not the title
        ("is training free?", ["Register for training", "Topics"], None),
        ("yes", FAQ_BUTTONS, None),  # no yes/no menu
        ("yes", CONFIRM_EN, 0),
        ("ok", CONFIRM_EN, 0),
        ("no", CONFIRM_EN, 1),
        ("ndiyo", CONFIRM_SW, 0),
        ("sawa", CONFIRM_SW, 0),
        ("hapana", CONFIRM_SW, 1),
        ("la", CONFIRM_SW, 1),
        ("ndiyo", CONFIRM_EN, 0),  # the words, whatever the menu's language
        ("", CONFIRM_EN, None),
        ("yes", [], None),
    ],
)
def test_pick_reads_a_number_a_whole_title_or_yes_no_for_a_confirm(
    text: str, titles: list[str], expected: int | None
) -> None:
    assert typed.pick(text, titles) == expected
