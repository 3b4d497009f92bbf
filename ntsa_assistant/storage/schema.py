"""Schema migrations: bring any database (SQLite or PostgreSQL) to the newest revision.

The Alembic configuration is built in code (no ``alembic.ini``); the revisions live in
``ntsa_assistant/migrations/versions``. To write a new revision by hand or autogenerate
one, from the repository root::

    .venv/bin/python -c "from alembic import command; from ntsa_assistant.storage.schema import \
alembic_config; command.revision(alembic_config('sqlite:///var/dev.db'), 'what', \
autogenerate=True)"
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from ntsa_assistant.storage.engine import create_engine, normalise_url

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

# Any fixed number: every process that upgrades a PostgreSQL database takes this lock first,
# so two services starting together do not both create the same tables.
_PG_LOCK_KEY = 0x6E747361  # "ntsa"


def alembic_config(url: str) -> Config:
    """An Alembic config for ``url`` pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser treats "%" as interpolation: URL-encoded passwords need it doubled.
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def _upgrade_on(connection: Connection, config: Config) -> None:
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def upgrade_schema(url: str) -> None:
    """Upgrades the database at ``url`` to head; does nothing when it is already there."""
    config = alembic_config(url)
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY}
                )
            await connection.run_sync(_upgrade_on, config)
    finally:
        await engine.dispose()
    logger.info("database schema is at head")


def _revision_problem(connection: Connection, config: Config) -> str | None:
    head = ScriptDirectory.from_config(config).get_current_head()
    current = MigrationContext.configure(connection).get_current_revision()
    if current == head:
        return None
    return (
        f"the database schema is at revision {current or 'none'}, not {head}: "
        "run 'ntsa-assistant migrate' (make run does it)"
    )


async def schema_problem(engine: AsyncEngine) -> str | None:
    """What keeps this database from serving (unreachable, or schema not at head); None if ok.

    Entry points call it at start so an operator reads the cause in one log line."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_revision_problem, config)
    except (OSError, SQLAlchemyError) as exc:
        return f"the database is unreachable ({type(exc).__name__}: {exc})"
