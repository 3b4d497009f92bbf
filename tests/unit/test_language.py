"""Reply language: per-message detection, Sheng, remembered choice, explicit requests."""

from __future__ import annotations

import pytest

from ntsa_assistant.core.language import (
    choose_language,
    detect,
    marker_language,
    requested_language,
)


@pytest.mark.parametrize(
    "text",
    [
        "When is TIMS closing?",
        "How do I validate my e-Citizen account?",
        "Are the training sessions free of charge?",
        "I have a pending application on TIMS, what should I do?",
        "thanks",
        "hello",
    ],
)
def test_english(text: str) -> None:
    assert detect(text) == "en"


@pytest.mark.parametrize(
    "text",
    [
        "TIMS itafungwa lini?",
        "Nitathibitishaje akaunti yangu ya e-Citizen?",
        "Mafunzo ni ya bure?",
        "Habari yako",
        "asante",
        "sawa",
    ],
)
def test_kiswahili(text: str) -> None:
    assert detect(text) == "sw"


@pytest.mark.parametrize(
    "text",
    [
        "Niaje, TIMS inaclose lini?",
        "nataka ku-validate account yangu ya ecitizen",
        "training ni free ama?",
        "msee nitalogin aje after tims kuclose",
        "niko na application pending kwa tims",
        "company yangu nitaiadd aje na KRA PIN",
        "poa",
    ],
)
def test_code_mixed_sheng_counts_as_kiswahili(text: str) -> None:
    assert detect(text) == "sw"


@pytest.mark.parametrize(
    "text",
    [
        "Hi, can you help me with my ecitizen account? asante",
        "How do I link my company na KRA PIN?",
        "Is the unavailable analysis an item for kudos?",  # English words, Swahili-like affixes
    ],
)
def test_english_with_a_stray_kiswahili_word_stays_english(text: str) -> None:
    assert detect(text) == "en"


@pytest.mark.parametrize(
    "text",
    ["ok", "👍", "???", "", "   ", "KRA PIN", "12345678", "e-Citizen", "plmk zzq", "xqzv blorp"],
)
def test_unclear_messages_are_undecided(text: str) -> None:
    assert detect(text) is None


def test_marker_language_leaves_plain_words_open() -> None:
    assert marker_language("ecitizen tims") is None


def test_choose_language_falls_back_to_the_remembered_choice() -> None:
    assert choose_language("ok", "sw") == "sw"
    assert choose_language("👍", None) == "en"
    assert choose_language(None, "sw") == "sw"
    assert choose_language("", "xx") == "en"
    assert choose_language("TIMS itafungwa lini?", "en") == "sw"
    assert choose_language("When does TIMS close?", "sw") == "en"


def test_long_and_odd_messages_do_not_break_detection() -> None:
    assert detect("tims " * 800) == "en"  # an English acronym, however long
    assert detect('intent{"x":1}') is None
    assert detect("habari " * 1000) == "sw"


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("speak Kiswahili", "sw"),
        ("naomba Kiswahili", "sw"),
        ("nijibu kwa kiswahili tafadhali", "sw"),
        ("in English please", "en"),
        ("tumia Kiingereza", "en"),
        ("English or Kiswahili?", None),
        ("change language", None),
        (None, None),
    ],
)
def test_requested_language(text: str | None, lang: str | None) -> None:
    assert requested_language(text) == lang
