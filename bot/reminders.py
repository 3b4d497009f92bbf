"""Training reminders and promotion notices: a repeating job that reads what is owed from
the database, claims each item (so it is sent once, by one gateway), and sends it.

Nothing is kept in memory between runs, so a restart rebuilds everything from the
database by construction. Sends go through the application's rate limiter (AIORateLimiter
waits out Telegram's limits and retries a 429). A claim is a lease, so what a crashed
gateway claimed is sent later by another run; a transient failure (network, Telegram
busy) is retried with backoff, a permanent one (blocked, chat gone) is not.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError
from telegram import Bot, InputFile
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import Application

from bot.context import GatewayContext
from ntsa_assistant.core.clock import Clock
from ntsa_assistant.core.settings import Settings
from ntsa_assistant.storage.engine import SessionFactory
from ntsa_assistant.training import calendar, texts
from ntsa_assistant.training.booking import PROMOTED
from ntsa_assistant.training.outbox import (
    Notice,
    NoticeOutcome,
    claim_notices,
    finish_notice,
    release_notice,
)
from ntsa_assistant.training.reminders import (
    Reminder,
    SendResult,
    claim_due_reminders,
    finish_reminder,
    parse_offsets,
)
from ntsa_assistant.training.views import RegistrationInfo

logger = logging.getLogger(__name__)

JOB_NAME = "training-reminders"


def schedule(application: Application, settings: Settings) -> None:
    """Starts the repeating job (offsets are checked now, so a bad setting fails fast)."""
    parse_offsets(settings.reminder_offsets)
    if application.job_queue is None:
        raise RuntimeError("the gateway needs python-telegram-bot's job-queue extra")
    application.job_queue.run_repeating(
        deliver_due, interval=settings.reminder_interval_seconds, first=1.0, name=JOB_NAME
    )


async def deliver_due(context: GatewayContext) -> None:
    """One run: promotion notices first, then due reminders."""
    state = context.gateway
    clock = Clock(state.settings.assistant_now)
    offsets = parse_offsets(state.settings.reminder_offsets)
    try:
        notices = await claim_notices(state.sessions, clock.now())
        for notice in notices:
            await _deliver_notice(context.bot, state.sessions, clock, notice)
        reminders = await claim_due_reminders(state.sessions, clock.now(), offsets)
        for reminder in reminders:
            result = await _send(context.bot, reminder.registration, _reminder_text(reminder))
            await finish_reminder(state.sessions, reminder.delivery_id, clock.now(), result)
    except SQLAlchemyError as exc:  # down, or not migrated yet ("ntsa-assistant migrate")
        logger.warning("reminder job: database unavailable (%s); trying again next run", exc)


async def _deliver_notice(bot: Bot, sessions: SessionFactory, clock: Clock, notice: Notice) -> None:
    info = notice.registration
    if notice.kind != PROMOTED or info is None:
        logger.error("outbox notice %s of unknown kind %r: dropped", notice.id, notice.kind)
        await finish_notice(sessions, notice.id, clock.now(), NoticeOutcome.FAILED)
        return
    try:
        await _promotion(bot, info, clock)
    except (Forbidden, BadRequest) as exc:  # blocked, chat gone: retrying will not help
        logger.warning("notice %s to chat %s not deliverable: %s", notice.id, notice.chat_id, exc)
        await finish_notice(sessions, notice.id, clock.now(), NoticeOutcome.FAILED)
        return
    except TelegramError as exc:  # network trouble: give it back, tried again after a backoff
        retried = await release_notice(sessions, notice.id, clock.now())
        logger.warning(
            "notice %s not sent (try %s): %s; %s",
            notice.id,
            notice.attempts,
            exc,
            "will retry" if retried else "giving up",
        )
        return
    await finish_notice(sessions, notice.id, clock.now(), NoticeOutcome.SENT)


async def _promotion(bot: Bot, info: RegistrationInfo, clock: Clock) -> None:
    lang = info.language.value
    await bot.send_message(info.chat_id, texts.promoted(lang, info))
    document = InputFile(
        calendar.build_ics(info, lang, clock.now()), filename=calendar.filename(info)
    )
    await bot.send_document(info.chat_id, document, caption=texts.calendar_caption(lang, info))


def _reminder_text(reminder: Reminder) -> str:
    info = reminder.registration
    return texts.reminder(info.language.value, info)


async def _send(bot: Bot, info: RegistrationInfo, text: str) -> SendResult:
    """Sends one reminder; says whether a failure is worth another try."""
    try:
        await bot.send_message(info.chat_id, text)
    except (Forbidden, BadRequest) as exc:  # blocked, chat gone: retrying will not help
        logger.warning("reminder %s not deliverable: %s", info.reference, exc)
        return SendResult.PERMANENT
    except TelegramError as exc:  # network trouble, Telegram busy
        logger.warning("reminder %s not sent yet: %s", info.reference, exc)
        return SendResult.TRANSIENT
    return SendResult.SENT


__all__ = ["JOB_NAME", "deliver_due", "schedule"]
