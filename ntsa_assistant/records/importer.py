"""Loading validated record files into the database (rules: :mod:`ntsa_assistant.records.files`).

Training sessions are registration's business too: re-importing ``sessions.csv`` changes
capacities under the same lock as booking, and a raised capacity fills its free seats from
the waitlist at once (see :func:`ntsa_assistant.training.booking.update_training_sessions`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ntsa_assistant.records.files import (
    FileReport,
    Problem,
    RecordKind,
    RecordSpec,
    Row,
    spec_for,
    validate_file,
)
from ntsa_assistant.storage.engine import SessionFactory, retry_if_locked
from ntsa_assistant.storage.models import Account
from ntsa_assistant.training.booking import update_training_sessions

logger = logging.getLogger(__name__)

UPSERT_BATCH = 5_000
LOOKUP_BATCH = 500


@dataclass(frozen=True, slots=True)
class FileResult:
    """What importing one file did: ``loaded`` rows, or refused with ``errors``."""

    kind: RecordKind
    path: Path
    loaded: int
    errors: tuple[Problem, ...] = ()
    warnings: tuple[Problem, ...] = ()

    @property
    def refused(self) -> bool:
        return bool(self.errors)


@dataclass(frozen=True, slots=True)
class ImportReport:
    """One result per record file found, in load order, and the CSV files left alone."""

    files: tuple[FileResult, ...]
    ignored: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not any(result.refused for result in self.files)


_Item = TypeVar("_Item")


def _batches(items: Sequence[_Item], size: int) -> Iterator[Sequence[_Item]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _upsert(table: Table, dialect: str) -> postgresql.Insert | sqlite.Insert:
    """INSERT … ON CONFLICT (key) DO UPDATE for the session's backend."""
    statement: postgresql.Insert | sqlite.Insert
    if dialect == "postgresql":
        statement = postgresql.insert(table)
    elif dialect == "sqlite":
        statement = sqlite.insert(table)
    else:
        raise NotImplementedError(f"record import does not support {dialect}")
    keys = [column.name for column in table.primary_key.columns]
    updates = {c.name: statement.excluded[c.name] for c in table.columns if not c.primary_key}
    return statement.on_conflict_do_update(index_elements=keys, set_=updates)


async def upsert_rows(session: AsyncSession, table: Table, rows: Sequence[Row]) -> None:
    """Inserts or updates ``rows`` by primary key, in batches, in the current transaction."""
    statement = _upsert(table, session.get_bind().dialect.name)
    for batch in _batches(rows, UPSERT_BATCH):
        await session.execute(statement, list(batch))


async def unknown_account_ids(session: AsyncSession, ids: Iterable[str]) -> set[str]:
    """The ID numbers among ``ids`` that no account has."""
    wanted = sorted(set(ids))
    known: set[str] = set()
    id_number = Account.__table__.c.id_number
    for batch in _batches(wanted, LOOKUP_BATCH):
        result = await session.execute(select(id_number).where(id_number.in_(batch)))
        known.update(result.scalars())
    return set(wanted) - known


async def _reference_warnings(
    session: AsyncSession, spec: RecordSpec, rows: Sequence[Row], lines: Sequence[int]
) -> list[Problem]:
    if spec.account_column is None:
        return []
    column = spec.account_column
    unknown = await unknown_account_ids(session, (row[column] for row in rows))
    return [
        Problem(line, f"{column} '{row[column]}' matches no account (row loaded anyway)")
        for row, line in zip(rows, lines, strict=True)
        if row[column] in unknown
    ]


async def _write(
    session: AsyncSession, spec: RecordSpec, rows: Sequence[Row], now: datetime
) -> None:
    if spec.kind is not RecordKind.SESSIONS:
        await upsert_rows(session, spec.table, rows)
        return
    codes = [str(row["code"]) for row in rows]
    promoted = await update_training_sessions(
        session, codes, lambda: upsert_rows(session, spec.table, rows), now
    )
    if promoted:
        logger.info("re-import: %s waitlisted people given a seat", len(promoted))


async def load_report(
    sessions: SessionFactory, report: FileReport, now: datetime | None = None
) -> FileResult:
    """Writes a validated file in one transaction; a refused report writes nothing.

    ``now`` (default: the real time) dates the seats a raised session capacity gives away."""
    path = report.path or Path(report.kind.filename)
    if not report.ok:
        return FileResult(report.kind, path, 0, tuple(report.errors), tuple(report.warnings))
    spec = spec_for(report.kind)
    instant = now or datetime.now(UTC)

    async def attempt() -> list[Problem]:
        async with sessions.begin() as session:
            await _write(session, spec, report.rows, instant)
            return await _reference_warnings(session, spec, report.rows, report.lines)

    try:
        warnings = await retry_if_locked(attempt)
    except (IntegrityError, DataError) as exc:
        problem = Problem(None, f"the database refused it: {exc.orig}")
        return FileResult(report.kind, path, 0, (problem,), tuple(report.warnings))
    logger.info("loaded %s rows from %s", len(report.rows), path.name)
    return FileResult(report.kind, path, len(report.rows), (), (*report.warnings, *warnings))


async def import_file(
    sessions: SessionFactory, kind: RecordKind, path: Path, now: datetime | None = None
) -> FileResult:
    """Validates one record file (in a worker thread) and, if it is wholly good, loads it."""
    return await load_report(sessions, await asyncio.to_thread(validate_file, kind, path), now)


def find_record_files(directory: Path) -> tuple[list[tuple[RecordKind, Path]], tuple[str, ...]]:
    """The record files ``directory`` holds, in load order, and the other CSV files in it."""
    if not directory.is_dir():
        raise NotADirectoryError(f"{directory} is not a directory")
    found = [(kind, directory / kind.filename) for kind in RecordKind]
    known = {kind.filename for kind in RecordKind}
    ignored = sorted(
        entry.name
        for entry in directory.iterdir()
        if entry.suffix.lower() == ".csv" and entry.name not in known
    )
    return [(kind, path) for kind, path in found if path.is_file()], tuple(ignored)


async def import_directory(
    sessions: SessionFactory, directory: Path, now: datetime | None = None
) -> ImportReport:
    """Loads whichever record files ``directory`` holds, accounts first."""
    files, ignored = await asyncio.to_thread(find_record_files, directory)
    results = [await import_file(sessions, kind, path, now) for kind, path in files]
    return ImportReport(tuple(results), ignored)


def demo_records() -> AbstractContextManager[Path]:
    """The packaged demo record folder, as a real path while the context is open."""
    return resources.as_file(resources.files("ntsa_assistant.records") / "demo")


async def count_accounts(sessions: SessionFactory) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Account)) or 0)


async def import_demo_records(sessions: SessionFactory) -> ImportReport | None:
    """Loads the demo records into an empty database; None when it already has accounts."""
    if await count_accounts(sessions):
        return None
    with demo_records() as directory:
        return await import_directory(sessions, directory)
