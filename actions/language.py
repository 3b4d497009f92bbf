"""Choosing and remembering the reply language (the gateway's /language command)."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.tracker import LANGUAGE_SLOT, reply_language
from ntsa_assistant.core.i18n import LANGUAGES, t
from ntsa_assistant.core.language import detect, requested_language

LANGUAGE_ENTITY = "language"
_BUTTON_TITLES = {"en": "English", "sw": "Kiswahili"}


def remember_detected(tracker: Tracker) -> list[EventType]:
    """Remembers the language of a message that clearly is one (not of a button tap)."""
    text = tracker.latest_message.get("text") or ""
    detected = None if text.startswith("/") else detect(text)
    if detected and detected != tracker.get_slot(LANGUAGE_SLOT):
        return [SlotSet(LANGUAGE_SLOT, detected)]
    return []


class ActionChooseLanguage(Action):
    def name(self) -> str:
        return "action_choose_language"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        buttons = [
            {"title": _BUTTON_TITLES[lang], "payload": f'/set_language{{"language":"{lang}"}}'}
            for lang in LANGUAGES
        ]
        text = t(reply_language(tracker), "language.choose")
        dispatcher.utter_message(text=text, buttons=buttons)
        return []


class ActionSetLanguage(Action):
    """A button's ``language`` entity, or a typed "speak Kiswahili", sets the slot."""

    def name(self) -> str:
        return "action_set_language"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        entity = next(tracker.get_latest_entity_values(LANGUAGE_ENTITY), None)
        text = tracker.latest_message.get("text")
        lang = entity if entity in LANGUAGES else requested_language(str(entity or text))
        if lang is None:
            return await ActionChooseLanguage().run(dispatcher, tracker, domain)
        dispatcher.utter_message(text=t(lang, "language.set"))
        return [SlotSet(LANGUAGE_SLOT, lang)]
