"""What every action shares: the reply language and a typed view of the tracker."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker

from ntsa_assistant.core.i18n import Lang
from ntsa_assistant.core.language import choose_language

LANGUAGE_SLOT = "language"


def gateway_metadata(tracker: Tracker) -> dict[str, Any]:
    """What the gateway knows for sure about this turn (see DESIGN.md, step 3)."""
    metadata = tracker.latest_message.get("metadata") or {}
    return metadata if isinstance(metadata, dict) else {}


def reply_language(tracker: Tracker) -> Lang:
    """The language of the user's latest message, else the one they chose before."""
    text = tracker.latest_message.get("text")
    if text and text.startswith("/"):
        text = None  # a button payload says nothing about the user's language
    return choose_language(text, tracker.get_slot(LANGUAGE_SLOT))
