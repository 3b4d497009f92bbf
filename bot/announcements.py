"""The deadline announcements: a repeating job that makes the send list of what the
timeline says is due (ntsa_assistant.announcements.schedule) and sends it to subscribers,
each in their language, each once.

Every replica runs it: rows are made with "insert unless there is one" and each row is
taken by one replica under a lease (ntsa_assistant.announcements.outbox), so a person gets
an announcement once however many gateways run and however often they restart. Due-ness
and the texts follow the gateway's clock (``ASSISTANT_NOW`` in demos and tests); leases
follow real time. Sends go through the application's rate limiter (the token's budget,
shared with the other replicas through Redis, 429s retried) and, on top, this job's own
pace, so that answers to people keep room while an announcement goes out.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError
from telegram import Bot
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.ext import Application

from bot.context import GatewayContext, GatewayState
from ntsa_assistant.announcements import outbox, texts
from ntsa_assistant.announcements.outbox import Delivery
from ntsa_assistant.announcements.pacing import Pacer
from ntsa_assistant.announcements.schedule import TimelineTopic, due, find
from ntsa_assistant.core.settings import Settings
from ntsa_assistant.faq.timeline import default_timeline
from ntsa_assistant.storage.models import AnnouncementKind, DeliveryState

logger = logging.getLogger(__name__)

JOB_NAME = "announcements"
# Of Telegram's ~30 messages a second for the token: the rest stays for live answers.
PER_SECOND = 20
LEASE = timedelta(minutes=10)


def schedule(application: Application, settings: Settings) -> None:
    """Starts the repeating job, as often as the reminders' (REMINDER_INTERVAL_SECONDS)."""
    if application.job_queue is None:
        raise RuntimeError("the gateway needs python-telegram-bot's job-queue extra")
    application.job_queue.run_repeating(
        deliver_due,
        interval=settings.reminder_interval_seconds,
        first=1.0,
        name=JOB_NAME,
        data=Pacer(PER_SECOND),
    )


def _real_now() -> datetime:
    return datetime.now(UTC)


async def deliver_due(context: GatewayContext) -> None:
    """One run: the rows of what is due, then as many as this run's share of the pace."""
    state = context.gateway
    pacer = context.job.data if context.job is not None else Pacer(PER_SECOND)
    assert isinstance(pacer, Pacer)
    share = max(1, int(state.settings.reminder_interval_seconds * PER_SECOND))
    try:
        if items := due(default_timeline(), state.now()):
            await outbox.enqueue_timeline(state.sessions, items, _real_now())
        await outbox.fail_exhausted(state.sessions, _real_now(), kind=AnnouncementKind.TIMELINE)
        for candidate in await outbox.candidates(
            state.sessions, _real_now(), kind=AnnouncementKind.TIMELINE, limit=share
        ):
            await pacer.take(candidate.chat_id)
            delivery = await outbox.take(state.sessions, candidate.id, _real_now(), LEASE)
            if delivery is not None:
                await _deliver(context.bot, state, delivery)
    except SQLAlchemyError as exc:  # down, or not migrated yet ("ntsa-assistant migrate")
        logger.warning("announcement job: database unavailable (%s); trying again next run", exc)


async def _deliver(bot: Bot, state: GatewayState, delivery: Delivery) -> None:
    sessions, now = state.sessions, state.now()
    item = find(default_timeline(), delivery.topic or "")
    if item is None or now >= item.send_until:  # its date is behind it: too late to say
        await outbox.finish(sessions, delivery.id, DeliveryState.EXPIRED, _real_now())
        return
    if now < item.send_from:  # the clock went back (a demo): not yet
        await outbox.give_back(sessions, delivery.id, _real_now(), _real_now(), count_try=False)
        return
    text = texts.announcement(TimelineTopic(item.topic), delivery.language, default_timeline(), now)
    try:
        await bot.send_message(delivery.chat_id, text)
    except Forbidden as exc:  # blocked the bot: unsubscribed, never tried again
        logger.info("announcement %s: chat %s blocked the bot", delivery.id, delivery.chat_id)
        await outbox.finish(sessions, delivery.id, DeliveryState.BLOCKED, _real_now(), exc.message)
    except BadRequest as exc:  # chat gone: retrying will not help
        logger.warning("announcement %s not deliverable: %s", delivery.id, exc)
        await outbox.finish(sessions, delivery.id, DeliveryState.FAILED, _real_now(), exc.message)
    except RetryAfter as exc:  # still limited after the rate limiter's own retries
        wait = exc.retry_after
        seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
        later = _real_now() + timedelta(seconds=seconds)
        await outbox.give_back(sessions, delivery.id, later, _real_now(), count_try=False)
    except TelegramError as exc:  # network trouble, Telegram busy: again after a backoff
        later = _real_now() + outbox.backoff(delivery.attempts)
        retried = await outbox.give_back(sessions, delivery.id, later, _real_now(), detail=str(exc))
        logger.warning(
            "announcement %s not sent (try %s): %s; %s",
            delivery.id,
            delivery.attempts,
            exc,
            "will retry" if retried else "giving up",
        )
    else:
        await outbox.finish(sessions, delivery.id, DeliveryState.SENT, _real_now())


__all__ = ["JOB_NAME", "deliver_due", "schedule"]
