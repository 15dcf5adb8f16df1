"""Shared fixtures: an isolated settings/environment per test, and a migrated database.

Tests that take the `db_url` (or `db`) fixture run twice: on SQLite, and on
PostgreSQL when it is reachable (BILLSTACK_TEST_PG_URL, default
postgresql://postgres@127.0.0.1:5432/test). When it is not, the PostgreSQL pass skips
with the reason; with BILLSTACK_REQUIRE_PG=1 (CI) it fails instead.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, SQLModel

from billstack.config import reset_settings
from billstack.db import engine_for
from billstack.migrate import upgrade
from billstack.services.webhooks import worker_thread
from devtools.database import PG_ADMIN_URL, throwaway_database, unreachable_reason

TEST_SECRET_KEY = "test-secret-key-" + "x" * 40


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Each test gets its own data folder, a fixed secret key and no stray BILLSTACK_* env."""
    for name in list(os.environ):
        if name.startswith("BILLSTACK_") and name not in ("BILLSTACK_TEST_PG_URL", "BILLSTACK_REQUIRE_PG"):
            monkeypatch.delenv(name)
    data_dir = tmp_path / "data"
    monkeypatch.setenv("BILLSTACK_DATA_DIR", str(data_dir))
    monkeypatch.setenv("BILLSTACK_SECRET_KEY", TEST_SECRET_KEY)
    monkeypatch.chdir(tmp_path)  # so no developer `.env` leaks into a test
    reset_settings()
    yield data_dir
    # A webhook a test delivered woke the process's worker thread; stop it here, or it keeps
    # polling with the next test's settings (and creates an empty database in its data dir).
    worker_thread.worker.stop()  # the process's own instance, whatever a test put in its place
    reset_settings()


# --- database templates, migrated once per test run ---------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    # Fold the WAL into the file so a plain copy carries the whole schema.
    with engine_for(url).connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine_for(url).dispose()
    return path


@contextmanager
def throwaway_pg_database(prefix: str) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped afterwards; skips (or fails,
    with BILLSTACK_REQUIRE_PG=1) with the reason when the server is unreachable."""
    reason = unreachable_reason(PG_ADMIN_URL)
    if reason:
        if os.environ.get("BILLSTACK_REQUIRE_PG") == "1":
            pytest.fail(f"BILLSTACK_REQUIRE_PG=1 but {reason}")
        pytest.skip(reason)
    with throwaway_database(PG_ADMIN_URL, prefix) as url:
        yield url


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A throwaway PostgreSQL database for this test run, migrated once."""
    with throwaway_pg_database("billstack_test") as url:
        upgrade(url)
        yield url


def _truncate_all(url: str) -> None:
    tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with engine_for(url).begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def db_url(request: pytest.FixtureRequest, isolated_settings: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A migrated, empty database; BILLSTACK_DATABASE_URL points at it."""
    if request.param == "sqlite":
        isolated_settings.mkdir(parents=True, exist_ok=True)
        path = isolated_settings / "billstack.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("pg_database")
        _truncate_all(url)
    monkeypatch.setenv("BILLSTACK_DATABASE_URL", url)
    reset_settings()
    return url


@pytest.fixture
def db(db_url: str) -> Iterator[Session]:
    """A session on the test database (commit to make writes visible to the code under test)."""
    with Session(engine_for(db_url), expire_on_commit=False) as session:
        yield session


# --- the Stripe emulator --------------------------------------------------------------


@pytest.fixture(scope="session")
def emulator_url() -> Iterator[str]:
    """A real emulator server on a free loopback port for the whole test run."""
    from devtools.emulator import running_emulator

    with running_emulator() as url:
        yield url
