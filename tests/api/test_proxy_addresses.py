"""Behind a trusted proxy each customer keeps their own address: rate limits and audit
events see the X-Forwarded-For client; an untrusted sender's header is ignored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from sqlmodel import Session, select

from api_routes import create_api
from api_routes.fast_paths import FastPaths
from billstack.config import reset_settings
from billstack.db import engine_for
from billstack.models import AuditEvent
from tests.api.conftest import Tenant, assert_error

pytestmark = pytest.mark.asyncio

PROXY = "203.0.113.7"  # the peer every request of these clients comes from
FAILURE_BUDGET = 30  # BILLSTACK_RATE_LIMIT_TOKEN_FAILURES_PER_MINUTE's default
BAD_LINK = "/api/portal/eyJhbGciOiJIUzI1NiJ9.eyJzaWQiOiJub3BlIn0.bm9wZQ"


@asynccontextmanager
async def served(trusted: str | None) -> AsyncIterator[httpx.AsyncClient]:
    """The served stack (FastPaths in front) with BILLSTACK_TRUSTED_PROXIES=`trusted`, reached from PROXY."""
    with pytest.MonkeyPatch.context() as patch:
        if trusted is not None:
            patch.setenv("BILLSTACK_TRUSTED_PROXIES", trusted)
        reset_settings()
        app = FastPaths(create_api())
    reset_settings()
    transport = httpx.ASGITransport(app=app, client=(PROXY, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://billstack.test") as client:
        yield client


def forwarded(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": f"{address}, {PROXY}", "X-Forwarded-Proto": "https"}


async def test_behind_a_trusted_proxy_each_address_has_its_own_failure_budget(tenant: Tenant) -> None:
    async with served(trusted="203.0.113.0/24") as client:
        for _ in range(FAILURE_BUDGET):
            assert_error(await client.get(BAD_LINK, headers=forwarded("198.51.100.1")), 401)
        assert_error(await client.get(BAD_LINK, headers=forwarded("198.51.100.1")), 429, "rate_limited")
        # Another customer behind the same proxy is not limited by the first one's failures.
        assert_error(await client.get(BAD_LINK, headers=forwarded("198.51.100.2")), 401, "token_invalid")


async def test_an_untrusted_senders_forwarded_for_is_ignored(tenant: Tenant) -> None:
    async with served(trusted=None) as client:  # the default: no proxy trusted
        for n in range(FAILURE_BUDGET):  # a different forged address each time: all counted against the peer
            assert_error(await client.get(BAD_LINK, headers=forwarded(f"198.51.100.{n + 1}")), 401)
        assert_error(await client.get(BAD_LINK, headers=forwarded("198.51.100.200")), 429, "rate_limited")
    async with served(trusted="10.0.0.0/8") as client:  # a proxy is trusted, but not this peer
        assert_error(await client.get(BAD_LINK, headers=forwarded("198.51.100.201")), 429, "rate_limited")


async def test_audit_events_record_the_forwarded_address(db_url: str, tenant: Tenant) -> None:
    async with served(trusted=PROXY) as client:
        created = await client.post(tenant.portal_path, headers={**tenant.auth, **forwarded("198.51.100.42")},
                                    json={"customerId": tenant.customer_id})
        assert created.status_code == 200, created.text
        path = f"{tenant.portal_path}/{created.json()['sessionId']}"
        revoked = await client.delete(path, headers={**tenant.auth, **forwarded("198.51.100.43")})
        assert revoked.status_code == 200, revoked.text
    with Session(engine_for(db_url)) as db:
        events = db.exec(select(AuditEvent).where(AuditEvent.session_id == created.json()["sessionId"])
                         .order_by(AuditEvent.id)).all()
    assert [(e.action, e.client_ip) for e in events] == [
        ("portal_session.created", "198.51.100.42"), ("portal_session.revoked", "198.51.100.43")]
