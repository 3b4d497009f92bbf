"""What the training actions share: the flow's language, the chat, the form's reset."""

from __future__ import annotations

import hashlib
import re

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


# Telegram's chat ids fit in 52 bits (its Bot API says so); a registration's chat of any
# other channel gets a number beyond them, so the two can never meet.
TELEGRAM_ID_LIMIT = 2**52
_NUMERIC = re.compile(r"-?[0-9]{1,16}")


def chat_number(sender: str) -> int:
    """The chat a registration belongs to, as the number the storage keeps.

    A Telegram chat is its own id. Any other sender — the local terminal chat
    (``local-1a2b3c4d``), a REST client — gets a stable negative number derived from the
    sender, below every Telegram id: the same sender finds its registrations again, and no
    Telegram chat is ever taken for it."""
    if _NUMERIC.fullmatch(sender) and abs(number := int(sender)) < TELEGRAM_ID_LIMIT:
        return number
    digest = hashlib.sha256(sender.encode()).digest()
    return -(TELEGRAM_ID_LIMIT + int.from_bytes(digest[:6], "big"))


def chat_id(tracker: Tracker) -> int:
    return chat_number(str(tracker.sender_id))
