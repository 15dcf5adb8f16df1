"""Customers API (issue 14): a SaaS backend creates, finds and removes customers with its API key.

Against the emulator through the real stripe SDK, on SQLite and PostgreSQL (`db_url`). The
world's Alice and Bob are linked customers with a live portal token each.
"""

from __future__ import annotations

import httpx
import pytest

from billstack import routes
from billstack.config import reset_settings
from billstack.db import session_scope
from billstack.services import sessions
from billstack.services.sessions import PortalTokenError
from billstack.services.tenants import create_api_key, create_project
from tests.api.conftest import assert_error
from tests.portal_world import World, world  # noqa: F401 - world is a fixture

pytestmark = pytest.mark.asyncio


@pytest.fixture
def key(world: World) -> str:
    with session_scope() as db:
        return create_api_key(db, project_id=world.project_id)[1]


@pytest.fixture
def sibling_key(world: World) -> str:
    """A valid key of another project of the same team (same emulator account)."""
    with session_scope() as db:
        project = create_project(db, team_id=world.team_id, name="Other", stripe_secret_key=world.stripe_key,
                                 stripe_api_base=world.emulator_url)
        return create_api_key(db, project_id=project.id)[1]


def _path(world: World, customer_id: str | None = None) -> str:
    base = routes.customers_path(world.team_id, world.project_id)
    return f"{base}/{customer_id}" if customer_id else base


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _stripe_customers(world: World, email: str) -> list[str]:
    return [c.id for c in world.stripe.v1.customers.list({"email": email, "limit": 100}).data]


async def _list(client: httpx.AsyncClient, world: World, key: str, **params: object) -> dict:
    response = await client.get(_path(world), params=params, headers=_auth(key))
    assert response.status_code == 200, response.text
    return response.json()


# --- create, and its retries ---------------------------------------------------------------


async def test_create_with_external_id_and_the_retried_create_is_the_same_customer(
    client, world: World, key: str
) -> None:
    body = {"email": "grace@example.com", "name": "Grace Hopper", "externalId": "user_42"}

    first = await client.post(_path(world), json=body, headers=_auth(key))
    retried = await client.post(_path(world), json=body, headers=_auth(key))

    assert first.status_code == 201, first.text
    created = first.json()
    assert set(created) == {"id", "stripeCustomerId", "email", "name", "externalId", "createdAt"}
    assert created["id"].startswith("pc_") and created["stripeCustomerId"].startswith("cus_")
    assert (created["email"], created["name"], created["externalId"]) == ("grace@example.com", "Grace Hopper",
                                                                          "user_42")
    assert created["createdAt"].endswith("Z")
    assert retried.status_code == 200, retried.text
    assert retried.json() == created
    assert _stripe_customers(world, "grace@example.com") == [created["stripeCustomerId"]]  # one, in Stripe
    stripe_customer = world.stripe.v1.customers.retrieve(created["stripeCustomerId"])
    assert (stripe_customer.email, stripe_customer.name) == ("grace@example.com", "Grace Hopper")


async def test_the_same_external_id_with_another_email_is_a_409_and_creates_nothing(
    client, world: World, key: str
) -> None:
    first = await client.post(_path(world), json={"email": "grace@example.com", "externalId": "user_42"},
                              headers=_auth(key))
    assert first.status_code == 201, first.text

    clash = await client.post(_path(world), json={"email": "other@example.com", "externalId": "user_42"},
                              headers=_auth(key))

    assert_error(clash, 409, "resource_already_exists", "externalId")
    assert _stripe_customers(world, "other@example.com") == []
    assert [c["id"] for c in (await _list(client, world, key, externalId="user_42"))["data"]] == [first.json()["id"]]


async def test_an_existing_stripe_customer_is_linked_once(client, world: World, key: str) -> None:
    cus = world.stripe.v1.customers.create({"email": "linus@example.com", "name": "Linus"}).id

    linked = await client.post(_path(world), json={"stripeCustomerId": cus, "externalId": "user_7"},
                               headers=_auth(key))
    again = await client.post(_path(world), json={"stripeCustomerId": cus}, headers=_auth(key))
    alice = await client.post(_path(world), json={"stripeCustomerId": world.alice.stripe_customer_id,
                                                  "externalId": "user_alice"}, headers=_auth(key))

    assert linked.status_code == 201, linked.text
    assert {k: linked.json()[k] for k in ("stripeCustomerId", "email", "name", "externalId")} == {
        "stripeCustomerId": cus, "email": "linus@example.com", "name": "Linus", "externalId": "user_7"}
    assert again.status_code == 200 and again.json() == linked.json(), again.text
    assert alice.status_code == 200, alice.text  # linked already: the same pc_, now with the SaaS's id
    assert (alice.json()["id"], alice.json()["externalId"]) == (world.alice.customer_id, "user_alice")
    assert _stripe_customers(world, "linus@example.com") == [cus]


