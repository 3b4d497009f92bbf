"""The ``ntsa-assistant`` console script, run as a real subprocess."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from ntsa_assistant.cli.common import shown_url
from ntsa_assistant.storage.engine import SessionFactory
from ntsa_assistant.storage.models import Account, TrainingSession

SCRIPT = Path(sys.executable).with_name("ntsa-assistant")
GOOD_ACCOUNTS = (
    "id_number,full_name,phone,email,validated_on\n"
    "21000101,Achieng Odhiambo,+254700000101,,2023-12-04\n"
    "21000102,Kiprono Langat,+254700000102,kiprono@example.com,\n"
)
BAD_SESSIONS = (
    "code,title,audience,language,starts_at,ends_at,capacity,join_url\n"
    "S-1,Intro,all,en,2027-01-18T10:00:00+03:00,2027-01-18T12:00:00+03:00,5,https://x.example.org\n"
    "S-2,Intro,all,en,2027-01-18T10:00:00+03:00,2027-01-18T12:00:00+03:00,many,https://x.example.org\n"
)


@dataclass(frozen=True)
class Completed:
    code: int
    stdout: str
    stderr: str


async def run_cli(database_url: str, *args: str, cwd: Path) -> Completed:
    env = {**os.environ, "DATABASE_URL": database_url}
    process = await asyncio.create_subprocess_exec(
        str(SCRIPT),
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return Completed(process.returncode, stdout.decode(), stderr.decode())


async def count(sessions: SessionFactory, model: type) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_import_loads_good_files_and_lists_bad_rows(
    database_url: str, session_factory: SessionFactory, tmp_path: Path
) -> None:
    records = tmp_path / "records"
    records.mkdir()
    (records / "accounts.csv").write_text(GOOD_ACCOUNTS)
    (records / "sessions.csv").write_text(BAD_SESSIONS)
    (records / "notes.csv").write_text("anything\n")

    done = await run_cli(database_url, "import", str(records), cwd=tmp_path)

    assert done.code == 1, done.stderr
    assert "accounts.csv: loaded 2 rows" in done.stdout
    assert "sessions.csv: refused (1 bad row), nothing loaded from it" in done.stdout
    assert "  line 3: capacity 'many' must be a whole number above 0" in done.stdout
    assert "notes.csv: ignored, not a record file" in done.stdout
    assert await count(session_factory, Account) == 2
    assert await count(session_factory, TrainingSession) == 0


async def test_import_exits_zero_when_every_file_loads(
    database_url: str, session_factory: SessionFactory, tmp_path: Path
) -> None:
    (tmp_path / "accounts.csv").write_text(GOOD_ACCOUNTS)

    done = await run_cli(database_url, "import", str(tmp_path), cwd=tmp_path)

    assert done.code == 0, done.stdout + done.stderr
    assert "accounts.csv: loaded 2 rows" in done.stdout


async def test_import_of_a_missing_directory_is_a_usage_error(
    database_url: str, tmp_path: Path
) -> None:
    done = await run_cli(database_url, "import", str(tmp_path / "nowhere"), cwd=tmp_path)

    assert done.code == 2
    missing = tmp_path / "nowhere"
    assert f"ntsa-assistant import: {missing} is not a directory" in done.stderr.splitlines()


async def test_import_without_a_directory_argument_is_a_usage_error(
    database_url: str, tmp_path: Path
) -> None:
    done = await run_cli(database_url, "import", cwd=tmp_path)

    assert done.code == 2
    assert done.stderr.splitlines()[-2:] == [
        "usage: ntsa-assistant import [-h] DIR",
        "ntsa-assistant import: error: the following arguments are required: DIR",
    ]


async def test_demo_loads_once(
    database_url: str, session_factory: SessionFactory, tmp_path: Path
) -> None:
    first = await run_cli(database_url, "demo", cwd=tmp_path)
    second = await run_cli(database_url, "demo", cwd=tmp_path)

    assert first.code == 0, first.stdout + first.stderr
    assert first.stdout.splitlines() == [
        f"demo records loaded into {shown_url(database_url)}",
        "accounts.csv: loaded 8 rows",
        "organisations.csv: loaded 7 rows",
        "transactions.csv: loaded 9 rows",
        "sessions.csv: loaded 10 rows",
    ]
    assert second.code == 0
    assert second.stdout == "the database already has accounts: demo records left out\n"
    assert await count(session_factory, Account) == 8


async def test_migrate_is_idempotent(database_url: str, tmp_path: Path) -> None:
    done = await run_cli(database_url, "migrate", cwd=tmp_path)

    assert done.code == 0, done.stderr
    assert done.stdout == f"schema of {shown_url(database_url)} is at the newest revision\n"
