"""The registration form's checks, with a real CollectingDispatcher and a Tracker from data."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import runtime
from actions.training import slots as s
from actions.training.form import ValidateTrainingForm
from ntsa_assistant.core.i18n import t
from ntsa_assistant.core.settings import Settings
from ntsa_assistant.protocol import Intent, contact_metadata, payload

SIGNING_SECRET = "gateway-and-actions-only"


def tracker(
    slots: dict[str, Any] | None = None,
    text: str = "",
    intent: str = "",
    metadata: dict[str, Any] | None = None,
) -> Tracker:
    return Tracker(
        sender_id="700000001",
        slots={"language": "sw", s.REQUESTED_SLOT: None, **(slots or {})},
        latest_message={"text": text, "intent": {"name": intent}, "metadata": metadata or {}},
        events=[],
        paused=False,
        followup_action=None,
        active_loop={"name": s.FORM},
        latest_action_name=None,
    )


async def test_an_emoji_name_is_refused_in_the_flows_language() -> None:
    dispatcher = CollectingDispatcher()
    result = await ValidateTrainingForm().validate_training_name(
        "🙂🙂", dispatcher, tracker(text="🙂🙂"), {}
    )
    assert result == {s.NAME: None}
    assert dispatcher.messages[0]["text"] == t("sw", "training.name_no_letters")


async def test_a_typed_phone_is_normalised() -> None:
    dispatcher = CollectingDispatcher()
    result = await ValidateTrainingForm().validate_training_phone(
        "0712 345 678", dispatcher, tracker(), {}
    )
    # A typed phone is taken, but it is not proven: it reserves no place.
    assert result == {s.PHONE: "+254712345678", s.PHONE_PROVEN: None}
    assert dispatcher.messages == []


@pytest.fixture
async def signing_runtime(tmp_path: Path) -> AsyncIterator[None]:
    """The action server's resources, with the secret the gateway signs contacts with."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'actions.db'}"
    settings = Settings(database_url=url, gateway_signing_secret=SIGNING_SECRET, _env_file=None)
    await runtime.start(settings)
    yield
    await runtime.stop()


@pytest.mark.usefixtures("signing_runtime")
async def test_a_shared_contact_counts_only_when_it_is_ones_own() -> None:
    form = ValidateTrainingForm()
    asked = {s.REQUESTED_SLOT: s.PHONE}
    chat = "700000001"  # the tracker's sender
    claim = contact_metadata(True, "+254712345678", chat, SIGNING_SECRET)
    own = tracker(asked, "/contact_shared", Intent.CONTACT_SHARED, claim)
    assert await form.extract_training_phone(CollectingDispatcher(), own, {}) == {
        s.PHONE: "+254712345678"
    }
    assert await form.validate_training_phone("+254712345678", CollectingDispatcher(), own, {}) == {
        s.PHONE: "+254712345678",
        s.PHONE_PROVEN: s.YES,
    }
    # The same words without the gateway's signature (posted to Rasa by anyone) prove nothing.
    forged = {"contact_is_own": True, "verified_phone": "+254712345678"}
    unsigned = tracker(asked, "/contact_shared", Intent.CONTACT_SHARED, forged)
    assert await form.extract_training_phone(CollectingDispatcher(), unsigned, {}) == {
        s.PHONE: s.NOT_OWN_CONTACT
    }
    not_own = contact_metadata(False, "+254712345678", chat, SIGNING_SECRET)
    other = tracker(asked, "/contact_shared", Intent.CONTACT_SHARED, not_own)
    extracted = await form.extract_training_phone(CollectingDispatcher(), other, {})
    dispatcher = CollectingDispatcher()
    result = await form.validate_training_phone(extracted[s.PHONE], dispatcher, other, {})
    assert result == {s.PHONE: None, s.PHONE_PROVEN: None}
    assert dispatcher.messages[0]["text"] == t("sw", "training.phone_not_own")


async def test_skipped_email_and_kra_pin_only_for_organisations() -> None:
    form = ValidateTrainingForm()
    skipped = await form.validate_training_email(s.SKIPPED, CollectingDispatcher(), tracker(), {})
    assert skipped == {s.EMAIL: s.SKIPPED}
    slots = [s.AUDIENCE, s.SESSION, s.NAME, s.PHONE, s.EMAIL, s.KRA_PIN, s.CONFIRMED]
    motorist = tracker({s.AUDIENCE: "motorists"})
    dealer = tracker({s.AUDIENCE: "motor_dealers"})
    assert s.KRA_PIN not in await form.required_slots(slots, CollectingDispatcher(), motorist, {})
    assert s.KRA_PIN in await form.required_slots(slots, CollectingDispatcher(), dealer, {})


def test_button_payloads() -> None:
    assert payload(Intent.TRAINING_STOP) == "/training_stop"
    assert (
        payload(
            Intent.TRAINING_CHOOSE,
            {"training_session": "TRN-DLR-01", "training_waitlist": "yes"},
        )
        == '/training_choose{"training_session":"TRN-DLR-01","training_waitlist":"yes"}'
    )


# --- answers typed instead of tapped -------------------------------------------------------------


