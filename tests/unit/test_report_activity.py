"""The activity record's two shared rules: the chat's keyed hash and what a text keeps.

Rasa's event broker (``nlu/ntsa_rasa/event_broker.py``) applies the same rules in its own
environment; ``tests/e2e/test_report.py`` checks that both give these same results.
"""

from __future__ import annotations

import hashlib
import hmac

import pytest

from ntsa_assistant.core.masking import scrub
from ntsa_assistant.protocol import TranscriptLine
from ntsa_assistant.reporting.activity import (
    TEXT_LIMIT,
    chat_key,
    last_typed,
    masked,
    minimise,
)

SECRET = bytes(range(32))
# What both sides must keep of each text (the broker's test reuses this table).
MINIMISED = {
    "my ID is 21000102": "my ID is ****",
    "ID 2100 0102 please": "ID **** please",  # spaced: scrub alone leaves this
    "call me on 0712 345 678": "call me on ****",
    "+254712345678": "****",
    "+254 712 345 678 and kip@x.co": "**** and k***@x.co",
    "PIN P051234567K": "PIN P****K",
    "mail kiprono@example.com.": "mail k***@example.com.",
    "code 123456": "code ****",
    "123 456": "****",
    "0712-345-678 or 0722 000 111": "**** or ****",
    "2 days ago, TIMS 2": "2 days ago, TIMS 2",
    "niaje   \n  msee": "niaje msee",
    "x" * 300: "x" * (TEXT_LIMIT - 1) + "…",
}


def test_the_chat_key_is_an_hmac_of_the_chat_id() -> None:
    expected = hmac.new(SECRET, b"chat:700000001", hashlib.sha256).hexdigest()
    assert chat_key(SECRET, 700_000_001) == expected
    assert chat_key(SECRET, "700000001") == expected  # Rasa's sender id is a string
    assert chat_key(SECRET, " 700000001 ") == expected
    assert chat_key(bytes(32), 700_000_001) != expected


@pytest.mark.parametrize(("text", "kept"), MINIMISED.items())
def test_a_text_keeps_no_number_long_enough_to_be_personal(text: str, kept: str) -> None:
    assert minimise(text) == kept
    assert masked(text) == (kept or None)
    assert scrub(minimise(text)) == minimise(text)  # nothing left that scrub would mask


def test_masked_is_none_for_nothing() -> None:
    assert masked(None) is None
    assert masked("   ") is None


def test_last_typed_skips_taps_and_the_assistant() -> None:
    lines = (
        TranscriptLine("person", "how do I renew"),
        TranscriptLine("assistant", "Did you mean one of these?"),
        TranscriptLine("person", "blah blah"),
        TranscriptLine("assistant", "Sorry, I did not get that."),
        TranscriptLine("person", "(tapped: Talk to a person)"),
    )
    assert last_typed(lines) == "blah blah"
    assert last_typed(lines[-1:]) is None
