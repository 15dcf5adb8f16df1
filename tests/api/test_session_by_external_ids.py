"""Session creation names its customer by exactly one of customerId, externalId or
stripeCustomerId (issue 14): by the SaaS's own user id, or by the `cus_…` it already stores,
linked on the fly with its billing data loaded before the session is answered."""

from __future__ import annotations

import httpx
import pytest
from sqlmodel import select

from billstack.config import reset_settings
from billstack.db import session_scope
from billstack.models import Customer, Subscription
from billstack.services import customers, ratelimit, tenants
from stripe_emulator.seed import seed_demo_customer
from tests.api.conftest import assert_error
from tests.api.test_fast_path import clients
from tests.portal_world import World, mirror, world  # noqa: F401 - fixture

pytestmark = pytest.mark.asyncio


def session_path(world: World) -> str:
    return f"/api/billstack/teams/{world.team_id}/projects/{world.project_id}/portal"


@pytest.fixture
def auth(world: World) -> dict[str, str]:
    with session_scope() as db:
        _key, plaintext = tenants.create_api_key(db, project_id=world.project_id)
    return {"Authorization": f"Bearer {plaintext}"}


async def open_portal(client: httpx.AsyncClient, created: httpx.Response) -> dict:
    assert created.status_code == 200, created.text
    token = created.json()["token"]
    view = await client.get(f"/api/portal/{token}")
    assert view.status_code == 200, view.text
    return view.json()


def subscription_ids(view: dict) -> set[str]:
    shown = {s["id"] for s in view["subscriptions"]}
    assert shown, "the portal shows no subscription"
    return shown


async def test_external_id_opens_that_customers_portal(client, world: World, auth) -> None:
    carol = seed_demo_customer(world.stripe, email="carol@example.com", name="Carol Example")
    with session_scope() as db:
        linked, created = customers.create_or_link_customer(
            db, project_id=world.project_id, stripe_customer_id=carol["customer"], external_id="user_carol")
        carol_id = linked.id
    assert created

    response = await client.post(session_path(world), headers=auth, json={"externalId": "user_carol"})

    view = await open_portal(client, response)
    assert view["customerId"] == carol_id
    assert subscription_ids(view) <= set(carol["subscriptions"])
    assert view["customerEmail"] == "carol@example.com"


async def test_unknown_external_id_is_404_naming_it(client, world: World, auth) -> None:
    response = await client.post(session_path(world), headers=auth, json={"externalId": "user_nobody"})
    assert_error(response, 404, "resource_missing", "externalId")


async def test_unlinked_stripe_customer_is_linked_and_mirrored_before_the_answer(client, world: World, auth) -> None:
    dave = seed_demo_customer(world.stripe, email="dave@example.com", name="Dave Example")
    with session_scope() as db:
        assert customers.find_customer(db, project_id=world.project_id, stripe_customer_id=dave["customer"]) is None

    response = await client.post(session_path(world), headers=auth, json={"stripeCustomerId": dave["customer"]})
    assert response.status_code == 200, response.text

    with session_scope() as db:
        linked = db.exec(select(Customer).where(Customer.project_id == world.project_id,
                                                Customer.stripe_customer_id == dave["customer"])).one()
        assert linked.synced_at is not None
        linked_id = linked.id
    assert {s.stripe_id for s in mirror(Subscription, linked_id)} == set(dave["subscriptions"])  # before any view
    view = await open_portal(client, response)
    assert subscription_ids(view) <= set(dave["subscriptions"])

    again = await client.post(session_path(world), headers=auth, json={"stripeCustomerId": dave["customer"]})
    assert again.status_code == 200, again.text
    with session_scope() as db:
        assert len(db.exec(select(Customer).where(Customer.stripe_customer_id == dave["customer"])).all()) == 1


async def test_linked_stripe_customer_opens_its_portal(client, world: World, auth) -> None:
    response = await client.post(session_path(world), headers=auth,
                                 json={"stripeCustomerId": world.alice.stripe_customer_id})
    view = await open_portal(client, response)
    assert subscription_ids(view) <= set(world.alice.seeded["subscriptions"])


