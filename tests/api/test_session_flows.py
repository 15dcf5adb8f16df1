"""A deep link's subscription must be the customer's (issue 13, item 12): session creation
refuses an unknown or another customer's subscription (400 `flow.subscriptionId`), as
Stripe's portal does, asking the mirror first and Stripe when the mirror does not know it."""

from __future__ import annotations

import json

import httpx
import pytest

from billstack.db import session_scope
from billstack.errors import BillStackError
from billstack.models import Customer, PlanPrice, PortalSession, Project
from billstack.services import sessions, sync
from billstack.services.tenants import create_api_key, update_project
from tests.api.conftest import Tenant, assert_error, make_tenant, mirror_subscription
from tests.portal_world import World, world  # noqa: F401 - world is a fixture

pytestmark = pytest.mark.asyncio


def _cancel(subscription_id: str) -> dict:
    return {"type": "subscription_cancel", "subscriptionId": subscription_id}


# --- against the mirror (fake Stripe ids: Stripe is never asked) --------------------------


async def test_another_customers_mirrored_subscription_is_400(client, tenant: Tenant, db_url: str) -> None:
    with session_scope() as db:
        other = Customer(project_id=tenant.project_id, stripe_customer_id="cus_other", id="pc_otherCustomer")
        db.add(other)
    theirs = mirror_subscription(db_url, tenant, "sub_theirs", customer_id="pc_otherCustomer")

    response = await client.post(tenant.portal_path, headers=tenant.auth,
                                 json={"customerId": tenant.customer_id, "flow": _cancel(theirs)})

    error = assert_error(response, 400, "parameter_invalid", "flow.subscriptionId")
    assert "sub_theirs" in error["message"]


async def test_the_customers_own_mirrored_subscription_is_accepted(client, tenant: Tenant, db_url: str) -> None:
    own = mirror_subscription(db_url, tenant, "sub_own")

    response = await client.post(tenant.portal_path, headers=tenant.auth,
                                 json={"customerId": tenant.customer_id, "flow": _cancel(own)})

    assert response.status_code == 200, response.text


async def test_a_hidden_subscription_is_refused_like_an_unknown_one(client, tenant: Tenant, db_url: str) -> None:
    expired = mirror_subscription(db_url, tenant, "sub_neverPaid", status="incomplete_expired")

    response = await client.post(tenant.portal_path, headers=tenant.auth,
                                 json={"customerId": tenant.customer_id, "flow": _cancel(expired)})

    assert_error(response, 400, "parameter_invalid", "flow.subscriptionId")


# --- not mirrored yet: Stripe is asked (the emulator) ---------------------------------------


@pytest.fixture
def world_key(world: World) -> str:
    with session_scope() as db:
        return create_api_key(db, project_id=world.project_id)[1]


def _path(world: World) -> str:
    return f"/api/billstack/teams/{world.team_id}/projects/{world.project_id}/portal"


async def _create(client: httpx.AsyncClient, world: World, key: str, subscription_id: str) -> httpx.Response:
    return await client.post(_path(world), headers={"Authorization": f"Bearer {key}"},
                             json={"customerId": world.alice.customer_id, "flow": _cancel(subscription_id)})


async def test_an_unmirrored_subscription_is_checked_with_stripe(client, world: World, world_key: str) -> None:
    own, bobs = world.alice.seeded["subscriptions"][0], world.bob.seeded["subscriptions"][0]

    accepted = await _create(client, world, world_key, own)  # Stripe: Alice's
    foreign = await _create(client, world, world_key, bobs)  # Stripe: Bob's
    unknown = await _create(client, world, world_key, "sub_doesNotExist1")  # Stripe: no such subscription

    assert accepted.status_code == 200, accepted.text
    assert_error(foreign, 400, "parameter_invalid", "flow.subscriptionId")
    assert_error(unknown, 400, "parameter_invalid", "flow.subscriptionId")
    assert foreign.json()["error"]["message"].replace(bobs, "X") == unknown.json()["error"]["message"].replace(
        "sub_doesNotExist1", "X")  # another's reads exactly like one that does not exist


async def test_with_stripe_down_an_unmirrored_subscription_is_a_503_not_a_silent_link(
    client, world: World, world_key: str
) -> None:
    with world.stripe_down():
        response = await _create(client, world, world_key, world.alice.seeded["subscriptions"][0])
    assert_error(response, 503, "stripe_unavailable")


async def test_once_mirrored_stripe_is_not_asked(client, world: World, world_key: str) -> None:
    with session_scope() as db:
        sync.sync_customer(db, db.get(Project, world.project_id), db.get(Customer, world.alice.customer_id))
    own, bobs = world.alice.seeded["subscriptions"][0], world.bob.seeded["subscriptions"][0]

    with world.stripe_down():  # any Stripe call would be a 503
        accepted = await _create(client, world, world_key, own)
        foreign = await _create(client, world, world_key, bobs)  # Bob's is not mirrored: Stripe would be asked
    assert accepted.status_code == 200, accepted.text
    assert_error(foreign, 503, "stripe_unavailable")


async def test_operator_tooling_checks_the_same(world: World) -> None:
    with session_scope() as db, pytest.raises(BillStackError) as refused:
        sessions.create_portal_session(db, team_id=world.team_id, project_id=world.project_id, api_key=None,
                                       customer_id=world.alice.customer_id,
                                       flow=_cancel(world.bob.seeded["subscriptions"][0]))
    assert (refused.value.status, refused.value.param) == (400, "flow.subscriptionId")


# --- plan changes: subscription_update and subscription_update_confirm (issue 15) ------------
# The tenant's Stripe is fake: its plan prices are written as `set_plan_prices` would leave
# them (that function, asking Stripe, is tested in tests/unit/test_cli_plan_change.py).

