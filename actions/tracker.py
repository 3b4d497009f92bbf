"""A typed view of the tracker: what every action reads of the latest turn, in one place."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Tracker

from actions import runtime
from ntsa_assistant import protocol
from ntsa_assistant.core.i18n import Lang, normalise_language
from ntsa_assistant.core.language import choose_language

LANGUAGE_SLOT = "language"

logger = logging.getLogger(__name__)


class Turn:
    """The latest user turn of ``tracker``: its intent, text, entities and the gateway's
    metadata (the only source of a proven phone)."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker

    @property
    def intent(self) -> str | None:
        return (self.tracker.latest_message.get("intent") or {}).get("name")

    @property
    def text(self) -> str:
        text = self.tracker.latest_message.get("text")
        return text if isinstance(text, str) else ""

    @property
    def is_payload(self) -> bool:
        """A button tap or a gateway command, not words the user typed."""
        return protocol.is_payload(self.text)

    @property
    def metadata(self) -> dict[str, Any]:
        """What the gateway knows for sure about this turn (see DESIGN.md, step 3)."""
        metadata = self.tracker.latest_message.get("metadata") or {}
        return metadata if isinstance(metadata, dict) else {}

    @property
    def is_contact(self) -> bool:
        """A contact was shared (the sender's own or not)."""
        return self.intent == protocol.Intent.CONTACT_SHARED or protocol.is_contact_turn(
            self.metadata
        )

    @property
    def proven_phone(self) -> str | None:
        """The phone Telegram vouches for: the sender's own shared contact, in a claim the
        gateway signed for this chat moments ago; else None (a forged, replayed or unsigned
        claim counts as someone else's contact)."""
        secret = runtime.resources().settings.gateway_signing_secret
        phone = protocol.proven_phone(self.metadata, self.sender, secret)
        if phone is None and self.metadata.get(protocol.Meta.CONTACT_IS_OWN) is True:
            problem = protocol.claim_problem(self.metadata, self.sender, secret)
            logger.warning("contact claim ignored for chat %s: %s", self.sender, problem)
        return phone

    def entity(self, name: str) -> str | None:
        value = next(self.tracker.get_latest_entity_values(name), None)
        return str(value) if value else None

    def slot(self, name: str) -> Any:
        return self.tracker.get_slot(name)

    @property
    def sender(self) -> str:
        return str(self.tracker.sender_id)

    @property
    def language(self) -> Lang:
        """The language of this message, else the one the user chose before."""
        return reply_language(self.tracker)

    @property
    def remembered_language(self) -> Lang | None:
        slot = self.tracker.get_slot(LANGUAGE_SLOT)
        return normalise_language(slot) if slot else None


def gateway_metadata(tracker: Tracker) -> dict[str, Any]:
    return Turn(tracker).metadata


def reply_language(tracker: Tracker) -> Lang:
    """The language of the user's latest message, else the one they chose before, else
    their Telegram app's."""
    text = tracker.latest_message.get("text")
    if protocol.is_payload(text):
        text = None  # a button payload says nothing about the user's language
    chosen = tracker.get_slot(LANGUAGE_SLOT)
    if not chosen:  # nothing chosen or written yet: the language of their Telegram app
        telegram = (tracker.latest_message.get("metadata") or {}).get(protocol.Meta.USER_LANGUAGE)
        chosen = telegram if isinstance(telegram, str) else None
    return choose_language(text, chosen)
