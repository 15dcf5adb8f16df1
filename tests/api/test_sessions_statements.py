"""The session-create fast path's statements, counted: one SELECT, then the writes as
separate statements on SQLite (in-process, they cost nothing extra) and as one
statement on PostgreSQL (one round trip). A refactoring must not add any."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session

from billstack.db import engine_for
from billstack.models import ApiKey
from billstack.services import sessions
from billstack.services.sessions import creation
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
    request = sessions.SessionRequest(team_id=tenant.team_id, project_id=tenant.project_id, api_key=tenant.api_key,
                                      customer_id=tenant.customer_id)
    sqlite = db_url.startswith("sqlite")
    for touches_key in (True, False):  # the key's last use is written at most once a minute
        seen.clear()
        sessions.create_committed(request)
        if sqlite:
            expected = ["BEGIN", "SELECT", "INSERT", "INSERT"] + (["UPDATE"] if touches_key else [])
        else:
            expected = ["SELECT", "WITH"]  # autocommit: no BEGIN or COMMIT round trips
        assert seen == expected


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

    assert seen.count("SELECT") == without_flow.count("SELECT") + 1 == 2
    assert [s for s in seen if s != "SELECT"] == [s for s in without_flow if s != "SELECT"]
    seen.clear()
    sessions.create_committed(sessions.SessionRequest(**base, flow={"type": "payment_method_update"}))
    assert seen == without_flow  # only a subscription deep link is looked up
