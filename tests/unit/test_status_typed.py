"""The status form's proof step read in words: "no" offers the SMS code (as a button),
"cancel" stops; a real CollectingDispatcher and a Tracker built from data."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.status import (
    REQUESTED_SLOT,
    STAGE_CODE,
    STAGE_CONTACT,
    STAGE_OFFERED,
    STAGE_STOPPED,
    Slot,
    ValidateStatusForm,
)
from ntsa_assistant.core.i18n import t


def tracker(
    text: str, stage: str | None, lang: str = "en", intent: str = "nlu_fallback"
) -> Tracker:
    return Tracker(
        sender_id="700000002",
        slots={"language": lang, Slot.ID_NUMBER: "21000102", Slot.STAGE: stage},
        latest_message={"text": text, "intent": {"name": intent}, "metadata": {}},
        events=[],
        paused=False,
        followup_action=None,
        active_loop={"name": "status_form"},
        latest_action_name=None,
    )


async def proof(
    text: str, stage: str | None, lang: str = "en", intent: str = "nlu_fallback"
) -> tuple[dict, list[dict]]:
    dispatcher = CollectingDispatcher()
    result = await ValidateStatusForm().validate_status_proof(
        text, dispatcher, tracker(text, stage, lang, intent), {}
    )
    return result, dispatcher.messages


def buttons(message: dict[str, Any]) -> list[tuple[str, str]]:
    return [(b["title"], b["payload"]) for b in message.get("buttons") or []]


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("no", "en"),
        ("No thanks", "en"),
        ("hapana", "sw"),
        ("sitaki", "sw"),
        ("Hapana asante", "sw"),
    ],
)
async def test_declining_the_phone_offers_the_code_as_a_button(text: str, lang: str) -> None:
    result, [offer] = await proof(text, STAGE_CONTACT, lang)
    assert result == {Slot.PROOF: None, Slot.STAGE: STAGE_OFFERED}
    assert offer["text"] == t(lang, "status.code_offer")
    assert buttons(offer) == [
        (t(lang, "status.code_button"), "/status_send_code"),
        (t(lang, "status.cancel_button"), "/status_cancel"),
    ]


@pytest.mark.parametrize("intent", ["status_cancel", "training_stop", "deny"])
async def test_a_typed_no_declines_the_phone_whatever_intent_the_model_reads(intent: str) -> None:
    result, [offer] = await proof("no", STAGE_CONTACT, "en", intent)
    assert result == {Slot.PROOF: None, Slot.STAGE: STAGE_OFFERED}
    assert offer["text"] == t("en", "status.code_offer")


@pytest.mark.parametrize(
    ("text", "stage", "lang"),
    [
        ("cancel", STAGE_CONTACT, "en"),
        ("acha", STAGE_CONTACT, "sw"),
        ("2", STAGE_CONTACT, "en"),
        ("no", STAGE_OFFERED, "en"),  # the code was offered: "no" now stops
        ("hapana", STAGE_OFFERED, "sw"),
        ("sitaki", STAGE_CODE, "sw"),
        ("stop", STAGE_CODE, "en"),
    ],
)
async def test_stopping_in_words(text: str, stage: str, lang: str) -> None:
    result, [message] = await proof(text, stage, lang)
    assert result[REQUESTED_SLOT] is None
    assert result[Slot.STAGE] == STAGE_STOPPED
    assert message["custom"] == {"type": "remove_keyboard", "text": t(lang, "status.cancelled")}


async def test_other_words_remind_of_both_choices_with_buttons() -> None:
    result, [reminder] = await proof("what now?", STAGE_CONTACT)
    assert result == {Slot.PROOF: None}
    assert reminder["text"] == t("en", "status.proof_options")
    assert [title for title, _ in buttons(reminder)] == [
        t("en", "status.code_button"),
        t("en", "status.cancel_button"),
    ]


@pytest.mark.parametrize(
    ("text", "lang"), [("cancel", "en"), ("hapana", "sw"), ("acha", "sw"), ("no", "en")]
)
async def test_the_id_question_is_stopped_in_words(text: str, lang: str) -> None:
    dispatcher = CollectingDispatcher()
    result = await ValidateStatusForm().validate_status_id_number(
        text, dispatcher, tracker(text, None, lang), {}
    )
    assert result[Slot.STAGE] == STAGE_STOPPED
    assert dispatcher.messages[0]["custom"]["text"] == t(lang, "status.cancelled")
