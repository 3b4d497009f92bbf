"""The ``ntsa-assistant`` admin command (DESIGN.md, "Contracts").

Each subcommand is registered by an ``add_parser(subparsers)`` function that sets
``handler`` (a :data:`Handler`) as a default. To add one from another module, write such a
function there and list it in :func:`registrars`. Handlers stay thin: they call domain
functions through :func:`open_sessions` and print the outcome.

Exit codes: 0 done, 1 refused or failed (a record file refused, the database unreachable),
2 usage error (bad arguments, a missing directory, a bad setting).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from ntsa_assistant.db import SessionFactory, create_engine, create_session_factory
from ntsa_assistant.logs import configure_logging
from ntsa_assistant.records import (
    FileResult,
    ImportReport,
    RecordKind,
    import_demo_records,
    import_directory,
)
from ntsa_assistant.schema import upgrade_schema
from ntsa_assistant.settings import Settings, get_settings

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
SHOWN_WARNINGS = 20

Handler = Callable[[argparse.Namespace, Settings], int]
Subparsers = Any  # argparse's private _SubParsersAction
Registrar = Callable[[Subparsers], None]


@asynccontextmanager
async def open_sessions(url: str, *, upgrade: bool = True) -> AsyncIterator[SessionFactory]:
    """A session factory on ``url`` for one command, the schema brought to head first."""
    if upgrade:
        await upgrade_schema(url)
    engine = create_engine(url)
    try:
        yield create_session_factory(engine)
    finally:
        await engine.dispose()


def shown_url(url: str) -> str:
    """The database URL without its password, for messages."""
    return make_url(url).render_as_string(hide_password=True)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def format_file_result(result: FileResult) -> list[str]:
    """The lines printed for one file: its outcome, then every error and some warnings."""
    name = result.path.name
    if result.refused:
        bad_lines = {problem.line for problem in result.errors if problem.line is not None}
        detail = f" ({_plural(len(bad_lines), 'bad row')})" if bad_lines else ""
        lines = [f"{name}: refused{detail}, nothing loaded from it"]
        lines += [f"  {problem}" for problem in result.errors]
        return lines
    summary = f"{name}: loaded {_plural(result.loaded, 'row')}"
    if result.warnings:
        summary += f", {_plural(len(result.warnings), 'warning')}"
    lines = [summary] + [f"  {problem}" for problem in result.warnings[:SHOWN_WARNINGS]]
    if len(result.warnings) > SHOWN_WARNINGS:
        lines.append(f"  … and {len(result.warnings) - SHOWN_WARNINGS} more warnings")
    return lines


def format_import_report(report: ImportReport) -> list[str]:
    """Every line an import prints, file by file."""
    lines = [line for result in report.files for line in format_file_result(result)]
    lines += [f"{name}: ignored, not a record file" for name in report.ignored]
    return lines


def _print_report(report: ImportReport) -> int:
    print("\n".join(format_import_report(report)))
    return EXIT_OK if report.ok else EXIT_FAILED


# --- import DIR ------------------------------------------------------------------------


async def _import(url: str, directory: Path) -> ImportReport:
    async with open_sessions(url) as sessions:
        return await import_directory(sessions, directory)


def run_import(args: argparse.Namespace, settings: Settings) -> int:
    directory: Path = args.directory
    if not directory.is_dir():
        print(f"ntsa-assistant import: {directory} is not a directory", file=sys.stderr)
        return EXIT_USAGE
    if not any((directory / kind.filename).is_file() for kind in RecordKind):
        expected = ", ".join(kind.filename for kind in RecordKind)
        print(f"ntsa-assistant import: {directory} holds none of {expected}", file=sys.stderr)
        return EXIT_USAGE
    print(f"importing {directory} into {shown_url(settings.database_url)}")
    return _print_report(asyncio.run(_import(settings.database_url, directory)))


def add_import_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "import",
        help="load the record files of a folder into the database",
        description="Loads whichever of accounts.csv, organisations.csv, transactions.csv "
        "and sessions.csv DIR holds. A file with any bad row is refused whole.",
    )
    parser.add_argument("directory", metavar="DIR", type=Path, help="folder of record files")
    parser.set_defaults(handler=run_import)


# --- migrate ---------------------------------------------------------------------------


def run_migrate(args: argparse.Namespace, settings: Settings) -> int:
    asyncio.run(upgrade_schema(settings.database_url))
    print(f"schema of {shown_url(settings.database_url)} is at the newest revision")
    return EXIT_OK


def add_migrate_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser("migrate", help="upgrade the database schema to the newest")
    parser.set_defaults(handler=run_migrate)


# --- demo ------------------------------------------------------------------------------


async def _demo(url: str) -> ImportReport | None:
    async with open_sessions(url) as sessions:
        return await import_demo_records(sessions)


def run_demo(args: argparse.Namespace, settings: Settings) -> int:
    report = asyncio.run(_demo(settings.database_url))
    if report is None:
        print("the database already has accounts: demo records left out")
        return EXIT_OK
    print(f"demo records loaded into {shown_url(settings.database_url)}")
    return _print_report(report)


def add_demo_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "demo", help="load the invented demo records, only into a database without accounts"
    )
    parser.set_defaults(handler=run_demo)


# --- composition -----------------------------------------------------------------------


def registrars() -> list[Registrar]:
    """Every subcommand's ``add_parser``; other modules' commands are listed here."""
    from ntsa_assistant import cli_training  # noqa: PLC0415 - it imports this module

    return [
        add_import_parser,
        add_migrate_parser,
        add_demo_parser,
        cli_training.add_sessions_parser,
        cli_training.add_export_parser,
    ]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ntsa-assistant", description="Admin command of the e-Citizen migration assistant."
    )
    subparsers = parser.add_subparsers(metavar="COMMAND", required=True)
    for register in registrars():
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
    except ValidationError as exc:
        print(f"ntsa-assistant: bad setting: {exc}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(settings.log_level)
    handler: Handler = args.handler
    try:
        return handler(args, settings)
    except (OSError, SQLAlchemyError) as exc:
        logger.debug("command failed", exc_info=True)
        print(f"ntsa-assistant: database error: {exc}", file=sys.stderr)
        return EXIT_FAILED
