"""Plan changes through the portal API (issue 15): the real stripe SDK against the emulator,
the services behind the REST routes, on SQLite and on PostgreSQL (`world` takes `db_url`).

Alice's seeded "Team plan" ($49/month) is the subscription under test. The project offers
Team, Business ($99/month), Starter ($19/month) and Team yearly ($490/year), in that order.
What Stripe bills is read back from the emulator with the SDK, never from BillStack.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import stripe

from billstack.clock import from_unix
from billstack.models import Subscription
from billstack.services import webhooks
from devtools.emulator import advance_time, emulator_now
from tests.api.conftest import assert_error
from tests.api.test_webhooks import SECRET, _ManualWorker, deliver, raw_events
from tests.portal_world import World, mirror, world  # noqa: F401 - fixture

pytestmark = pytest.mark.asyncio


@dataclass(frozen=True)
class Catalog:
    team: str  # Alice's current price
    business: str
    starter: str
    yearly: str
    support: str  # Alice's other subscription's price: not offered


def _price(client: stripe.StripeClient, name: str, amount: int, interval: str = "month") -> str:
    return client.v1.prices.create({
        "currency": "usd", "unit_amount": amount, "recurring": {"interval": interval},
        "product_data": {"name": name},
    }).id


@pytest.fixture
def catalog(world: World, monkeypatch: pytest.MonkeyPatch) -> Catalog:
    """The plan catalogue, set as an operator sets it (checked with Stripe), plan changes on;
    webhooks are processed by the tests themselves (`deliver_new_events`)."""
    monkeypatch.setattr(webhooks, "worker", _ManualWorker())
    team_sub, support_sub = (world.stripe.v1.subscriptions.retrieve(s) for s in world.alice.seeded["subscriptions"])
    found = Catalog(
        team=team_sub["items"].data[0].price.id,
        business=_price(world.stripe, "Business", 9900),
        starter=_price(world.stripe, "Starter", 1900),
        yearly=_price(world.stripe, "Team yearly", 49000, "year"),
        support=support_sub["items"].data[0].price.id,
    )
    world.set_project(
        feature_plan_change=True, webhook_secret=SECRET,
        plan_change_prices=[found.team, found.business, found.starter, found.yearly],
    )
    return found


def _sub_url(person: Any, sub_id: str) -> str:
    return f"/api/portal/{person.token}/subscriptions/{sub_id}"


def _team_sub(world: World) -> str:
    return world.alice.seeded["subscriptions"][0]


def _stripe_item(world: World, sub_id: str) -> tuple[str, int]:
    item = world.stripe.v1.subscriptions.retrieve(sub_id)["items"].data[0]
    return item.price.id, item.quantity


def _iso(unix: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(unix))


def _mirror_row(world: World, sub_id: str) -> Subscription:
    [row] = [r for r in mirror(Subscription, world.alice.customer_id) if r.stripe_id == sub_id]
    return row


async def _preview(client: httpx.AsyncClient, world: World, price: str, **body: Any) -> dict[str, Any]:
    response = await client.post(f"{_sub_url(world.alice, _team_sub(world))}/preview", json={"priceId": price, **body})
    assert response.status_code == 200, response.text
    return response.json()


async def _change(client: httpx.AsyncClient, world: World, price: str, **body: Any) -> dict[str, Any]:
    response = await client.patch(_sub_url(world.alice, _team_sub(world)), json={"priceId": price, **body})
    assert response.status_code == 200, response.text
    return response.json()


async def deliver_new_events(client: httpx.AsyncClient, world: World, since: str) -> int:
    """Deliver the account's events after `since` (oldest first) and process them."""
    new = list(reversed(raw_events(world, ending_before=since)))
    for event in new:
        assert (await deliver(client, world, event)).status_code == 200
    webhooks.process_due_events()
    return len(new)


# --- listing -----------------------------------------------------------------------------------


async def test_the_plans_are_the_configured_ones_in_order_with_the_current_marked(
    client: httpx.AsyncClient, world: World, catalog: Catalog
) -> None:
    url = f"{_sub_url(world.alice, _team_sub(world))}/plans"
    body = (await client.get(url)).json()

    assert [p["priceId"] for p in body["data"]] == [catalog.team, catalog.business, catalog.starter, catalog.yearly]
    assert [p["current"] for p in body["data"]] == [True, False, False, False]
    business = body["data"][1]
    assert (business["productName"], business["unitAmount"], business["currency"], business["interval"],
            business["intervalCount"]) == ("Business", 9900, "usd", "month", 1)
    assert body["quantity"] == {"enabled": False, "min": 1, "max": None}

    world.set_project(feature_quantity_change=True, quantity_min=2, quantity_max=5,
                      plan_change_prices=[catalog.starter, catalog.team])
    body = (await client.get(url)).json()
    assert [(p["priceId"], p["current"]) for p in body["data"]] == [(catalog.starter, False), (catalog.team, True)]
    assert body["quantity"] == {"enabled": True, "min": 2, "max": 5}
    view = (await client.get(f"/api/portal/{world.alice.token}")).json()
    assert view["features"]["planChange"] is True
    assert next(s for s in view["subscriptions"] if s["id"] == _team_sub(world))["priceId"] == catalog.team