async def test_a_stripe_customer_that_stripe_does_not_know_is_a_404(client, world: World, key: str) -> None:
    response = await client.post(_path(world), json={"stripeCustomerId": "cus_doesNotExist1"}, headers=_auth(key))
    assert_error(response, 404, "resource_missing", "stripeCustomerId")
    assert (await _list(client, world, key, stripeCustomerId="cus_doesNotExist1"))["data"] == []


# --- lookups and paging ---------------------------------------------------------------------


async def test_a_customer_is_found_by_each_of_its_keys(client, world: World, key: str) -> None:
    created = (await client.post(_path(world), json={"email": "Grace@Example.com", "externalId": "user_42"},
                                 headers=_auth(key))).json()

    by_id = await client.get(_path(world, created["id"]), headers=_auth(key))
    by_external = await _list(client, world, key, externalId="user_42")
    by_stripe = await _list(client, world, key, stripeCustomerId=created["stripeCustomerId"])
    by_email = await _list(client, world, key, email="grace@EXAMPLE.com")
    nobody = await _list(client, world, key, externalId="user_43")

    assert by_id.status_code == 200 and by_id.json() == created
    for found in (by_external, by_stripe, by_email):
        assert found == {"data": [created], "hasMore": False}
    assert nobody == {"data": [], "hasMore": False}
    alice = await _list(client, world, key, stripeCustomerId=world.alice.stripe_customer_id)
    assert [c["id"] for c in alice["data"]] == [world.alice.customer_id]


async def test_paging_walks_every_customer_once(client, world: World, key: str) -> None:
    for n in range(3):
        response = await client.post(_path(world), json={"email": f"user{n}@example.com"}, headers=_auth(key))
        assert response.status_code == 201, response.text
    everyone = await _list(client, world, key, limit=100)
    assert len(everyone["data"]) == 5 and everyone["hasMore"] is False  # Alice, Bob and three new

    seen, after, pages = [], None, 0
    while True:
        page = await _list(client, world, key, limit=2, **({"startingAfter": after} if after else {}))
        seen += [c["id"] for c in page["data"]]
        pages += 1
        if not page["hasMore"]:
            break
        after = page["data"][-1]["id"]
    assert pages == 3 and seen == [c["id"] for c in everyone["data"]]
    assert len(set(seen)) == 5
    unknown = await client.get(_path(world), params={"startingAfter": "pc_nope"}, headers=_auth(key))
    assert_error(unknown, 400, param="startingAfter")


# --- refused requests -----------------------------------------------------------------------


@pytest.mark.parametrize(("body", "code", "param"), [
    ({"email": "not-an-email"}, "parameter_invalid", "email"),
    ({"email": "grace@example.com", "externalId": "x" * 201}, "parameter_invalid", "externalId"),
    ({"email": "grace@example.com", "externalId": " user_42"}, "parameter_invalid", "externalId"),
    ({"email": "grace@example.com", "external_id": "user_42"}, "parameter_unknown", "external_id"),
    ({"email": "grace@example.com", "stripeCustomerId": "cus_x"}, "parameter_invalid", "email"),
    ({"name": "Grace"}, "parameter_missing", "email"),
])
async def test_a_bad_body_is_a_400_naming_the_field_and_creates_nothing(
    client, world: World, key: str, body: dict, code: str, param: str
) -> None:
    response = await client.post(_path(world), json=body, headers=_auth(key))
    assert_error(response, 400, code, param)
    assert _stripe_customers(world, "grace@example.com") == []


async def test_bodies_are_json_within_the_api_limit_and_answers_carry_the_security_headers(
    client, world: World, key: str
) -> None:
    not_json = await client.post(_path(world), content=b"email=grace@example.com",
                                 headers={**_auth(key), "Content-Type": "application/x-www-form-urlencoded"})
    too_big = await client.patch(_path(world, world.alice.customer_id), json={"externalId": "x" * 20_000},
                                 headers=_auth(key))
    assert_error(not_json, 415, "unsupported_media_type")
    assert_error(too_big, 413, "request_too_large")
    ok = await client.get(_path(world), headers=_auth(key))
    for response in (not_json, too_big, ok):
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-content-type-options"] == "nosniff"


async def test_an_unknown_query_parameter_is_refused(client, world: World, key: str) -> None:
    response = await client.get(_path(world), params={"external_id": "user_42"}, headers=_auth(key))
    assert_error(response, 400, "parameter_unknown", "external_id")  # not a silent list of everyone


async def test_another_projects_key_is_a_403_and_changes_nothing(
    client, world: World, key: str, sibling_key: str
) -> None:
    alice = world.alice.customer_id
    attempts = [
        await client.post(_path(world), json={"email": "grace@example.com"}, headers=_auth(sibling_key)),
        await client.get(_path(world), headers=_auth(sibling_key)),
        await client.get(_path(world, alice), headers=_auth(sibling_key)),
        await client.patch(_path(world, alice), json={"externalId": "mine"}, headers=_auth(sibling_key)),
        await client.delete(_path(world, alice), headers=_auth(sibling_key)),
    ]
    for response in attempts:
        assert_error(response, 403)
    assert_error(await client.get(_path(world)), 401)
    assert _stripe_customers(world, "grace@example.com") == []
    still = await client.get(_path(world, alice), headers=_auth(key))
    assert still.status_code == 200 and still.json()["externalId"] is None


