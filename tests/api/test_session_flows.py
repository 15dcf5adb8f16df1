"""A deep link's subscription must be the customer's (issue 13, item 12): session creation
refuses an unknown or another customer's subscription (400 `flow.subscriptionId`), as
Stripe's portal does, asking the mirror first and Stripe when the mirror does not know it."""

from __future__ import annotations

import httpx
import pytest

from billstack.db import session_scope
from billstack.errors import BillStackError
from billstack.models import Customer, Project
from billstack.services import sessions, sync
from billstack.services.tenants import create_api_key
from tests.api.conftest import Tenant, assert_error, mirror_subscription
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
