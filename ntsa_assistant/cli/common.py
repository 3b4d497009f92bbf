"""What every subcommand shares: exit codes, a session factory per command, messages."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeAlias

from sqlalchemy.engine import make_url

from ntsa_assistant.core.settings import Settings
from ntsa_assistant.storage.engine import SessionFactory, create_engine, create_session_factory
from ntsa_assistant.storage.schema import upgrade_schema

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

Handler = Callable[[argparse.Namespace, Settings], int]
# What ``ArgumentParser.add_subparsers`` returns; argparse names the class privately, and it
# is generic only in typeshed, hence the quotes.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
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


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
