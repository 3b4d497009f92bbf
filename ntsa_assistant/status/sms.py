"""Text messages for one-time codes, through an Africa's Talking–compatible HTTP API.

The request, as Africa's Talking's "send SMS" endpoint takes it: ``POST SMS_GATEWAY_URL``
with an ``application/x-www-form-urlencoded`` body ``username``, ``to`` (E.164),
``message`` and, when set, ``from`` (the sender id), and the header ``apiKey``. The answer
is JSON; a recipient whose ``status`` is not ``Success`` (or an HTTP error) means the
message was not sent.

Codes are sent off the reply path: the action server writes each one to the outbox
(:class:`~ntsa_assistant.storage.models.SmsOutbox`) in the transaction that stores its hash,
and the gateway sends what is queued (:func:`deliver_outbox`, from a repeating job). So a
reply never waits for the SMS gateway, and a known ID answers like an unknown one.

How codes go out (:func:`sms_mode`): with ``SMS_GATEWAY_URL``, by SMS; without it, not at
all ("we can't send codes right now"), unless development mode is asked for explicitly with
``SMS_DEV_LOG=1``: then the gateway writes each message to its log, the only place a code
is ever logged. With ``TELEGRAM_BOT_TOKEN`` set (a real bot), development mode is refused
unless ``SMS_DEV_LOG=force``.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import aiohttp
from sqlalchemy import select, update

from ntsa_assistant.core.masking import mask_phone
from ntsa_assistant.core.settings import Settings
from ntsa_assistant.storage.engine import SessionFactory, claimed_rows, retry_if_locked
from ntsa_assistant.storage.models import SmsOutbox

logger = logging.getLogger(__name__)

SEND_ATTEMPTS = 3  # a queued code the SMS gateway refused this often is given up

_SENT_STATUSES = frozenset({"success", "sent", "submitted", "queued", "buffered"})


class SmsUnavailable(Exception):
    """The SMS gateway did not take the message."""


class SmsSender(Protocol):
    async def send(self, phone: str, message: str) -> None:
        """Sends ``message`` to ``phone`` (E.164) or raises :class:`SmsUnavailable`."""
        ...


class SmsConfigError(ValueError):
    """The SMS settings contradict each other (development mode with a real bot)."""


class SmsMode(enum.StrEnum):
    GATEWAY = "gateway"  # texted through SMS_GATEWAY_URL
    DEV_LOG = "dev_log"  # written to the gateway's log (SMS_DEV_LOG)
    OFF = "off"  # no codes can be sent


def sms_mode(settings: Settings) -> SmsMode:
    """How codes go out; raises :class:`SmsConfigError` for development mode with a bot
    token, unless forced."""
    if settings.sms_gateway_url:
        return SmsMode.GATEWAY
    if settings.sms_dev_log == "force":
        return SmsMode.DEV_LOG
    if settings.sms_dev_log == "1":
        if settings.telegram_bot_token is not None:
            raise SmsConfigError(
                "SMS_DEV_LOG=1 writes one-time codes to the log, which a real bot "
                "(TELEGRAM_BOT_TOKEN is set) must not do: set SMS_GATEWAY_URL, unset "
                "SMS_DEV_LOG, or set SMS_DEV_LOG=force if you really mean it"
            )
        return SmsMode.DEV_LOG
    return SmsMode.OFF


def codes_can_be_sent(settings: Settings) -> bool:
    """For the action server: whether to offer codes at all (a bad setting means no)."""
    try:
        mode = sms_mode(settings)
    except SmsConfigError as exc:
        logger.error("no one-time codes: %s", exc)
        return False
    if mode is SmsMode.OFF:
        logger.warning("SMS_GATEWAY_URL is unset: no one-time codes can be sent")
    return mode is not SmsMode.OFF


class DevelopmentSms:
    """SMS_DEV_LOG: the message goes to the log instead (development only)."""

    async def send(self, phone: str, message: str) -> None:
        logger.warning(
            "development mode (SMS_DEV_LOG): SMS to %s not sent; it reads: %s",
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


def sms_sender(settings: Settings, http: aiohttp.ClientSession) -> SmsSender | None:
    """What sends the queued codes (the gateway's); None when codes are off.

    Raises :class:`SmsConfigError` for development mode with a bot token, unless forced."""
    mode = sms_mode(settings)
    if mode is SmsMode.OFF:
        return None
    if mode is SmsMode.DEV_LOG:
        logger.warning("SMS_DEV_LOG is set: one-time codes go to this log (development only)")
        return DevelopmentSms()
    assert settings.sms_gateway_url is not None
    api_key = settings.sms_api_key.get_secret_value() if settings.sms_api_key else ""
    return AfricasTalkingSms(
        http, settings.sms_gateway_url, settings.sms_username or "", api_key, settings.sms_sender
    )


# --------------------------------------------------------------------------- the outbox


class Delivery(enum.StrEnum):
    SENT = "sent"
    DECOY = "decoy"  # an unknown ID's row: nothing to send
    EXPIRED = "expired"  # the code died before it could be sent
    FAILED = "failed"  # the SMS gateway refused it SEND_ATTEMPTS times
    NO_SENDER = "no_sender"  # this process has no way to send codes


@dataclass(frozen=True)
class _Queued:
    id: int
    phone: str | None
    body: str | None
    expires_at: datetime
    attempts: int


async def _claim(sessions: SessionFactory, now: datetime, limit: int) -> list[_Queued]:
    async with sessions() as db:
        ids = list(
            await db.scalars(
                select(SmsOutbox.id)
                .where(SmsOutbox.claimed_at.is_(None), SmsOutbox.finished_at.is_(None))
                .order_by(SmsOutbox.id)
                .limit(limit)
            )
        )
    claimed: list[_Queued] = []
    for row_id in ids:

        async def attempt(row_id: int = row_id) -> _Queued | None:
            async with sessions() as db, db.begin():
                result = await db.execute(
                    update(SmsOutbox)
                    .where(SmsOutbox.id == row_id, SmsOutbox.claimed_at.is_(None))
                    .values(claimed_at=now)
                )
                if claimed_rows(result) != 1:
                    return None  # another gateway took it
                row = await db.get(SmsOutbox, row_id)
                assert row is not None
                return _Queued(row.id, row.phone, row.body, row.expires_at, row.attempts)

        queued = await retry_if_locked(attempt)
        if queued is not None:
            claimed.append(queued)
    return claimed


async def _finish(
    sessions: SessionFactory, row_id: int, now: datetime, outcome: Delivery | None
) -> None:
    """Wipes the message once its fate is known; ``None`` gives it back for another try."""
    values: dict[str, object]
    if outcome is None:
        values = {"claimed_at": None, "attempts": SmsOutbox.attempts + 1}
    else:
        values = {"finished_at": now, "outcome": outcome.value, "body": None, "phone": None}

    async def attempt() -> None:
        async with sessions() as db, db.begin():
            await db.execute(update(SmsOutbox).where(SmsOutbox.id == row_id).values(**values))

    await retry_if_locked(attempt)


async def deliver_outbox(
    sessions: SessionFactory, sender: SmsSender | None, now: datetime, limit: int = 20
) -> list[Delivery]:
    """Sends what is queued (each row by exactly one caller); what happened to each."""
    done: list[Delivery] = []
    for queued in await _claim(sessions, now, limit):
        outcome: Delivery | None
        if queued.phone is None or queued.body is None:
            outcome = Delivery.DECOY
        elif queued.expires_at <= now:
            outcome = Delivery.EXPIRED
            logger.warning("a code for %s expired unsent", mask_phone(queued.phone))
        elif sender is None:
            outcome = Delivery.NO_SENDER
            logger.error(
                "a code for %s is queued, but no SMS gateway is set", mask_phone(queued.phone)
            )
        else:
            try:
                await sender.send(queued.phone, queued.body)
                outcome = Delivery.SENT
            except SmsUnavailable as exc:
                last = queued.attempts + 1 >= SEND_ATTEMPTS
                outcome = Delivery.FAILED if last else None
                logger.warning(
                    "SMS to %s not sent (%s)%s",
                    mask_phone(queued.phone),
                    exc,
                    ": given up" if last else "; trying again",
                )
        await _finish(sessions, queued.id, now, outcome)
        if outcome is not None:
            done.append(outcome)
    return done
