"""``ntsa-assistant purge [--dry-run]``: deletes the personal data that the retention
periods (README, "Retention") say is old, and prints how many rows of each kind went.

The gateway runs the same purge daily (``bot/retention.py``) through :func:`purge_all`.
Rasa's stored conversations are purged there too, in the tracker store that Rasa uses
(``TRACKER_STORE_URL``, else the one beside ``DATABASE_URL``), on an engine of their own.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import datetime

from ntsa_assistant.announcements import retention as announcement_retention
from ntsa_assistant.cli.common import EXIT_OK, Subparsers, open_sessions, shown_url
from ntsa_assistant.core.clock import Clock
from ntsa_assistant.core.settings import Settings
from ntsa_assistant.faq import retention as faq_retention
from ntsa_assistant.handoff import retention as handoff_retention
from ntsa_assistant.reporting import retention as activity_retention
from ntsa_assistant.status import retention as status_retention
from ntsa_assistant.storage import conversations
from ntsa_assistant.storage.engine import SessionFactory
from ntsa_assistant.training import retention as training_retention


async def purge_all(
    sessions: SessionFactory, settings: Settings, now: datetime, *, dry_run: bool = False
) -> dict[str, int]:
    """Every feature's purge, by the periods in ``settings``; the count per kind."""
    counts = await status_retention.purge(
        sessions, now, status_retention.StatusRetention.from_settings(settings), dry_run=dry_run
    )
    counts |= await training_retention.purge(
        sessions,
        now,
        training_retention.TrainingRetention.from_settings(settings),
        dry_run=dry_run,
    )
    counts |= await faq_retention.purge(
        sessions, now, faq_retention.FaqRetention.from_settings(settings), dry_run=dry_run
    )
    counts |= await handoff_retention.purge(
        sessions,
        now,
        handoff_retention.HandoffRetention.from_settings(settings),
        dry_run=dry_run,
    )
    counts |= await announcement_retention.purge(
        sessions,
        now,
        announcement_retention.AnnouncementRetention.from_settings(settings),
        dry_run=dry_run,
    )
    counts |= await activity_retention.purge(
        sessions,
        now,
        activity_retention.ActivityRetention.from_settings(settings),
        dry_run=dry_run,
    )
    # Last: the app's own purges are done even if Rasa's store cannot be reached.
    counts |= await conversations.purge(
        conversations.configured_tracker_store_url(settings),
        now,
        conversations.ConversationRetention.from_settings(settings),
        dry_run=dry_run,
    )
    return counts


def format_counts(counts: dict[str, int], *, dry_run: bool) -> list[str]:
    width = max(len(kind) for kind in counts)
    verb = "would purge" if dry_run else "purged"
    return [f"{kind:<{width}}  {verb} {count}" for kind, count in counts.items()]


async def _purge(settings: Settings, dry_run: bool) -> dict[str, int]:
    async with open_sessions(settings.database_url) as sessions:
        now = Clock(settings.assistant_now).now()
        return await purge_all(sessions, settings, now, dry_run=dry_run)


def run_purge(args: argparse.Namespace, settings: Settings) -> int:
    counts = asyncio.run(_purge(settings, args.dry_run))
    what = "dry run, nothing deleted" if args.dry_run else "deleted"
    print(f"retention purge of {shown_url(settings.database_url)} ({what}):")
    print("\n".join(format_counts(counts, dry_run=args.dry_run)))
    return EXIT_OK


def add_purge_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "purge",
        help="delete personal data older than its retention period",
        description="Deletes one-time codes, queued texts, limit events, ownership proofs, "
        "audit rows, finished registrations and notices, FAQ page votes, closed handoffs, "
        "sent desk messages and Rasa's stored conversations older than their "
        "retention periods (RETENTION_*_DAYS), and prints how many rows of each kind went.",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="count what would go, delete nothing"
    )
    parser.set_defaults(handler=run_purge)
