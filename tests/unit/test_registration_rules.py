"""Pure rules of training registration: input checks, references, reminder timing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from ntsa_assistant.core.i18n import catalog
from ntsa_assistant.storage.models import Audience
from ntsa_assistant.training import rules as registration
from ntsa_assistant.training.reminders import due_offsets, parse_offsets
from ntsa_assistant.training.rules import (
    CHOOSABLE_AUDIENCES,
    REFERENCE_ALPHABET,
    InvalidInput,
    needs_kra_pin,
    new_reference,
    parse_audience,
    validate_email,
    validate_kra_pin,
    validate_name,
    validate_phone,
)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("  Wanjiru   Kamau ", "Wanjiru Kamau"),
        ("Ng'ang'a Mwangi-Otieno", "Ng'ang'a Mwangi-Otieno"),
        ("Dr. A. Hassan", "Dr. A. Hassan"),
        ("Zoë Ndúngú", "Zoë Ndúngú"),
    ],
)
def test_good_names(typed: str, expected: str) -> None:
    assert validate_name(typed) == expected


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("😀😀😀", "name_no_letters"),
        ("🚗 🚙", "name_no_letters"),
        ("", "name_no_letters"),
        ("J", "name_no_letters"),
        ("x" * 500, "name_too_long"),
        ("A" * 101, "name_too_long"),
        ("Jane 😀", "name_bad_characters"),
        ("Jane Doe 0712345678", "name_bad_characters"),
        ("When does TIMS close?", "name_bad_characters"),
    ],
)
def test_bad_names(typed: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        validate_name(typed)
    assert refused.value.reason == reason


@pytest.mark.parametrize(
    ("typed", "e164"),
    [
        ("0712345678", "+254712345678"),
        ("0712 345 678", "+254712345678"),
        ("+254712345678", "+254712345678"),
        ("254712345678", "+254712345678"),
        ("+254 110 123456", "+254110123456"),
    ],
)
def test_kenyan_phones_become_e164(typed: str, e164: str) -> None:
    assert validate_phone(typed) == e164


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("12345", "phone_invalid"),
        ("my phone", "phone_invalid"),
        ("07123", "phone_invalid"),
        ("+44 20 7946 0958", "phone_not_kenyan"),
    ],
)
def test_bad_phones(typed: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        validate_phone(typed)
    assert refused.value.reason == reason


def test_emails() -> None:
    assert validate_email(" Jane.Doe@Example.CO.KE ") == "jane.doe@example.co.ke"
    for bad in ("jane", "jane@", "@example.com", "jane@example", "a b@example.com"):
        with pytest.raises(InvalidInput):
            validate_email(bad)


def test_kra_pins() -> None:
    assert validate_kra_pin("p051234567k") == "P051234567K"
    assert validate_kra_pin("P 051234567 K") == "P051234567K"
    for bad in ("P05123456K", "0512345678K", "P0512345678", "PP51234567K", ""):
        with pytest.raises(InvalidInput):
            validate_kra_pin(bad)


def test_only_organisations_give_a_kra_pin() -> None:
    assert not needs_kra_pin(Audience.MOTORISTS)
    assert needs_kra_pin("motor_dealers")
    assert needs_kra_pin(Audience.GOVERNMENT_MDAS)
    assert not needs_kra_pin(None)
    assert Audience.ALL not in CHOOSABLE_AUDIENCES
    assert parse_audience("all") is None
    assert parse_audience("nonsense") is None
    assert parse_audience("insurance") is Audience.INSURANCE


def test_references() -> None:
    refs = {new_reference() for _ in range(500)}
    assert len(refs) == 500
    for ref in refs:
        prefix, first, second = ref.split("-")
        assert prefix == "TRN"
        assert len(first) == len(second) == 4
        assert set(first + second) <= set(REFERENCE_ALPHABET)


def test_reminder_offsets_parse() -> None:
    assert parse_offsets("24h,1h") == (timedelta(hours=24), timedelta(hours=1))
    assert parse_offsets("90m, 2d") == (timedelta(days=2), timedelta(minutes=90))
    for bad in ("", "tomorrow", "0h", "5s"):
        with pytest.raises(ValueError, match="offset"):
            parse_offsets(bad)


START = datetime(2027, 1, 20, 7, 0, tzinfo=UTC)
EARLY = START - timedelta(days=10)
OFFSETS = (timedelta(hours=24), timedelta(hours=1))


def test_due_offsets_timeline() -> None:
    assert due_offsets(START, EARLY, START - timedelta(hours=25), OFFSETS).send is None
    plan = due_offsets(START, EARLY, START - timedelta(hours=23), OFFSETS)
    assert (plan.send, plan.skip) == (timedelta(hours=24), ())
    done = [timedelta(hours=24)]
    assert due_offsets(START, EARLY, START - timedelta(hours=2), OFFSETS, done).send is None
    plan = due_offsets(START, EARLY, START - timedelta(minutes=59), OFFSETS, done)
    assert plan.send == timedelta(hours=1)
    assert due_offsets(START, EARLY, START, OFFSETS).send is None  # started: too late


def test_a_late_run_sends_the_nearest_and_skips_the_rest() -> None:
    plan = due_offsets(START, EARLY, START - timedelta(minutes=30), OFFSETS)
    assert plan.send == timedelta(hours=1)
    assert plan.skip == (timedelta(hours=24),)


def test_no_reminder_for_a_moment_before_confirmation() -> None:
    late = START - timedelta(hours=3)  # registered 3 hours before: no "a day before"
    plan = due_offsets(START, late, START - timedelta(hours=2), OFFSETS)
    assert plan.send is None
    assert plan.skip == (timedelta(hours=24),)
    assert due_offsets(START, late, START - timedelta(minutes=40), OFFSETS, plan.skip).send == (
        timedelta(hours=1)
    )
    assert due_offsets(START, None, START - timedelta(minutes=40), OFFSETS).send is None


def test_registration_texts_exist_in_both_languages() -> None:
    en = {k for k in catalog("en") if k.startswith("training.")}
    sw = {k for k in catalog("sw") if k.startswith("training.")}
    assert en == sw
    assert {f"training.audience.{a.value}" for a in CHOOSABLE_AUDIENCES} <= en


@pytest.mark.parametrize("typed", ["stop", "Cancel", "acha", "sitaki!"])
def test_a_word_for_leaving_the_form_is_never_taken_as_a_name(typed: str) -> None:
    with pytest.raises(registration.InvalidInput) as refused:
        registration.validate_name(typed)
    assert refused.value.reason == "name_is_stop_word"


def test_a_name_that_merely_contains_a_stop_word_is_fine() -> None:
    assert registration.validate_name("Basil Achacha") == "Basil Achacha"


def _subclasses(kind: type) -> list[type]:
    found = []
    for sub in kind.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


@pytest.mark.parametrize("lang", ["en", "sw"])
def test_every_refusal_names_a_text_that_exists(lang: str) -> None:
    """A refusal shown to the user must have its sentence in both languages."""
    refusals = _subclasses(registration.RegistrationError)
    assert {cls.reason for cls in refusals} >= {"session_unknown", "session_started"}
    missing = [cls.__name__ for cls in refusals if f"training.{cls.reason}" not in catalog(lang)]
    assert missing == []


@pytest.mark.parametrize(
    ("typed", "parse"),
    [
        ("", registration.validate_name),
        ("x" * 101, registration.validate_name),
        ("stop", registration.validate_name),
        ("Jane 2", registration.validate_name),
        ("12", registration.validate_phone),
        ("+255712345678", registration.validate_phone),
        ("jane@", registration.validate_email),
        ("P05", registration.validate_kra_pin),
    ],
)
def test_every_invalid_input_names_a_text_that_exists(
    typed: str, parse: Callable[[str], str]
) -> None:
    with pytest.raises(registration.InvalidInput) as refused:
        parse(typed)
    for lang in ("en", "sw"):
        assert f"training.{refused.value.reason}" in catalog(lang)
