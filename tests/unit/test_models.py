"""What ``Base`` promises the type checker: every model maps a table of its own."""

from __future__ import annotations

from sqlalchemy import Table

from ntsa_assistant.storage.models import Base


def test_every_model_maps_a_table_of_its_own() -> None:
    tables = {mapper.class_.__name__: mapper.class_.__table__ for mapper in Base.registry.mappers}
    assert all(isinstance(table, Table) for table in tables.values()), tables
    assert sorted(table.name for table in tables.values()) == sorted(Base.metadata.tables)
