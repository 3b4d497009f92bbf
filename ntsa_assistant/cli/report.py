"""``ntsa-assistant report``: the operators' figures for a period (listed in
:func:`ntsa_assistant.cli.registrars`).

``report [--since DATE] [--until DATE]`` prints a compact table (the last 30 days up to
today by default, Nairobi days, both ends included); ``--html FILE`` also writes the whole
report with its charts as one self-contained page; ``--unanswered`` lists instead what the
assistant did not understand, grouped, and ``--export-nlu FILE`` writes that as a Rasa NLU
draft to label. Nothing printed or written holds personal data.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

from ntsa_assistant.cli.common import EXIT_OK, EXIT_USAGE, Subparsers, open_sessions, plural
from ntsa_assistant.core.clock import Clock
from ntsa_assistant.core.settings import Settings
from ntsa_assistant.handoff.hours import WorkingHours
from ntsa_assistant.reporting import unanswered
from ntsa_assistant.reporting.metrics import Period
from ntsa_assistant.reporting.render import html_report, text_report
from ntsa_assistant.reporting.report import Report, load_report
from ntsa_assistant.reporting.unanswered import Group

DEFAULT_DAYS = 30


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def period_of(since: date | None, until: date | None, today: date) -> Period:
    """The days asked for: ``until`` defaults to today, ``since`` to 30 days up to it."""
    last = until or today
    first = since or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise ValueError(f"--since {first} is after --until {last}")
    return Period(first, last)


async def _load(
    settings: Settings, period: Period, now: datetime, hours: WorkingHours
) -> tuple[Report, list[Group]]:
    async with open_sessions(settings.database_url) as sessions:
        report = await load_report(sessions, period, now, hours)
    events = report.events
    return report, unanswered.group(unanswered.missed(events, period))


def run_report(args: argparse.Namespace, settings: Settings) -> int:
    clock = Clock(settings.assistant_now)
    try:
        period = period_of(args.since, args.until, clock.today())
        hours = WorkingHours.parse(settings.support_hours)
    except ValueError as exc:
        print(f"ntsa-assistant report: {exc}", file=sys.stderr)
        return EXIT_USAGE
    report, groups = asyncio.run(_load(settings, period, clock.now(), hours))
    if args.unanswered:
        print("\n".join(unanswered.format_groups(groups, period)))
    if args.export_nlu:
        unanswered.write_nlu_draft(groups, args.export_nlu)
        print(f"wrote {plural(len(groups), 'group')} to label to {args.export_nlu}")
    if not (args.unanswered or args.export_nlu):
        print(text_report(report, groups))
    if args.html:
        args.html.parent.mkdir(parents=True, exist_ok=True)
        args.html.write_text(html_report(report, groups), encoding="utf-8")
        print(f"wrote the report with its charts to {args.html}")
    return EXIT_OK


def add_report_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "report",
        help="the operators' figures: conversations, containment, handoffs, what was missed",
        description="Prints the operators' figures for a period of Nairobi days: "
        "conversations and people per day and language, containment, fallback rate, handoffs "
        "by reason, time to the first agent reply in working hours and ratings, top topics, "
        "status look-ups by outcome, training seats and the FAQ page's votes. No personal data.",
    )
    parser.add_argument("--since", type=_day, metavar="DATE", help="first day (YYYY-MM-DD)")
    parser.add_argument(
        "--until", type=_day, metavar="DATE", help="last day, included (default: today)"
    )
    parser.add_argument(
        "--html", type=Path, metavar="FILE", help="also write the report with charts as HTML"
    )
    parser.add_argument(
        "--unanswered",
        action="store_true",
        help="list the messages not understood, grouped by similarity (masked)",
    )
    parser.add_argument(
        "--export-nlu",
        type=Path,
        metavar="FILE",
        help="write the messages not understood as a Rasa NLU draft to label",
    )
    parser.set_defaults(handler=run_report)