# --- changing now --------------------------------------------------------------------------------


async def test_an_always_invoice_upgrade_charges_exactly_the_preview(
    client: httpx.AsyncClient, world: World, catalog: Catalog
) -> None:
    world.set_project(proration_behavior="always_invoice")
    preview = await _preview(client, world, catalog.business)

    assert preview["appliesAt"] == "now" and preview["priceId"] == catalog.business and preview["quantity"] == 1
    credit, charge = sorted(line["amount"] for line in preview["lines"])
    assert credit < 0 < charge and preview["amountDue"] == credit + charge > 0
    assert preview["nextAmount"] == 9900 and preview["currency"] == "usd"
    assert preview["prorationDate"] <= int(time.time())

    view = await _change(client, world, catalog.business, prorationDate=preview["prorationDate"])

    assert view["priceId"] == catalog.business and view["productName"] == "Business" and view["unitAmount"] == 9900
    assert view["scheduledChange"] is None
    stripe_sub = world.stripe.v1.subscriptions.retrieve(_team_sub(world), {"expand": ["latest_invoice"]})
    assert stripe_sub["items"].data[0].price.id == catalog.business
    invoice = stripe_sub.latest_invoice
    assert invoice.amount_due == preview["amountDue"] and invoice.status == "paid"
    assert sorted(line.amount for line in invoice.lines.data) == [credit, charge]
    assert _mirror_row(world, _team_sub(world)).price_id == catalog.business


async def test_a_retry_with_the_same_idempotency_key_charges_once(
    client: httpx.AsyncClient, world: World, catalog: Catalog
) -> None:
    world.set_project(proration_behavior="always_invoice")
    url, headers = _sub_url(world.alice, _team_sub(world)), {"Idempotency-Key": "plan-retry-1"}
    invoices_before = len(world.stripe.v1.invoices.list({"subscription": _team_sub(world), "limit": 100}).data)

    first = await client.patch(url, json={"priceId": catalog.business}, headers=headers)
    retry = await client.patch(url, json={"priceId": catalog.business}, headers=headers)

    assert first.status_code == retry.status_code == 200, retry.text
    assert first.json() == retry.json() and first.json()["priceId"] == catalog.business
    invoices = world.stripe.v1.invoices.list({"subscription": _team_sub(world), "limit": 100}).data
    assert len(invoices) == invoices_before + 1
    again = await client.patch(url, json={"priceId": catalog.business})  # no key: a new request, nothing to do
    assert_error(again, 400, "nothing_to_change", "priceId")


async def test_a_create_prorations_preview_names_the_renewal_invoice(
    client: httpx.AsyncClient, world: World, catalog: Catalog
) -> None:
    preview = await _preview(client, world, catalog.business)
    assert preview["appliesAt"] == "now" and preview["amountDue"] == 0  # nothing charged today
    credit, charge = sorted(line["amount"] for line in preview["lines"])
    assert credit < 0 < charge
    assert preview["nextAmount"] == 9900 + credit + charge

    view = await _change(client, world, catalog.business, prorationDate=preview["prorationDate"])
    assert view["priceId"] == catalog.business

    period_end = world.stripe.v1.subscriptions.retrieve(_team_sub(world))["items"].data[0].current_period_end
    assert view["currentPeriodEnd"] == preview["nextDate"]
    advance_time(world.emulator_url, world.stripe_key, period_end - emulator_now(world.emulator_url, world.stripe_key) + 60)
    renewal = world.stripe.v1.invoices.list({"subscription": _team_sub(world), "limit": 1}).data[0]
    assert renewal.billing_reason == "subscription_cycle"
    assert renewal.amount_due == preview["nextAmount"]


