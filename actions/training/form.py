"""Training registration in chat: the form's questions and checks, submit, and managing.

Actions stay thin: the rules live in :mod:`ntsa_assistant.training.booking`; this module turns
the tracker into calls and the results into messages and slot events. Slot names are in
:mod:`actions.training.slots`. A registration is written only by ``action_training_submit``,
after every field was validated and the user confirmed, so a stopped form saves nothing.
"""

from __future__ import annotations

import base64
import json
import logging
from abc import ABC, abstractmethod
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.training import slots as s
from actions.tracker import LANGUAGE_SLOT, gateway_metadata, reply_language
from actions.runtime import resources
from ntsa_assistant.core.i18n import (
    Lang,
    normalise_language,
    spell_datetime,
    spell_short_datetime,
    t,
)
from ntsa_assistant.core.masking import mask_kra_pin, mask_phone
from ntsa_assistant.storage.models import Language
from ntsa_assistant.training import booking as registration
from ntsa_assistant.training import calendar
from ntsa_assistant.training.booking import (
    Applicant,
    InvalidInput,
    RegistrationError,
    RegistrationInfo,
    TrainingOffer,
)

logger = logging.getLogger(__name__)

Message = dict[str, Any]
START = "training_register"


# --- helpers: language, buttons, texts -------------------------------------------------------


def flow_language(tracker: Tracker) -> Lang:
    """The language the flow started in (typed names must not switch it)."""
    slot = tracker.get_slot(LANGUAGE_SLOT)
    return normalise_language(slot) if slot else reply_language(tracker)


def payload(intent: str, **entities: str) -> str:
    if not entities:
        return f"/{intent}"
    return f"/{intent}{json.dumps(entities, separators=(',', ':'))}"


def button(title: str, intent: str, **entities: str) -> dict[str, str]:
    return {"title": title, "payload": payload(intent, **entities)}


def stop_button(lang: Lang) -> dict[str, str]:
    return button(t(lang, "registration.button_stop"), s.STOP)


def seats_text(lang: Lang, seats: int) -> str:
    if seats <= 0:
        return t(lang, "registration.seats_full")
    if seats == 1:
        return t(lang, "registration.seat_left")
    return t(lang, "registration.seats_left", count=seats)


def session_menu(
    lang: Lang, offers: list[TrainingOffer], intent: str, **extra: str
) -> tuple[str, list[dict[str, str]]]:
    """Numbered lines (title, full date) and one short button per session."""
    lines, buttons = [], []
    for number, offer in enumerate(offers, start=1):
        session = offer.training_session
        language = t(lang, f"training.language_{session.language.value}")
        lines.append(
            t(
                lang,
                "registration.session_line",
                number=number,
                title=session.title,
                when=spell_datetime(lang, session.starts_at),
                language=language,
                seats=seats_text(lang, offer.seats_left),
            )
        )
        title = (
            f"{number}. {spell_short_datetime(lang, session.starts_at)} "
            f"({session.language.value.upper()}) · {seats_text(lang, offer.seats_left)}"
        )
        buttons.append(button(title, intent, **extra, training_session=session.code))
    return "\n".join(lines), buttons


def status_text(lang: Lang, info: RegistrationInfo) -> str:
    if info.confirmed:
        return t(lang, "registration.status_confirmed")
    return t(lang, "registration.status_waitlisted", position=info.waitlist_position)


def ics_message(lang: Lang, info: RegistrationInfo) -> Message:
    content = calendar.build_ics(info, lang, resources().clock.now())
    return {
        "type": "document",
        "filename": calendar.filename(info),
        "mime_type": calendar.MIME_TYPE,
        "content_base64": base64.b64encode(content).decode("ascii"),
        "caption": t(lang, "registration.ics_caption", title=info.training_session.title),
    }