OFFERED, NOT_OFFERED = "price_offeredTeam1", "price_notOffered1"


@pytest.fixture
def plan_tenant(db_url: str) -> Tenant:
    with session_scope() as db:
        tenant = make_tenant(db, label="p", feature_plan_change=True)
        db.add(PlanPrice(project_id=tenant.project_id, position=0, price_id=OFFERED, product_id="prod_team",
                         product_name="Team", unit_amount=4900, currency="usd", interval="month"))
    mirror_subscription(db_url, tenant, "sub_own")
    return tenant


def _update(subscription_id: str = "sub_own") -> dict:
    return {"type": "subscription_update", "subscriptionId": subscription_id}


def _confirm(subscription_id: str = "sub_own", price_id: object = OFFERED, **extra: object) -> dict:
    return {"type": "subscription_update_confirm", "subscriptionId": subscription_id, "priceId": price_id, **extra}


async def _session(client: httpx.AsyncClient, tenant: Tenant, flow: object) -> httpx.Response:
    return await client.post(tenant.portal_path, headers=tenant.auth, json={"customerId": tenant.customer_id,
                                                                            "flow": flow})


def _stored_flow(response: httpx.Response) -> dict:
    assert response.status_code == 200, response.text
    with session_scope() as db:
        stored = db.get(PortalSession, response.json()["sessionId"]).flow
    return json.loads(stored)


@pytest.mark.parametrize("flow", [_update(), _confirm(), _confirm(quantity=3), _confirm(quantity=10_000)],
                         ids=["update", "confirm", "confirm-quantity", "confirm-max-quantity"])
async def test_plan_change_flows_are_stored_as_sent(client, plan_tenant: Tenant, flow: dict) -> None:
    stored = _stored_flow(await _session(client, plan_tenant, flow))
    assert stored == flow and list(stored) == list(flow)  # canonical: type first, then the fields in order


async def test_the_services_own_check_drops_a_null_quantity(plan_tenant: Tenant) -> None:
    facts = sessions.ProjectFacts("proj_x", "team_x", None, "", True, True, True)
    assert json.loads(sessions.check_flow(_confirm(quantity=None), facts)) == _confirm()


@pytest.mark.parametrize(("flow", "param"), [
    ({"type": "subscription_update"}, "flow.subscriptionId"),
    (_update("in_123"), "flow.subscriptionId"),
    ({"type": "subscription_update_confirm", "priceId": OFFERED}, "flow.subscriptionId"),
    ({"type": "subscription_update_confirm", "subscriptionId": "sub_own"}, "flow.priceId"),
    (_confirm(price_id="prod_team"), "flow.priceId"),
    (_confirm(price_id="price_x\n"), "flow.priceId"),
    (_confirm(price_id=7), "flow.priceId"),
    (_confirm(quantity=0), "flow.quantity"),
    (_confirm(quantity=10_001), "flow.quantity"),
    (_confirm(quantity="3"), "flow.quantity"),
    (_confirm(quantity=2.5), "flow.quantity"),
    (_confirm(quantity=True), "flow.quantity"),
    ({**_update(), "priceId": OFFERED}, "flow.priceId"),
])
async def test_ill_formed_plan_change_flows_are_400_naming_the_field(
    client, plan_tenant: Tenant, flow: dict, param: str
) -> None:
    # The API's model and the service's own check (operator tooling, the Stripe-compatible
    # endpoint) name the same field.
    assert_error(await _session(client, plan_tenant, flow), 400, param=param)
    facts = sessions.ProjectFacts("proj_x", "team_x", None, "", True, True, True)
    with pytest.raises(BillStackError) as refused:
        sessions.check_flow(flow, facts)
    assert (refused.value.status, refused.value.param) == (400, param)


async def test_a_price_the_project_does_not_offer_is_400(client, plan_tenant: Tenant) -> None:
    error = assert_error(await _session(client, plan_tenant, _confirm(price_id=NOT_OFFERED)), 400,
                         "parameter_invalid", "flow.priceId")
    assert NOT_OFFERED in error["message"]


async def test_another_projects_plan_price_is_not_offered_here(client, plan_tenant: Tenant, db_url: str) -> None:
    with session_scope() as db:
        other = make_tenant(db, label="q", feature_plan_change=True)
        db.add(PlanPrice(project_id=other.project_id, position=0, price_id=NOT_OFFERED, product_id="prod_x",
                         product_name="X", unit_amount=100, currency="usd", interval="month"))
    assert_error(await _session(client, plan_tenant, _confirm(price_id=NOT_OFFERED)), 400, param="flow.priceId")


@pytest.mark.parametrize("flow", [_update("sub_theirs"), _confirm("sub_theirs")], ids=["update", "confirm"])
async def test_another_customers_subscription_is_400(client, plan_tenant: Tenant, db_url: str, flow: dict) -> None:
    with session_scope() as db:
        db.add(Customer(project_id=plan_tenant.project_id, stripe_customer_id="cus_other", id="pc_otherCustomer"))
    mirror_subscription(db_url, plan_tenant, "sub_theirs", customer_id="pc_otherCustomer")
    error = assert_error(await _session(client, plan_tenant, flow), 400, "parameter_invalid", "flow.subscriptionId")
    assert "sub_theirs" in error["message"]


@pytest.mark.parametrize("flow", [_update(), _confirm()], ids=["update", "confirm"])
async def test_plan_change_flows_need_plan_changes_on(client, plan_tenant: Tenant, flow: dict) -> None:
    with session_scope() as db:
        update_project(db, plan_tenant.project_id, feature_plan_change=False)
    assert_error(await _session(client, plan_tenant, flow), 400, "feature_disabled", "flow.type")