async def test_a_quantity_change_within_the_rule(client: httpx.AsyncClient, world: World, catalog: Catalog) -> None:
    world.set_project(feature_quantity_change=True, quantity_max=5, proration_behavior="none")
    preview = await _preview(client, world, catalog.team, quantity=3)
    assert preview["appliesAt"] == "now" and preview["amountDue"] == 0 and preview["lines"] == []
    assert preview["nextAmount"] == 3 * 4900

    view = await _change(client, world, catalog.team, quantity=3)

    assert view["quantity"] == 3 and view["priceId"] == catalog.team
    assert _stripe_item(world, _team_sub(world)) == (catalog.team, 3)
    for bad in (0, 6, 10**9):
        assert_error(await client.patch(_sub_url(world.alice, _team_sub(world)),
                                        json={"priceId": catalog.team, "quantity": bad}), 400, param="quantity")
    assert _stripe_item(world, _team_sub(world)) == (catalog.team, 3)


async def test_a_change_of_interval_bills_the_new_period_at_once(
    client: httpx.AsyncClient, world: World, catalog: Catalog
) -> None:
    preview = await _preview(client, world, catalog.yearly)
    assert preview["appliesAt"] == "now" and preview["amountDue"] > 0
    assert preview["amountDue"] == sum(line["amount"] for line in preview["lines"])
    assert preview["nextAmount"] == 49000
    a_year_on = emulator_now(world.emulator_url, world.stripe_key) + 365 * 86400
    assert preview["nextDate"] in {_iso(a_year_on + s) for s in range(-5, 86400 + 1)}  # the new period's end

    view = await _change(client, world, catalog.yearly, prorationDate=preview["prorationDate"])
    assert view["interval"] == "year" and view["currentPeriodEnd"] == preview["nextDate"]
    latest = world.stripe.v1.subscriptions.retrieve(_team_sub(world), {"expand": ["latest_invoice"]}).latest_invoice
    assert latest.amount_due == preview["amountDue"] and latest.status == "paid"


async def test_a_declined_upgrade_is_402_and_changes_nothing(
    client: httpx.AsyncClient, world: World, catalog: Catalog
) -> None:
    world.set_project(proration_behavior="always_invoice")
    failing = world.stripe.v1.payment_methods.attach("pm_card_chargeCustomerFail", {"customer": world.alice.stripe_customer_id})
    world.stripe.v1.subscriptions.update(_team_sub(world), {"default_payment_method": failing.id})
    await client.get(f"/api/portal/{world.alice.token}", params={"refresh": "true"})
    before = _mirror_row(world, _team_sub(world)).model_dump(exclude={"synced_at", "stripe_updated_at"})

    response = await client.patch(_sub_url(world.alice, _team_sub(world)), json={"priceId": catalog.business})

    error = assert_error(response, 402, param=None)
    assert error["type"] == "card_error" and "declined" in error["message"].lower()
    assert _stripe_item(world, _team_sub(world)) == (catalog.team, 1)
    assert _mirror_row(world, _team_sub(world)).model_dump(exclude={"synced_at", "stripe_updated_at"}) == before


# --- changing at the period end ------------------------------------------------------------------


async def test_a_downgrade_waits_for_the_period_end_and_can_be_kept(
    client: httpx.AsyncClient, world: World, catalog: Catalog
) -> None:
    world.set_project(schedule_at_period_end="decreasing_item_amount")
    period_end = world.stripe.v1.subscriptions.retrieve(_team_sub(world))["items"].data[0].current_period_end
    end_iso = _iso(period_end)
    preview = await _preview(client, world, catalog.starter)
    assert (preview["appliesAt"], preview["amountDue"], preview["lines"]) == ("period_end", 0, [])
    assert (preview["nextAmount"], preview["nextDate"]) == (1900, end_iso)
    assert (await _preview(client, world, catalog.business))["appliesAt"] == "now"  # an upgrade does not wait

    view = await _change(client, world, catalog.starter)

    assert view["priceId"] == catalog.team  # still Team until the period ends
    assert view["scheduledChange"] == {"priceId": catalog.starter, "productName": "Starter", "quantity": 1, "at": end_iso}
    stripe_sub = world.stripe.v1.subscriptions.retrieve(_team_sub(world))
    assert stripe_sub.schedule is not None and stripe_sub["items"].data[0].price.id == catalog.team
    page = (await client.get(f"/api/portal/{world.alice.token}")).json()
    assert next(s for s in page["subscriptions"] if s["id"] == _team_sub(world))["scheduledChange"]["at"] == end_iso

    kept = await client.delete(f"{_sub_url(world.alice, _team_sub(world))}/scheduled-change")

    assert kept.status_code == 200, kept.text
    assert kept.json()["scheduledChange"] is None and kept.json()["priceId"] == catalog.team
    assert world.stripe.v1.subscriptions.retrieve(_team_sub(world)).schedule is None
    again = await client.delete(f"{_sub_url(world.alice, _team_sub(world))}/scheduled-change")
    assert_error(again, 400, "no_scheduled_change", "subscriptionId")
    retried = await client.delete(f"{_sub_url(world.alice, _team_sub(world))}/scheduled-change",
                                  headers={"Idempotency-Key": "keep-1"})
    assert retried.status_code == 200 and retried.json() == kept.json()  # a retry gets the answer again


