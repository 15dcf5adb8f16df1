"""The session-create fast path's statements, counted: one SELECT, then the writes as
separate statements on SQLite (in-process, they cost nothing extra) and as one
statement on PostgreSQL; there, once the process has seen the key pass, the SELECT goes
into that statement too (one round trip per creation). A refactoring must not add any."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event as sa_event
from sqlmodel import Session, select

from billstack.clock import utcnow
from billstack.config import reset_settings
from billstack.db import engine_for
from billstack.errors import BillStackError
from billstack.models import ApiKey, AuditEvent, PortalSession
from billstack.secrets_box import digest
from billstack.services import sessions
from billstack.services.sessions import creation, storage
from tests.api.conftest import Tenant, mirror_subscription


class _CountingCursor:
    def __init__(self, cursor: Any, seen: list[str]) -> None:
        self._cursor, self._seen = cursor, seen

    def execute(self, statement: str, params: Any = None) -> Any:
        self._seen.append(statement.split()[0].upper())
        return self._cursor.execute(statement) if params is None else self._cursor.execute(statement, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


class _CountingConnection:
    """The driver connection, its cursors counting statements (attributes pass through)."""

    def __init__(self, raw: Any, seen: list[str]) -> None:
        object.__setattr__(self, "_raw", raw)
        object.__setattr__(self, "_seen", seen)

    def cursor(self) -> _CountingCursor:
        return _CountingCursor(self._raw.cursor(), self._seen)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._raw, name, value)


class _CountingPool:
    def __init__(self, pooled: Any, seen: list[str]) -> None:
        self._pooled = pooled
        self.driver_connection = _CountingConnection(pooled.driver_connection, seen)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pooled, name)


def test_one_creation_is_one_select_and_the_fewest_writes(tenant: Tenant, db_url: str, monkeypatch) -> None:
    seen: list[str] = []
    real = creation.raw_connection
    monkeypatch.setattr(creation, "raw_connection", lambda engine: _CountingPool(real(engine), seen))
    monkeypatch.setattr(storage, "_passed", {})  # this process has not seen the key yet
    request = sessions.SessionRequest(team_id=tenant.team_id, project_id=tenant.project_id, api_key=tenant.api_key,
                                      customer_id=tenant.customer_id)
    sqlite = db_url.startswith("sqlite")
    for first in (True, False):  # the key's last use is written at most once a minute
        seen.clear()
        sessions.create_committed(request)
        if sqlite:
            expected = ["BEGIN", "SELECT", "INSERT", "INSERT"] + (["UPDATE"] if first else [])
        else:  # autocommit: no BEGIN or COMMIT round trips; a key seen to pass needs no SELECT
            expected = ["SELECT", "WITH"] if first else ["WITH"]
        assert seen == expected
    if not sqlite:
        for _ in range(3):
            seen.clear()
            sessions.create_committed(request)
            assert seen == ["WITH"]  # one round trip per creation


def test_on_postgresql_a_seen_key_creates_in_one_round_trip_and_writes_it_all(
    tenant: Tenant, db_url: str, monkeypatch
) -> None:
    """The one statement writes what the two did: the session, its audit row and the key's
    last use (here due again, as a minute has passed)."""
    if db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's one-statement creation; SQLite keeps its separate statements")
    seen: list[str] = []
    real = creation.raw_connection
    monkeypatch.setattr(creation, "raw_connection", lambda engine: _CountingPool(real(engine), seen))
    request = sessions.SessionRequest(team_id=tenant.team_id, project_id=tenant.project_id, api_key=tenant.api_key,
                                      customer_id=tenant.customer_id, return_url="https://a.example.com/back",
                                      locale="de", flow={"type": "payment_method_update"}, user_agent="probe/1")
    sessions.create_committed(request)
    sessions._last_used_written.clear()  # as if a minute had passed
    seen.clear()
    created = sessions.create_committed(dataclasses.replace(request, now=utcnow() + timedelta(minutes=2)))
    assert seen == ["WITH"]
    with Session(engine_for(db_url)) as db:
        stored = db.get(PortalSession, created.session_id)
        key = db.get(ApiKey, tenant.api_key_id)
        events = db.exec(select(AuditEvent).where(AuditEvent.session_id == created.session_id)).all()
    assert stored is not None and stored.token_hash == digest(created.token)
    assert (stored.customer_id, stored.api_key_id, stored.return_url, stored.locale, stored.flow) == (
        tenant.customer_id, tenant.api_key_id, "https://a.example.com/back", "de", '{"type": "payment_method_update"}')
    assert [(e.action, e.api_key_id, e.user_agent) for e in events] == [
        (sessions.AUDIT_CREATED, tenant.api_key_id, "probe/1")]
    assert key is not None and key.last_used_at == created.created_at


@pytest.mark.parametrize("api_key", ["object", None])
def test_without_a_key_string_it_is_still_one_select(tenant: Tenant, db_url: str, monkeypatch, api_key) -> None:
    seen: list[str] = []
    real = creation.raw_connection
    monkeypatch.setattr(creation, "raw_connection", lambda engine: _CountingPool(real(engine), seen))
    with Session(engine_for(db_url), expire_on_commit=False) as db:
        key = db.get(ApiKey, tenant.api_key_id) if api_key else None
    sessions.create_committed(sessions.SessionRequest(team_id=tenant.team_id, project_id=tenant.project_id,
                                                      api_key=key, customer_id=tenant.customer_id))
    assert seen.count("SELECT") == 1


def test_a_deep_link_to_a_subscription_adds_one_select_and_nothing_else(
    tenant: Tenant, db_url: str, monkeypatch
) -> None:
    seen: list[str] = []
    real = creation.raw_connection
    monkeypatch.setattr(creation, "raw_connection", lambda engine: _CountingPool(real(engine), seen))
    own = mirror_subscription(db_url, tenant, "sub_counted")
    flow = {"type": "subscription_cancel", "subscriptionId": own}
    base = {"team_id": tenant.team_id, "project_id": tenant.project_id, "api_key": tenant.api_key,
            "customer_id": tenant.customer_id}
    sessions.create_committed(sessions.SessionRequest(**base))  # the key's last use is written now, not below
    seen.clear()

    sessions.create_committed(sessions.SessionRequest(**base))
    without_flow = list(seen)
    seen.clear()
    sessions.create_committed(sessions.SessionRequest(**base, flow=flow))

    # SQLite: the key's SELECT and the owner's. PostgreSQL: the same (the owner's SELECT
    # must come first), where without a deep link the key's went into the writes' statement.
    assert seen.count("SELECT") == 2
    assert without_flow.count("SELECT") == (1 if db_url.startswith("sqlite") else 0)
    assert [s for s in seen if s != "SELECT"] == [s for s in without_flow if s != "SELECT"]
    seen.clear()
    sessions.create_committed(sessions.SessionRequest(**base, flow={"type": "payment_method_update"}))
    assert seen == without_flow  # only a subscription deep link is looked up


@pytest.mark.asyncio
async def test_on_postgresql_a_burst_waits_for_the_kept_connections(
    tenant: Tenant, db_url: str, monkeypatch
) -> None:
    """More creations at once than the pool keeps connections: the others wait for one on
    the loop instead of opening overflow connections (each a server process, closed again
    on return). Each creation holds its connection a while (a slow query's shape), so
    without the wait the burst would overlap far beyond the pool."""
    if db_url.startswith("sqlite"):
        pytest.skip("SQLite creations run on the loop in its group commit, not in pooled threads")
    engine = engine_for(db_url)
    real_create_on = creation.create_on

    def slow_create_on(raw: Any, *args: Any, **kwargs: Any) -> Any:
        with raw.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(0.02)")
        return real_create_on(raw, *args, **kwargs)

    monkeypatch.setattr(creation, "create_on", slow_create_on)
    in_use, most = 0, 0

    def checked_out(*_args: Any) -> None:
        nonlocal in_use, most
        in_use += 1
        most = max(most, in_use)

    def checked_in(*_args: Any) -> None:
        nonlocal in_use
        in_use -= 1

    sa_event.listen(engine, "checkout", checked_out)
    sa_event.listen(engine, "checkin", checked_in)
    try:
        burst = 4 * engine.pool.size()
        created = await asyncio.gather(*(sessions.create_async(sessions.SessionRequest(
            team_id=tenant.team_id, project_id=tenant.project_id, api_key=tenant.api_key,
            customer_id=tenant.customer_id)) for _ in range(burst)))
    finally:
        sa_event.remove(engine, "checkout", checked_out)
        sa_event.remove(engine, "checkin", checked_in)
    assert len({c.session_id for c in created}) == burst
    assert 1 <= most <= engine.pool.size()


@pytest.mark.asyncio
async def test_on_postgresql_no_kept_connection_in_time_is_503_database_busy(
    tenant: Tenant, db_url: str, monkeypatch
) -> None:
    """Waiting for a kept connection is bounded as waiting for the pool is:
    BILLSTACK_DB_POOL_TIMEOUT_S, then 503 database_busy and nothing written."""
    if db_url.startswith("sqlite"):
        pytest.skip("SQLite creations run on the loop in its group commit, not in pooled threads")
    monkeypatch.setenv("BILLSTACK_DB_POOL_TIMEOUT_S", "0.05")
    reset_settings()
    limiter = creation._pooled_threads(engine_for(db_url))
    assert limiter is not None
    holders = [object() for _ in range(int(limiter.total_tokens))]
    for holder in holders:  # every kept connection in use
        limiter.acquire_on_behalf_of_nowait(holder)
    request = sessions.SessionRequest(team_id=tenant.team_id, project_id=tenant.project_id, api_key=tenant.api_key,
                                      customer_id=tenant.customer_id)
    try:
        with pytest.raises(BillStackError) as busy:
            await sessions.create_async(request)
    finally:
        for holder in holders:
            limiter.release_on_behalf_of(holder)
    assert (busy.value.status, busy.value.code) == (503, "database_busy")
    with Session(engine_for(db_url)) as db:
        assert db.exec(select(PortalSession).where(PortalSession.project_id == tenant.project_id)).first() is None
    assert (await sessions.create_async(request)).session_id  # served again once one is free
