"""The status answer: what is said for each part asked, in both languages, fitted to the date."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from ntsa_assistant.core.clock import NAIROBI
from ntsa_assistant.core.i18n import catalog, t
from ntsa_assistant.protocol import Intent as _Intent
from ntsa_assistant.status.answers import (
    ProofChoice,
    compose,
    pending_advice,
    person_offer,
    proof_choices,
    proof_reply,
    read_proof_choice,
)
from ntsa_assistant.status.lookup import (
    OrganisationLink,
    Part,
    PersonStatus,
    TransactionRecord,
    parse_parts,
    parts_label,
)
from ntsa_assistant.storage.models import LinkStatus, OrganisationCategory, TransactionStatus

BEFORE_DEADLINE = datetime(2023, 12, 10, 12, 0, tzinfo=NAIROBI)
DEADLINE_DAY = datetime(2023, 12, 15, 18, 0, tzinfo=NAIROBI)
AFTER_DEADLINE = datetime(2023, 12, 20, 12, 0, tzinfo=NAIROBI)
DURING_CLOSURE = datetime(2023, 12, 31, 12, 0, tzinfo=NAIROBI)
AFTER_CLOSURE = datetime(2024, 2, 1, 12, 0, tzinfo=NAIROBI)


def tx(reference: str, status: TransactionStatus, updated: date) -> TransactionRecord:
    return TransactionRecord(
        reference, "Motor vehicle transfer", status, date(2023, 12, 1), updated
    )


KIPRONO = PersonStatus(
    "21000102",
    "+254700000102",
    None,
    transactions=(
        tx("TIMS-DL-2023-000102", TransactionStatus.AWAITING_PAYMENT, date(2023, 12, 5)),
        tx("TIMS-MVT-2023-000103", TransactionStatus.AWAITING_APPROVAL, date(2023, 12, 8)),
        tx("TIMS-OLD-1", TransactionStatus.COMPLETED, date(2023, 11, 1)),
    ),
)
ACHIENG = PersonStatus(
    "21000101",
    "+254700000101",
    date(2023, 12, 4),
    organisations=(
        OrganisationLink(
            "P000000101A", "Savannah Auto", OrganisationCategory.MOTOR_DEALER, LinkStatus.LINKED
        ),
        OrganisationLink(
            "P000000103C",
            "Umoja Sacco",
            OrganisationCategory.FINANCIAL_INSTITUTION,
            LinkStatus.PENDING,
        ),
    ),
    transactions=(tx("TIMS-MVT-1", TransactionStatus.COMPLETED, date(2023, 11, 29)),),
)


def test_pending_lists_only_open_applications_newest_first():
    assert [t.reference for t in KIPRONO.pending] == [
        "TIMS-MVT-2023-000103",
        "TIMS-DL-2023-000102",
    ]


def test_full_answer_for_a_person_with_pending_applications():
    text = compose(KIPRONO, Part.ALL, "en", BEFORE_DEADLINE)
    assert "******02" in text
    assert "21000102" not in text
    assert "not validated yet" in text
    assert "TIMS-DL-2023-000102" in text
    assert "waiting for your payment" in text
    assert "TIMS-MVT-2023-000103" in text
    assert "waiting for approval" in text
    assert "TIMS-OLD-1" not in text
    assert "Friday, 15 December 2023" in text
    assert "5 days left" in text
    assert "Nothing pending" not in text
    assert "Organisations" not in text  # none to show, and not asked about


def test_nothing_pending_is_said_when_so():
    text = compose(ACHIENG, Part.PENDING, "en", BEFORE_DEADLINE)
    assert text == "Status for ID ******01:\n\n" + t("en", "status.nothing_pending")


def test_validated_on_a_date_in_both_languages():
    assert compose(ACHIENG, Part.VALIDATION, "en", BEFORE_DEADLINE) == (
        "Status for ID ******01:\n\n"
        "✅ Your e-Citizen account was validated on Monday, 4 December 2023."
    )
    assert compose(ACHIENG, Part.VALIDATION, "sw", BEFORE_DEADLINE) == (
        "Hali ya kitambulisho ******01:\n\n"
        "✅ Akaunti yako ya e-Citizen ilithibitishwa tarehe Jumatatu, 4 Desemba 2023."
    )


def test_organisations_with_masked_pins_and_link_status():
    text = compose(ACHIENG, Part.ORGANISATIONS, "en", BEFORE_DEADLINE)
    assert "Savannah Auto (KRA PIN P*******01A): linked" in text
    assert "Umoja Sacco (KRA PIN P*******03C): link requested" in text
    assert "P000000101A" not in text
    assert "add it to your account with its KRA PIN" in text  # one is not linked yet


def test_asking_about_organisations_without_any():
    assert compose(KIPRONO, Part.ORGANISATIONS, "en", AFTER_DEADLINE) == (
        "Status for ID ******02:\n\n" + t("en", "status.no_organisations")
    )


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (BEFORE_DEADLINE, "by the end of Friday, 15 December 2023 (5 days left)"),
        (DEADLINE_DAY, "today is the last day"),
        (AFTER_DEADLINE, "TIMS is still open until the end of Friday, 29 December 2023"),
        (DURING_CLOSURE, "TIMS is offline until the end of Monday, 1 January 2024"),
        (AFTER_CLOSURE, "TIMS is no longer in use"),
    ],
)
def test_advice_fits_the_date(now, expected):
    assert expected in pending_advice("en", now)


def test_kiswahili_advice_and_states():
    text = compose(KIPRONO, Part.PENDING, "sw", BEFORE_DEADLINE)
    assert "linasubiri malipo yako" in text
    assert "zimebaki siku 5" in text
    assert "Ijumaa, 15 Desemba 2023" in text


def test_both_languages_have_the_same_status_texts():
    en = {k for k in catalog("en") if k.startswith("status.")}
    sw = {k for k in catalog("sw") if k.startswith("status.")}
    assert en == sw
    assert {f"status.state.{s.value}" for s in TransactionStatus} <= en
    assert {f"status.link.{s.value}" for s in LinkStatus} <= en


def test_part_parse_defaults_to_everything():
    assert Part.parse("pending") is Part.PENDING
    assert Part.parse(None) is Part.ALL
    assert Part.parse("rubbish") is Part.ALL


@pytest.mark.parametrize(
    ("lang", "title", "words"),
    [("en", "Talk to a person", "someone from our team"), ("sw", "Ongea na mhudumu", "mhudumu")],
)
def test_a_person_is_offered_where_the_check_gives_up(lang, title, words):
    offer = person_offer(lang)
    assert words in offer.text
    assert [(b.title, b.payload) for b in offer.buttons] == [
        (title, '/human_handoff{"handoff_reason":"gave_up"}')
    ]


# --- the proof step's choices, tapped or typed ---------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "sw"])
def test_the_code_alternative_is_a_button_beside_cancel(lang):
    code, cancel = proof_choices(lang)
    assert (code.title, code.payload) == (t(lang, "status.code_button"), "/status_send_code")
    assert (cancel.title, cancel.payload) == (t(lang, "status.cancel_button"), "/status_cancel")
    assert code.intent is _Intent.STATUS_SEND_CODE
    offer = proof_reply("status.code_offer", lang)
    assert offer.text == t(lang, "status.code_offer")
    assert offer.buttons == (code, cancel)
    assert proof_reply("status.ask_code", lang).buttons == ()  # the code is on its way


@pytest.mark.parametrize(
    ("text", "choice"),
    [
        *[(w, ProofChoice.DECLINE) for w in ("no", "No thanks", "nope", "hapana", "sitaki")],
        *[(w, ProofChoice.DECLINE) for w in ("Hapana asante", "la", "sipendi")],
        *[(w, ProofChoice.SEND_CODE) for w in ("code", "Code please", "sms", "send me a code")],
        *[(w, ProofChoice.SEND_CODE) for w in ("nitumie code", "tuma code", "kodi", "1")],
        *[(w, ProofChoice.SEND_CODE) for w in ("✉️ Send me a code by SMS", "nitumie code kwa sms")],
        *[(w, ProofChoice.CANCEL) for w in ("cancel", "stop", "acha", "Acha tu", "2", "ghairi")],
        *[(w, ProofChoice.ACCEPT) for w in ("yes", "ok", "ndiyo", "sawa", "Sawa boss")],
        *[(w, None) for w in ("0712345678", "hello", "what is this", "")],
        # a longer request is left to NLU (status_send_code), not read as a bare "no"
        ("hapana, nitumie code badala yake", None),
    ],
)
def test_typed_choices_at_the_proof_step_in_both_languages(text, choice):
    assert read_proof_choice(text) is choice


def test_a_number_picks_a_proof_button_only_while_they_are_shown():
    assert read_proof_choice("1", numbered=False) is None
    assert read_proof_choice("code", numbered=False) is ProofChoice.SEND_CODE


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("validation+organisations", {Part.VALIDATION, Part.ORGANISATIONS}),
        ("pending", {Part.PENDING}),
        ("validation+all", {Part.ALL}),
        ("validation+rubbish", {Part.ALL}),
        (None, {Part.ALL}),
        ("", {Part.ALL}),
    ],
)
def test_several_parts_asked_at_once(value, expected):
    assert parse_parts(value) == expected


def test_two_parts_asked_at_once_are_answered_both_and_nothing_else():
    both = parse_parts("validation+organisations")
    text = compose(ACHIENG, both, "en", BEFORE_DEADLINE)
    assert compose(ACHIENG, Part.VALIDATION, "en", BEFORE_DEADLINE).split("\n\n")[1] in text
    assert "Savannah Auto (KRA PIN P*******01A): linked" in text
    assert t("en", "status.nothing_pending") not in text  # pending was not asked
    assert parts_label(both) == "organisations+validation"