async def test_an_upgrade_now_replaces_a_waiting_downgrade_but_a_declined_one_keeps_it(
    client: httpx.AsyncClient, world: World, catalog: Catalog
) -> None:
    world.set_project(schedule_at_period_end="decreasing_item_amount", proration_behavior="always_invoice")
    await _change(client, world, catalog.starter)  # waits for the period end
    failing = world.stripe.v1.payment_methods.attach("pm_card_chargeCustomerFail", {"customer": world.alice.stripe_customer_id})
    world.stripe.v1.subscriptions.update(_team_sub(world), {"default_payment_method": failing.id})

    declined = await client.patch(_sub_url(world.alice, _team_sub(world)), json={"priceId": catalog.business})

    assert_error(declined, 402, param=None)
    assert world.stripe.v1.subscriptions.retrieve(_team_sub(world)).schedule is not None  # still waiting
    assert _mirror_row(world, _team_sub(world)).scheduled_price_id == catalog.starter

    world.stripe.v1.subscriptions.update(_team_sub(world), {"default_payment_method": world.alice.seeded["payment_method"]})
    view = await _change(client, world, catalog.business)

    assert (view["priceId"], view["scheduledChange"]) == (catalog.business, None)
    stripe_sub = world.stripe.v1.subscriptions.retrieve(_team_sub(world))
    assert stripe_sub.schedule is None and stripe_sub["items"].data[0].price.id == catalog.business


async def test_a_scheduled_downgrade_reaches_the_mirror_at_the_period_end_through_webhooks(
    client: httpx.AsyncClient, world: World, catalog: Catalog
) -> None:
    world.set_project(schedule_at_period_end="decreasing_item_amount shortening_interval")
    await _change(client, world, catalog.starter)
    since = raw_events(world)[0]["id"]
    period_end = world.stripe.v1.subscriptions.retrieve(_team_sub(world))["items"].data[0].current_period_end

    advance_time(world.emulator_url, world.stripe_key, period_end - emulator_now(world.emulator_url, world.stripe_key) + 60)
    assert await deliver_new_events(client, world, since) > 0

    assert _stripe_item(world, _team_sub(world))[0] == catalog.starter
    row = _mirror_row(world, _team_sub(world))
    assert (row.price_id, row.product_name, row.unit_amount) == (catalog.starter, "Starter", 1900)
    assert row.scheduled_price_id is None and row.scheduled_change_at is None


async def test_a_plan_changed_in_stripe_reaches_the_mirror_through_its_webhook(
    client: httpx.AsyncClient, world: World, catalog: Catalog
) -> None:
    await client.get(f"/api/portal/{world.alice.token}")
    since = raw_events(world)[0]["id"]
    item = world.stripe.v1.subscriptions.retrieve(_team_sub(world))["items"].data[0]
    world.stripe.v1.subscriptions.update(_team_sub(world), {
        "items": [{"id": item.id, "price": catalog.business, "quantity": 2}], "proration_behavior": "none"})

    assert await deliver_new_events(client, world, since) > 0

    row = _mirror_row(world, _team_sub(world))
    assert (row.price_id, row.quantity, row.product_name, row.stripe_item_id) == (catalog.business, 2, "Business", item.id)


# --- refusals --------------------------------------------------------------------------------


async def test_plan_changes_turned_off_are_403(client: httpx.AsyncClient, world: World, catalog: Catalog) -> None:
    world.set_project(feature_plan_change=False)
    url = _sub_url(world.alice, _team_sub(world))
    assert_error(await client.get(f"{url}/plans"), 403, "feature_disabled")
    assert_error(await client.post(f"{url}/preview", json={"priceId": catalog.business}), 403, "feature_disabled")
    assert_error(await client.patch(url, json={"priceId": catalog.business}), 403, "feature_disabled")
    assert_error(await client.delete(f"{url}/scheduled-change"), 403, "feature_disabled")
    assert _stripe_item(world, _team_sub(world)) == (catalog.team, 1)


