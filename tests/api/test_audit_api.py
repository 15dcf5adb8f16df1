"""`GET …/projects/{projectId}/audit-events` (issue 18): the audit trail with the project's API
key — auth as the customers API, filters, keyset pages, 400 for bad queries, the documented
shape — and the caller's user agent on session creation and revocation rows.

In-process through the fast path (tests/api/conftest.py `client`), on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from api_routes.audit import AuditEventList
from billstack import routes
from billstack.db import engine_for, session_scope
from billstack.models import AuditEvent
from billstack.services import audit
from tests.api.conftest import Tenant, assert_error
from tests.portal_world import World, world  # noqa: F401 - world is a fixture

pytestmark = pytest.mark.asyncio

UA = {"User-Agent": "SaaSBackend/2.1 (+https://app.example.com)"}
START = datetime(2026, 3, 1, tzinfo=UTC)


def _path(tenant: Tenant) -> str:
    return routes.audit_events_path(tenant.team_id, tenant.project_id)


def _seed(db_url: str, tenant: Tenant, count: int, *, customer_id: str | None = None,
          action: str = "subscription.resumed", outcome: str = audit.OUTCOME_OK) -> None:
    with Session(engine_for(db_url)) as db:
        for i in range(count):
            audit.record(db, action, project_id=tenant.project_id, customer_id=customer_id or tenant.customer_id,
                         session_id="portal_sess_x", client_ip="198.51.100.9", user_agent="Browser/1",
                         stripe_object_id=f"sub_{i}", outcome=outcome, detail={"n": i},
                         now=START + timedelta(hours=i))
        db.commit()


async def _get(client, tenant: Tenant, **params):
    return await client.get(_path(tenant), params=params, headers=tenant.auth)


async def test_events_come_newest_first_in_the_documented_shape(client, tenant: Tenant, db_url: str) -> None:
    _seed(db_url, tenant, 3)
    response = await _get(client, tenant, action="subscription.resumed")

    assert response.status_code == 200, response.text
    body = response.json()
    AuditEventList.model_validate(body)  # what OpenAPI documents
    assert set(body) == {"object", "data", "hasMore"} and body["object"] == "list" and body["hasMore"] is False
    assert [e["stripeObjectId"] for e in body["data"]] == ["sub_2", "sub_1", "sub_0"]
    assert body["data"][0] == {
        "id": body["data"][0]["id"], "action": "subscription.resumed", "outcome": "ok",
        "projectId": tenant.project_id, "customerId": tenant.customer_id, "sessionId": "portal_sess_x",
        "apiKeyId": None, "stripeObjectId": "sub_2", "clientIp": "198.51.100.9", "userAgent": "Browser/1",
        "createdAt": "2026-03-01T02:00:00Z", "detail": {"n": 2},
    }


async def test_pages_with_limit_and_starting_after(client, tenant: Tenant, db_url: str) -> None:
    _seed(db_url, tenant, 7)
    seen, cursor = [], None
    while True:
        params = {"limit": 3, "action": "subscription.resumed", **({"startingAfter": cursor} if cursor else {})}
        body = (await _get(client, tenant, **params)).json()
        seen += body["data"]
        assert len(body["data"]) <= 3
        if not body["hasMore"]:
            break
        cursor = body["data"][-1]["id"]
    assert [e["stripeObjectId"] for e in seen] == [f"sub_{i}" for i in reversed(range(7))]
    assert len({e["id"] for e in seen}) == 7


async def test_filters_customer_action_and_time(client, tenant: Tenant, db_url: str) -> None:
    _seed(db_url, tenant, 4)
    _seed(db_url, tenant, 2, customer_id="pc_someone_else", action="customer.tax_id_added",
          outcome=audit.OUTCOME_FAILED)

    other = (await _get(client, tenant, customerId="pc_someone_else")).json()["data"]
    assert [(e["action"], e["outcome"]) for e in other] == [("customer.tax_id_added", "failed")] * 2
    window = (await _get(client, tenant, action="subscription.resumed", since="2026-03-01T01:00:00Z",
                         until="2026-03-01T03:00:00Z")).json()["data"]
    assert [e["createdAt"] for e in window] == ["2026-03-01T02:00:00Z", "2026-03-01T01:00:00Z"]
    assert (await _get(client, tenant, since="1h", action="subscription.resumed")).json()["data"] == []


async def test_another_projects_events_are_never_listed(
    client, tenant: Tenant, sibling_tenant: Tenant, db_url: str
) -> None:
    _seed(db_url, tenant, 2)
    _seed(db_url, sibling_tenant, 3)
    mine = (await _get(client, tenant, limit=100)).json()["data"]
    assert mine and {e["projectId"] for e in mine} == {tenant.project_id}
    assert (await _get(client, tenant, customerId=sibling_tenant.customer_id)).json()["data"] == []


async def test_auth_as_the_customers_api(client, tenant: Tenant, sibling_tenant: Tenant,
                                         other_tenant: Tenant) -> None:
    assert_error(await client.get(_path(tenant)), 401, "api_key_missing")
    assert_error(await client.get(_path(tenant), headers={"Authorization": "Bearer bsk_nope"}), 401)
    assert_error(await client.get(_path(tenant), headers=sibling_tenant.auth), 403)
    assert_error(await client.get(_path(tenant), headers=other_tenant.auth), 403)


@pytest.mark.parametrize(("params", "param"), [
    ({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"limit": "ten"}, "limit"),
    ({"startingAfter": "abc"}, "startingAfter"), ({"startingAfter": 0}, "startingAfter"),
    ({"startingAfter": 2**31}, "startingAfter"),  # past PostgreSQL's INTEGER (found by schemathesis)
    ({"since": "last week"}, "since"), ({"until": "2026-02-30"}, "until"),
    ({"since": "2026-03-02", "until": "2026-03-01"}, "until"),
    ({"action": "x" * 65}, "action"), ({"bogus": "1"}, "bogus"),
])
async def test_bad_queries_are_400_naming_the_parameter(client, tenant: Tenant, params: dict, param: str) -> None:
    assert_error(await _get(client, tenant, **params), 400, param=param)


# --- the caller's user agent on session rows ------------------------------------------------


def _session_events(db_url: str, session_id: str) -> list[tuple[str, str | None, str | None]]:
    with Session(engine_for(db_url)) as db:
        events = db.exec(select(AuditEvent).where(AuditEvent.session_id == session_id).order_by(AuditEvent.id))
        return [(e.action, e.client_ip, e.user_agent) for e in events]


async def test_session_creation_and_revocation_carry_the_callers_user_agent(
    client, tenant: Tenant, db_url: str
) -> None:
    created = await client.post(tenant.portal_path, json={"customerId": tenant.customer_id},
                                headers={**tenant.auth, **UA})
    assert created.status_code == 200, created.text
    session_id = created.json()["sessionId"]
    revoked = await client.delete(f"{tenant.portal_path}/{session_id}",
                                  headers={**tenant.auth, "User-Agent": "Ops/1"})
    assert revoked.status_code == 200, revoked.text

    assert _session_events(db_url, session_id) == [
        ("portal_session.created", "203.0.113.7", UA["User-Agent"]),
        ("portal_session.revoked", "203.0.113.7", "Ops/1"),
    ]
    listed = (await _get(client, tenant, action="portal_session.created")).json()["data"]
    assert [(e["sessionId"], e["userAgent"]) for e in listed] == [(session_id, UA["User-Agent"])]


async def test_the_stripe_compatible_endpoint_records_the_user_agent(client, tenant: Tenant, db_url: str) -> None:
    created = await client.post(
        routes.STRIPE_PORTAL_SESSIONS_PATH, data={"customer": tenant.customer_id},
        headers={**tenant.auth, "User-Agent": "Stripe/v1 PythonBindings/16.0.0"},
    )
    assert created.status_code == 200, created.text
    with Session(engine_for(db_url)) as db:
        [event] = db.exec(select(AuditEvent).where(AuditEvent.action == "portal_session.created"))
        assert event.user_agent == "Stripe/v1 PythonBindings/16.0.0"


@pytest.mark.parametrize(("params", "param"), [({"customerId": "pc_\x00x"}, "customerId"),
                                                ({"action": "subscription.\x00"}, "action")])
async def test_text_no_database_can_hold_is_a_400(client, tenant: Tenant, params: dict, param: str) -> None:
    assert_error(await _get(client, tenant, **params), 400, param=param)  # PostgreSQL refuses NUL: never a 500


# --- portal actions through the portal API ---------------------------------------------------


async def test_portal_api_actions_are_audited_with_the_requests_user_agent(client, world: World) -> None:
    alice, sub_id, bobs_sub = world.alice, world.alice.seeded["subscriptions"][0], world.bob.seeded["subscriptions"][0]
    headers = {"User-Agent": "HeadlessIntegration/3.0"}
    done = await client.patch(f"/api/portal/{alice.token}/subscriptions/{sub_id}", json={"cancelAtPeriodEnd": True},
                              headers=headers)
    refused = await client.patch(f"/api/portal/{alice.token}/subscriptions/{bobs_sub}",
                                 json={"cancelAtPeriodEnd": True}, headers=headers)

    assert done.status_code == 200, done.text
    assert_error(refused, 404)
    with session_scope() as db:
        events, _ = audit.list_events(db, world.project_id, action="subscription.cancel_scheduled")
    assert [(e.outcome, e.stripe_object_id, e.user_agent, e.client_ip, e.customer_id) for e in events] == [
        ("denied", bobs_sub, "HeadlessIntegration/3.0", "203.0.113.7", alice.customer_id),
        ("ok", sub_id, "HeadlessIntegration/3.0", "203.0.113.7", alice.customer_id),
    ]
