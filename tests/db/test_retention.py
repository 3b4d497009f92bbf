"""Retention: what each feature purges, and what it keeps, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from types import SimpleNamespace
from typing import cast

import pytest
from telegram.ext import ApplicationBuilder

from bot import retention
from bot.context import GatewayContext
from ntsa_assistant.cli import EXIT_OK, build_parser
from ntsa_assistant.cli.common import shown_url
from ntsa_assistant.core.settings import Settings
from ntsa_assistant.status.retention import StatusRetention
from ntsa_assistant.status.retention import purge as purge_status
from ntsa_assistant.storage.engine import SessionFactory
from ntsa_assistant.training.retention import TrainingRetention
from ntsa_assistant.training.retention import purge as purge_training
from tests.support.retention import NOW, add_status_rows, add_training_rows, remaining

DEFAULTS = Settings(_env_file=None)  # the documented defaults, whatever .env says
ALL_OLD_GONE = {
    "codes": 1,
    "sms": 1,
    "limit_events": 1,
    "limit_locks": 1,
    "proofs": 1,
    "audit": 1,
    "notices": 2,
    "reminders": 1,
    "registrations": 2,
}
RECENT_KEPT = {
    "codes": 1,
    "sms": 1,
    "limit_events": 1,
    "limit_locks": 1,
    "proofs": 1,
    "audit": 1,
    "notices": 2,
    "reminders": 1,
    "registrations": 2,
}
EVERYTHING = {kind: ALL_OLD_GONE[kind] + RECENT_KEPT[kind] for kind in ALL_OLD_GONE}


async def test_status_purge_removes_only_what_is_past_its_period(
    session_factory: SessionFactory,
) -> None:
    await add_status_rows(session_factory)

    counts = await purge_status(session_factory, NOW, StatusRetention.from_settings(DEFAULTS))

    assert counts == {
        "codes": 1,
        "sms": 1,
        "limit_events": 1,
        "limit_locks": 1,
        "proofs": 1,
        "audit": 1,
    }
    left = await remaining(session_factory)
    assert {kind: left[kind] for kind in counts} == dict.fromkeys(counts, 1)


async def test_training_purge_removes_finished_registrations_with_their_markers(
    session_factory: SessionFactory,
) -> None:
    await add_training_rows(session_factory)

    counts = await purge_training(session_factory, NOW, TrainingRetention.from_settings(DEFAULTS))

    # The ended session's two registrations (the cancelled one too), its reminder marker
    # and pending notice; the coming session's notice sent more than 30 days ago.
    assert counts == {"notices": 2, "reminders": 1, "registrations": 2}
    left = await remaining(session_factory)
    assert (left["notices"], left["reminders"], left["registrations"]) == (2, 1, 2)


async def test_a_dry_run_counts_and_deletes_nothing(session_factory: SessionFactory) -> None:
    await add_status_rows(session_factory)
    await add_training_rows(session_factory)

    status = await purge_status(
        session_factory, NOW, StatusRetention.from_settings(DEFAULTS), dry_run=True
    )
    training = await purge_training(
        session_factory, NOW, TrainingRetention.from_settings(DEFAULTS), dry_run=True
    )

    assert status | training == ALL_OLD_GONE
    assert await remaining(session_factory) == EVERYTHING


async def test_longer_periods_keep_more(session_factory: SessionFactory) -> None:
    await add_status_rows(session_factory)
    await add_training_rows(session_factory)
    longer = Settings(
        _env_file=None,
        retention_codes_days=2,
        retention_limits_days=3,
        retention_proofs_days=8,
        retention_audit_days=366,
        retention_registrations_days=91,
        retention_notices_days=31,
    )

    status = await purge_status(session_factory, NOW, StatusRetention.from_settings(longer))
    training = await purge_training(session_factory, NOW, TrainingRetention.from_settings(longer))

    # Only the rows older than any period: the coming session's old notice is unsent, and
    # the pending notice of the ended session goes only with its registration.
    assert status | training == dict.fromkeys(ALL_OLD_GONE, 0)
    assert await remaining(session_factory) == EVERYTHING


async def run_cli(url: str, *argv: str) -> int:
    """Runs a subcommand's handler in a thread (it runs its own event loop)."""
    args = build_parser().parse_args(list(argv))
    settings = Settings(_env_file=None, database_url=url, assistant_now=NOW)
    return await asyncio.to_thread(args.handler, args, settings)