async def test_calls_are_rate_limited_per_key(client, world: World, key: str, monkeypatch) -> None:
    monkeypatch.setenv("BILLSTACK_RATE_LIMIT_SESSIONS_PER_MINUTE", "2")
    reset_settings()
    assert (await client.get(_path(world), headers=_auth(key))).status_code == 200
    assert (await client.get(_path(world, world.alice.customer_id), headers=_auth(key))).status_code == 200
    limited = await client.post(_path(world), json={"email": "grace@example.com"}, headers=_auth(key))
    assert_error(limited, 429, "rate_limited")
    assert int(limited.headers["retry-after"]) >= 1
    assert _stripe_customers(world, "grace@example.com") == []


# --- update and remove ----------------------------------------------------------------------


async def test_patch_sets_and_clears_the_external_id(client, world: World, key: str) -> None:
    alice, bob = world.alice.customer_id, world.bob.customer_id

    set_ = await client.patch(_path(world, alice), json={"externalId": "user_alice"}, headers=_auth(key))
    taken = await client.patch(_path(world, bob), json={"externalId": "user_alice"}, headers=_auth(key))
    found = await _list(client, world, key, externalId="user_alice")
    cleared = await client.patch(_path(world, alice), json={"externalId": None}, headers=_auth(key))
    missing = await client.patch(_path(world, alice), json={}, headers=_auth(key))
    unknown = await client.patch(_path(world, "pc_nope"), json={"externalId": "x"}, headers=_auth(key))

    assert set_.status_code == 200 and set_.json()["externalId"] == "user_alice"
    assert_error(taken, 409, "resource_already_exists", "externalId")
    assert [c["id"] for c in found["data"]] == [alice]
    assert cleared.status_code == 200 and cleared.json()["externalId"] is None
    assert (await _list(client, world, key, externalId="user_alice"))["data"] == []
    assert_error(missing, 400, "parameter_missing", "externalId")
    assert_error(unknown, 404, "resource_missing", "customerId")


async def test_delete_revokes_a_live_token_and_leaves_stripe_alone(client, world: World, key: str) -> None:
    alice = world.alice
    await client.patch(_path(world, alice.customer_id), json={"externalId": "user_alice"}, headers=_auth(key))
    with session_scope() as db:
        assert sessions.validate_portal_token(db, alice.token).customer.id == alice.customer_id

    deleted = await client.delete(_path(world, alice.customer_id), headers=_auth(key))

    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {"id": alice.customer_id, "deleted": True}
    with session_scope() as db, pytest.raises(PortalTokenError):
        sessions.validate_portal_token(db, alice.token)
    assert_error(await client.get(_path(world, alice.customer_id), headers=_auth(key)), 404, "resource_missing",
                 "customerId")
    assert_error(await client.delete(_path(world, alice.customer_id), headers=_auth(key)), 404)
    assert (await _list(client, world, key, externalId="user_alice"))["data"] == []
    assert not getattr(world.stripe.v1.customers.retrieve(alice.stripe_customer_id), "deleted", False)
    with session_scope() as db:  # Bob's portal is untouched
        assert sessions.validate_portal_token(db, world.bob.token).customer.id == world.bob.customer_id
    # The SaaS's id is free again, and relinking brings back the same pc_ (its old token stays dead).
    relinked = await client.post(_path(world), json={"stripeCustomerId": alice.stripe_customer_id,
                                                     "externalId": "user_alice"}, headers=_auth(key))
    assert relinked.status_code == 201, relinked.text
    assert (relinked.json()["id"], relinked.json()["externalId"]) == (alice.customer_id, "user_alice")
    with session_scope() as db, pytest.raises(PortalTokenError):
        sessions.validate_portal_token(db, alice.token)


async def test_the_operations_are_in_openapi(client) -> None:
    schema = (await client.get(routes.OPENAPI_PATH)).json()
    collection = schema["paths"][routes.CUSTOMERS_PATH]
    one = schema["paths"][routes.CUSTOMERS_PATH + "/{customerId}"]
    assert {collection["post"]["operationId"], collection["get"]["operationId"]} == {"createCustomer", "listCustomers"}
    assert {one[m]["operationId"] for m in ("get", "patch", "delete")} == {"getCustomer", "updateCustomer",
                                                                          "deleteCustomer"}
    assert {"200", "201", "400", "401", "403", "404", "409", "413", "415", "429"} <= set(collection["post"]["responses"])
    assert "externalId" in schema["components"]["schemas"]["CreateCustomerRequest"]["properties"]
    assert {"limit", "startingAfter", "externalId", "stripeCustomerId", "email"} <= {
        p["name"] for p in collection["get"]["parameters"]}
