"""Throwaway databases for the tests and the benchmarks (never imported by the served app).

`PG_ADMIN_URL` is the PostgreSQL server both use (BILLSTACK_TEST_PG_URL, default the local
trust-auth `test` database); the benchmarks may point elsewhere with BILLSTACK_BENCH_PG_URL.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from billstack import db

PG_ADMIN_URL = os.environ.get("BILLSTACK_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


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


def database_url(admin_url: str, name: str) -> str:
    """`admin_url` with its database replaced by `name` (password kept: it is for connecting)."""
    return sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def create_database(admin_url: str, name: str) -> str:
    """Creates database `name` on `admin_url`'s server; returns its URL."""
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    return database_url(admin_url, name)


def drop_database(admin_url: str, name: str) -> None:
    """Drops database `name` if it exists, ending any sessions still connected to it."""
    db.engine_for.cache_clear()  # forget cached engines: the next engine_for(url) must not reuse them
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def throwaway_database(admin_url: str, prefix: str) -> Iterator[str]:
    """The URL of a new, empty database `<prefix>_<random>`, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    url = create_database(admin_url, name)
    try:
        yield url
    finally:
        drop_database(admin_url, name)
