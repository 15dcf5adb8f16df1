"""The card wallet through the portal API (issue 16): make a saved card the default, remove one,
and each subscription's next payment; the real stripe SDK against the emulator, on SQLite and
on PostgreSQL (`world` takes `db_url`).

Alice's seed: one Visa, the default of her customer and of both her live subscriptions (each
names it as its own `default_payment_method`). What Stripe holds is read back with the SDK.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from billstack.models import PaymentMethod
from tests.api.conftest import assert_error
from tests.portal_world import World, mirror, mirror_snapshot, world  # noqa: F401 - fixture

pytestmark = pytest.mark.asyncio


def _url(world: World, path: str = "", person: Any = None) -> str:
    return f"/api/portal/{(person or world.alice).token}{path}"


async def _view(client: httpx.AsyncClient, world: World, *, refresh: bool = False) -> dict[str, Any]:
    response = await client.get(_url(world), params={"refresh": "true"} if refresh else None)
    assert response.status_code == 200, response.text
    return response.json()


async def _second_card(client: httpx.AsyncClient, world: World) -> str:
    """A Mastercard saved beside the Visa (in Stripe, then read into the mirror)."""
    card = world.stripe.v1.payment_methods.attach("pm_card_mastercard", {"customer": world.alice.stripe_customer_id})
    cards = (await _view(client, world, refresh=True))["paymentMethods"]
    assert {c["id"] for c in cards} == {world.alice.seeded["payment_method"], card.id}
    return card.id


def _stripe_defaults(world: World) -> tuple[str | None, list[str | None]]:
    """The customer's default card and each seeded subscription's, as Stripe has them."""
    cus = world.stripe.v1.customers.retrieve(world.alice.stripe_customer_id)
    subs = [world.stripe.v1.subscriptions.retrieve(s) for s in world.alice.seeded["subscriptions"]]
    return cus.invoice_settings.default_payment_method, [s.default_payment_method for s in subs]


def _attached_to(world: World, card: str) -> str | None:
    return world.stripe.v1.payment_methods.retrieve(card).customer


# --- make default ------------------------------------------------------------------------------


async def test_make_default_changes_the_customers_and_the_subscriptions_default(
    client: httpx.AsyncClient, world: World
) -> None:
    mastercard = await _second_card(client, world)

    response = await client.post(_url(world, f"/payment-methods/{mastercard}/default"))

    assert response.status_code == 200, response.text
    assert response.json()["id"] == mastercard and response.json()["isDefault"] is True
    assert response.json()["brand"] == "mastercard"
    assert _stripe_defaults(world) == (mastercard, [mastercard, mastercard])
    cards = (await _view(client, world))["paymentMethods"]
    assert [(c["id"], c["isDefault"]) for c in cards] == [(mastercard, True), (world.alice.seeded["payment_method"], False)]


async def test_make_the_second_card_default_then_remove_the_first(client: httpx.AsyncClient, world: World) -> None:
    visa = world.alice.seeded["payment_method"]
    mastercard = await _second_card(client, world)
    assert (await client.post(_url(world, f"/payment-methods/{mastercard}/default"))).status_code == 200

    response = await client.delete(_url(world, f"/payment-methods/{visa}"))

    assert response.status_code == 200, response.text
    assert response.json() == {"id": visa, "deleted": True}
    assert _attached_to(world, visa) is None
    assert [row.stripe_id for row in mirror(PaymentMethod, world.alice.customer_id)] == [mastercard]
    assert [c["id"] for c in (await _view(client, world))["paymentMethods"]] == [mastercard]
    assert _stripe_defaults(world) == (mastercard, [mastercard, mastercard])


# --- remove ------------------------------------------------------------------------------------


async def test_removing_the_default_card_while_a_subscription_is_active_is_refused(
    client: httpx.AsyncClient, world: World
) -> None:
    visa = world.alice.seeded["payment_method"]
    await _second_card(client, world)
    before = mirror_snapshot(world.alice.customer_id)

    error = assert_error(await client.delete(_url(world, f"/payment-methods/{visa}")), 409,
                         "payment_method_in_use", "paymentMethodId")

    assert "Choose another default card first." in error["message"]
    assert _attached_to(world, visa) == world.alice.stripe_customer_id
    assert _stripe_defaults(world) == (visa, [visa, visa])
    assert mirror_snapshot(world.alice.customer_id) == before


async def test_removing_another_card_detaches_it(client: httpx.AsyncClient, world: World) -> None:
    mastercard = await _second_card(client, world)

    response = await client.delete(_url(world, f"/payment-methods/{mastercard}"))

    assert response.status_code == 200, response.text
    assert _attached_to(world, mastercard) is None
    visa = world.alice.seeded["payment_method"]
    assert [c["id"] for c in (await _view(client, world))["paymentMethods"]] == [visa]
    assert _stripe_defaults(world) == (visa, [visa, visa])
    # Gone in Stripe, so a second removal is a 404 like any card that is not hers.
    assert_error(await client.delete(_url(world, f"/payment-methods/{mastercard}")), 404, "resource_missing")


async def test_another_customers_card_is_a_404_and_untouched(client: httpx.AsyncClient, world: World) -> None:
    await _view(client, world)
    bobs = world.bob.seeded["payment_method"]

    for response in (await client.delete(_url(world, f"/payment-methods/{bobs}")),
                     await client.post(_url(world, f"/payment-methods/{bobs}/default")),
                     await client.delete(_url(world, "/payment-methods/pm_nope"))):
        assert_error(response, 404, "resource_missing", "paymentMethodId")

    assert _attached_to(world, bobs) == world.bob.stripe_customer_id
    bob = world.stripe.v1.customers.retrieve(world.bob.stripe_customer_id)
    assert bob.invoice_settings.default_payment_method == bobs
    assert _stripe_defaults(world)[0] == world.alice.seeded["payment_method"]


async def test_turned_off_card_actions_are_403_and_change_nothing(client: httpx.AsyncClient, world: World) -> None:
    mastercard = await _second_card(client, world)
    world.set_project(feature_payment_method_update=False, feature_payment_method_remove=False)

    assert_error(await client.post(_url(world, f"/payment-methods/{mastercard}/default")), 403, "feature_disabled")
    assert_error(await client.delete(_url(world, f"/payment-methods/{mastercard}")), 403, "feature_disabled")

    assert _attached_to(world, mastercard) == world.alice.stripe_customer_id
    visa = world.alice.seeded["payment_method"]
    assert _stripe_defaults(world) == (visa, [visa, visa])
    assert (await _view(client, world))["features"]["paymentMethodRemove"] is False


# --- the next payment ----------------------------------------------------------------------------


async def test_next_invoice_equals_stripes_preview_and_is_null_once_set_to_cancel(
    client: httpx.AsyncClient, world: World
) -> None:
    view = await _view(client, world)

    for sub_id in world.alice.seeded["subscriptions"]:
        preview = world.stripe.v1.invoices.create_preview(
            {"customer": world.alice.stripe_customer_id, "subscription": sub_id})
        [sub] = [s for s in view["subscriptions"] if s["id"] == sub_id]
        when = preview.next_payment_attempt or preview.period_end
        assert sub["nextInvoice"] == {"amountDue": preview.amount_due, "currency": preview.currency,
                                      "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))}
        assert preview.amount_due > 0

    cancelled = world.alice.seeded["subscriptions"][0]
    response = await client.patch(_url(world, f"/subscriptions/{cancelled}"), json={"cancelAtPeriodEnd": True})
    assert response.status_code == 200, response.text
    assert response.json()["nextInvoice"] is None
    view = await _view(client, world)
    assert {s["id"]: s["nextInvoice"] is None for s in view["subscriptions"]} == {
        cancelled: True, world.alice.seeded["subscriptions"][1]: False}
