"""Status check: the form that asks the ID and the proof, and the answer.

The rules (proofs, codes, limits, audit, wording of the answer) live in
``ntsa_assistant.status.verification`` and ``ntsa_assistant.status.lookup``; these actions only read
the tracker, call them and turn their result into messages and slots. The phone that
proves ownership is read only from the gateway's metadata (``verified_phone``, present
only for the sender's own shared contact), never from text or from a slot.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.language import remember_detected
from actions.replies import send, send_custom
from actions.runtime import resources
from actions.tracker import Turn, reply_language
from ntsa_assistant import protocol
from ntsa_assistant.core import typed
from ntsa_assistant.core.i18n import t
from ntsa_assistant.core.masking import mask_id_number
from ntsa_assistant.core.typed import Word
from ntsa_assistant.protocol import Button
from ntsa_assistant.status import answers, verification
from ntsa_assistant.status.answers import ProofChoice
from ntsa_assistant.status.lookup import StatusUnavailable, parse_parts
from ntsa_assistant.status.verification import Outcome, Result, Verifier

FORM = "status_form"
REQUESTED_SLOT = "requested_slot"


class Slot:
    """Every slot of the status feature (nlu/domain/status.yml)."""

    ID_NUMBER = "status_id_number"  # cleared as soon as the check ends, whichever way
    PROOF = "status_proof"  # "contact" / "code" once proven
    # None, then "contact" (keyboard shown), "offered" (declined to share: code offered),
    # then "code" (a code was sent)
    STAGE = "status_stage"
    ID_TRIES = "status_id_tries"  # badly formed IDs so far
    PART = "status_part"  # what was asked: all / validation / pending / organisations


class Intent:
    SEND_CODE = protocol.Intent.STATUS_SEND_CODE
    # training_stop is also the generic "stop" people type
    CANCEL = frozenset({protocol.Intent.STATUS_CANCEL, protocol.Intent.TRAINING_STOP})


MAX_ID_TRIES = 3
STAGE_CONTACT = "contact"
STAGE_OFFERED = "offered"
STAGE_CODE = "code"
STAGE_STOPPED = "stopped"

_CLEARED: dict[str, Any] = {
    Slot.ID_NUMBER: None,
    Slot.PROOF: None,
    Slot.STAGE: None,
    Slot.ID_TRIES: None,
}
_STOP: dict[str, Any] = {**_CLEARED, Slot.STAGE: STAGE_STOPPED, REQUESTED_SLOT: None}


def _verifier() -> Verifier:
    verifier = resources().verifier
    if verifier is None:
        raise RuntimeError("the status verifier is not configured")
    return verifier


def _intent(tracker: Tracker) -> str | None:
    return Turn(tracker).intent


def _stop(dispatcher: CollectingDispatcher, text: str | None) -> dict[str, Any]:
    """Ends the form with ``text`` (the share-my-phone keyboard goes away)."""
    send_custom(dispatcher, protocol.remove_keyboard(text or ""))
    return dict(_STOP)


class ValidateStatusForm(FormValidationAction):
    def name(self) -> str:
        return "validate_status_form"

    async def next_requested_slot(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> EventType | None:
        """This form's next missing slot — or none once a validation stopped the form
        (the SDK's default would ask again for the cleared ID slot)."""
        if tracker.slots.get(Slot.STAGE) == STAGE_STOPPED:
            return None  # the validation ended the form; its requested_slot=None stands
        missing = [slot for slot in self.domain_slots(domain) if tracker.slots.get(slot) is None]
        return SlotSet(REQUESTED_SLOT, missing[0] if missing else None)

    async def validate_status_id_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        lang = reply_language(tracker)
        if _intent(tracker) in Intent.CANCEL or _typed_stop(str(value or "")):
            return _stop(dispatcher, t(lang, "status.cancelled"))
        id_number = verification.parse_id_number(str(value or ""))
        if id_number is None:
            tries = int(tracker.get_slot(Slot.ID_TRIES) or 0) + 1
            if tries >= MAX_ID_TRIES:
                return _stop(dispatcher, t(lang, "status.id_gave_up"))
            return {Slot.ID_NUMBER: None, Slot.ID_TRIES: tries}
        result = await _verifier().begin(tracker.sender_id, id_number)
        if result.outcome is Outcome.LOCKED:
            return _stop(dispatcher, answers.explain(result, lang))
        proof = result.method.value if result.method else None
        return {Slot.ID_NUMBER: id_number, Slot.PROOF: proof}

    async def validate_status_proof(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        lang, text = reply_language(tracker), str(value or "")
        if _cancels_proof(tracker, text):
            return _stop(dispatcher, t(lang, "status.cancelled"))
        try:
            result = await _proof_step(tracker, lang, text)
        except StatusUnavailable:
            stopped = _stop(dispatcher, t(lang, "status.unavailable"))
            send(dispatcher, answers.person_offer(lang))
            return stopped
        if isinstance(result, str):
            send(dispatcher, answers.proof_reply(result, lang))
            offered = {Slot.STAGE: STAGE_OFFERED} if result == "status.code_offer" else {}
            return {Slot.PROOF: None, **offered}
        return _after_proof_step(dispatcher, result, lang)


def _typed_stop(text: str) -> bool:
    """At the ID question, "cancel", "acha", "no", "hapana" … typed instead of an ID."""
    reading = typed.read_answer(text)
    return reading.says(Word.CANCEL, Word.NO)


def _proof_choice(tracker: Tracker, text: str) -> ProofChoice | None:
    """What a typed answer chooses at the proof step (a button tap is read by its intent).
    A number picks a button only while the buttons are the last thing shown."""
    if Turn(tracker).is_payload:
        return None
    stage = tracker.get_slot(Slot.STAGE)
    return answers.read_proof_choice(text, numbered=stage in (STAGE_CONTACT, STAGE_OFFERED))


def _cancels_proof(tracker: Tracker, text: str) -> bool:
    """Cancel typed or tapped; "no" cancels too once the code was offered or sent (before
    that, "no" declines to share the phone, and the code is offered). A typed answer the
    step understands is read by its words, whatever intent the model gives a bare "no"."""
    choice = _proof_choice(tracker, text)
    if choice is None:
        return _intent(tracker) in Intent.CANCEL
    if choice is ProofChoice.CANCEL:
        return True
    return choice is ProofChoice.DECLINE and tracker.get_slot(Slot.STAGE) != STAGE_CONTACT


async def _proof_step(tracker: Tracker, lang: str, text: str) -> Result | str:
    """Runs what the user did at the proof step; a text key when nothing was run."""
    chat, id_number, stage = (
        tracker.sender_id,
        tracker.get_slot(Slot.ID_NUMBER),
        tracker.get_slot(Slot.STAGE),
    )
    turn = Turn(tracker)
    if turn.is_contact:
        return await _verifier().prove_by_contact(chat, id_number, turn.proven_phone, lang)
    code = verification.parse_code(text)
    if code is not None:
        if stage != STAGE_CODE:
            return "status.code_not_sent_yet"
        return await _verifier().check_code(chat, id_number, code)
    choice = _proof_choice(tracker, text)
    if choice is ProofChoice.DECLINE:  # only at the contact stage (else it cancelled)
        return "status.code_offer"
    accepted = choice is ProofChoice.ACCEPT and stage == STAGE_OFFERED
    if accepted or choice is ProofChoice.SEND_CODE or _intent(tracker) == Intent.SEND_CODE:
        return await _verifier().send_code(chat, id_number, lang)
    if verification.looks_like_phone(text):
        return "status.typed_phone"
    return "status.ask_code" if stage == STAGE_CODE else "status.proof_options"


def _after_proof_step(
    dispatcher: CollectingDispatcher, result: Result, lang: str
) -> dict[str, Any]:
    if result.outcome is Outcome.LOCKED:
        return _stop(dispatcher, answers.explain(result, lang))
    if result.outcome is Outcome.PROVEN:
        return {Slot.PROOF: result.method.value if result.method else None}
    if result.outcome is Outcome.NOT_OWN_CONTACT:
        not_own = t(lang, "status.not_own_contact")
        _ask_for_contact(dispatcher, lang, not_own, answers.proof_choices(lang))
        return {Slot.PROOF: None}
    dispatcher.utter_message(text=answers.explain(result, lang))
    if result.outcome is Outcome.CODE_SENT:
        return {Slot.PROOF: None, Slot.STAGE: STAGE_CODE}
    return {Slot.PROOF: None}


def _ask_for_contact(
    dispatcher: CollectingDispatcher, lang: str, text: str, choices: Sequence[Button] = ()
) -> None:
    button = t(lang, "status.share_button")
    send_custom(dispatcher, protocol.request_contact(text, button, choices))


class ActionAskStatusIdNumber(Action):
    def name(self) -> str:
        return "action_ask_status_id_number"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        tries = int(tracker.get_slot(Slot.ID_TRIES) or 0)
        key = "status.ask_id_again" if tries else "status.ask_id"
        dispatcher.utter_message(text=t(reply_language(tracker), key))
        return remember_detected(tracker)


class ActionAskStatusProof(Action):
    """Asks once, in one message: the share-my-phone keyboard with the code alternative and
    "cancel" as its other buttons; later turns are answered by validation."""

    def name(self) -> str:
        return "action_ask_status_proof"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        if tracker.get_slot(Slot.STAGE):
            return []  # the keyboard was shown; validation answers every later turn
        lang = reply_language(tracker)
        masked = mask_id_number(str(tracker.get_slot(Slot.ID_NUMBER) or ""))
        text = f"{t(lang, 'status.ask_proof', id=masked)}\n\n{t(lang, 'status.code_alternative')}"
        _ask_for_contact(dispatcher, lang, text, answers.proof_choices(lang))
        return [SlotSet(Slot.STAGE, STAGE_CONTACT)]


class ActionStatusAnswer(Action):
    """After the form: the status of a proven person (audited), then every slot cleared."""

    def name(self) -> str:
        return "action_status_answer"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        cleared = [SlotSet(slot, value) for slot, value in _CLEARED.items()]
        id_number, lang = tracker.get_slot(Slot.ID_NUMBER), reply_language(tracker)
        if not id_number or not tracker.get_slot(Slot.PROOF):
            return cleared  # the form stopped early and already said why
        part = parse_parts(tracker.get_slot(Slot.PART))
        try:
            disclosed = await _verifier().disclose(tracker.sender_id, id_number, part)
        except StatusUnavailable:
            disclosed, key = None, "status.unavailable"
        else:
            key = "status.proof_expired"
        if disclosed is None:
            text = t(lang, key)
        else:
            text = answers.compose(disclosed[0], part, lang, resources().clock.now())
        send_custom(dispatcher, protocol.remove_keyboard(text))
        if key == "status.unavailable":
            send(dispatcher, answers.person_offer(lang))
        return cleared


class ActionStatusUnexpectedContact(Action):
    """A contact shared when no status check is running: thanked, never used."""

    def name(self) -> str:
        return "action_status_unexpected_contact"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        text = t(reply_language(tracker), "status.unexpected_contact")
        send_custom(dispatcher, protocol.remove_keyboard(text))
        return []
