"""The agents' desk on Telegram: a person's chat handed to an agent and back.

``person`` is the person's side (asking, choosing, waiting, leaving, rating), ``agents``
the agents' side in the desk group's topics, ``relay`` the paced outbox into the desk.
State lives in the database (``ntsa_assistant.handoff.desk``); DESIGN.md's contract:
``SUPPORT_CHAT_ID`` names the desk group(s).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from telegram.ext import Application

from bot.context import GatewayContext, GatewayState
from bot.desk.relay import DeskRelay
from ntsa_assistant.core.clock import Clock
from ntsa_assistant.handoff import desk, texts
from ntsa_assistant.handoff.hours import WorkingHours

logger = logging.getLogger(__name__)

ESCALATION_JOB = "desk-escalations"
ESCALATION_INTERVAL_SECONDS = 60.0


def start(application: Application, state: GatewayState) -> DeskRelay | None:
    """Starts the relay and the escalation job when a desk is configured."""
    settings = state.settings
    if not settings.support_chat_id:
        return None
    WorkingHours.parse(settings.support_hours)  # a bad setting fails at start, not later
    relay = DeskRelay(
        application.bot,
        state.sessions,
        Clock(settings.assistant_now),
        settings.support_chat_id,
        settings.support_group_messages,
        settings.support_group_seconds,
    )
    relay.start()
    if application.job_queue is None:
        raise RuntimeError("the gateway needs python-telegram-bot's job-queue extra")
    application.job_queue.run_repeating(
        escalate, interval=ESCALATION_INTERVAL_SECONDS, first=5.0, name=ESCALATION_JOB
    )
    return relay


async def escalate(context: GatewayContext) -> None:
    """A reminder in the topic of each handoff nobody claimed in time (working hours only:
    outside them nobody is there to read it; the wait counts from the queueing)."""
    state = context.gateway
    settings = state.settings
    now = state.now()
    if not WorkingHours.parse(settings.support_hours).is_open(now):
        return
    minutes = settings.support_escalate_minutes
    for view in await desk.due_escalations(state.sessions, now, timedelta(minutes=minutes)):
        waited = round((now - (view.queued_at or view.asked_at)).total_seconds() / 60)
        await desk.notice(state.sessions, view.id, texts.desk_escalation(waited), now)
        state.wake_desk(view.desk_chat_id)
        logger.warning("handoff %s unclaimed for %s min: escalated", view.id, waited)
