"""Managing registrations in chat: list mine, cancel (with confirmation), move."""

from __future__ import annotations

from abc import ABC, abstractmethod

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.replies import send
from actions.runtime import resources
from actions.tracker import Turn
from actions.training.common import chat_id, flow_language, manage_language
from actions.training.form import send_outcome
from ntsa_assistant.core.i18n import Lang
from ntsa_assistant.protocol import Entity
from ntsa_assistant.training import booking, queries, texts
from ntsa_assistant.training.rules import RegistrationError
from ntsa_assistant.training.views import RegistrationInfo


class ActionTrainingMyRegistrations(Action):
    def name(self) -> str:
        return "action_training_my_registrations"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        lang, events = manage_language(tracker)
        res = resources()
        mine = await queries.my_registrations(res.sessions, chat_id(tracker), res.clock.now())
        send(dispatcher, texts.my_registrations(lang, mine))
        return events


class _WithRegistration(Action, ABC):
    """A manage action about one registration of this chat, named by the button's entity."""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        lang, events = manage_language(tracker)
        reference = Turn(tracker).entity(Entity.TRAINING_REFERENCE)
        if reference is None:  # typed "cancel my registration": show them to pick from
            return await ActionTrainingMyRegistrations().run(dispatcher, tracker, domain)
        try:
            info = await queries.find_registration(
                resources().sessions, reference, chat_id(tracker)
            )
            await self.handle(dispatcher, tracker, lang, info)
        except RegistrationError as refused:
            dispatcher.utter_message(text=texts.say(lang, refused.reason))
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
        send(dispatcher, texts.ask_cancel(lang, info))


class ActionTrainingCancelConfirmed(_WithRegistration):
    def name(self) -> str:
        return "action_training_cancel_confirmed"

    async def handle(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, lang: Lang, info: RegistrationInfo
    ) -> None:
        res = resources()
        await booking.cancel(res.sessions, info.reference, res.clock.now(), chat_id(tracker))
        dispatcher.utter_message(text=texts.cancelled(lang, info))


class ActionTrainingKeep(Action):
    def name(self) -> str:
        return "action_training_keep"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        dispatcher.utter_message(text=texts.say(flow_language(tracker), "kept"))
        return []


class ActionTrainingMove(_WithRegistration):
    def name(self) -> str:
        return "action_training_move"

    async def handle(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, lang: Lang, info: RegistrationInfo
    ) -> None:
        res = resources()
        audience = info.training_session.audience
        offers = await queries.offers(res.sessions, res.clock.now(), audience, lang)
        send(dispatcher, texts.ask_move(lang, info, offers))


class ActionTrainingMoveTo(_WithRegistration):
    def name(self) -> str:
        return "action_training_move_to"

    async def handle(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, lang: Lang, info: RegistrationInfo
    ) -> None:
        target = Turn(tracker).entity(Entity.TRAINING_SESSION)
        if target is None or target == info.training_session.code:
            dispatcher.utter_message(text=texts.say(lang, "same_session"))
            return
        res = resources()
        result = await booking.move(
            res.sessions, info.reference, target, chat_id(tracker), res.clock.now()
        )
        if result.cancelled is None:
            dispatcher.utter_message(text=texts.say(lang, "already"))
        else:
            dispatcher.utter_message(text=texts.moved(lang, info))
        send_outcome(dispatcher, lang, result.moved.registration)
