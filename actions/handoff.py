"""Handing a person to an agent: one custom reply for the gateway, and a clean conversation.

The gateway owns the agents' desk: it reads the request (:func:`ntsa_assistant.protocol.
handoff_request`), asks what it is about and opens the handoff, and keeps the person's
messages away from Rasa until the agent is done. So this action only describes the
conversation so far (masked) and leaves no form behind that could resume by surprise when
the person next talks to the assistant.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.replies import send_custom
from actions.tracker import LANGUAGE_SLOT, Turn
from ntsa_assistant import protocol
from ntsa_assistant.core.masking import mask_id_number, scrub
from ntsa_assistant.handoff import texts
from ntsa_assistant.protocol import HandoffReason, HandoffRequest, TranscriptLine

REQUESTED_SLOT = "requested_slot"
PERSON = "person"
ASSISTANT = "assistant"
TAPPED = "(tapped: {})"

# What the status feature leaves in the tracker once a person proved an ID is theirs
# (nlu/domain/status.yml, actions.status): the answer action runs with both slots set, then
# clears them. The features are independent, so the names are repeated here; a unit test
# holds them equal to actions.status's.
STATUS_ID_SLOT = "status_id_number"
STATUS_PROOF_SLOT = "status_proof"
STATUS_ANSWER_ACTION = "action_status_answer"

# Events after which the conversation starts afresh (Rasa's own event names).
_FRESH_START = frozenset({"session_started", "restart"})

Event = Mapping[str, Any]


def handoff_reason(value: str | None) -> HandoffReason:
    """The ``handoff_reason`` entity as a reason; words typed by a person carry none (ASKED)."""
    try:
        return HandoffReason(value or "")
    except ValueError:
        return HandoffReason.ASKED


def current_session(events: Sequence[Event]) -> Sequence[Event]:
    """The events since the conversation last started afresh (a new session, a restart)."""
    starts = [i for i, event in enumerate(events) if event.get("event") in _FRESH_START]
    return events[starts[-1] + 1 :] if starts else events


def _intent(event: Event) -> str:
    """The intent of a user event, from its parse data or else from its payload text."""
    parsed = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
    if parsed:
        return str(parsed)
    text = str(event.get("text") or "")
    return text.removeprefix(protocol.PAYLOAD_PREFIX).partition("{")[0]


def _button_title(payload: str, earlier: Iterable[Event]) -> str | None:
    """The title of the button behind ``payload`` in the latest bot message offering it."""
    for event in earlier:
        buttons = (event.get("data") or {}).get("buttons") or []
        for button in buttons:
            if isinstance(button, Mapping) and _same_payload(button.get("payload"), payload):
                return str(button.get("title") or "") or None
    return None


def _same_payload(offered: Any, sent: str) -> bool:
    """Whether two payloads are the same (their JSON may be spaced differently)."""
    if not isinstance(offered, str):
        return False
    return offered == sent or _canonical(offered) == _canonical(sent)


def _canonical(text: str) -> str:
    intent, brace, entities = text.partition("{")
    if not brace:
        return text
    try:
        parsed = json.loads(brace + entities)
    except ValueError:
        return text
    return intent + json.dumps(parsed, sort_keys=True, separators=(",", ":"))


def _bot_text(event: Event) -> str:
    """A bot message's text, or the text of a custom reply (a keyboard's, a file's caption)."""
    custom = (event.get("data") or {}).get("custom") or {}
    for text in (event.get("text"), custom.get("text"), custom.get("caption")):
        if isinstance(text, str) and text.strip():
            return text
    return ""


def transcript(
    events: Sequence[Event], turns: int = protocol.HANDOFF_TRANSCRIPT_TURNS
) -> tuple[TranscriptLine, ...]:
    """The last ``turns`` messages of this session, ending with the latest, every text masked.

    A button tap shows as ``(tapped: <its title>)`` — the title of the latest bot message
    that offered it — else as ``(tapped: <intent>)``.
    """
    session = current_session(events)
    lines: list[TranscriptLine] = []
    for index, event in enumerate(session):
        kind, text = event.get("event"), str(event.get("text") or "")
        if kind == "user" and protocol.is_payload(text):
            title = _button_title(text, reversed(session[:index]))
            lines.append(TranscriptLine(PERSON, TAPPED.format(scrub(title or _intent(event)))))
        elif kind == "user" and text.strip():
            lines.append(TranscriptLine(PERSON, scrub(text)))
        elif kind == "bot" and (said := _bot_text(event)):
            lines.append(TranscriptLine(ASSISTANT, scrub(said)))
    return tuple(lines[-turns:]) if turns > 0 else ()


def proven_id(events: Sequence[Event]) -> str | None:
    """The masked ID a person proved theirs in this session (the latest), else None.

    The status answer runs only once the form is done; if both the ID and the proof are
    set then, the proof succeeded (a failed step resets the proof). The slots are cleared
    right after, so the events are replayed rather than the slots read.
    """
    slots: dict[str, Any] = {}
    proven: str | None = None
    for event in current_session(events):
        if event.get("event") == "slot":
            slots[str(event.get("name"))] = event.get("value")
        elif event.get("event") == "action" and event.get("name") == STATUS_ANSWER_ACTION:
            id_number, proof = slots.get(STATUS_ID_SLOT), slots.get(STATUS_PROOF_SLOT)
            if id_number and proof:
                proven = mask_id_number(str(id_number))
    return proven


def form_slots(form: str, slots: Iterable[str], domain: Mapping[str, Any]) -> list[str]:
    """The slots a form fills or keeps while it runs: its required slots and every slot of
    its feature (``status_form`` keeps ``status_*``), never the language."""
    spec = (domain.get("forms") or {}).get(form) or {}
    required = (spec.get("required_slots") or []) if isinstance(spec, Mapping) else []
    prefix = form.removesuffix("_form") + "_"
    names = {*required, *(name for name in slots if name.startswith(prefix))}
    return sorted(names - {LANGUAGE_SLOT, REQUESTED_SLOT})


def leave_flow(
    active_form: str | None, slots: Mapping[str, Any], domain: Mapping[str, Any]
) -> list[EventType]:
    """Ends the running form, if any, and forgets what it had gathered so far."""
    if not active_form:
        return []
    cleared = [
        SlotSet(name, None)
        for name in form_slots(active_form, slots, domain)
        if slots.get(name) is not None
    ]
    return [ActiveLoop(None), SlotSet(REQUESTED_SLOT, None), *cleared]


class ActionHumanHandoff(Action):
    """Asks the gateway to hand this chat to an agent, with the conversation so far."""

    def name(self) -> str:
        return "action_human_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        turn = Turn(tracker)
        request = HandoffRequest(
            lang=turn.language,
            reason=handoff_reason(turn.entity(protocol.Entity.HANDOFF_REASON)),
            transcript=transcript(tracker.events),
            proven_id=proven_id(tracker.events),
        )
        if tracker.active_loop_name:  # and with it any share-my-phone keyboard it showed
            send_custom(dispatcher, protocol.remove_keyboard(texts.flow_stopped(turn.language)))
        send_custom(dispatcher, protocol.handoff_request(request))
        return leave_flow(tracker.active_loop_name, tracker.slots, domain)
