"""``ntsa-assistant sessions`` and ``export-registrations`` on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path

import pytest

from ntsa_assistant.cli import EXIT_FAILED, EXIT_OK, build_parser
from ntsa_assistant.cli.training import EXPORT_COLUMNS
from ntsa_assistant.core.settings import Settings
from ntsa_assistant.storage.engine import SessionFactory
from ntsa_assistant.training.booking import cancel, register
from tests.support.training import NOW, add_session, person


async def run_cli(url: str, *argv: str) -> int:
    """Runs a subcommand's handler in a thread (it runs its own event loop)."""
    args = build_parser().parse_args(list(argv))
    return await asyncio.to_thread(args.handler, args, Settings(database_url=url))


@pytest.fixture
async def registered(session_factory: SessionFactory) -> list[str]:
    await add_session(session_factory, "TRN-A", capacity=1)
    await add_session(session_factory, "TRN-B", capacity=3)
    a1 = await register(session_factory, "TRN-A", person(1), NOW)
    await register(session_factory, "TRN-A", person(2), NOW)
    await register(session_factory, "TRN-A", person(3), NOW)
    b1 = await register(session_factory, "TRN-B", person(4), NOW)
    await cancel(session_factory, b1.registration.reference, NOW, chat_id=900_004)
    return [a1.registration.reference]


async def test_sessions_lists_counts(
    registered: list[str], database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run_cli(database_url, "sessions") == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    row_a = next(line for line in lines if line.startswith("TRN-A"))
    row_b = next(line for line in lines if line.startswith("TRN-B"))
    # code, start in Nairobi time, capacity, confirmed, waitlisted, title
    assert row_a.split() == ["TRN-A", "2027-01-20", "10:00", "1", "1", "2", "Session", "TRN-A"]
    assert row_b.split() == ["TRN-B", "2027-01-20", "10:00", "3", "0", "0", "Session", "TRN-B"]


async def test_export_writes_csv_to_stdout(
    registered: list[str], database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run_cli(database_url, "export-registrations") == EXIT_OK
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert tuple(rows[0].keys()) == EXPORT_COLUMNS
    assert [(r["session_code"], r["status"]) for r in rows] == [
        ("TRN-A", "confirmed"),
        ("TRN-A", "waitlisted"),
        ("TRN-A", "waitlisted"),
        ("TRN-B", "cancelled"),
    ]
    assert rows[0]["reference"] == registered[0]
    assert rows[0]["phone"] == person(1).phone
    assert [r["waitlist_position"] for r in rows[1:3]] == ["1", "2"]


async def test_export_one_session_to_a_file(
    registered: list[str], database_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "b.csv"
    assert (
        await run_cli(database_url, "export-registrations", "--session", "TRN-B", "-o", str(out))
        == EXIT_OK
    )
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [r["session_code"] for r in rows] == ["TRN-B"]


async def test_export_of_an_unknown_session_fails(
    registered: list[str], database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run_cli(database_url, "export-registrations", "--session", "NOPE") == EXIT_FAILED
    assert capsys.readouterr().err == "ntsa-assistant: no session with code 'NOPE'\n"
