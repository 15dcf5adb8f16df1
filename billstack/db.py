"""Database engine and sessions (SQLModel over SQLAlchemy).

SQLite by default (WAL, foreign keys on); PostgreSQL via BILLSTACK_DATABASE_URL.
The schema is owned by Alembic (`billstack db upgrade`), never by create_all.

A connection is held only while the database is being used: nothing slow (a Stripe call
above all) may run while a unit of work has one (`release_connection`). When the pool
has none free within BILLSTACK_DB_POOL_TIMEOUT_S the request answers 503
`database_busy` (`session_scope`, `raw_connection`), never a 500.
"""

from __future__ import annotations

import os
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session

from billstack.config import get_settings
from billstack.errors import database_busy
from billstack.private_files import private_file

# Connections per engine (kept, extra under load) unless BILLSTACK_DB_POOL_SIZE /
# BILLSTACK_DB_MAX_OVERFLOW say otherwise. SQLite's are cheap (a file handle each); the
# pool only has to outnumber the threads that use it at once, so no request waits for one.
SQLITE_POOL = (20, 20)
POSTGRESQL_POOL = (10, 20)


def _normalise_url(url: str) -> str:
    # Accept the common `postgres://` spelling (Heroku-style) as well.
    if url.startswith("postgres://"):
        return "postgresql://" + url[len("postgres://") :]
    return url


# Every engine this process made, so a forked child can drop the pools it inherited.
_ENGINES: weakref.WeakSet[sa.Engine] = weakref.WeakSet()


def _drop_inherited_pools() -> None:
    """In a forked child (each `serve --workers N` worker): the parent's pooled connections
    (the migrations `serve` runs first) are not ours to use. Two processes on one socket
    corrupt each other's replies; each engine gets a fresh pool, the parent's are left alone."""
    for engine in list(_ENGINES):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_drop_inherited_pools)


@lru_cache(maxsize=8)
def engine_for(url: str) -> sa.Engine:
    engine = _new_engine(url)
    _ENGINES.add(engine)
    return engine


def _new_engine(url: str) -> sa.Engine:
    url = _normalise_url(url)
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            private_file(Path(path))  # customer data: 0600 (SQLite's own default is 0644)
        engine = sa.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **_pool_options(SQLITE_POOL)
        )

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # noqa: ANN001
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    engine = sa.create_engine(url, **_pool_options(POSTGRESQL_POOL))
    _ping_connections_that_sat_idle(engine)
    return engine


def _pool_options(default: tuple[int, int]) -> dict[str, float]:
    settings = get_settings()
    size, overflow = default
    return {
        "pool_size": size if settings.db_pool_size is None else settings.db_pool_size,
        "max_overflow": overflow if settings.db_max_overflow is None else settings.db_max_overflow,
        "pool_timeout": settings.db_pool_timeout_s,
    }


# A pooled connection is pinged before use only when it has sat idle this long (as
# HikariCP's alive-bypass window): one just returned by another request worked a moment
# ago, and a ping per checkout (pool_pre_ping) is one more round trip per request —
# a fifth of the session API's throughput on PostgreSQL.
PING_IF_IDLE_FOR_S = 0.5
_now = time.monotonic  # tests move the clock instead of sleeping


def _ping_connections_that_sat_idle(engine: sa.Engine) -> None:
    @sa.event.listens_for(engine, "checkin")
    def _note_checkin(_dbapi_connection, record):
        record.info["checked_in_at"] = _now()

    @sa.event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection, record, _proxy):
        checked_in_at = record.info.get("checked_in_at")
        if checked_in_at is None or _now() - checked_in_at < PING_IF_IDLE_FOR_S:
            return  # new, or in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            if engine.dialect.is_disconnect(exc, dbapi_connection, None):
                # The pool replaces this connection and every older one (the server restarted).
                raise sa.exc.InvalidatePoolError(f"pooled connection is gone: {exc}") from exc
            raise


def get_engine() -> sa.Engine:
    return engine_for(get_settings().resolved_database_url)


@contextmanager
def session_scope() -> Iterator[Session]:
    """A unit of work: commit on success, roll back on any error; 503 `database_busy` when
    no connection came free in time."""
    with _pool_timeout_is_busy(), Session(get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def release_connection(db: Session) -> None:
    """Commit the unit of work so far and give its connection back to the pool.

    Call it before anything slow that needs no database, a Stripe call above all: no
    connection, transaction, row lock or SQLite write lock then waits on the network.
    Objects stay usable (sessions are made with expire_on_commit=False); the next
    statement takes a connection again.
    """
    db.commit()


def refused_value(exc: BaseException | None) -> bool:
    """Whether `exc` (or what caused it) is the database refusing a value a request carried:
    SQLSTATE class 22, "data exception" (a NUL character in text, a number out of range, text
    too long for its column). Only PostgreSQL refuses these (SQLite stores and compares
    anything); the API answers them with a 400 (api_routes/errors.py), not a 500."""
    import psycopg  # the PostgreSQL driver, loaded with the first PostgreSQL engine anyway

    for _ in range(8):  # the chain: SQLAlchemy's wrapper, the driver's error, what raised it
        if exc is None:
            return False
        if isinstance(exc, sa.exc.DataError | psycopg.DataError):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def raw_connection(engine: sa.Engine) -> sa.PoolProxiedConnection:
    """A pooled driver connection (the session API's fast path), or 503 `database_busy`."""
    with _pool_timeout_is_busy():
        return engine.raw_connection()


def pool_has_room(engine: sa.Engine) -> bool:
    """Whether a connection can be had without waiting (for code on an event loop, which
    must never wait for the pool). QueuePool only; other pools always say yes."""
    pool = engine.pool
    if not isinstance(pool, sa.pool.QueuePool):
        return True
    limit = pool._max_overflow  # QueuePool exposes it no other way
    # As QueuePool decides whether to wait: an idle connection, or room to open another.
    return pool.checkedin() > 0 or limit == -1 or pool.overflow() < limit


@contextmanager
def _pool_timeout_is_busy() -> Iterator[None]:
    try:
        yield
    except sa.exc.TimeoutError as exc:  # QueuePool: no connection came free within pool_timeout
        raise database_busy() from exc
