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
import logging
import sys
from collections.abc import Sequence

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from ntsa_assistant.cli import broadcast, handoffs, records, report, retention, training
from ntsa_assistant.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, Handler, Registrar
from ntsa_assistant.core.logs import configure_logging
from ntsa_assistant.core.settings import get_settings

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]

logger = logging.getLogger(__name__)


# --- composition -----------------------------------------------------------------------


def registrars() -> list[Registrar]:
    """Every subcommand's ``add_parser``; other modules' commands are listed here."""
    return [
        records.add_import_parser,
        records.add_migrate_parser,
        records.add_demo_parser,
        training.add_sessions_parser,
        training.add_export_parser,
        retention.add_purge_parser,
        handoffs.add_handoffs_parser,
        report.add_report_parser,
        broadcast.add_parser,
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
