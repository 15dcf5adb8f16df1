"""PostgreSQL pool: connections are pinged before use only after sitting idle, and a dead one is replaced."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from billstack import db as billstack_db

pytestmark = pytest.mark.pg


@pytest.fixture
def engine(pg_database: str) -> Iterator[sa.Engine]:
    engine = billstack_db.engine_for.__wrapped__(pg_database)  # a pool of its own
    yield engine
    engine.dispose()


@pytest.fixture
def pings(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    made: list[int] = []
    real_ping = engine.dialect.do_ping

    def counted_ping(dbapi_connection) -> bool:
        made.append(dbapi_connection.info.backend_pid)
        return real_ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted_ping)
    return made


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(billstack_db, "_now", lambda: now[0])
    return now


def backend_pid(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()


def test_a_connection_used_a_moment_ago_is_not_pinged(engine, pings, clock) -> None:
    first = backend_pid(engine)
    clock[0] += billstack_db.PING_IF_IDLE_FOR_S / 2
    assert backend_pid(engine) == first  # the same pooled connection
    assert pings == []


def test_an_idle_connection_is_pinged_before_use(engine, pings, clock) -> None:
    first = backend_pid(engine)
    clock[0] += billstack_db.PING_IF_IDLE_FOR_S + 0.1
    assert backend_pid(engine) == first
    assert pings == [first]


def test_an_idle_connection_the_server_closed_is_replaced(engine, pings, clock, pg_database: str) -> None:
    dead = backend_pid(engine)
    admin = sa.create_engine(pg_database, poolclass=sa.pool.NullPool)
    with admin.connect() as conn:  # as a server restart would (waits up to 5 s for it to end)
        assert conn.exec_driver_sql(f"SELECT pg_terminate_backend({dead}, 5000)").scalar_one()
    admin.dispose()
    clock[0] += billstack_db.PING_IF_IDLE_FOR_S + 0.1
    fresh = backend_pid(engine)  # no error: the ping found it dead and the pool reconnected
    assert fresh != dead
    assert pings == [dead]
