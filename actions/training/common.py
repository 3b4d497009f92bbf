"""What the training actions share: the flow's language, the chat, the form's reset."""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet

from actions.tracker import LANGUAGE_SLOT, Turn
from actions.training import slots as s
from ntsa_assistant.core.i18n import Lang


def flow_language(tracker: Tracker) -> Lang:
    """The language the flow started in (typed names must not switch it)."""
    turn = Turn(tracker)
    return turn.remembered_language or turn.language


def manage_language(tracker: Tracker) -> tuple[Lang, list[EventType]]:
    """Typed requests set the language; button taps keep the remembered one."""
    turn = Turn(tracker)
    lang = flow_language(tracker) if turn.is_payload else turn.language
    return lang, ([] if turn.slot(LANGUAGE_SLOT) == lang else [SlotSet(LANGUAGE_SLOT, lang)])


def reset_form() -> list[EventType]:
    return [SlotSet(slot, None) for slot in s.FORM_SLOTS]


def chat_id(tracker: Tracker) -> int:
    return int(tracker.sender_id)