@pytest.mark.parametrize("typed", ["ruka", "skip", "none", "hakuna", "sina", "Hapana", "no"])
async def test_the_email_is_skipped_in_words(typed: str) -> None:
    dispatcher = CollectingDispatcher()
    result = await ValidateTrainingForm().validate_training_email(
        typed, dispatcher, tracker(text=typed), {}
    )
    assert result == {s.EMAIL: s.SKIPPED}
    assert dispatcher.messages == []


@pytest.mark.parametrize(
    ("asking", "typed", "found"),
    [
        (s.EMAIL, "amina@example.com", {s.EMAIL: "amina@example.com"}),  # read as a handoff
        (s.EMAIL, "I want to talk to a person", {}),  # the handoff stays a handoff
        (s.NAME, "amina@example.com", {}),  # only at the e-mail step
    ],
)
async def test_an_address_typed_at_the_email_step_is_taken_whatever_its_intent(
    asking: str, typed: str, found: dict[str, Any]
) -> None:
    turn = tracker({s.REQUESTED_SLOT: asking}, text=typed, intent="human_handoff")
    assert await ValidateTrainingForm().extract_training_email(
        CollectingDispatcher(), turn, {}
    ) == (found)


async def test_a_bad_email_is_still_refused() -> None:
    dispatcher = CollectingDispatcher()
    result = await ValidateTrainingForm().validate_training_email(
        "jane@", dispatcher, tracker(text="jane@"), {}
    )
    assert result == {s.EMAIL: None}
    assert dispatcher.messages[0]["text"] == t("sw", "training.email_invalid")


@pytest.mark.parametrize(
    ("slot", "typed"),
    [
        (s.NAME, "acha"),
        (s.NAME, "cancel"),
        (s.PHONE, "sitaki"),
        (s.EMAIL, "stop"),
        (s.KRA_PIN, "ghairi"),
        (s.AUDIENCE, "✖ Cancel"),
        (s.CONFIRMED, "hapana"),
        (s.CONFIRMED, "no"),
        (s.CONFIRMED, "2"),
    ],
)
async def test_stopping_in_words_ends_the_form_and_saves_nothing(slot: str, typed: str) -> None:
    form = ValidateTrainingForm()
    validate = getattr(form, f"validate_{slot}")
    dispatcher = CollectingDispatcher()
    result = await validate(typed, dispatcher, tracker(text=typed), {})
    assert result == {slot: None, s.CONFIRMED: s.NO}
    # the form then has nothing left to ask, and submit says it stopped
    stopped = tracker({s.CONFIRMED: s.NO, s.AUDIENCE: "motorists"})
    assert await form.required_slots(list(s.FORM_SLOTS), dispatcher, stopped, {}) == []


async def test_a_name_that_looks_like_a_typo_of_a_stop_word_is_a_name() -> None:
    result = await ValidateTrainingForm().validate_training_name(
        "Basil", CollectingDispatcher(), tracker(text="Basil"), {}
    )
    assert result == {s.NAME: "Basil"}


@pytest.mark.parametrize("typed", ["ndiyo", "sawa", "yes", "ok", "1", "Nisajili"])
async def test_the_confirmation_typed(typed: str) -> None:
    result = await ValidateTrainingForm().validate_training_confirmed(
        typed, CollectingDispatcher(), tracker(text=typed), {}
    )
    assert result == {s.CONFIRMED: s.YES}


async def test_an_unclear_confirmation_is_asked_again() -> None:
    dispatcher = CollectingDispatcher()
    result = await ValidateTrainingForm().validate_training_confirmed(
        "labda", dispatcher, tracker(text="labda"), {}
    )
    assert result == {s.CONFIRMED: None}
    assert dispatcher.messages[0]["text"] == t("sw", "training.confirm_unclear")


async def test_the_confirm_button_still_confirms() -> None:
    result = await ValidateTrainingForm().validate_training_confirmed(
        s.YES, CollectingDispatcher(), tracker(text="/training_confirm"), {}
    )
    assert result == {s.CONFIRMED: s.YES}


@pytest.mark.parametrize(
    ("typed", "audience"),
    [
        ("dereva", "motorists"),
        ("1", "motorists"),
        ("Motor dealer", "motor_dealers"),
        ("bima", "insurance"),
    ],
)
async def test_the_audience_typed(typed: str, audience: str) -> None:
    result = await ValidateTrainingForm().validate_training_audience(
        typed, CollectingDispatcher(), tracker(text=typed), {}
    )
    assert result == {s.AUDIENCE: audience}


async def test_an_unknown_audience_is_asked_again_and_the_button_still_works() -> None:
    dispatcher = CollectingDispatcher()
    form = ValidateTrainingForm()
    result = await form.validate_training_audience("zebra", dispatcher, tracker(text="zebra"), {})
    assert result == {s.AUDIENCE: None}
    assert dispatcher.messages[0]["text"] == t("sw", "training.audience_unknown")
    tapped = payload(Intent.TRAINING_CHOOSE, {"training_audience": "insurance"})
    result = await form.validate_training_audience(
        "insurance", dispatcher, tracker(text=tapped), {}
    )
    assert result == {s.AUDIENCE: "insurance"}
