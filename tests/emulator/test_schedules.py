"""Subscription schedules through the real SDK: made from a subscription, a change waiting for
the period end, the clock crossing the boundary, release and cancel."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from devtools.emulator import advance_time
from tests.emulator.helpers import Plans, customer_with_card

DAY = 86400


def _subscribe(client: stripe.StripeClient, price: stripe.Price) -> stripe.Subscription:
    cus = customer_with_card(client)
    return client.v1.subscriptions.create({"customer": cus.id, "items": [{"price": price.id, "quantity": 2}]})


def _schedule_change(
    client: stripe.StripeClient,
    sub: stripe.Subscription,
    current: stripe.Price,
    new: stripe.Price,
    qty: int = 2,
) -> stripe.SubscriptionSchedule:
    """What BillStack's gateway does: from_subscription, then the current phase up to the
    period end and one period of the new price, released afterwards."""
    schedule = client.v1.subscription_schedules.create({"from_subscription": sub.id})
    phases: list[dict[str, Any]] = [
        {
            "items": [{"price": current.id, "quantity": 2}],
            "start_date": schedule.phases[0].start_date,
            "end_date": sub["items"].data[0].current_period_end,
        },
        {"items": [{"price": new.id, "quantity": qty}], "iterations": 1},
    ]
    return client.v1.subscription_schedules.update(
        schedule.id, {"phases": phases, "end_behavior": "release", "proration_behavior": "none"}
    )


def _types(client: stripe.StripeClient) -> list[str]:
    return [e.type for e in client.v1.events.list({"limit": 100}).data]


def test_from_subscription_starts_with_the_current_period(client: stripe.StripeClient, plans: Plans) -> None:
    sub = _subscribe(client, plans.pro)
    item = sub["items"].data[0]
    schedule = client.v1.subscription_schedules.create({"from_subscription": sub.id})
    assert schedule.id.startswith("sub_sched_")
    assert (schedule.status, schedule.end_behavior, schedule.subscription, schedule.customer) == (
        "active",
        "release",
        sub.id,
        sub.customer,
    )
    assert (schedule.current_phase.start_date, schedule.current_phase.end_date) == (
        item.current_period_start,
        item.current_period_end,
    )
    [phase] = schedule.phases
    assert (phase.start_date, phase.end_date) == (item.current_period_start, item.current_period_end)
    assert [(i.price, i.quantity) for i in phase["items"]] == [(plans.pro.id, 2)]
    got = client.v1.subscriptions.retrieve(sub.id, {"expand": ["schedule"]})
    assert got.schedule.id == schedule.id and got.schedule.object == "subscription_schedule"
    assert client.v1.subscriptions.retrieve(sub.id).schedule == schedule.id
    assert "subscription_schedule.created" in _types(client)
    with pytest.raises(stripe.InvalidRequestError) as twice:
        client.v1.subscription_schedules.create({"from_subscription": sub.id})
    assert twice.value.param == "from_subscription"
    listed = client.v1.subscription_schedules.list({"customer": sub.customer}).data
    assert [s.id for s in listed] == [schedule.id]


def test_the_renewal_at_the_boundary_bills_the_next_phase_and_releases(
    client: stripe.StripeClient, plans: Plans, emulator_url: str, api_key: str
) -> None:
    sub = _subscribe(client, plans.pro)
    end = sub["items"].data[0].current_period_end
    schedule = _schedule_change(client, sub, plans.pro, plans.basic, qty=3)
    assert [(p.start_date, p.end_date) for p in schedule.phases] == [
        (sub["items"].data[0].current_period_start, end),
        (end, end + 30 * DAY),
    ]
    assert [[(i.price, i.quantity) for i in p["items"]] for p in schedule.phases] == [
        [(plans.pro.id, 2)],
        [(plans.basic.id, 3)],
    ]
    # Nothing changes before the boundary.
    advance_time(emulator_url, api_key, 29 * DAY)
    assert client.v1.subscriptions.retrieve(sub.id)["items"].data[0].price.id == plans.pro.id

    advance_time(emulator_url, api_key, 2 * DAY)
    after = client.v1.subscriptions.retrieve(sub.id)
    item = after["items"].data[0]
    assert (item.price.id, item.quantity, item.id) == (plans.basic.id, 3, sub["items"].data[0].id)
    assert after.schedule is None and after.status == "active"
    renewal = client.v1.invoices.retrieve(after.latest_invoice)
    assert (renewal.billing_reason, renewal.created, renewal.amount_paid) == ("subscription_cycle", end, 3000)
    assert [line.amount for line in renewal.lines.data] == [3000]
    assert client.v1.invoice_items.list({"customer": sub.customer}).data == []  # no prorations
    released = client.v1.subscription_schedules.retrieve(schedule.id)
    assert (released.status, released.released_at, released.released_subscription, released.subscription) == (
        "released",
        end,
        sub.id,
        None,
    )
    types = _types(client)
    assert "subscription_schedule.released" in types and "subscription_schedule.updated" in types
    updated = client.v1.events.list({"type": "customer.subscription.updated", "limit": 100}).data
    switched = [e for e in updated if "items" in (e.data.previous_attributes or {})]
    assert switched and switched[-1].data.previous_attributes["items"].data[0].price.id == plans.pro.id
    # Later renewals carry on with the new items.
    advance_time(emulator_url, api_key, 30 * DAY)
    later = client.v1.invoices.retrieve(client.v1.subscriptions.retrieve(sub.id).latest_invoice)
    assert [line.amount for line in later.lines.data] == [3000]


def test_a_scheduled_interval_change_renews_on_the_new_interval(
    client: stripe.StripeClient, plans: Plans, emulator_url: str, api_key: str
) -> None:
    sub = _subscribe(client, plans.basic)
    end = sub["items"].data[0].current_period_end
    _schedule_change(client, sub, plans.basic, plans.yearly, qty=1)
    advance_time(emulator_url, api_key, 31 * DAY)
    after = client.v1.subscriptions.retrieve(sub.id)
    item = after["items"].data[0]
    assert item.price.id == plans.yearly.id and item.current_period_start == end
    assert 365 * DAY <= item.current_period_end - end <= 366 * DAY
    assert client.v1.invoices.retrieve(after.latest_invoice).amount_paid == 10000


def test_release_keeps_the_current_plan(
    client: stripe.StripeClient, plans: Plans, emulator_url: str, api_key: str
) -> None:
    sub = _subscribe(client, plans.pro)
    schedule = _schedule_change(client, sub, plans.pro, plans.basic)
    released = client.v1.subscription_schedules.release(schedule.id)
    assert (released.status, released.released_subscription) == ("released", sub.id)
    assert client.v1.subscriptions.retrieve(sub.id).schedule is None
    event = client.v1.events.list({"type": "customer.subscription.updated", "limit": 1}).data[0]
    assert event.data.previous_attributes.schedule == schedule.id
    assert "subscription_schedule.released" in _types(client)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.subscription_schedules.release(schedule.id)
    advance_time(emulator_url, api_key, 31 * DAY)
    after = client.v1.subscriptions.retrieve(sub.id)
    assert after["items"].data[0].price.id == plans.pro.id
    assert client.v1.invoices.retrieve(after.latest_invoice).amount_paid == 6000


def test_cancel_cancels_the_subscription(client: stripe.StripeClient, plans: Plans) -> None:
    sub = _subscribe(client, plans.pro)
    schedule = client.v1.subscription_schedules.create({"from_subscription": sub.id})
    canceled = client.v1.subscription_schedules.cancel(schedule.id)
    assert canceled.status == "canceled" and canceled.canceled_at is not None
    assert client.v1.subscriptions.retrieve(sub.id).status == "canceled"
    assert {"subscription_schedule.canceled", "customer.subscription.deleted"} <= set(_types(client))


def test_updating_the_current_phase_items_changes_the_subscription_now(
    client: stripe.StripeClient, plans: Plans
) -> None:
    sub = _subscribe(client, plans.basic)
    schedule = client.v1.subscription_schedules.create({"from_subscription": sub.id})
    client.v1.subscription_schedules.update(
        schedule.id,
        {
            "phases": [
                {"items": [{"price": plans.pro.id, "quantity": 2}], "end_date": schedule.phases[0].end_date}
            ]
        },
    )
    assert client.v1.subscriptions.retrieve(sub.id)["items"].data[0].price.id == plans.pro.id
    assert len(client.v1.invoice_items.list({"customer": sub.customer, "pending": True}).data) == 2


@pytest.mark.parametrize(
    ("phases", "param"),
    [
        (
            [{"items": [{"price": "PRO", "quantity": 1}], "start_date": 1, "end_date": 2}],
            "phases[0][start_date]",
        ),
        ([{"items": [{"price": "PRO"}]}, {"items": [{"price": "PRO"}]}], "phases[0][end_date]"),
        ([{"end_date": 2000000000}], "phases[0][items]"),
        ([{"items": [{"price": "price_missing"}]}], "phases[0][items][0][price]"),
        ([{"items": [{"price": "PRO"}], "end_date": 5, "iterations": 1}], "phases[0][iterations]"),
    ],
)
def test_invalid_phases_are_rejected(
    client: stripe.StripeClient, plans: Plans, phases: list[dict[str, Any]], param: str
) -> None:
    sub = _subscribe(client, plans.pro)
    schedule = client.v1.subscription_schedules.create({"from_subscription": sub.id})
    for phase in phases:
        for item in phase.get("items", []):
            item["price"] = plans.pro.id if item["price"] == "PRO" else item["price"]
    with pytest.raises(stripe.InvalidRequestError) as bad:
        client.v1.subscription_schedules.update(schedule.id, {"phases": phases})
    assert bad.value.http_status in (400, 404) and bad.value.param == param
    assert len(client.v1.subscription_schedules.retrieve(schedule.id).phases) == 1


def test_canceling_the_subscription_cancels_its_schedule(client: stripe.StripeClient, plans: Plans) -> None:
    sub = _subscribe(client, plans.pro)
    schedule = _schedule_change(client, sub, plans.pro, plans.basic)
    client.v1.subscriptions.cancel(sub.id)
    after = client.v1.subscription_schedules.retrieve(schedule.id)
    assert after.status == "canceled" and after.canceled_at is not None and after.current_phase is None