async def test_stripe_customer_unknown_to_stripe_is_404_naming_it(client, world: World, auth) -> None:
    response = await client.post(session_path(world), headers=auth, json={"stripeCustomerId": "cus_doesnotexist"})
    assert_error(response, 404, "resource_missing", "stripeCustomerId")
    with session_scope() as db:
        assert db.exec(select(Customer).where(Customer.stripe_customer_id == "cus_doesnotexist")).first() is None


@pytest.mark.parametrize(("body", "param", "code"), [
    ({}, "customerId", "parameter_missing"),
    ({"ttlMs": 3_600_000}, "customerId", "parameter_missing"),
    ({"customerId": "pc_x", "externalId": "user_1"}, "externalId", "parameter_invalid"),
    ({"customerId": "pc_x", "stripeCustomerId": "cus_1"}, "stripeCustomerId", "parameter_invalid"),
    ({"externalId": "user_1", "stripeCustomerId": "cus_1"}, "stripeCustomerId", "parameter_invalid"),
    ({"externalId": "x" * 201}, "externalId", "parameter_invalid"),
])
async def test_none_or_several_customer_keys_are_400_naming_the_field(client, world: World, auth, body, param,
                                                                      code) -> None:
    response = await client.post(session_path(world), headers=auth, json=body)
    assert_error(response, 400, code, param)


async def test_other_keys_need_a_valid_api_key_first(client, world: World) -> None:
    dave = seed_demo_customer(world.stripe, email="dave@example.com", name="Dave Example")
    response = await client.post(session_path(world), headers={"Authorization": "Bearer bsk_nope"},
                                 json={"stripeCustomerId": dave["customer"]})
    assert_error(response, 401, "invalid_api_key")
    with session_scope() as db:  # nothing linked for an unauthenticated caller
        assert db.exec(select(Customer).where(Customer.stripe_customer_id == dave["customer"])).first() is None


async def test_customer_id_answer_is_unchanged(client, world: World, auth) -> None:
    response = await client.post(session_path(world), headers=auth, json={"customerId": world.alice.customer_id})
    assert response.status_code == 200, response.text
    assert list(response.json()) == ["sessionId", "token", "portalUrl", "expiresAt"]


@pytest.mark.parametrize("body", [
    {},
    {"customerId": "pc_x", "externalId": "user_1"},
    {"externalId": "user_nobody"},
    {"stripeCustomerId": "cus_doesnotexist"},
    {"stripeCustomerId": "not_a_cus"},
])
async def test_fast_path_answers_the_other_keys_as_the_framework_route(world: World, auth, body) -> None:
    async with clients() as (framework, fast):
        expected = await framework.post(session_path(world), headers=auth, json=body)
        answered = await fast.post(session_path(world), headers=auth, json=body)
    assert expected.status_code >= 400
    assert (answered.status_code, answered.content) == (expected.status_code, expected.content)
    assert sorted(answered.headers.multi_items()) == sorted(expected.headers.multi_items())


async def test_fast_path_and_framework_route_both_create_by_external_id(world: World, auth) -> None:
    with session_scope() as db:
        customers.create_or_link_customer(db, project_id=world.project_id,
                                          stripe_customer_id=world.bob.stripe_customer_id, external_id="user_bob")
    async with clients() as (framework, fast):
        for client in (framework, fast):
            response = await client.post(session_path(world), headers=auth, json={"externalId": "user_bob"})
            assert response.status_code == 200, response.text
            assert list(response.json()) == ["sessionId", "token", "portalUrl", "expiresAt"]


async def test_a_rate_limited_key_links_no_one(client, world: World, auth, monkeypatch) -> None:
    monkeypatch.setenv("BILLSTACK_RATE_LIMIT_SESSIONS_PER_MINUTE", "1")
    reset_settings()
    ratelimit.reset_all()
    erin = seed_demo_customer(world.stripe, email="erin@example.com", name="Erin Example")
    first = await client.post(session_path(world), headers=auth, json={"customerId": world.alice.customer_id})
    limited = await client.post(session_path(world), headers=auth, json={"stripeCustomerId": erin["customer"]})
    assert first.status_code == 200, first.text
    assert_error(limited, 429, "rate_limited")
    with session_scope() as db:
        assert db.exec(select(Customer).where(Customer.stripe_customer_id == erin["customer"])).first() is None
