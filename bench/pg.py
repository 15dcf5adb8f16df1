"""PostgreSQL for the benchmarks: is it reachable, throwaway databases, the kept scale database."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from bench.common import Skipped
from billstack.db import unreachable_reason

ADMIN_URL = os.environ.get(
    "BILLSTACK_BENCH_PG_URL",
    os.environ.get("BILLSTACK_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"),
)


def require_pg() -> None:
    """Skip the PostgreSQL part unless reachable; CI (BILLSTACK_REQUIRE_PG=1) makes it an error."""
    reason = unreachable_reason(ADMIN_URL)
    if reason is None:
        return
    if os.environ.get("BILLSTACK_REQUIRE_PG") == "1":
        raise RuntimeError(f"BILLSTACK_REQUIRE_PG=1 but {reason}")
    raise Skipped(reason)


def url_for(database: str) -> str:
    return sa.engine.make_url(ADMIN_URL).set(database=database).render_as_string(hide_password=False)


def _admin() -> sa.Engine:
    return sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")


def database_exists(name: str) -> bool:
    admin = _admin()
    try:
        with admin.connect() as conn:
            return (
                conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
                is not None
            )
    finally:
        admin.dispose()


def create_database(name: str) -> str:
    admin = _admin()
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return url_for(name)


def drop_database(name: str) -> None:
    from billstack.db import engine_for

    engine_for.cache_clear()  # pooled connections would block the drop
    admin = _admin()
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@contextmanager
def throwaway_database(prefix: str = "billstack_bench") -> Iterator[str]:
    """A fresh, empty database for this run, dropped afterwards; yields its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    url = create_database(name)
    try:
        yield url
    finally:
        drop_database(name)
