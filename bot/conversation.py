"""One user turn, whatever the channel (Telegram or the local terminal chat).

It makes user text safe for Rasa, sends it, and turns Rasa's answer into
channel-neutral :class:`Reply` objects. Failures become a polite reply in the user's
language; nothing here knows Telegram.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any

from bot.rasa_client import RasaClient, RasaUnavailable
from ntsa_assistant.core.i18n import Lang, t
from ntsa_assistant.core.language import choose_language

logger = logging.getLogger(__name__)

MAX_TEXT_LENGTH = 1000
_LEADING_INTENT_PREFIX = re.compile(r"^[\s/]+")


@dataclass(frozen=True)
class Button:
    title: str
    payload: str


@dataclass(frozen=True)
class Reply:
    """What the assistant says: text, optional buttons, or a channel extra (custom)."""

    text: str | None = None
    buttons: tuple[Button, ...] = ()
    custom: dict[str, Any] = field(default_factory=dict)


def neutralise(text: str) -> str:
    """A user's text can never be read by Rasa as ``/intent{...}``: leading slashes go."""
    return _LEADING_INTENT_PREFIX.sub("", text.strip())


def parse_replies(raw: list[dict[str, Any]]) -> list[Reply]:
    """Rasa REST replies → :class:`Reply` objects; malformed parts are skipped."""
    replies: list[Reply] = []
    for item in raw:
        buttons = tuple(
            Button(str(b["title"]), str(b["payload"]))
            for b in item.get("buttons") or []
            if isinstance(b, dict) and b.get("title") and b.get("payload")
        )
        raw_custom = item.get("custom")
        custom: dict[str, Any] = raw_custom if isinstance(raw_custom, dict) else {}
        text = item.get("text") if isinstance(item.get("text"), str) else None
        if text or buttons or custom:
            replies.append(Reply(text=text, buttons=buttons, custom=custom))
    return replies


class Conversation:
    """Sends user turns to Rasa for any channel and shapes the answer."""

    def __init__(self, rasa: RasaClient) -> None:
        self._rasa = rasa

    @staticmethod
    def language_for(text: str | None, hint: str | None) -> Lang:
        """The language of the gateway's own messages (apologies, limits)."""
        return choose_language(text, hint)

    async def user_text(
        self, sender: str, text: str, metadata: dict[str, Any], hint: str | None = None
    ) -> list[Reply]:
        """A message the user typed."""
        lang = self.language_for(text, hint)
        if len(text) > MAX_TEXT_LENGTH:
            return [Reply(text=t(lang, "common.too_long", limit=MAX_TEXT_LENGTH))]
        safe = neutralise(text)
        if not safe:
            return [Reply(text=t(lang, "common.help"))]
        return await self._send(sender, safe, metadata, lang)

    async def trusted_payload(
        self, sender: str, payload: str, metadata: dict[str, Any], hint: str | None = None
    ) -> list[Reply]:
        """A payload the gateway itself made (a button it sent, a command, a contact)."""
        return await self._send(sender, payload, metadata, self.language_for(None, hint))

    async def _send(
        self, sender: str, message: str, metadata: dict[str, Any], lang: Lang
    ) -> list[Reply]:
        started = time.monotonic()
        try:
            raw = await self._rasa.send(sender, message, metadata)
        except RasaUnavailable as exc:
            logger.warning("rasa unavailable for chat %s: %s", sender, exc)
            return [Reply(text=t(lang, "common.apology_unavailable"))]
        logger.info(
            "turn answered",
            extra={"chat": sender, "duration_ms": round((time.monotonic() - started) * 1000)},
        )
        replies = parse_replies(raw)
        return replies or [Reply(text=t(lang, "common.apology_error"))]
