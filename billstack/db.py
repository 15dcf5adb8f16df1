"""Database engine and sessions (SQLModel over SQLAlchemy).

SQLite by default (WAL, foreign keys on); PostgreSQL via BILLSTACK_DATABASE_URL.
The schema is owned by Alembic (`billstack db upgrade`), never by create_all.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session

from billstack.config import get_settings


def _normalise_url(url: str) -> str:
    # Accept the common `postgres://` spelling (Heroku-style) as well.
    if url.startswith("postgres://"):
        return "postgresql://" + url[len("postgres://") :]
    return url


@lru_cache(maxsize=8)
def engine_for(url: str) -> sa.Engine:
    url = _normalise_url(url)
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # noqa: ANN001
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def get_engine() -> sa.Engine:
    return engine_for(get_settings().resolved_database_url)


def unreachable_reason(url: str) -> str | None:
    """None when the database at `url` answers; otherwise a one-line reason (no password)."""
    shown = sa.engine.make_url(url).render_as_string(hide_password=True)
    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return f"database not reachable at {shown}: {type(exc).__name__}: {str(exc).splitlines()[0]}"


@contextmanager
def session_scope() -> Iterator[Session]:
    """A unit of work: commit on success, roll back on any error."""
    with Session(get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