def outcome_messages(lang: Lang, info: RegistrationInfo) -> list[Message]:
    """What a new (or existing) registration is told: confirmed + .ics, or waitlisted."""
    session = info.training_session
    if not info.confirmed:
        text = t(
            lang,
            "registration.waitlisted",
            title=session.title,
            position=info.waitlist_position,
            reference=info.reference,
        )
        return [{"text": text}]
    text = t(
        lang,
        "registration.confirmed",
        reference=info.reference,
        title=session.title,
        when=spell_datetime(lang, session.starts_at),
        join_url=session.join_url,
    )
    return [{"text": text}, {"json_message": ics_message(lang, info)}]


def send(dispatcher: CollectingDispatcher, messages: list[Message]) -> None:
    for message in messages:
        dispatcher.utter_message(**message)


def reset_form() -> list[EventType]:
    return [SlotSet(slot, None) for slot in s.FORM_SLOTS]


def entity(tracker: Tracker, name: str) -> str | None:
    value = next(tracker.get_latest_entity_values(name), None)
    return str(value) if value else None


def chat_id(tracker: Tracker) -> int:
    return int(tracker.sender_id)


# --- the form --------------------------------------------------------------------------------


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
        if registration.needs_kra_pin(registration.parse_audience(tracker.get_slot(s.AUDIENCE))):
            return domain_slots
        return [slot for slot in domain_slots if slot != s.KRA_PIN]

    async def extract_training_phone(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """A contact shared with the gateway's button: trusted only when it is their own."""
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        if intent != s.CONTACT_SHARED or tracker.get_slot(s.REQUESTED_SLOT) != s.PHONE:
            return {}
        metadata = gateway_metadata(tracker)
        phone = metadata.get("verified_phone") if metadata.get("contact_is_own") else None
        return {s.PHONE: str(phone) if phone else s.NOT_OWN_CONTACT}

    def _invalid(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, slot: str, reason: str
    ) -> dict[str, Any]:
        dispatcher.utter_message(text=t(flow_language(tracker), f"registration.{reason}"))
        return {slot: None}

    async def validate_training_audience(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        audience = registration.parse_audience(value)
        return {s.AUDIENCE: audience.value if audience else None}

    async def validate_training_session(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        res = resources()
        try:
            session = await registration.get_training_session(res.sessions, str(value))
        except registration.UnknownTrainingSession:
            return self._invalid(dispatcher, tracker, s.SESSION, "session_unknown") | {s.FULL: None}
        if session.starts_at <= res.clock.now():
            return self._invalid(dispatcher, tracker, s.SESSION, "session_started") | {s.FULL: None}
        counts = await registration.training_session_counts(res.sessions, session.code)
        full = counts[0].confirmed >= session.capacity
        if full and tracker.get_slot(s.WAITLIST) != s.YES:
            return {s.SESSION: None, s.FULL: session.code}  # the ask offers the waitlist
        return {s.SESSION: session.code, s.FULL: None}

    async def validate_training_name(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        try:
            return {s.NAME: registration.validate_name(str(value))}
        except InvalidInput as bad:
            return self._invalid(dispatcher, tracker, s.NAME, bad.reason)

    async def validate_training_phone(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value == s.NOT_OWN_CONTACT:
            return self._invalid(dispatcher, tracker, s.PHONE, "phone_not_own")
        try:
            phone = registration.validate_phone(str(value))
        except InvalidInput as bad:
            return self._invalid(dispatcher, tracker, s.PHONE, bad.reason)
        return {s.PHONE: phone}

    async def validate_training_email(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value == s.SKIPPED:
            return {s.EMAIL: s.SKIPPED}
        try:
            return {s.EMAIL: registration.validate_email(str(value))}
        except InvalidInput as bad:
            return self._invalid(dispatcher, tracker, s.EMAIL, bad.reason)

    async def validate_training_kra_pin(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        try:
            return {s.KRA_PIN: registration.validate_kra_pin(str(value))}
        except InvalidInput as bad:
            return self._invalid(dispatcher, tracker, s.KRA_PIN, bad.reason)

    async def validate_training_confirmed(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return {s.CONFIRMED: s.YES if value == s.YES else None}


class _Ask(Action, ABC):
    """Base of the form's questions (abstract, so rasa_sdk does not register it)."""

    slot: str

    def name(self) -> str:
        return f"action_ask_{self.slot}"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        typed_start = (tracker.latest_message.get("intent") or {}).get("name") == START
        lang = reply_language(tracker) if typed_start else flow_language(tracker)
        await self.ask(dispatcher, tracker, lang)
        return [] if tracker.get_slot(LANGUAGE_SLOT) == lang else [SlotSet(LANGUAGE_SLOT, lang)]

    @abstractmethod
    async def ask(self, dispatcher: CollectingDispatcher, tracker: Tracker, lang: Lang) -> None:
        """Sends the question for :attr:`slot`."""


class AskAudience(_Ask):
    slot = s.AUDIENCE

    async def ask(self, dispatcher: CollectingDispatcher, tracker: Tracker, lang: Lang) -> None:
        buttons = [
            button(t(lang, f"registration.audience.{a.value}"), s.CHOOSE, training_audience=a.value)
            for a in registration.CHOOSABLE_AUDIENCES
        ]
        dispatcher.utter_message(text=t(lang, "registration.ask_audience"), buttons=buttons)


class AskSession(_Ask):
    slot = s.SESSION

    async def ask(self, dispatcher: CollectingDispatcher, tracker: Tracker, lang: Lang) -> None:
        res = resources()
        audience = registration.parse_audience(tracker.get_slot(s.AUDIENCE))
        assert audience is not None  # asked before the session
        offers = await registration.offers(res.sessions, res.clock.now(), audience, lang)
        full_code = tracker.get_slot(s.FULL)
        full = next((o for o in offers if o.training_session.code == full_code), None)
        if full is not None:
            offers = [o for o in offers if o is not full]
            text = t(
                lang,
                "registration.session_full",
                title=full.training_session.title,
                when=spell_datetime(lang, full.training_session.starts_at),
            )
            menu, buttons = session_menu(lang, offers, s.CHOOSE)
            waitlist = button(
                t(lang, "registration.button_waitlist"),
                s.CHOOSE,
                training_session=full.training_session.code,
                training_waitlist=s.YES,
            )
            text = f"{text}\n\n{menu}" if menu else text
            dispatcher.utter_message(text=text, buttons=[waitlist, *buttons, stop_button(lang)])
            return
        if not offers:
            dispatcher.utter_message(
                text=t(lang, "registration.no_sessions"), buttons=[stop_button(lang)]
            )
            return
        menu, buttons = session_menu(lang, offers, s.CHOOSE)
        text = f"{t(lang, 'registration.ask_session')}\n{menu}"
        dispatcher.utter_message(text=text, buttons=[*buttons, stop_button(lang)])


class AskName(_Ask):
    slot = s.NAME

    async def ask(self, dispatcher: CollectingDispatcher, tracker: Tracker, lang: Lang) -> None:
        dispatcher.utter_message(text=t(lang, "registration.ask_name"), buttons=[stop_button(lang)])


class AskPhone(_Ask):
    slot = s.PHONE

    async def ask(self, dispatcher: CollectingDispatcher, tracker: Tracker, lang: Lang) -> None:
        dispatcher.utter_message(
            json_message={
                "type": "request_contact",
                "text": t(lang, "registration.ask_phone"),
                "button": t(lang, "registration.button_share_phone"),
            }
        )


class AskEmail(_Ask):
    slot = s.EMAIL

    async def ask(self, dispatcher: CollectingDispatcher, tracker: Tracker, lang: Lang) -> None:
        skip = button(t(lang, "registration.button_skip"), s.SKIP)
        dispatcher.utter_message(
            text=t(lang, "registration.ask_email"), buttons=[skip, stop_button(lang)]
        )


class AskKraPin(_Ask):
    slot = s.KRA_PIN

    async def ask(self, dispatcher: CollectingDispatcher, tracker: Tracker, lang: Lang) -> None:
        dispatcher.utter_message(
            text=t(lang, "registration.ask_kra_pin"), buttons=[stop_button(lang)]
        )


class AskConfirmed(_Ask):
    slot = s.CONFIRMED

    async def ask(self, dispatcher: CollectingDispatcher, tracker: Tracker, lang: Lang) -> None:
        session = await registration.get_training_session(
            resources().sessions, tracker.get_slot(s.SESSION)
        )
        email = tracker.get_slot(s.EMAIL)
        pin = tracker.get_slot(s.KRA_PIN)
        text = t(
            lang,
            "registration.confirm",
            title=session.title,
            when=spell_datetime(lang, session.starts_at),
            name=tracker.get_slot(s.NAME),
            phone=mask_phone(tracker.get_slot(s.PHONE)),
            email=email if email and email != s.SKIPPED else t(lang, "registration.no_email"),
            pin_line=t(lang, "registration.confirm_pin_line", pin=mask_kra_pin(pin)) if pin else "",
        )
        confirm = button(t(lang, "registration.button_confirm"), s.CONFIRM)
        dispatcher.utter_message(text=text, buttons=[confirm, stop_button(lang)])


# --- after the form ------------------------------------------------------------------------


class ActionTrainingSubmit(Action):
    """The only place a registration is written: all answers valid and confirmed."""

    def name(self) -> str:
        return "action_training_submit"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        lang = flow_language(tracker)
        if tracker.get_slot(s.CONFIRMED) != s.YES:
            dispatcher.utter_message(text=t(lang, "registration.stopped"))
            return reset_form()
        email = tracker.get_slot(s.EMAIL)
        applicant = Applicant(
            chat_id=chat_id(tracker),
            full_name=tracker.get_slot(s.NAME),
            phone=tracker.get_slot(s.PHONE),
            language=Language(lang),
            email=None if email in (None, s.SKIPPED) else email,
            kra_pin=tracker.get_slot(s.KRA_PIN),
        )
        res = resources()
        try:
            result = await registration.register(
                res.sessions, tracker.get_slot(s.SESSION), applicant, res.clock.now()
            )
        except RegistrationError as refused:
            dispatcher.utter_message(text=t(lang, f"registration.{refused.reason}"))
            return reset_form()
        if result.existing:
            dispatcher.utter_message(text=t(lang, "registration.already"))
        send(dispatcher, outcome_messages(lang, result.registration))
        return reset_form()


class ActionTrainingStopped(Action):
    def name(self) -> str:
        return "action_training_stopped"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        dispatcher.utter_message(text=t(flow_language(tracker), "registration.stopped"))
        return reset_form()


# --- managing registrations ----------------------------------------------------------------


def manage_language(tracker: Tracker) -> tuple[Lang, list[EventType]]:
    """Typed requests set the language; button taps keep the remembered one."""
    lang = (
        flow_language(tracker)
        if tracker.latest_message.get("text", "").startswith("/")
        else (reply_language(tracker))
    )
    return lang, ([] if tracker.get_slot(LANGUAGE_SLOT) == lang else [SlotSet(LANGUAGE_SLOT, lang)])


class ActionTrainingMyRegistrations(Action):
    def name(self) -> str:
        return "action_training_my_registrations"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        lang, events = manage_language(tracker)
        res = resources()
        mine = await registration.my_registrations(res.sessions, chat_id(tracker), res.clock.now())
        if not mine:
            dispatcher.utter_message(text=t(lang, "registration.my_none"))
            return events
        lines = [t(lang, "registration.my_header")]
        buttons = []
        for info in mine:
            lines.append(
                t(
                    lang,
                    "registration.my_line",
                    reference=info.reference,
                    title=info.training_session.title,
                    when=spell_datetime(lang, info.training_session.starts_at),
                    status=status_text(lang, info),
                )
            )
            ref = {"training_reference": info.reference}
            buttons.append(
                button(t(lang, "registration.button_cancel", **_ref(info)), s.CANCEL, **ref)
            )
            buttons.append(button(t(lang, "registration.button_move", **_ref(info)), s.MOVE, **ref))
        dispatcher.utter_message(text="\n".join(lines), buttons=buttons)
        return events


def _ref(info: RegistrationInfo) -> dict[str, str]:
    return {"reference": info.reference}


class _WithRegistration(Action, ABC):
    """A manage action about one registration of this chat, named by the button's entity."""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        lang, events = manage_language(tracker)
        reference = entity(tracker, s.REFERENCE_ENTITY)
        if reference is None:  # typed "cancel my registration": show them to pick from
            return await ActionTrainingMyRegistrations().run(dispatcher, tracker, domain)
        try:
            info = await registration.find_registration(
                resources().sessions, reference, chat_id(tracker)
            )
            await self.handle(dispatcher, tracker, lang, info)
        except RegistrationError as refused:
            dispatcher.utter_message(text=t(lang, f"registration.{refused.reason}"))
        return events

    @abstractmethod
    async def handle(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, lang: Lang, info: RegistrationInfo
    ) -> None:
        """Acts on the chat's registration ``info``."""


class ActionTrainingCancel(_WithRegistration):
    def name(self) -> str:
        return "action_training_cancel"

    async def handle(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, lang: Lang, info: RegistrationInfo
    ) -> None:
        text = t(
            lang,
            "registration.cancel_confirm",
            reference=info.reference,
            title=info.training_session.title,
            when=spell_datetime(lang, info.training_session.starts_at),
        )
        ref = {"training_reference": info.reference}
        buttons = [
            button(t(lang, "registration.button_yes_cancel"), s.CANCEL_CONFIRMED, **ref),
            button(t(lang, "registration.button_keep"), s.KEEP),
        ]
        dispatcher.utter_message(text=text, buttons=buttons)


class ActionTrainingCancelConfirmed(_WithRegistration):
    def name(self) -> str:
        return "action_training_cancel_confirmed"

    async def handle(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, lang: Lang, info: RegistrationInfo
    ) -> None:
        res = resources()
        await registration.cancel(res.sessions, info.reference, res.clock.now(), chat_id(tracker))
        text = t(
            lang,
            "registration.cancelled",
            reference=info.reference,
            title=info.training_session.title,
        )
        dispatcher.utter_message(text=text)


class ActionTrainingKeep(Action):
    def name(self) -> str:
        return "action_training_keep"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        dispatcher.utter_message(text=t(flow_language(tracker), "registration.kept"))
        return []


class ActionTrainingMove(_WithRegistration):
    def name(self) -> str:
        return "action_training_move"

    async def handle(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, lang: Lang, info: RegistrationInfo
    ) -> None:
        res = resources()
        audience = info.training_session.audience
        offers = await registration.offers(res.sessions, res.clock.now(), audience, lang)
        offers = [o for o in offers if o.training_session.code != info.training_session.code]
        if not offers:
            dispatcher.utter_message(text=t(lang, "registration.move_none"))
            return
        menu, buttons = session_menu(lang, offers, s.MOVE_TO, training_reference=info.reference)
        text = f"{t(lang, 'registration.move_choose', reference=info.reference)}\n{menu}"
        dispatcher.utter_message(text=text, buttons=buttons)


class ActionTrainingMoveTo(_WithRegistration):
    def name(self) -> str:
        return "action_training_move_to"

    async def handle(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, lang: Lang, info: RegistrationInfo
    ) -> None:
        target = entity(tracker, s.SESSION_ENTITY)
        if target is None or target == info.training_session.code:
            dispatcher.utter_message(text=t(lang, "registration.same_session"))
            return
        res = resources()
        result = await registration.move(
            res.sessions, info.reference, target, chat_id(tracker), res.clock.now()
        )
        if result.cancelled is None:
            dispatcher.utter_message(text=t(lang, "registration.already"))
        else:
            moved = t(lang, "registration.moved", old_reference=info.reference)
            dispatcher.utter_message(text=moved)
        send(dispatcher, outcome_messages(lang, result.moved.registration))
