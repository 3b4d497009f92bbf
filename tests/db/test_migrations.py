"""The Alembic revisions build exactly the schema the models describe, on both backends.

This covers every revision, so a model change without its migration fails here.
"""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from ntsa_assistant.storage.engine import SessionFactory
from ntsa_assistant.storage.models import Base
from ntsa_assistant.storage.schema import alembic_config, upgrade_schema


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def test_schema_matches_the_models_after_repeated_upgrades(
    database_url: str, db_engine: AsyncEngine
) -> None:
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()

    await upgrade_schema(database_url)
    await upgrade_schema(database_url)

    async with db_engine.connect() as connection:
        assert await connection.run_sync(_differences) == []
        assert await connection.run_sync(_revision) == head


async def test_enum_check_constraints_exist(
    db_engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    insert = text(
        "INSERT INTO organisations (kra_pin, name, category, representative_id_number, "
        "link_status) VALUES ('P000000101A', 'X', 'spaceship', '21000101', 'linked')"
    )
    with pytest.raises(IntegrityError, match="ck_organisations_organisation_category"):
        async with db_engine.begin() as connection:
            await connection.execute(insert)
