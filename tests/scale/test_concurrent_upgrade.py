"""Hosts starting together on one empty database: every `billstack db upgrade` succeeds and
the schema ends at the latest revision, because each waits for the migration lock (a
PostgreSQL advisory lock; a file lock beside a SQLite database)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from billstack.migrate import current_heads
from tests.conftest import throwaway_pg_database
from tests.scale.racing import run_together

ROUNDS = 3  # the unlocked race lost in 3 of 3 rounds when measured; several rounds keep this honest
PROCESSES = 2


def alembic_versions(url: str) -> set[str]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return {row[0] for row in conn.execute(sa.text("SELECT version_num FROM alembic_version"))}
    finally:
        engine.dispose()


def assert_all_upgraded(url: str, tmp_path: Path) -> None:
    outcomes = run_together(["db", "upgrade"], {"BILLSTACK_DATABASE_URL": url}, PROCESSES, tmp_path / "go")
    for outcome in outcomes:
        assert outcome.returncode == 0, outcome.output
        assert "Traceback" not in outcome.output, outcome.output
    assert alembic_versions(url) == current_heads()
    # One did the work, the others waited and found nothing to do.
    assert sum("nothing to do" in outcome.output for outcome in outcomes) == PROCESSES - 1, outcomes


@pytest.mark.pg
@pytest.mark.parametrize("round_", range(ROUNDS))
def test_concurrent_upgrades_on_an_empty_postgresql_database(round_: int, tmp_path: Path) -> None:
    with throwaway_pg_database("billstack_race") as url:
        assert_all_upgraded(url, tmp_path)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_concurrent_upgrades_on_a_new_sqlite_database(round_: int, tmp_path: Path) -> None:
    assert_all_upgraded(f"sqlite:///{tmp_path / 'data' / 'billstack.db'}", tmp_path)
