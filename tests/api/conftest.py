"""Fixtures for the session API: tenants in a migrated database, and an in-process client.

Customers are inserted directly (fake `cus_…` ids): the session API calls Stripe only for
a deep link to a subscription the mirror does not know (tests/api/test_session_flows.py).
Everything here takes `db_url`, so each test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio
from sqlmodel import Session

from api_routes import create_api
from api_routes.fast_paths import FastPaths
from api_routes.security import policy_cache
from billstack.clock import utcnow
from billstack.db import engine_for
from billstack.ids import new_id
from billstack.models import Customer, Subscription
from billstack.services import ratelimit, sessions
from billstack.services.tenants import create_api_key, create_project, create_team


@dataclass
class Tenant:
    team_id: str
    project_id: str
    api_key: str
    api_key_id: str
    customer_id: str
    customer_email: str
    customer_name: str
    stripe_customer_id: str

    @property
    def portal_path(self) -> str:
        return f"/api/billstack/teams/{self.team_id}/projects/{self.project_id}/portal"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


def make_tenant(db: Session, *, team_id: str | None = None, label: str = "a", **project_options: object) -> Tenant:
    if team_id is None:
        team_id = create_team(db, name=f"Team {label}").id
    project = create_project(db, team_id=team_id, name=f"Project {label}", stripe_secret_key="sk_test_fake0000000000",
                             **project_options)
    key, plaintext = create_api_key(db, project_id=project.id)
    stripe_id = "cus_" + new_id("x")[2:]
    customer = Customer(id=new_id("pc"), project_id=project.id, stripe_customer_id=stripe_id,
                        email=f"ada.{label}@example.com", name=f"Ada Lovelace {label.upper()}")
    db.add(customer)
    db.commit()
    return Tenant(team_id, project.id, plaintext, key.id, customer.id, customer.email or "", customer.name or "",
                  stripe_id)


def mirror_subscription(db_url: str, tenant: Tenant, stripe_id: str, *, customer_id: str | None = None,
                        status: str = "active") -> str:
    """A subscription in the mirror (as a sync would have left it): a session's deep link to it
    is checked against the mirror, without Stripe."""
    with Session(engine_for(db_url)) as db:
        db.add(Subscription(project_id=tenant.project_id, customer_id=customer_id or tenant.customer_id,
                            stripe_id=stripe_id, status=status, product_name="Pro", created=utcnow()))
        db.commit()
    return stripe_id


@pytest.fixture(autouse=True)
def fresh_process_state() -> Iterator[None]:
    """Rate-limit buckets, cached frame-ancestors policies and last-used throttles are per process."""
    ratelimit.reset_all()
    policy_cache.clear()
    sessions._last_used_written.clear()
    yield
    ratelimit.reset_all()
    policy_cache.clear()
    sessions._last_used_written.clear()


@pytest.fixture
def tenant(db_url: str) -> Tenant:
    with Session(engine_for(db_url), expire_on_commit=False) as db:
        return make_tenant(db, label="a", default_return_url="https://a.example.com/account")


@pytest.fixture
def other_tenant(db_url: str, tenant: Tenant) -> Tenant:
    """Another team with its own project, key and customer."""
    with Session(engine_for(db_url), expire_on_commit=False) as db:
        return make_tenant(db, label="b")


@pytest.fixture
def sibling_tenant(db_url: str, tenant: Tenant) -> Tenant:
    """Another project of the same team."""
    with Session(engine_for(db_url), expire_on_commit=False) as db:
        return make_tenant(db, team_id=tenant.team_id, label="c")


@pytest.fixture
def api():
    """The API as `billstack serve` runs it: the session API's fast path in front."""
    return FastPaths(create_api())


@pytest_asyncio.fixture
async def client(api) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=api, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://billstack.test") as http:
        yield http


def assert_error(response: httpx.Response, status: int, code: str | None = None, param: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert {"type", "code", "message"} <= set(error) <= {"type", "code", "message", "param"}
    assert all(isinstance(error[k], str) and error[k] for k in ("type", "code", "message"))
    if code is not None:
        assert error["code"] == code, error
    if param is not None:
        assert error.get("param") == param, error
    assert "Traceback" not in response.text
    return error
