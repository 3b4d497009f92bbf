"""Ownership proof, the pure rules: reading an ID number, a code and a phone, and what
each proof step tells the user. The proof itself, with its limits in the database, runs on
SQLite and PostgreSQL in tests/db/test_verification.py."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import aiohttp
import pytest

from bot import sms_outbox
from ntsa_assistant.core.clock import NAIROBI
from ntsa_assistant.core.i18n import spell_datetime, t
from ntsa_assistant.core.settings import Settings
from ntsa_assistant.status.answers import explain
from ntsa_assistant.status.sms import (
    DevelopmentSms,
    SmsConfigError,
    SmsMode,
    codes_can_be_sent,
    sms_mode,
    sms_sender,
)
from ntsa_assistant.status.verification import (
    CODE_TRIES,
    Outcome,
    Result,
    looks_like_phone,
    normalise_phone,
    parse_code,
    parse_id_number,
)
from ntsa_assistant.storage.models import ProofMethod

PHONE = "+254700000102"
START = datetime(2023, 12, 10, 9, 0, tzinfo=NAIROBI)


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("21000102", "21000102"),
        ("my ID is 2100 0102", "21000102"),
        ("2100105", "2100105"),
        ("ID: 21-000-102", "21000102"),
        ("123456", None),
        ("123456789", None),
        ("21000102 and 21000103", None),
        ("twenty one", None),
        ("", None),
    ],
)
def test_parse_id_number(text, expected):
    assert parse_id_number(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("123456", "123456"), (" 123 456 ", "123456"), ("123-456", "123456"), ("12345", None)],
)
def test_parse_code(text, expected):
    assert parse_code(text) == expected


@pytest.mark.parametrize(
    "raw", ["+254700000102", "254700000102", "0700000102", "+254 700 000 102", "254-700-000102"]
)
def test_telegram_and_local_spellings_of_a_phone_compare_equal(raw):
    assert normalise_phone(raw) == PHONE


def test_not_a_phone():
    assert normalise_phone("hello") is None
    assert normalise_phone(None) is None
    assert looks_like_phone("my number is 0700000102")
    assert not looks_like_phone("123456")


# --------------------------------------------------------------------------- what the user is told


@pytest.mark.parametrize("lang", ["en", "sw"])
@pytest.mark.parametrize(
    ("result", "key", "params"),
    [
        (Result(Outcome.NOT_OWN_CONTACT), "status.not_own_contact", {}),
        (Result(Outcome.CODE_SENT, phone_ending="02"), "status.code_sent", {"ending": "02"}),
        (
            Result(Outcome.CODE_SENT, phone_ending="02", mismatch=True),
            "status.code_sent_mismatch",
            {"ending": "02"},
        ),
        (Result(Outcome.WRONG_CODE, tries_left=2), "status.wrong_code_many", {"tries": 2}),
        (Result(Outcome.WRONG_CODE, tries_left=1), "status.wrong_code_one", {}),
        (Result(Outcome.NO_CODE), "status.code_dead", {}),
    ],
)
def test_each_proof_step_is_explained_with_its_text(result, key, params, lang):
    assert explain(result, lang) == t(lang, key, **params)


@pytest.mark.parametrize("outcome", [Outcome.PROVEN, Outcome.NEEDS_PROOF])
def test_no_explanation_when_the_answer_or_the_proof_prompt_follows(outcome):
    assert explain(Result(outcome, method=ProofMethod.CONTACT), "en") is None


def test_a_lockout_names_the_moment_to_try_again():
    locked = Result(Outcome.LOCKED, retry_at=START + timedelta(hours=1))
    assert explain(locked, "en") == (
        "For your security, I've paused status checks for this chat and ID after too many "
        "attempts. Please try again after Sunday, 10 December 2023, 10:00."
    )
    assert explain(locked, "sw") == t(
        "sw", "status.locked", when=spell_datetime("sw", START + timedelta(hours=1))
    )


def test_three_tries_per_code():
    first_miss = Result(Outcome.WRONG_CODE, tries_left=CODE_TRIES - 1)
    assert explain(first_miss, "en") == "That code is not right. You have 2 more tries."


# --------------------------------------------------------------------------- how codes go out


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize("dev_log", ["", "0"])
async def test_without_an_sms_gateway_no_code_is_made_nor_logged(dev_log, caplog):
    settings = _settings(sms_dev_log=dev_log)
    assert sms_mode(settings) is SmsMode.OFF
    async with aiohttp.ClientSession() as http:
        assert sms_sender(settings, http) is None
    caplog.set_level(logging.DEBUG)
    assert codes_can_be_sent(settings) is False
    assert "code is" not in caplog.text


async def test_development_mode_is_explicit_and_logs_the_message(caplog):
    settings = _settings(sms_dev_log="1")
    async with aiohttp.ClientSession() as http:
        sender = sms_sender(settings, http)
    assert isinstance(sender, DevelopmentSms)
    caplog.set_level(logging.INFO)
    await sender.send(PHONE, "code 123456")
    assert "code 123456" in caplog.text
    assert PHONE not in caplog.text


def test_development_mode_is_refused_with_a_bot_token_unless_forced():
    with_token = {"telegram_bot_token": "123:ABC"}
    with pytest.raises(SmsConfigError, match="SMS_DEV_LOG=force"):
        sms_mode(_settings(sms_dev_log="1", **with_token))
    assert codes_can_be_sent(_settings(sms_dev_log="1", **with_token)) is False
    assert sms_mode(_settings(sms_dev_log="force", **with_token)) is SmsMode.DEV_LOG
    assert sms_mode(_settings(sms_gateway_url="http://127.0.0.1:1/", **with_token)) is (
        SmsMode.GATEWAY
    )


def test_the_gateway_refuses_to_start_with_codes_in_its_log():
    settings = _settings(sms_dev_log="1", telegram_bot_token="123:ABC")
    with pytest.raises(SmsConfigError):
        sms_outbox.check(settings)


@pytest.mark.parametrize("lang", ["en", "sw"])
def test_codes_unavailable_is_said_in_both_languages(lang):
    assert explain(Result(Outcome.CODES_UNAVAILABLE), lang) == t(lang, "status.codes_unavailable")
    assert t("en", "status.codes_unavailable").startswith("Sorry, we can't send codes")
