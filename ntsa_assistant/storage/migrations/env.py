"""Alembic environment for async engines.

``ntsa_assistant.storage.schema`` builds the Alembic ``Config`` in code and usually hands over an
open connection in ``config.attributes["connection"]``; otherwise (an ``alembic`` command
run by hand through ``schema.alembic_config``) this script opens its own async engine.
SQLite gets batch mode, so later ``ALTER TABLE`` revisions work there too.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from ntsa_assistant.storage.engine import create_engine
from ntsa_assistant.storage.models import Base

target_metadata = Base.metadata


def run_migrations_offline() -> None:
    """Writes the SQL instead of running it (``alembic upgrade --sql``)."""
    url = context.config.get_main_option("sqlalchemy.url")
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=bool(url and url.startswith("sqlite")),
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    """Runs the pending revisions on one synchronous connection."""
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations(url: str) -> None:
    """Opens an async engine for this run only, and closes it."""
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        do_run_migrations(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: build the config with schema.alembic_config(url)")
    asyncio.run(run_async_migrations(url))


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
