"""A database pool with no connection free answers 503 `database_busy` in the error shape,
never a 500: on the session API's fast path, the portal API and a framework route alike."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa

from billstack.config import reset_settings
from billstack.db import engine_for, get_engine, session_scope
from billstack.services import sessions
from tests.api.conftest import Tenant, assert_error

pytestmark = pytest.mark.asyncio


@pytest.fixture
def one_connection_pool(tenant: Tenant, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[sa.Engine]:
    """The app's engine rebuilt with one connection and a 0.2 s wait for it."""
    for name, value in (("DB_POOL_SIZE", "1"), ("DB_MAX_OVERFLOW", "0"), ("DB_POOL_TIMEOUT_S", "0.2")):
        monkeypatch.setenv(f"BILLSTACK_{name}", value)
    reset_settings()
    engine_for(db_url).dispose()
    engine_for.cache_clear()
    engine = get_engine()
    yield engine
    engine.dispose()
    engine_for.cache_clear()  # the next test builds its engine with the usual pool


def _portal_token(tenant: Tenant) -> tuple[str, str]:
    with session_scope() as db:
        created = sessions.create_portal_session(
            db, team_id=tenant.team_id, project_id=tenant.project_id, api_key=None, customer_id=tenant.customer_id
        )
        return created.session_id, created.token


async def test_no_free_connection_is_a_503_database_busy_everywhere(
    client: httpx.AsyncClient, tenant: Tenant, one_connection_pool: sa.Engine
) -> None:
    session_id, token = _portal_token(tenant)

    async def requests() -> list[httpx.Response]:
        """A session creation (the fast path), a portal API read, a revocation (a framework route)."""
        return [
            await client.post(tenant.portal_path, headers=tenant.auth, json={"customerId": tenant.customer_id}),
            await client.get(f"/api/portal/{token}/invoices"),
            await client.delete(f"{tenant.portal_path}/{session_id}", headers=tenant.auth),
        ]

    with one_connection_pool.connect():  # someone else holds the only connection
        for response in await requests():
            assert_error(response, 503, "database_busy")
            assert response.json()["error"]["type"] == "api_error"
            assert int(response.headers["retry-after"]) >= 1

    assert [response.status_code for response in await requests()] == [200, 200, 200]
    assert one_connection_pool.pool.checkedout() == 0
