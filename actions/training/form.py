"""Training registration in chat: the form's checks, its questions, and submit.

Rules and texts live in :mod:`ntsa_assistant.training`; these actions map slots to a domain
call and its result to messages and slot events. A registration is written only by
``action_training_submit``, after every field was validated and the user confirmed, so a
stopped form saves nothing; submit checks every field again (it never trusts slots).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.replies import send, send_custom
from actions.runtime import resources
from actions.tracker import LANGUAGE_SLOT, Turn
from actions.training import slots as s
from actions.training.common import chat_id, flow_language, reset_form
from ntsa_assistant.core.i18n import Lang
from ntsa_assistant.protocol import Intent
from ntsa_assistant.storage.models import Language
from ntsa_assistant.training import booking, queries, rules, texts
from ntsa_assistant.training.rules import InvalidInput, RegistrationError
from ntsa_assistant.training.views import RegistrationInfo


class ValidateTrainingForm(FormValidationAction):
    """Checks every answer; a bad one is cleared (the form asks again) with a reason."""

    def name(self) -> str:
        return "validate_training_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        if tracker.get_slot(s.CONFIRMED) == s.NO:
            return []  # stopped by typing: the form ends, and submit says it stopped
        if rules.needs_kra_pin(rules.parse_audience(tracker.get_slot(s.AUDIENCE))):
            return domain_slots
        return [slot for slot in domain_slots if slot != s.KRA_PIN]

    async def extract_training_phone(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """A contact shared with the gateway's button: trusted only when it is their own."""
        turn = Turn(tracker)
        if turn.intent != Intent.CONTACT_SHARED or turn.slot(s.REQUESTED_SLOT) != s.PHONE:
            return {}
        return {s.PHONE: turn.proven_phone or s.NOT_OWN_CONTACT}

    async def extract_training_email(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """An e-mail address typed when the form asks for one, whatever its intent."""
        turn = Turn(tracker)
        if turn.slot(s.REQUESTED_SLOT) != s.EMAIL or not rules.is_email(turn.text):
            return {}
        return {s.EMAIL: turn.text}

    def _invalid(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, slot: str, reason: str
    ) -> dict[str, Any]:
        dispatcher.utter_message(text=texts.say(flow_language(tracker), reason))
        return {slot: None}

    async def validate_training_audience(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if Turn(tracker).is_payload:
            audience = rules.parse_audience(value)
            return {s.AUDIENCE: audience.value if audience else None}
        if texts.read_stop(str(value)):
            return _stopped(s.AUDIENCE)
        typed = texts.read_audience(str(value))
        if typed is None:
            return self._invalid(dispatcher, tracker, s.AUDIENCE, "audience_unknown")
        return {s.AUDIENCE: typed.value}

    async def validate_training_session(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        res = resources()
        waitlist = tracker.get_slot(s.WAITLIST) == s.YES
        if not Turn(tracker).is_payload:  # typed: a number, a date, "waitlist", "acha"
            if texts.read_stop(str(value)):
                return _stopped(s.SESSION) | {s.FULL: None}
            picked = await self._typed_session(tracker, str(value))
            if picked is None:
                return self._invalid(dispatcher, tracker, s.SESSION, "session_unknown")
            value, waitlist = picked.code, picked.waitlist
        try:
            offer = await queries.choose(res.sessions, str(value), res.clock.now())
        except RegistrationError as refused:
            return self._invalid(dispatcher, tracker, s.SESSION, refused.reason) | {s.FULL: None}
        code = offer.training_session.code
        if offer.seats_left == 0 and not waitlist:
            return {s.SESSION: None, s.FULL: code}  # the question offers the waitlist
        return {s.SESSION: code, s.FULL: None} | ({s.WAITLIST: s.YES} if waitlist else {})

    async def _typed_session(self, tracker: Tracker, text: str) -> texts.SessionPick | None:
        """The session typed, read against the menu the question showed (same order)."""
        res = resources()
        audience = rules.parse_audience(tracker.get_slot(s.AUDIENCE))
        lang = flow_language(tracker)
        offers = await queries.offers(res.sessions, res.clock.now(), audience, lang)
        full_code = tracker.get_slot(s.FULL)
        full = next((o for o in offers if o.training_session.code == full_code), None)
        return texts.read_session(text, offers, full)

    async def _checked(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        slot: str,
        parse: Any,
        value: Any,
    ) -> dict[str, Any]:
        try:
            return {slot: parse(str(value))}
        except InvalidInput as bad:
            return self._invalid(dispatcher, tracker, slot, bad.reason)

    async def validate_training_name(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if texts.read_stop(str(value), free_text=True):
            return _stopped(s.NAME)
        return await self._checked(dispatcher, tracker, s.NAME, rules.validate_name, value)

    async def validate_training_phone(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value != s.NOT_OWN_CONTACT and texts.read_stop(str(value)):
            return _stopped(s.PHONE)
        if value == s.NOT_OWN_CONTACT:
            return self._invalid(dispatcher, tracker, s.PHONE, "phone_not_own") | {
                s.PHONE_PROVEN: None
            }
        checked = await self._checked(dispatcher, tracker, s.PHONE, rules.validate_phone, value)
        turn = Turn(tracker)  # a typed phone proves nothing; only a shared own contact does
        proven = turn.is_contact and checked[s.PHONE] is not None
        proven = proven and checked[s.PHONE] == turn.proven_phone
        return checked | {s.PHONE_PROVEN: s.YES if proven else None}

    async def validate_training_email(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value == s.SKIPPED or texts.read_email_skip(str(value)):
            return {s.EMAIL: s.SKIPPED}
        if texts.read_stop(str(value)):
            return _stopped(s.EMAIL)
        return await self._checked(dispatcher, tracker, s.EMAIL, rules.validate_email, value)

    async def validate_training_kra_pin(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if texts.read_stop(str(value)):
            return _stopped(s.KRA_PIN)
        return await self._checked(dispatcher, tracker, s.KRA_PIN, rules.validate_kra_pin, value)

    async def validate_training_confirmed(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if Turn(tracker).is_payload:
            return {s.CONFIRMED: s.YES if value == s.YES else None}
        confirmed = texts.read_confirmation(str(value))
        if confirmed is None:
            return self._invalid(dispatcher, tracker, s.CONFIRMED, "confirm_unclear")
        return {s.CONFIRMED: s.YES} if confirmed else _stopped(s.CONFIRMED)


def _stopped(slot: str) -> dict[str, Any]:
    """Stopped by typing ("cancel", "acha", "no" at the confirmation): the answer is not
    taken and the form ends (see ``required_slots``); submit then says it stopped and
    saves nothing, as after the ✖ button."""
    return {slot: None, s.CONFIRMED: s.NO}


class _Ask(Action, ABC):
    """Base of the form's questions (abstract, so rasa_sdk does not register it)."""

    slot: str

    def name(self) -> str:
        return f"action_ask_{self.slot}"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        turn = Turn(tracker)
        typed_start = turn.intent == Intent.TRAINING_REGISTER
        lang = turn.language if typed_start else flow_language(tracker)
        await self.ask(dispatcher, tracker, lang)
        return [] if turn.slot(LANGUAGE_SLOT) == lang else [SlotSet(LANGUAGE_SLOT, lang)]

    @abstractmethod
    async def ask(self, dispatcher: CollectingDispatcher, tracker: Tracker, lang: Lang) -> None:
        """Sends the question for :attr:`slot`."""


class AskAudience(_Ask):
    slot = s.AUDIENCE

    async def ask(self, dispatcher: CollectingDispatcher, tracker: Tracker, lang: Lang) -> None:
        send(dispatcher, texts.ask_audience(lang))


class AskSession(_Ask):
    slot = s.SESSION

    async def ask(self, dispatcher: CollectingDispatcher, tracker: Tracker, lang: Lang) -> None:
        res = resources()
        audience = rules.parse_audience(tracker.get_slot(s.AUDIENCE))
        offers = await queries.offers(res.sessions, res.clock.now(), audience, lang)
        full_code = tracker.get_slot(s.FULL)
        full = next((o for o in offers if o.training_session.code == full_code), None)
        send(dispatcher, texts.ask_session(lang, offers, full))


class AskName(_Ask):
    slot = s.NAME

    async def ask(self, dispatcher: CollectingDispatcher, tracker: Tracker, lang: Lang) -> None:
        send(dispatcher, texts.ask_name(lang))


class AskPhone(_Ask):
    slot = s.PHONE

    async def ask(self, dispatcher: CollectingDispatcher, tracker: Tracker, lang: Lang) -> None:
        send_custom(dispatcher, texts.ask_phone(lang))


class AskEmail(_Ask):
    slot = s.EMAIL

    async def ask(self, dispatcher: CollectingDispatcher, tracker: Tracker, lang: Lang) -> None:
        send(dispatcher, texts.ask_email(lang))


class AskKraPin(_Ask):
    slot = s.KRA_PIN

    async def ask(self, dispatcher: CollectingDispatcher, tracker: Tracker, lang: Lang) -> None:
        send(dispatcher, texts.ask_kra_pin(lang))


def _email(tracker: Tracker) -> str | None:
    email = tracker.get_slot(s.EMAIL)
    return None if email in (None, s.SKIPPED) else str(email)


class AskConfirmed(_Ask):
    slot = s.CONFIRMED

    async def ask(self, dispatcher: CollectingDispatcher, tracker: Tracker, lang: Lang) -> None:
        chosen = await queries.get_training_session(
            resources().sessions, tracker.get_slot(s.SESSION)
        )
        answer = texts.ask_confirmation(
            lang,
            chosen,
            name=tracker.get_slot(s.NAME),
            phone=tracker.get_slot(s.PHONE),
            email=_email(tracker),
            kra_pin=tracker.get_slot(s.KRA_PIN),
        )
        send(dispatcher, answer)


class ActionTrainingSubmit(Action):
    """The only place a registration is written: all answers valid and confirmed."""

    def name(self) -> str:
        return "action_training_submit"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        lang = flow_language(tracker)
        if tracker.get_slot(s.CONFIRMED) != s.YES:
            dispatcher.utter_message(text=texts.say(lang, "stopped"))
            return reset_form()
        res = resources()
        try:
            applicant = rules.applicant(
                chat_id=chat_id(tracker),
                name=str(tracker.get_slot(s.NAME) or ""),
                phone=str(tracker.get_slot(s.PHONE) or ""),
                language=Language(lang),
                email=_email(tracker),
                kra_pin=tracker.get_slot(s.KRA_PIN),
                audience=rules.parse_audience(tracker.get_slot(s.AUDIENCE)),
                phone_proven=tracker.get_slot(s.PHONE_PROVEN) == s.YES,
            )
            result = await booking.register(
                res.sessions, tracker.get_slot(s.SESSION), applicant, res.clock.now()
            )
        except (RegistrationError, InvalidInput) as refused:
            dispatcher.utter_message(text=texts.say(lang, refused.reason))
            return reset_form()
        if result.existing:
            dispatcher.utter_message(text=texts.say(lang, "already"))
        send_outcome(dispatcher, lang, result.registration)
        return reset_form()


def send_outcome(dispatcher: CollectingDispatcher, lang: Lang, info: RegistrationInfo) -> None:
    """Confirmed: the text and the calendar file; waitlisted: the text."""
    dispatcher.utter_message(text=texts.outcome(lang, info))
    if info.confirmed:
        send_custom(dispatcher, texts.calendar_file(lang, info, resources().clock.now()))


class ActionTrainingStopped(Action):
    def name(self) -> str:
        return "action_training_stopped"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        dispatcher.utter_message(text=texts.say(flow_language(tracker), "stopped"))
        return reset_form()
