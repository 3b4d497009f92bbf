"""Record commands: ``import DIR``, ``migrate`` and ``demo``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from ntsa_assistant.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    Subparsers,
    open_sessions,
    plural,
    shown_url,
)
from ntsa_assistant.core.settings import Settings
from ntsa_assistant.records.files import RecordKind
from ntsa_assistant.records.importer import (
    FileResult,
    ImportReport,
    import_demo_records,
    import_directory,
)
from ntsa_assistant.storage.schema import upgrade_schema

SHOWN_WARNINGS = 20


def format_file_result(result: FileResult) -> list[str]:
    """The lines printed for one file: its outcome, then every error and some warnings."""
    name = result.path.name
    if result.refused:
        bad_lines = {problem.line for problem in result.errors if problem.line is not None}
        detail = f" ({plural(len(bad_lines), 'bad row')})" if bad_lines else ""
        lines = [f"{name}: refused{detail}, nothing loaded from it"]
        lines += [f"  {problem}" for problem in result.errors]
        return lines
    summary = f"{name}: loaded {plural(result.loaded, 'row')}"
    if result.warnings:
        summary += f", {plural(len(result.warnings), 'warning')}"
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
