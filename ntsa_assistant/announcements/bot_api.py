"""The one Bot API call a broadcast makes, ``sendMessage``, over aiohttp.

The domain package may not import python-telegram-bot (the gateway's library), so the
broadcast command speaks the Bot API itself: ``POST {TELEGRAM_BASE_URL}{token}/sendMessage``
with a JSON body, read back as Telegram's envelope. Each answer becomes a
:class:`SendResult` that says what to do with the row: sent; blocked (403: unsubscribe);
wait ``retry_after`` and try again (429); refused for good (400: chat not found…); or a
transient failure (5xx, network, timeout) worth another try. A wrong token or address
(401, 404) stops the whole broadcast (:class:`BotApiUnusable`): no row is to blame.

The token is part of every URL, so no URL is ever logged or put in an error.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp

logger = logging.getLogger(__name__)

# Generous for one sendMessage; a hung call is a transient failure, tried again later.
TIMEOUT = aiohttp.ClientTimeout(total=15, connect=5)


class SendStatus(enum.StrEnum):
    SENT = "sent"
    BLOCKED = "blocked"  # 403: the person blocked the bot, or deleted their account
    RETRY_AFTER = "retry_after"  # 429: Telegram's flood limit; wait and send again
    REFUSED = "refused"  # 400 and the like: this message will never go to this chat
    TRANSIENT = "transient"  # 5xx, network, timeout: try again later


@dataclass(frozen=True)
class SendResult:
    status: SendStatus
    retry_after: float = 0.0  # seconds, for RETRY_AFTER
    detail: str | None = None  # Telegram's description, or the kind of network failure


class BotApiUnusable(RuntimeError):
    """The Bot API refuses the bot itself (wrong token or base URL)."""


class BotApi:
    """``sendMessage`` for one bot token, on a session the caller owns."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str) -> None:
        self._session = session
        self._url = f"{base_url}{token}/sendMessage"

    async def send_message(self, chat_id: int, text: str) -> SendResult:
        try:
            async with self._session.post(
                self._url, json={"chat_id": chat_id, "text": text}, timeout=TIMEOUT
            ) as response:
                status = response.status
                try:
                    body: Any = await response.json(content_type=None)
                except (ValueError, aiohttp.ContentTypeError):
                    body = None
        except (TimeoutError, aiohttp.ClientError) as exc:
            return SendResult(SendStatus.TRANSIENT, detail=type(exc).__name__)
        return _result(status, body if isinstance(body, dict) else {})


def _result(status: int, body: dict[str, Any]) -> SendResult:
    description = str(body.get("description") or f"HTTP {status}")
    code = int(body.get("error_code") or status)
    if status == 200 and body.get("ok") is True:
        return SendResult(SendStatus.SENT)
    if code == 429:
        parameters = body.get("parameters") or {}
        retry_after = float(parameters.get("retry_after") or 1)
        return SendResult(SendStatus.RETRY_AFTER, retry_after=retry_after, detail=description)
    if code == 403:
        return SendResult(SendStatus.BLOCKED, detail=description)
    if code in (401, 404):
        raise BotApiUnusable(
            f"the Bot API refused the bot ({description}): check TELEGRAM_BOT_TOKEN and "
            "TELEGRAM_BASE_URL"
        )
    if 400 <= code < 500:
        return SendResult(SendStatus.REFUSED, detail=description)
    return SendResult(SendStatus.TRANSIENT, detail=description)