async def test_purge_command_prints_counts_per_kind(
    session_factory: SessionFactory, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await add_status_rows(session_factory)
    await add_training_rows(session_factory)

    dry = await run_cli(database_url, "purge", "--dry-run")
    dry_out = capsys.readouterr().out
    assert await remaining(session_factory) == EVERYTHING
    done = await run_cli(database_url, "purge")
    done_out = capsys.readouterr().out

    assert (dry, done) == (EXIT_OK, EXIT_OK)
    assert dry_out.splitlines() == [
        f"retention purge of {shown_url(database_url)} (dry run, nothing deleted):",
        "codes                    would purge 1",
        "sms                      would purge 1",
        "limit_events             would purge 1",
        "limit_locks              would purge 1",
        "proofs                   would purge 1",
        "audit                    would purge 1",
        "notices                  would purge 2",
        "reminders                would purge 1",
        "registrations            would purge 2",
        "feedback                 would purge 0",
        "handoffs                 would purge 0",
        "desk_outbox              would purge 0",
        "desk_topics              would purge 0",
        "announcement_deliveries  would purge 0",
        "activity_texts           would purge 0",
        "activity_events          would purge 0",
        "conversations            would purge 0",
    ]
    assert done_out.splitlines() == [
        f"retention purge of {shown_url(database_url)} (deleted):",
        "codes                    purged 1",
        "sms                      purged 1",
        "limit_events             purged 1",
        "limit_locks              purged 1",
        "proofs                   purged 1",
        "audit                    purged 1",
        "notices                  purged 2",
        "reminders                purged 1",
        "registrations            purged 2",
        "feedback                 purged 0",
        "handoffs                 purged 0",
        "desk_outbox              purged 0",
        "desk_topics              purged 0",
        "announcement_deliveries  purged 0",
        "activity_texts           purged 0",
        "activity_events          purged 0",
        "conversations            purged 0",
    ]
    assert await remaining(session_factory) == RECENT_KEPT


async def test_the_gateways_daily_job_purges_and_logs_only_counts(
    session_factory: SessionFactory, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    await add_status_rows(session_factory)
    await add_training_rows(session_factory)
    # The job opens an engine of its own (no per-statement limit) on DATABASE_URL.
    settings = Settings(_env_file=None, assistant_now=NOW, database_url=database_url)
    state = SimpleNamespace(sessions=None, settings=settings)
    context = cast(GatewayContext, SimpleNamespace(gateway=state))

    with caplog.at_level(logging.INFO, logger="bot.retention"):
        await retention.purge_old(context)

    assert await remaining(session_factory) == RECENT_KEPT
    assert [r.getMessage() for r in caplog.records] == [
        "retention purge: codes 1, sms 1, limit_events 1, limit_locks 1, proofs 1, audit 1, "
        "notices 2, reminders 1, registrations 2, feedback 0, handoffs 0, desk_outbox 0, "
        "desk_topics 0, announcement_deliveries 0, activity_texts 0, activity_events 0, "
        "conversations 0"
    ]


def test_the_gateway_schedules_the_purge_daily() -> None:
    application = ApplicationBuilder().token("123456:TEST").build()

    retention.schedule(application)

    assert application.job_queue is not None
    [job] = application.job_queue.get_jobs_by_name(retention.JOB_NAME)
    assert job.trigger.interval == timedelta(days=1)
