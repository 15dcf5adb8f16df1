"""Billing details through the portal API (issue 16): name, email, phone, address and tax ids,
the real stripe SDK against the emulator, on SQLite and on PostgreSQL (`world` takes `db_url`).

What Stripe holds is read back from the emulator with the SDK, never from BillStack. Alice
is the customer under test; Bob's tax id shows that another customer's ids are 404s.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from billstack.db import session_scope
from billstack.errors import BillStackError
from billstack.models import Customer, TaxId
from billstack.services.portal import AddressUpdate, DetailsUpdate, update_customer_details
from tests.api.conftest import assert_error
from tests.portal_world import World, mirror, mirror_snapshot, new_token, world  # noqa: F401 - fixture

pytestmark = pytest.mark.asyncio

ADDRESS = {"line1": "Unter den Linden 1", "line2": "3. OG", "city": "Berlin", "state": "",
           "postalCode": "10117", "country": "de"}


def _url(world: World, path: str = "") -> str:
    return f"/api/portal/{world.alice.token}{path}"


def _allow(world: World, fields: str) -> None:
    """`project update --customer-update-fields <fields>`."""
    world.set_project(customer_update_fields=fields)


def _stripe_customer(world: World) -> Any:
    return world.stripe.v1.customers.retrieve(world.alice.stripe_customer_id)


def _stripe_tax_ids(world: World, person: Any = None) -> list[tuple[str, str, str]]:
    cus = (person or world.alice).stripe_customer_id
    return [(t.id, t.type, t.value) for t in world.stripe.v1.customers.tax_ids.list(cus).data]


async def _portal(client: httpx.AsyncClient, world: World) -> dict[str, Any]:
    response = await client.get(_url(world))
    assert response.status_code == 200, response.text
    return response.json()


# --- name, email, phone, address -------------------------------------------------------------


async def test_address_and_name_reach_stripe_and_the_portal_view(client: httpx.AsyncClient, world: World) -> None:
    response = await client.patch(_url(world, "/customer"), json={
        "name": "Alice Müller", "phone": "+49 30 1234567", "address": ADDRESS,
    })

    assert response.status_code == 200, response.text
    expected_address = {"line1": "Unter den Linden 1", "line2": "3. OG", "city": "Berlin", "state": None,
                        "postalCode": "10117", "country": "DE"}
    body = response.json()
    assert body["name"] == "Alice Müller" and body["phone"] == "+49 30 1234567"
    assert body["email"] == "alice@example.com"  # not sent: left as it was
    assert body["address"] == expected_address and body["taxIds"] == []
    cus = _stripe_customer(world)
    assert (cus.name, cus.phone, cus.email) == ("Alice Müller", "+49 30 1234567", "alice@example.com")
    assert (cus.address.line1, cus.address.line2, cus.address.city, cus.address.postal_code,
            cus.address.country) == ("Unter den Linden 1", "3. OG", "Berlin", "10117", "DE")
    view = await _portal(client, world)
    assert view["customer"]["id"] == world.alice.customer_id
    assert view["customer"]["details"]["address"] == expected_address
    assert view["customer"]["details"]["name"] == "Alice Müller"
    assert view["features"]["customerUpdate"] == ["name", "email", "address", "phone", "tax_id"]


async def test_email_alone_changes_only_the_email(client: httpx.AsyncClient, world: World) -> None:
    response = await client.patch(_url(world, "/customer"), json={"email": " alice.new@example.org "})

    assert response.status_code == 200, response.text
    cus = _stripe_customer(world)
    assert (cus.email, cus.name) == ("alice.new@example.org", "Alice Example")
    assert (await _portal(client, world))["customer"]["details"]["email"] == "alice.new@example.org"


@pytest.mark.parametrize(("body", "param"), [
    ({"email": "alice.example.com"}, "email"),
    ({"email": ""}, "email"),
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "x" * 257}, "name"),
    ({"name": 42}, "name"),
    ({"phone": "+49 30 1234567 8901234"}, "phone"),
    ({"phone": "+49\n30"}, "phone"),
    ({"address": {**ADDRESS, "country": "XX"}}, "address.country"),
    ({"address": {**ADDRESS, "country": "usa"}}, "address.country"),
    ({"address": {**ADDRESS, "country": "1A"}}, "address.country"),
    ({"address": {**ADDRESS, "postalCode": "1" * 41}}, "address.postalCode"),
    ({"address": {**ADDRESS, "city": ["Berlin"]}}, "address.city"),
    ({"address": {**ADDRESS, "planet": "Earth"}}, "address.planet"),
    ({"address": "Unter den Linden 1, Berlin"}, "address"),
    ({"nickname": "Al"}, "nickname"),
])
async def test_a_bad_value_is_a_400_naming_the_field_and_changes_nothing(
    client: httpx.AsyncClient, world: World, body: dict[str, Any], param: str
) -> None:
    await _portal(client, world)  # the mirror exists, so "nothing changed" can be compared
    before, stripe_before = mirror_snapshot(world.alice.customer_id), _stripe_customer(world).to_dict()

    assert_error(await client.patch(_url(world, "/customer"), json=body), 400, param=param)

    assert mirror_snapshot(world.alice.customer_id) == before
    assert _stripe_customer(world).to_dict() == stripe_before


async def test_an_empty_update_is_a_400(client: httpx.AsyncClient, world: World) -> None:
    assert_error(await client.patch(_url(world, "/customer"), json={}), 400, "parameter_missing")


async def test_a_field_turned_off_is_a_403_and_the_others_still_work(client: httpx.AsyncClient, world: World) -> None:
    _allow(world, "name")

    assert_error(await client.patch(_url(world, "/customer"), json={"address": ADDRESS}), 403, "feature_disabled",
                 "address")
    assert_error(await client.patch(_url(world, "/customer"), json={"name": "A", "email": "a@example.com"}),
                 403, "feature_disabled", "email")
    assert _stripe_customer(world).address is None and _stripe_customer(world).name == "Alice Example"
    assert (await client.patch(_url(world, "/customer"), json={"name": "Alice B."})).status_code == 200
    assert _stripe_customer(world).name == "Alice B."
    assert (await _portal(client, world))["features"]["customerUpdate"] == ["name"]

    _allow(world, "")
    assert_error(await client.patch(_url(world, "/customer"), json={"name": "Alice C."}), 403, "feature_disabled")
    assert (await _portal(client, world))["features"]["customerUpdate"] == []


async def test_an_address_sent_again_without_line2_clears_it(client: httpx.AsyncClient, world: World) -> None:
    assert (await client.patch(_url(world, "/customer"), json={"address": ADDRESS})).status_code == 200
    shorter = {k: v for k, v in ADDRESS.items() if k != "line2"}

    body = (await client.patch(_url(world, "/customer"), json={"address": shorter})).json()

    assert body["address"]["line2"] is None and body["address"]["line1"] == "Unter den Linden 1"
    assert _stripe_customer(world).address.line2 is None
    [row] = [c for c in _customers(world) if c.id == world.alice.customer_id]
    assert (row.address_line2, row.address_city, row.address_country) == (None, "Berlin", "DE")


def _customers(world: World) -> list[Customer]:
    with session_scope() as db:
        return [db.get(Customer, p.customer_id) for p in (world.alice, world.bob)]  # type: ignore[misc]


# --- tax ids ---------------------------------------------------------------------------------------


async def test_a_vat_id_is_added_in_stripe_shown_and_removed(client: httpx.AsyncClient, world: World) -> None:
    response = await client.post(_url(world, "/tax-ids"), json={"type": "eu_vat", "value": "DE123456789"})

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"].startswith("txi_") and (body["type"], body["value"]) == ("eu_vat", "DE123456789")
    assert body["verification"]["status"] in ("pending", "verified", "unverified", "unavailable")
    assert _stripe_tax_ids(world) == [(body["id"], "eu_vat", "DE123456789")]
    details = (await _portal(client, world))["customer"]["details"]
    assert details["taxIds"] == [body]

    response = await client.delete(_url(world, f"/tax-ids/{body['id']}"))

    assert response.status_code == 200 and response.json() == {"id": body["id"], "deleted": True}
    assert _stripe_tax_ids(world) == []
    assert (await _portal(client, world))["customer"]["details"]["taxIds"] == []
    assert mirror(TaxId, world.alice.customer_id) == []


@pytest.mark.parametrize(("body", "status", "param"), [
    ({"type": "eu_vat", "value": "DE12345"}, 400, "value"),  # too short for Germany
    ({"type": "eu_vat", "value": "XX123456789"}, 400, "value"),  # not an EU prefix
    ({"type": "gb_vat", "value": "not a number"}, 400, "value"),
    ({"type": "us_ein", "value": ""}, 400, "value"),
    ({"type": "us_ein", "value": "   "}, 400, "value"),
    ({"type": "ru_inn", "value": "1234567890"}, 400, "type"),  # a Stripe type the portal does not offer
    ({"type": "eu_vat"}, 400, "value"),
    ({"type": "eu_vat", "value": 123456789}, 400, "value"),
    ({"type": "eu_vat", "value": "DE123456789", "country": "DE"}, 400, "country"),
])
async def test_a_bad_tax_id_is_a_400_naming_the_field_and_nothing_is_added(
    client: httpx.AsyncClient, world: World, body: dict[str, Any], status: int, param: str
) -> None:
    response = await client.post(_url(world, "/tax-ids"), json=body)

    error = assert_error(response, status, param=param)
    if param == "value" and isinstance(body.get("value"), str) and body["value"].strip():
        assert error["code"] == "tax_id_invalid" and "valid" in error["message"]
    assert _stripe_tax_ids(world) == []
    assert mirror(TaxId, world.alice.customer_id) == []


async def test_another_customers_tax_id_is_a_404_and_stays(client: httpx.AsyncClient, world: World) -> None:
    bob_token_url = f"/api/portal/{world.bob.token}/tax-ids"
    bobs = (await client.post(bob_token_url, json={"type": "gb_vat", "value": "GB123456789"})).json()

    assert_error(await client.delete(_url(world, f"/tax-ids/{bobs['id']}")), 404, "resource_missing", "taxIdId")
    assert_error(await client.delete(_url(world, "/tax-ids/txi_nope")), 404, "resource_missing", "taxIdId")
    assert _stripe_tax_ids(world, world.bob) == [(bobs["id"], "gb_vat", "GB123456789")]


async def test_tax_ids_turned_off_are_a_403(client: httpx.AsyncClient, world: World) -> None:
    added = (await client.post(_url(world, "/tax-ids"), json={"type": "ch_vat", "value": "CHE-123.456.789 MWST"}))
    assert added.status_code == 201, added.text
    _allow(world, "name,email,address,phone")

    assert_error(await client.post(_url(world, "/tax-ids"), json={"type": "eu_vat", "value": "DE123456789"}),
                 403, "feature_disabled")
    assert_error(await client.delete(_url(world, f"/tax-ids/{added.json()['id']}")), 403, "feature_disabled")
    assert [t[0] for t in _stripe_tax_ids(world)] == [added.json()["id"]]


async def test_the_openapi_document_lists_the_billing_routes(client: httpx.AsyncClient, world: World) -> None:
    paths = (await client.get("/api/openapi.json")).json()["paths"]

    assert paths["/api/portal/{token}/customer"]["patch"]["operationId"] == "updateCustomerDetails"
    assert paths["/api/portal/{token}/tax-ids"]["post"]["operationId"] == "addTaxId"
    assert "201" in paths["/api/portal/{token}/tax-ids"]["post"]["responses"]
    assert paths["/api/portal/{token}/tax-ids/{taxIdId}"]["delete"]["operationId"] == "removeTaxId"
    assert "403" in paths["/api/portal/{token}/customer"]["patch"]["responses"]


async def test_an_unsynced_customer_opening_with_a_new_token_sees_the_details(
    client: httpx.AsyncClient, world: World
) -> None:
    world.stripe.v1.customers.update(world.alice.stripe_customer_id, {"address": {"city": "Lyon", "country": "FR"}})
    token = new_token(world, world.alice)

    details = (await client.get(f"/api/portal/{token}?refresh=true")).json()["customer"]["details"]

    assert details["address"]["city"] == "Lyon" and details["address"]["country"] == "FR"


async def test_the_page_path_refuses_a_country_name_as_the_api_does(world: World) -> None:
    """The Reflex state calls the service with a DetailsUpdate: the same check, the same param."""
    update = DetailsUpdate(address=AddressUpdate(line1="Main St 1", country="Germany"))

    with pytest.raises(BillStackError) as refused:
        world.as_customer(world.alice, lambda db, ctx: update_customer_details(db, ctx, update))

    assert (refused.value.status, refused.value.param) == (400, "address.country")
    assert _stripe_customer(world).address is None


async def test_stripe_down_changes_nothing(client: httpx.AsyncClient, world: World) -> None:
    await _portal(client, world)
    before = mirror_snapshot(world.alice.customer_id)

    with world.stripe_down():
        assert_error(await client.patch(_url(world, "/customer"), json={"name": "Alice Down"}), 503,
                     "stripe_unavailable")
        assert_error(await client.post(_url(world, "/tax-ids"), json={"type": "eu_vat", "value": "DE123456789"}),
                     503, "stripe_unavailable")

    assert mirror_snapshot(world.alice.customer_id) == before
    assert _stripe_customer(world).name == "Alice Example" and _stripe_tax_ids(world) == []


async def test_a_retried_tax_id_add_with_the_same_key_adds_it_once(client: httpx.AsyncClient, world: World) -> None:
    headers = {"Idempotency-Key": "add-vat-once"}
    body = {"type": "no_vat", "value": "123456789MVA"}

    first = await client.post(_url(world, "/tax-ids"), json=body, headers=headers)
    retry = await client.post(_url(world, "/tax-ids"), json=body, headers=headers)

    assert first.status_code == retry.status_code == 201, retry.text
    assert first.json() == retry.json()
    assert _stripe_tax_ids(world) == [(first.json()["id"], "no_vat", "123456789MVA")]
    assert [row.stripe_id for row in mirror(TaxId, world.alice.customer_id)] == [first.json()["id"]]
