"""The handoff action, run with a real CollectingDispatcher and a Tracker from data: the
request it sends the gateway (reason, language, masked transcript, proven ID) and the
state it leaves (no form that could resume after the agent is done)."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher

import actions.status
from actions import handoff
from actions.handoff import ActionHumanHandoff, leave_flow, proven_id, transcript
from actions.training import slots as training_slots
from ntsa_assistant import protocol
from ntsa_assistant.handoff import texts
from ntsa_assistant.protocol import (
    HANDOFF_TRANSCRIPT_TURNS,
    HandoffReason,
    TranscriptLine,
    parse_handoff_request,
)
from tests.support.rasa_domain import load_domain, load_domain_documents

HUMAN_PAYLOAD = '/human_handoff{"handoff_reason":"misses"}'


# --- events as Rasa sends them to the action server ----------------------------------------


def user(text: str, intent: str = "faq_closure", **entities: str) -> dict[str, Any]:
    parse = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.9},
        "entities": [{"entity": k, "value": v} for k, v in entities.items()],
    }
    return {"event": "user", "text": text, "parse_data": parse}


def bot(
    text: str | None,
    buttons: list[dict[str, str]] | None = None,
    custom: dict[str, str] | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {"buttons": buttons}
    if custom:
        data["custom"] = custom
    return {"event": "bot", "text": text, "data": data}


def action(name: str) -> dict[str, Any]:
    return {"event": "action", "name": name}


def slot(name: str, value: Any) -> dict[str, Any]:
    return {"event": "slot", "name": name, "value": value}


def person(text: str) -> TranscriptLine:
    return TranscriptLine("person", text)


def assistant(text: str) -> TranscriptLine:
    return TranscriptLine("assistant", text)


def proven_status_check(id_number: str) -> list[dict[str, Any]]:
    """A status check whose proof succeeded: the answer ran with both slots set, then
    cleared them (the raw text of the proof turn was first extracted, as Rasa does)."""
    S = actions.status.Slot
    return [
        user("check my status", "status_check"),
        action(actions.status.FORM),
        user(id_number, "faq_closure"),
        slot(S.ID_NUMBER, id_number),
        action(actions.status.FORM),
        slot(S.ID_NUMBER, id_number),
        slot(S.PROOF, None),
        user("/contact_shared", "contact_shared"),
        slot(S.PROOF, "/contact_shared"),
        action(actions.status.FORM),
        slot(S.PROOF, "contact"),
        slot("requested_slot", None),
        action(handoff.STATUS_ANSWER_ACTION),
        slot(S.ID_NUMBER, None),
        slot(S.PROOF, None),
    ]


# --- the reason -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("misses", HandoffReason.MISSES),
        ("gave_up", HandoffReason.GAVE_UP),
        ("command", HandoffReason.COMMAND),
        (None, HandoffReason.ASKED),
        ("", HandoffReason.ASKED),
        ("urgent", HandoffReason.ASKED),
    ],
)
def test_the_reason_entity_becomes_a_reason_and_anything_else_is_asked(
    value: str | None, reason: HandoffReason
) -> None:
    assert handoff.handoff_reason(value) is reason


# --- the transcript -----------------------------------------------------------------------


def test_every_text_is_masked_whoever_wrote_it() -> None:
    events = [
        user("my id is 21000102, phone 0712 345 678"),
        bot("Thanks. I need to confirm that ID 21000102 is yours."),
        user("my pin is P051234567K and mail kiprono@example.com", "human_handoff"),
    ]

    assert transcript(events) == (
        person("my id is ******02, phone ********78"),
        assistant("Thanks. I need to confirm that ID ******02 is yours."),
        person("my pin is P*******67K and mail k***@example.com"),
    )


def test_a_tap_shows_the_title_of_the_button_that_was_offered() -> None:
    offered = [
        {"title": "Get help from a person", "payload": HUMAN_PAYLOAD},
        {"title": "Show topics", "payload": "/faq_menu"},
    ]
    events = [
        user("blah"),
        bot("Sorry, I still don't understand.", offered),
        # the gateway may send the same JSON spaced differently
        user('/human_handoff{"handoff_reason": "misses"}', "human_handoff"),
    ]

    assert transcript(events)[-1] == person("(tapped: Get help from a person)")


def test_a_tap_of_a_button_not_found_shows_its_intent() -> None:
    events = [
        bot("Which topic?", [{"title": "Closure", "payload": "/faq_closure"}]),
        user("/faq_menu", "faq_menu"),
        user("/agent_command_payload{}", ""),
    ]

    assert transcript(events) == (
        assistant("Which topic?"),
        person("(tapped: faq_menu)"),
        person("(tapped: agent_command_payload)"),
    )


def test_the_latest_offer_of_a_payload_names_the_tap() -> None:
    events = [
        bot("Old menu", [{"title": "Old title", "payload": "/faq_menu"}]),
        bot("New menu", [{"title": "Topics", "payload": "/faq_menu"}]),
        user("/faq_menu", "faq_menu"),
    ]

    assert transcript(events)[-1] == person("(tapped: Topics)")


def test_custom_replies_show_their_text_and_silent_events_are_left_out() -> None:
    events = [
        user("check my status", "status_check"),
        action("status_form"),
        bot(
            None, custom={"type": "request_contact", "text": "Confirm ID 21000102.", "button": "📱"}
        ),
        slot("status_stage", "contact"),
        bot(None, custom={"type": "remove_keyboard", "text": "Sorry, I can't reach the records."}),
        bot(None),
        user("   "),
        user("agent please", "human_handoff"),
    ]

    assert transcript(events) == (
        person("check my status"),
        assistant("Confirm ID ******02."),
        assistant("Sorry, I can't reach the records."),
        person("agent please"),
    )


def test_only_the_last_turns_of_this_session_are_kept_ending_with_this_message() -> None:
    earlier = [user("from yesterday 21000102"), bot("old answer"), {"event": "session_started"}]
    chat = [user(f"question {n}") if n % 2 else bot(f"answer {n}") for n in range(20)]
    events = [*earlier, *chat, user("agent please", "human_handoff")]

    lines = transcript(events)

    assert len(lines) == HANDOFF_TRANSCRIPT_TURNS
    assert lines[-1] == person("agent please")
    assert lines[0] == person("question 11")
    assert transcript([*earlier, user("agent please", "human_handoff")]) == (
        person("agent please"),
    )


# --- the proven ID -------------------------------------------------------------------------


def test_a_successful_proof_gives_the_masked_id_though_the_slots_were_cleared() -> None:
    events = [*proven_status_check("21000102"), bot("Status for ID ******02"), user("agent")]

    assert proven_id(events) == "******02"


def test_the_latest_proof_counts() -> None:
    events = [*proven_status_check("21000102"), *proven_status_check("7654321")]

    assert proven_id(events) == "*****21"


def test_a_check_that_stopped_before_the_proof_proves_nothing() -> None:
    S = actions.status.Slot
    events = [
        user("check my status", "status_check"),
        slot(S.ID_NUMBER, "21000102"),
        user("send me a code", "status_send_code"),
        slot(S.PROOF, "send me a code"),  # the raw text Rasa extracts before validation
        action(actions.status.FORM),
        slot(S.PROOF, None),
        user("cancel", "status_cancel"),
        slot(S.PROOF, "cancel"),
        action(actions.status.FORM),
        slot(S.ID_NUMBER, None),
        slot(S.PROOF, None),
        action(handoff.STATUS_ANSWER_ACTION),
    ]

    assert proven_id(events) is None
    assert proven_id([]) is None


def test_a_proof_from_an_earlier_session_does_not_count() -> None:
    events = [*proven_status_check("21000102"), {"event": "session_started"}, user("agent")]

    assert proven_id(events) is None


def test_the_status_names_read_here_are_the_status_features() -> None:
    domain = load_domain()
    assert handoff.STATUS_ID_SLOT == actions.status.Slot.ID_NUMBER
    assert handoff.STATUS_PROOF_SLOT == actions.status.Slot.PROOF
    assert {handoff.STATUS_ID_SLOT, handoff.STATUS_PROOF_SLOT} <= domain.slots
    assert handoff.STATUS_ANSWER_ACTION in domain.actions


# --- the action -------------------------------------------------------------------------------


def rasa_domain() -> dict[str, Any]:
    """The real domain in the shape Rasa sends it to the action server."""
    domain = load_domain()
    return {
        "forms": {form: {"required_slots": list(slots)} for form, slots in domain.forms.items()},
        "slots": {name: {} for name in domain.slots},
    }


def tracker(
    events: list[dict[str, Any]],
    *,
    slots: dict[str, Any] | None = None,
    form: str | None = None,
) -> Tracker:
    latest = next(e["parse_data"] for e in reversed(events) if e["event"] == "user")
    every_slot = dict.fromkeys(rasa_domain()["slots"]) | {"requested_slot": None}
    return Tracker(
        sender_id="700000001",
        slots=every_slot | (slots or {}),
        latest_message=latest,
        events=events,
        paused=False,
        followup_action=None,
        active_loop={"name": form} if form else {},
        latest_action_name="action_listen",
    )


async def run(tr: Tracker) -> tuple[list[dict[str, Any]], list[Any]]:
    dispatcher = CollectingDispatcher()
    events = await ActionHumanHandoff().run(dispatcher, tr, rasa_domain())
    return dispatcher.messages, events


async def test_a_typed_request_outside_a_form_sends_one_request_and_changes_nothing() -> None:
    events = [
        *proven_status_check("21000102"),
        bot("Status for ID ******02: validated."),
        user("Nahitaji kuongea na mhudumu wa NTSA tafadhali", "human_handoff"),
    ]

    [message], returned = await run(tracker(events, slots={"language": "en"}))

    assert message["custom"] == {
        "type": "handoff",
        "lang": "sw",
        "reason": "asked",
        "transcript": [
            {"speaker": "person", "text": "check my status"},
            {"speaker": "person", "text": "******02"},
            {"speaker": "person", "text": "(tapped: contact_shared)"},
            {"speaker": "assistant", "text": "Status for ID ******02: validated."},
            {"speaker": "person", "text": "Nahitaji kuongea na mhudumu wa NTSA tafadhali"},
        ],
        "proven_id": "******02",
    }
    assert message["text"] is None
    assert message["buttons"] == []
    assert returned == []


async def test_the_button_after_two_misses_carries_its_reason_and_keeps_the_language() -> None:
    offered = [{"title": "Msaada kutoka kwa mtu", "payload": HUMAN_PAYLOAD}]
    events = [
        user("blah", "nlu_fallback"),
        bot("Samahani, bado sijaelewa.", offered),
        user(HUMAN_PAYLOAD, "human_handoff", handoff_reason="misses"),
    ]

    [message], returned = await run(tracker(events, slots={"language": "sw"}))

    request = parse_handoff_request(message["custom"])
    assert request is not None
    assert (request.reason, request.lang, request.proven_id) == (
        HandoffReason.MISSES,
        "sw",
        None,
    )
    assert request.transcript[-1] == person("(tapped: Msaada kutoka kwa mtu)")
    assert returned == []


async def test_during_the_status_check_the_form_ends_and_its_slots_are_cleared() -> None:
    S = actions.status.Slot
    in_progress = {
        S.ID_NUMBER: "21000102",
        S.STAGE: "code",
        S.ID_TRIES: 1.0,
        S.PART: "pending",
        "requested_slot": S.PROOF,
        "language": "sw",
        training_slots.EMAIL: "kiprono@example.com",  # another flow's: left alone
    }
    events = [user("check my status", "status_check"), user("agent please", "human_handoff")]

    [stopped, message], returned = await run(
        tracker(events, slots=in_progress, form=actions.status.FORM)
    )

    # The share-my-phone keyboard of the status check goes, with a word on why.
    assert stopped["custom"] == protocol.remove_keyboard(texts.flow_stopped("sw"))
    assert message["custom"]["type"] == "handoff"
    assert message["custom"]["lang"] == "sw"  # "agent please" says no language clearly
    assert returned == [
        ActiveLoop(None),
        SlotSet("requested_slot", None),
        SlotSet(S.ID_NUMBER, None),
        SlotSet(S.ID_TRIES, None),
        SlotSet(S.PART, None),
        SlotSet(S.STAGE, None),
    ]


async def test_during_a_training_registration_every_slot_of_the_form_is_cleared() -> None:
    in_progress = {
        training_slots.AUDIENCE: "motor_dealers",
        training_slots.SESSION: "TRN-DLR-01",
        training_slots.NAME: "Achieng Odhiambo",
        training_slots.PHONE: "+254700000102",
        training_slots.PHONE_PROVEN: "yes",
        "requested_slot": training_slots.EMAIL,
        "language": "en",
    }
    events = [
        user("I want to attend a training", "training_register"),
        user("human", "human_handoff"),
    ]

    _, returned = await run(tracker(events, slots=in_progress, form=training_slots.FORM))

    assert returned[:2] == [ActiveLoop(None), SlotSet("requested_slot", None)]
    cleared = {event["name"] for event in returned[2:]}
    assert cleared == set(in_progress) - {"requested_slot", "language"}
    assert all(event["value"] is None for event in returned[2:])


def test_every_slot_a_form_keeps_is_cleared_and_nothing_else() -> None:
    domain = rasa_domain()
    every = dict.fromkeys(domain["slots"], "x")

    status_cleared = leave_flow(actions.status.FORM, every, domain)[2:]
    training_cleared = leave_flow(training_slots.FORM, every, domain)[2:]

    assert {e["name"] for e in status_cleared} == set(vars(actions.status.Slot).values()) & set(
        every
    )
    assert {e["name"] for e in training_cleared} == set(training_slots.FORM_SLOTS)
    assert leave_flow(None, every, domain) == []


# --- the forms let the request through ------------------------------------------------------


def test_no_form_takes_a_request_for_a_person_as_an_answer() -> None:
    """A form's free-text slot that accepted human_handoff would keep the form running (Rasa
    runs an active form before any rule) and store "agent please" as an answer."""
    free_text = {
        name: mapping
        for _, document in load_domain_documents()
        for name, spec in (document.get("slots") or {}).items()
        for mapping in spec.get("mappings") or []
        if mapping.get("type") == "from_text"
        and any(c.get("active_loop") for c in mapping.get("conditions") or [])
    }

    assert {"status_id_number", "status_proof", "training_name"} <= set(free_text)
    assert [name for name, m in free_text.items() if "human_handoff" not in m["not_intent"]] == []
