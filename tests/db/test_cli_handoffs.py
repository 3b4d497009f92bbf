"""``ntsa-assistant handoffs`` on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta

import pytest

from ntsa_assistant.cli import EXIT_OK, build_parser
from ntsa_assistant.cli.handoffs import NONE_OPEN
from ntsa_assistant.core.clock import NAIROBI
from ntsa_assistant.core.settings import Settings
from ntsa_assistant.handoff import desk
from ntsa_assistant.protocol import HandoffReason, HandoffRequest
from ntsa_assistant.storage.engine import SessionFactory
from ntsa_assistant.storage.models import CloseReason

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=NAIROBI)
DESK = -1_001_000_000_001
# Chat ids that cannot be mistaken for any other number in the output.
EARLY_CHAT, LATE_CHAT, CLOSED_CHAT = 731_550_001, 731_550_002, 731_550_003


async def run_cli(url: str, *argv: str) -> int:
    """Runs a subcommand's handler in a thread (it runs its own event loop), at ``NOW``."""
    args = build_parser().parse_args(list(argv))
    settings = Settings(database_url=url, assistant_now=NOW)
    return await asyncio.to_thread(args.handler, args, settings)


async def queued(
    sessions: SessionFactory, chat_id: int, at: datetime, *, lang: str, topic: str
) -> int:
    request = HandoffRequest(lang, HandoffReason.COMMAND)
    view = await desk.begin(sessions, chat_id, request, at)
    result = await desk.choose(
        sessions,
        view.id,
        topic=topic,
        typed_reason=None,
        desks=(DESK,),
        label="Wanjiru",
        open_now=True,
        now=at,
    )
    assert result is not None
    return view.id


@pytest.fixture
async def handoffs(session_factory: SessionFactory) -> tuple[int, int]:
    """Two open handoffs (one in its topic, one claimed whose topic is being made) and a
    closed one; returns the open ones' numbers, the longest waiting first."""
    early = await queued(
        session_factory, EARLY_CHAT, NOW - timedelta(hours=2, minutes=5), lang="sw", topic="login"
    )
    await desk.set_thread(session_factory, EARLY_CHAT, DESK, 77)
    late = await queued(
        session_factory, LATE_CHAT, NOW - timedelta(minutes=12), lang="en", topic="pending"
    )
    await desk.claim(session_factory, late, 500, "Amina", NOW - timedelta(minutes=3))
    closed = await queued(
        session_factory, CLOSED_CHAT, NOW - timedelta(hours=3), lang="en", topic="training"
    )
    await desk.close(session_factory, closed, CloseReason.DONE, NOW - timedelta(hours=1))
    return early, late


async def test_lists_open_handoffs_longest_waiting_first(
    handoffs: tuple[int, int], database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    early, late = handoffs
    assert await run_cli(database_url, "handoffs") == EXIT_OK
    out = capsys.readouterr().out
    header, *rows = out.splitlines()
    assert header.split() == [
        "number",
        "state",
        "lang",
        "waiting",
        "reason",
        "topic",
        "desk",
        "pending",
    ]
    # Each has its card and topic name waiting for the desk; the claimed one a second name.
    assert [row.split() for row in rows] == [
        [f"#{early}", "waiting", "sw", "2", "h", "05", "min", "command", "login"]
        + [str(DESK), "topic", "77", "2"],
        [f"#{late}", "claimed", "en", "12", "min", "command", "pending"]
        + [str(DESK), "topic", "pending", "3"],
    ]
    for chat_id in (EARLY_CHAT, LATE_CHAT, CLOSED_CHAT):
        assert str(chat_id) not in out
    assert "Wanjiru" not in out
    assert "Amina" not in out


async def test_says_when_none_is_open(
    session_factory: SessionFactory, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    closed = await queued(session_factory, CLOSED_CHAT, NOW, lang="en", topic="login")
    await desk.close(session_factory, closed, CloseReason.CANCELLED, NOW)
    assert await run_cli(database_url, "handoffs") == EXIT_OK
    assert capsys.readouterr().out == f"{NONE_OPEN}\n"
    assert await run_cli(database_url, "handoffs", "--json") == EXIT_OK
    assert json.loads(capsys.readouterr().out) == []


async def test_json_for_scripts(
    handoffs: tuple[int, int], database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    early, late = handoffs
    assert await run_cli(database_url, "handoffs", "--json") == EXIT_OK
    out = capsys.readouterr().out
    assert json.loads(out) == [
        {
            "number": early,
            "state": "waiting",
            "language": "sw",
            "waiting_seconds": 7500,
            "waiting": "2 h 05 min",
            "reason": "command",
            "topic": "login",
            "desk_chat_id": DESK,
            "thread_id": 77,
            "pending_desk_messages": 2,
        },
        {
            "number": late,
            "state": "claimed",
            "language": "en",
            "waiting_seconds": 720,
            "waiting": "12 min",
            "reason": "command",
            "topic": "pending",
            "desk_chat_id": DESK,
            "thread_id": None,
            "pending_desk_messages": 3,
        },
    ]
    for chat_id in (EARLY_CHAT, LATE_CHAT, CLOSED_CHAT):
        assert str(chat_id) not in out
