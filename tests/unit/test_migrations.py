"""The schema comes from migrations, and the migrations match the models."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from billstack.db import engine_for
from billstack.migrate import current_heads


def test_upgrade_from_empty_creates_every_table(db_url: str) -> None:
    tables = set(sa.inspect(engine_for(db_url)).get_table_names())
    expected = {t.name for t in SQLModel.metadata.sorted_tables}
    assert expected <= tables
    assert "alembic_version" in tables


def test_database_is_at_the_single_head_revision(db_url: str) -> None:
    with engine_for(db_url).connect() as conn:
        assert set(MigrationContext.configure(conn).get_current_heads()) == current_heads()
    assert len(current_heads()) == 1, "migrations must not branch"


def test_models_and_migrations_agree(db_url: str) -> None:
    with engine_for(db_url).connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == [], f"models differ from the migrated schema; write a migration: {diff}"