async def test_another_customers_subscription_is_404_and_untouched(
    client: httpx.AsyncClient, world: World, catalog: Catalog
) -> None:
    await client.get(f"/api/portal/{world.bob.token}")  # Bob's subscriptions are in the mirror
    url = _sub_url(world.alice, world.bob.seeded["subscriptions"][0])
    assert_error(await client.get(f"{url}/plans"), 404, "resource_missing", "subscriptionId")
    assert_error(await client.post(f"{url}/preview", json={"priceId": catalog.business}), 404, param="subscriptionId")
    assert_error(await client.patch(url, json={"priceId": catalog.business}), 404, param="subscriptionId")
    assert_error(await client.delete(f"{url}/scheduled-change"), 404, param="subscriptionId")
    assert _stripe_item(world, world.bob.seeded["subscriptions"][0]) == (catalog.team, 1)


async def test_bad_plan_change_requests_are_400_and_change_nothing(
    client: httpx.AsyncClient, world: World, catalog: Catalog
) -> None:
    url = _sub_url(world.alice, _team_sub(world))
    await client.get(f"/api/portal/{world.alice.token}")
    start = int(_mirror_row(world, _team_sub(world)).current_period_start.timestamp())
    cases = [
        ("patch", {"priceId": catalog.support}, "priceId"),  # a real price, not offered
        ("post", {"priceId": catalog.support}, "priceId"),
        ("patch", {"priceId": "price_unknown123"}, "priceId"),
        ("patch", {"priceId": "not a price"}, "priceId"),
        ("post", {}, "priceId"),
        ("patch", {"quantity": 2}, "priceId"),  # a plan change without the plan
        ("patch", {"priceId": catalog.business, "cancelAtPeriodEnd": True}, "priceId"),  # both intents
        ("patch", {"priceId": catalog.business, "quantity": 2}, "quantity"),  # quantity changes are off
        ("patch", {"priceId": catalog.business, "quantity": "2"}, "quantity"),
        ("post", {"priceId": catalog.business, "quantity": 0}, "quantity"),
        ("post", {"priceId": catalog.business, "quantity": 10**12}, "quantity"),
        ("patch", {"priceId": catalog.team}, "priceId"),  # nothing to change
        ("patch", {"priceId": catalog.business, "prorationDate": int(time.time()) + 3600}, "prorationDate"),
        ("patch", {"priceId": catalog.business, "prorationDate": start - 1}, "prorationDate"),
        ("patch", {"priceId": catalog.business, "prorationDate": "soon"}, "prorationDate"),
    ]
    for method, body, param in cases:
        target = url if method == "patch" else f"{url}/preview"
        assert_error(await client.request(method.upper(), target, json=body), 400, param=param)
    assert _stripe_item(world, _team_sub(world)) == (catalog.team, 1)
    assert _mirror_row(world, _team_sub(world)).price_id == catalog.team


async def test_a_schedule_made_in_stripe_reaches_the_mirror_through_its_own_events(
    client: httpx.AsyncClient, world: World, catalog: Catalog
) -> None:
    await client.get(f"/api/portal/{world.alice.token}")
    since = raw_events(world)[0]["id"]
    schedule = world.stripe.v1.subscription_schedules.create({"from_subscription": _team_sub(world)})
    period_end = schedule.phases[0].end_date
    world.stripe.v1.subscription_schedules.update(schedule.id, {"end_behavior": "release", "phases": [
        {"items": [{"price": catalog.team, "quantity": 1}], "start_date": schedule.phases[0].start_date,
         "end_date": period_end},
        {"items": [{"price": catalog.starter, "quantity": 1}], "iterations": 1},
    ]})
    new = [e for e in reversed(raw_events(world, ending_before=since)) if e["type"].startswith("subscription_schedule.")]
    assert new, "the emulator sent no subscription_schedule.* event"

    for event in new:  # only the schedule's own events: the handler re-reads its subscription
        assert (await deliver(client, world, event)).status_code == 200
    webhooks.process_due_events()

    row = _mirror_row(world, _team_sub(world))
    assert (row.schedule_id, row.scheduled_price_id, row.scheduled_change_at) == (
        schedule.id, catalog.starter, from_unix(period_end))
    view = (await client.get(f"/api/portal/{world.alice.token}")).json()
    assert next(s for s in view["subscriptions"] if s["id"] == _team_sub(world))["scheduledChange"]["productName"] \
        == "Starter"

    since = raw_events(world)[0]["id"]
    world.stripe.v1.subscription_schedules.release(schedule.id)
    released = [e for e in reversed(raw_events(world, ending_before=since)) if e["type"] == "subscription_schedule.released"]
    assert len(released) == 1
    await deliver(client, world, released[0])
    webhooks.process_due_events()
    row = _mirror_row(world, _team_sub(world))
    assert (row.schedule_id, row.scheduled_price_id) == (None, None)
