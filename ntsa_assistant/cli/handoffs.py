"""``ntsa-assistant handoffs [--json]``: the open handoffs to a human agent, the longest
waiting first (listed in :func:`ntsa_assistant.cli.registrars`).

Operators read it to see whether the desk keeps up, so it shows no personal data: a
handoff is known by its number (the one in its desk topic's name), never by the person's
name or chat id.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import timedelta
from typing import Any

from ntsa_assistant.cli.common import EXIT_OK, Subparsers, open_sessions
from ntsa_assistant.core.clock import Clock
from ntsa_assistant.core.settings import Settings
from ntsa_assistant.handoff.desk import OpenHandoff, open_handoffs

NONE_OPEN = "No open handoffs."
COLUMNS = ("number", "state", "lang", "waiting", "reason", "topic", "desk", "pending")
_WIDTHS = (7, 9, 5, 11, 8, 10, 32, 7)


def format_waiting(waiting: timedelta) -> str:
    """``12 min`` under an hour, ``2 h 05 min`` from an hour on (whole minutes, rounded down)."""
    minutes = max(0, int(waiting.total_seconds()) // 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def _desk(line: OpenHandoff) -> str:
    if line.desk_chat_id is None:
        return "-"  # still choosing its topic: not queued in a group yet
    topic = "topic pending" if line.thread_id is None else f"topic {line.thread_id}"
    return f"{line.desk_chat_id} {topic}"


def _cells(line: OpenHandoff) -> tuple[str, ...]:
    view = line.handoff
    return (
        f"#{view.id}",
        view.state.value,
        view.language,
        format_waiting(line.waiting),
        view.reason.value,
        view.topic or "-",
        _desk(line),
        str(line.pending_items),
    )


def format_handoffs(lines: list[OpenHandoff]) -> list[str]:
    """A header and one aligned row per handoff, in the order given."""
    if not lines:
        return [NONE_OPEN]
    rows = [COLUMNS, *(_cells(line) for line in lines)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, _WIDTHS, strict=True)).rstrip()
        for row in rows
    ]


def handoff_record(line: OpenHandoff) -> dict[str, Any]:
    """One handoff for ``--json``: the same facts as a row, in types a script can use."""
    view = line.handoff
    return {
        "number": view.id,
        "state": view.state.value,
        "language": view.language,
        "waiting_seconds": int(line.waiting.total_seconds()),
        "waiting": format_waiting(line.waiting),
        "reason": view.reason.value,
        "topic": view.topic,
        "desk_chat_id": line.desk_chat_id,
        "thread_id": line.thread_id,
        "pending_desk_messages": line.pending_items,
    }


async def _open(settings: Settings) -> list[OpenHandoff]:
    async with open_sessions(settings.database_url) as sessions:
        return await open_handoffs(sessions, Clock(settings.assistant_now).now())


def run_handoffs(args: argparse.Namespace, settings: Settings) -> int:
    lines = asyncio.run(_open(settings))
    if args.json:
        print(json.dumps([handoff_record(line) for line in lines], indent=2))
    else:
        print("\n".join(format_handoffs(lines)))
    return EXIT_OK


def add_handoffs_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "handoffs",
        help="list open handoffs to a human agent, the longest waiting first",
        description="Lists every open handoff (choosing a topic, waiting, or with an agent): "
        "its number, state, language, how long it has waited, why, its topic, its desk group "
        "and topic, and how many messages still wait to reach the desk. No personal data.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON, for scripts")
    parser.set_defaults(handler=run_handoffs)
