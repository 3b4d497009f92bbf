"""Text messages for one-time codes, through an Africa's Talking–compatible HTTP API.

The request, as Africa's Talking's "send SMS" endpoint takes it: ``POST SMS_GATEWAY_URL``
with an ``application/x-www-form-urlencoded`` body ``username``, ``to`` (E.164),
``message`` and, when set, ``from`` (the sender id), and the header ``apiKey``. The answer
is JSON; a recipient whose ``status`` is not ``Success`` (or an HTTP error) means the
message was not sent.

Without ``SMS_GATEWAY_URL`` the assistant is in development mode: the message is written
to the log instead. That is the only place a code is ever logged.
"""

from __future__ import annotations

import logging
from typing import Protocol

import aiohttp

from ntsa_assistant.core.masking import mask_phone

logger = logging.getLogger(__name__)

_SENT_STATUSES = frozenset({"success", "sent", "submitted", "queued", "buffered"})


class SmsUnavailable(Exception):
    """The SMS gateway did not take the message."""


class SmsSender(Protocol):
    async def send(self, phone: str, message: str) -> None:
        """Sends ``message`` to ``phone`` (E.164) or raises :class:`SmsUnavailable`."""
        ...


class DevelopmentSms:
    """No gateway configured: the message goes to the log (development only)."""

    async def send(self, phone: str, message: str) -> None:
        logger.warning(
            "development mode, no SMS_GATEWAY_URL: SMS to %s not sent; it reads: %s",
            mask_phone(phone),
            message,
        )


class AfricasTalkingSms:
    """An Africa's Talking–compatible gateway, over the process's aiohttp session."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        url: str,
        username: str,
        api_key: str,
        sender: str | None = None,
        timeout_seconds: float = 5.0,
    ) -> None:
        self._http = http
        self._url = url
        self._username = username
        self._api_key = api_key
        self._sender = sender
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)

    async def send(self, phone: str, message: str) -> None:
        form = {"username": self._username, "to": phone, "message": message}
        if self._sender:
            form["from"] = self._sender
        headers = {"apiKey": self._api_key, "Accept": "application/json"}
        try:
            async with self._http.post(
                self._url, data=form, headers=headers, timeout=self._timeout
            ) as response:
                if response.status >= 400:
                    raise SmsUnavailable(f"SMS gateway answered HTTP {response.status}")
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise SmsUnavailable(f"SMS gateway unreachable: {type(exc).__name__}") from exc
        _check_recipients(body)
        logger.info("SMS sent to %s", mask_phone(phone))


def _check_recipients(body: object) -> None:
    """Raises unless the answer lists at least one recipient, all of them sent."""
    data = body.get("SMSMessageData") if isinstance(body, dict) else None
    recipients = data.get("Recipients") if isinstance(data, dict) else None
    if not isinstance(recipients, list) or not recipients:
        raise SmsUnavailable("SMS gateway accepted no recipient")
    for recipient in recipients:
        status = str(recipient.get("status", "")).lower() if isinstance(recipient, dict) else ""
        if status not in _SENT_STATUSES:
            raise SmsUnavailable(f"SMS gateway refused the message: {status or 'no status'}")


def sms_sender(
    http: aiohttp.ClientSession,
    url: str | None,
    username: str | None,
    api_key: str | None,
    sender: str | None,
) -> SmsSender:
    """The configured gateway, or development mode when no URL is set."""
    if not url:
        logger.warning("SMS_GATEWAY_URL is unset: one-time codes go to the log (development)")
        return DevelopmentSms()
    return AfricasTalkingSms(http, url, username or "", api_key or "", sender)
