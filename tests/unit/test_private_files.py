"""The data folder holds customer data and secrets: nothing in it is readable by group or
others (the SQLite database with its WAL and shared-memory files, the development key)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import sqlalchemy as sa

from billstack.config import get_settings, reset_settings, resolve_secret_key
from billstack.db import engine_for
from billstack.migrate import SQLITE_LOCK_SUFFIX, migration_lock


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_sqlite_files_are_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh" / "data"
    engine = engine_for(f"sqlite:///{data_dir / 'billstack.db'}")
    with engine.connect() as conn:  # open: the -wal and -shm files exist meanwhile
        conn.exec_driver_sql("CREATE TABLE customer (email TEXT)")
        conn.exec_driver_sql("INSERT INTO customer VALUES ('ada@example.com')")
        conn.commit()
        files = sorted(p.name for p in data_dir.iterdir())
        assert files == ["billstack.db", "billstack.db-shm", "billstack.db-wal"]
        assert {name: mode(data_dir / name) for name in files} == dict.fromkeys(files, 0o600)
    engine.dispose()
    assert mode(data_dir) == 0o700


def test_an_existing_world_readable_database_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    path.touch(mode=0o644)
    path.chmod(0o644)
    engine = engine_for(f"sqlite:///{path}")
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")
    engine.dispose()
    assert mode(path) == 0o600


def test_the_development_key_folder_is_private(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("BILLSTACK_SECRET_KEY")
    monkeypatch.setenv("BILLSTACK_DATA_DIR", str(tmp_path / "dev-data"))
    reset_settings()
    resolve_secret_key(get_settings())
    assert mode(tmp_path / "dev-data") == 0o700
    assert mode(tmp_path / "dev-data" / "secret_key") == 0o600


def test_sqlite_engine_still_works_on_the_empty_file_it_created(tmp_path: Path) -> None:
    engine = engine_for(f"sqlite:///{tmp_path / 'empty.db'}")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM sqlite_master")).scalar() == 0
    engine.dispose()


def test_the_migration_lock_beside_the_database_is_private(tmp_path: Path) -> None:
    """The SQLite migration lock lives in the data folder with the database: 0600 too."""
    database = tmp_path / "data" / "billstack.db"
    with migration_lock(f"sqlite:///{database}"):
        lock = Path(f"{database}{SQLITE_LOCK_SUFFIX}")
        assert mode(lock) == 0o600
    assert mode(database.parent) == 0o700
