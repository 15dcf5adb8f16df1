"""PostgreSQL for the benchmarks: is it reachable, throwaway databases, the kept scale database."""

from __future__ import annotations

import os
from contextlib import AbstractContextManager

import sqlalchemy as sa

from bench.common import Skipped
from devtools import database as db

ADMIN_URL = os.environ.get(
    "BILLSTACK_BENCH_PG_URL",
    db.PG_ADMIN_URL,
)


def require_pg() -> None:
    """Skip the PostgreSQL part unless reachable; CI (BILLSTACK_REQUIRE_PG=1) makes it an error."""
    reason = db.unreachable_reason(ADMIN_URL)
    if reason is None:
        return
    if os.environ.get("BILLSTACK_REQUIRE_PG") == "1":
        raise RuntimeError(f"BILLSTACK_REQUIRE_PG=1 but {reason}")
    raise Skipped(reason)


def database_exists(name: str) -> bool:
    admin = sa.create_engine(ADMIN_URL, poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        found = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
    return found is not None


def create_database(name: str) -> str:
    return db.create_database(ADMIN_URL, name)


def drop_database(name: str) -> None:
    db.drop_database(ADMIN_URL, name)


def throwaway_database(prefix: str = "billstack_bench") -> AbstractContextManager[str]:
    """A fresh, empty database for this run, dropped afterwards; yields its URL."""
    return db.throwaway_database(ADMIN_URL, prefix)
