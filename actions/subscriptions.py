"""Deadline reminders: subscribing and unsubscribing, typed ("notify me about deadlines",
"niarifu") or by the gateway's /subscribe, /unsubscribe, /niarifu and /usiniarifu."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.runtime import resources
from actions.tracker import LANGUAGE_SLOT, Turn
from ntsa_assistant.announcements import texts
from ntsa_assistant.announcements.subscriptions import (
    request_language,
    subscribe,
    telegram_chat,
    unsubscribe,
)
from ntsa_assistant.core.i18n import Lang
from ntsa_assistant.faq.timeline import default_timeline
from ntsa_assistant.protocol import Entity

SUBSCRIBE_ACTION = "action_subscribe_announcements"
UNSUBSCRIBE_ACTION = "action_unsubscribe_announcements"


def _language(turn: Turn) -> tuple[Lang, list[EventType]]:
    """The request's language; remembered when the request itself said it."""
    lang, said = request_language(turn.text, turn.entity(Entity.LANGUAGE), turn.language)
    remember = said and turn.slot(LANGUAGE_SLOT) != lang
    return lang, [SlotSet(LANGUAGE_SLOT, lang)] if remember else []


class ActionSubscribeAnnouncements(Action):
    def name(self) -> str:
        return SUBSCRIBE_ACTION

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        turn, res = Turn(tracker), resources()
        lang, events = _language(turn)
        chat, now = telegram_chat(turn.sender), res.clock.now()
        if chat is None:
            text = texts.only_telegram(lang, default_timeline())
        else:
            outcome = await subscribe(res.sessions, chat, lang, now)
            text = texts.subscribed(lang, outcome, default_timeline(), now)
        dispatcher.utter_message(text=text)
        return events


class ActionUnsubscribeAnnouncements(Action):
    def name(self) -> str:
        return UNSUBSCRIBE_ACTION

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        turn, res = Turn(tracker), resources()
        lang, events = _language(turn)
        chat = telegram_chat(turn.sender)
        removed = chat is not None and await unsubscribe(res.sessions, chat)
        dispatcher.utter_message(text=texts.unsubscribed(lang, removed, default_timeline()))
        return events
