"""Operators' training commands of ``ntsa-assistant``: ``sessions`` and
``export-registrations`` (listed in :func:`ntsa_assistant.cli.registrars`)."""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
from datetime import datetime
from pathlib import Path
from typing import IO

from ntsa_assistant.cli.common import EXIT_FAILED, EXIT_OK, Subparsers, open_sessions
from ntsa_assistant.core.clock import NAIROBI
from ntsa_assistant.core.settings import Settings
from ntsa_assistant.training.queries import (
    ExportRow,
    export_rows,
    get_training_session,
    training_session_counts,
)
from ntsa_assistant.training.rules import UnknownTrainingSession
from ntsa_assistant.training.views import TrainingSessionCounts

EXPORT_COLUMNS = (
    "reference",
    "session_code",
    "session_title",
    "session_starts_at",
    "status",
    "waitlist_position",
    "full_name",
    "phone",
    "email",
    "kra_pin",
    "language",
    "chat_id",
    "registered_at",
    "confirmed_at",
    "cancelled_at",
)


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def export_record(row: ExportRow) -> dict[str, str]:
    info = row.registration
    return {
        "reference": info.reference,
        "session_code": info.training_session.code,
        "session_title": info.training_session.title,
        "session_starts_at": _iso(info.training_session.starts_at),
        "status": info.status.value,
        "waitlist_position": str(info.waitlist_position or ""),
        "full_name": info.full_name,
        "phone": info.phone,
        "email": info.email or "",
        "kra_pin": info.kra_pin or "",
        "language": info.language.value,
        "chat_id": str(info.chat_id),
        "registered_at": _iso(info.created_at),
        "confirmed_at": _iso(row.confirmed_at),
        "cancelled_at": _iso(row.cancelled_at),
    }


def write_csv(rows: list[ExportRow], out: IO[str]) -> None:
    writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(export_record(row) for row in rows)


# --- export-registrations [--session CODE] [--output FILE] ------------------------------


async def _export(url: str, code: str | None) -> list[ExportRow]:
    async with open_sessions(url) as sessions:
        if code is not None:
            await get_training_session(sessions, code)  # unknown code → UnknownTrainingSession
        return await export_rows(sessions, code)


def run_export(args: argparse.Namespace, settings: Settings) -> int:
    try:
        rows = asyncio.run(_export(settings.database_url, args.session))
    except UnknownTrainingSession:
        print(f"ntsa-assistant: no session with code {args.session!r}", file=sys.stderr)
        return EXIT_FAILED
    if args.output is None:
        write_csv(rows, sys.stdout)
    else:
        with args.output.open("w", encoding="utf-8", newline="") as out:
            write_csv(rows, out)
        print(f"{len(rows)} registrations written to {args.output}", file=sys.stderr)
    return EXIT_OK


def add_export_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "export-registrations",
        help="write training registrations as CSV",
        description="Writes every registration (cancelled ones too) as CSV, UTF-8, one "
        "header row, to standard output or --output.",
    )
    parser.add_argument("--session", metavar="CODE", help="only this session's registrations")
    parser.add_argument("--output", "-o", metavar="FILE", type=Path, help="write to FILE")
    parser.set_defaults(handler=run_export)


# --- sessions -----------------------------------------------------------------------------


def format_sessions(counts: list[TrainingSessionCounts]) -> list[str]:
    header = f"{'code':<12} {'starts (Nairobi)':<17} {'cap':>4} {'conf':>5} {'wait':>5}  title"
    lines = [header]
    for c in counts:
        starts = c.training_session.starts_at.astimezone(NAIROBI).strftime("%Y-%m-%d %H:%M")
        lines.append(
            f"{c.training_session.code:<12} {starts:<17} {c.training_session.capacity:>4} "
            f"{c.confirmed:>5} {c.waitlisted:>5}  {c.training_session.title}"
        )
    return lines


async def _sessions(url: str) -> list[TrainingSessionCounts]:
    async with open_sessions(url) as sessions:
        return await training_session_counts(sessions)


def run_sessions(args: argparse.Namespace, settings: Settings) -> int:
    print("\n".join(format_sessions(asyncio.run(_sessions(settings.database_url)))))
    return EXIT_OK


def add_sessions_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "sessions", help="list training sessions with confirmed and waitlisted counts"
    )
    parser.set_defaults(handler=run_sessions)
