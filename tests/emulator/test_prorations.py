"""Mid-period plan changes through the real SDK: prorations, immediate invoices, cycle resets,
payment behaviours and the invoice preview, with hand-computed figures.

Prices bill every 30 days so a change 10 days in leaves exactly 2/3 of the period:
$10 → credit −667 (666.67), $30 → charge +2000, $5 → 333 (333.33).
"""

from __future__ import annotations

import datetime as dt
from fractions import Fraction
from typing import Any

import pytest
import stripe

from devtools.emulator import advance_time
from stripe_emulator.operations.prorations import prorated
from tests.emulator.helpers import Plans, customer_with_card

DAY = 86400


def _subscribe(client: stripe.StripeClient, price: stripe.Price, quantity: int = 1) -> stripe.Subscription:
    cus = customer_with_card(client)
    return client.v1.subscriptions.create(
        {"customer": cus.id, "items": [{"price": price.id, "quantity": quantity}]}
    )


def _switch(
    sub: stripe.Subscription, price: stripe.Price | None = None, quantity: int | None = None, **details: Any
) -> dict[str, Any]:
    """`items[0]` switched to `price` / `quantity`, 10 days into the period."""
    item: dict[str, Any] = {"id": sub["items"].data[0].id}
    if price is not None:
        item["price"] = price.id
    if quantity is not None:
        item["quantity"] = quantity
    at = sub["items"].data[0].current_period_start + 10 * DAY
    return {"items": [item], "proration_date": at, **details}


def _preview(client: stripe.StripeClient, sub: stripe.Subscription, change: dict[str, Any]) -> stripe.Invoice:
    details = {k: v for k, v in change.items() if k in ("items", "proration_date", "proration_behavior")}
    return client.v1.invoices.create_preview(
        {"customer": sub.customer, "subscription": sub.id, "subscription_details": details}
    )


def _pending(client: stripe.StripeClient, customer: str) -> list[stripe.InvoiceItem]:
    return list(client.v1.invoice_items.list({"customer": customer, "pending": True}).data)


def _day(stamp: int) -> str:
    return dt.datetime.fromtimestamp(stamp, dt.UTC).strftime("%d %b %Y")


def _lines(inv: stripe.Invoice) -> list[tuple[int, str]]:
    return [(line.amount, line.description) for line in inv.lines.data]


def test_rounding_is_half_away_from_zero() -> None:
    assert prorated(1001, Fraction(1, 2)) == 501
    assert prorated(-1001, Fraction(1, 2)) == -501
    assert prorated(1000, Fraction(2, 3)) == 667
    assert prorated(500, Fraction(2, 3)) == 333
    assert prorated(999, Fraction(1, 2)) == 500


def test_upgrade_leaves_prorations_for_the_renewal(
    client: stripe.StripeClient, plans: Plans, emulator_url: str, api_key: str
) -> None:
    sub = _subscribe(client, plans.basic)
    start = sub["items"].data[0].current_period_start
    updated = client.v1.subscriptions.update(sub.id, _switch(sub, plans.pro))
    assert updated["items"].data[0].price.id == plans.pro.id
    assert updated.latest_invoice == sub.latest_invoice  # nothing billed now
    pending = _pending(client, sub.customer)
    assert [(ii.amount, ii.proration, ii.description) for ii in pending] == [
        (2000, True, f"Remaining time on 1 × Pro after {_day(start + 10 * DAY)}"),
        (-667, True, f"Unused time on 1 × Basic after {_day(start + 10 * DAY)}"),
    ]
    assert {ii.parent.subscription_details.subscription for ii in pending} == {sub.id}
    assert {ii.invoice for ii in pending} == {None}
    assert all(ii.period.start == start + 10 * DAY and ii.period.end == start + 30 * DAY for ii in pending)

    advance_time(emulator_url, api_key, 31 * DAY)
    renewal = client.v1.invoices.retrieve(client.v1.subscriptions.retrieve(sub.id).latest_invoice)
    assert renewal.billing_reason == "subscription_cycle" and renewal.status == "paid"
    assert [line.amount for line in renewal.lines.data] == [-667, 2000, 3000]
    assert renewal.amount_due == 4333
    prorations = [line for line in renewal.lines.data if line.parent.subscription_item_details.proration]
    assert len(prorations) == 2
    assert _pending(client, sub.customer) == []


def test_downgrade_credits_the_unused_time(client: stripe.StripeClient, plans: Plans) -> None:
    sub = _subscribe(client, plans.pro)
    client.v1.subscriptions.update(sub.id, _switch(sub, plans.basic))
    assert sorted(ii.amount for ii in _pending(client, sub.customer)) == [-2000, 667]


def test_quantity_change_credits_the_old_quantity_and_charges_the_new(
    client: stripe.StripeClient, plans: Plans
) -> None:
    sub = _subscribe(client, plans.seat)
    updated = client.v1.subscriptions.update(sub.id, _switch(sub, quantity=3))
    assert updated["items"].data[0].quantity == 3
    day = _day(sub["items"].data[0].current_period_start + 10 * DAY)
    assert sorted((ii.amount, ii.quantity, ii.description) for ii in _pending(client, sub.customer)) == [
        (-333, 1, f"Unused time on 1 × Seat after {day}"),
        (1000, 3, f"Remaining time on 3 × Seat after {day}"),
    ]


def test_always_invoice_bills_and_charges_at_once(client: stripe.StripeClient, plans: Plans) -> None:
    sub = _subscribe(client, plans.basic)
    change = _switch(sub, plans.pro, proration_behavior="always_invoice")
    updated = client.v1.subscriptions.update(sub.id, change)
    assert updated.latest_invoice != sub.latest_invoice and updated.status == "active"
    inv = client.v1.invoices.retrieve(updated.latest_invoice)
    assert (inv.billing_reason, inv.status, inv.amount_due, inv.amount_paid) == (
        "subscription_update",
        "paid",
        1333,
        1333,
    )
    assert [line.amount for line in inv.lines.data] == [-667, 2000]
    assert all(line.parent.subscription_item_details.proration for line in inv.lines.data)
    assert _pending(client, sub.customer) == []
    types = [e.type for e in client.v1.events.list({"limit": 20}).data]
    for expected in ("invoiceitem.created", "invoice.created", "invoice.finalized", "invoice.paid"):
        assert expected in types


def test_none_bills_the_new_price_from_the_renewal(
    client: stripe.StripeClient, plans: Plans, emulator_url: str, api_key: str
) -> None:
    sub = _subscribe(client, plans.basic)
    client.v1.subscriptions.update(sub.id, _switch(sub, plans.pro, proration_behavior="none"))
    assert _pending(client, sub.customer) == []
    advance_time(emulator_url, api_key, 31 * DAY)
    renewal = client.v1.invoices.retrieve(client.v1.subscriptions.retrieve(sub.id).latest_invoice)
    assert [line.amount for line in renewal.lines.data] == [3000]


def test_interval_change_resets_the_cycle_and_bills_at_once(
    client: stripe.StripeClient, plans: Plans
) -> None:
    sub = _subscribe(client, plans.basic)
    change = _switch(sub, plans.yearly)
    at = change["proration_date"]
    updated = client.v1.subscriptions.update(sub.id, change)
    item = updated["items"].data[0]
    assert (item.current_period_start, updated.billing_cycle_anchor) == (at, at)
    assert 365 * DAY <= item.current_period_end - at <= 366 * DAY
    inv = client.v1.invoices.retrieve(updated.latest_invoice)
    assert (inv.billing_reason, inv.status, inv.amount_due) == ("subscription_update", "paid", 9333)
    assert [line.amount for line in inv.lines.data] == [-667, 10000]
    assert inv.lines.data[1].period.start == at and inv.lines.data[1].period.end == item.current_period_end
    assert _pending(client, sub.customer) == []


def test_billing_cycle_anchor_now_restarts_the_period(client: stripe.StripeClient, plans: Plans) -> None:
    sub = _subscribe(client, plans.basic)
    change = _switch(sub, plans.pro, billing_cycle_anchor="now")
    updated = client.v1.subscriptions.update(sub.id, change)
    item = updated["items"].data[0]
    assert (item.current_period_start, item.current_period_end) == (
        change["proration_date"],
        change["proration_date"] + 30 * DAY,
    )
    inv = client.v1.invoices.retrieve(updated.latest_invoice)
    assert [line.amount for line in inv.lines.data] == [-667, 3000]


def test_billing_cycle_anchor_now_credits_every_item_and_bills_a_whole_period(
    client: stripe.StripeClient, plans: Plans
) -> None:
    cus = customer_with_card(client)
    sub = client.v1.subscriptions.create(
        {"customer": cus.id, "items": [{"price": plans.basic.id}, {"price": plans.seat.id, "quantity": 2}]}
    )
    at = sub["items"].data[0].current_period_start + 10 * DAY
    params = {"billing_cycle_anchor": "now", "proration_date": at}
    preview = client.v1.invoices.create_preview({"subscription": sub.id, "subscription_details": params})
    updated = client.v1.subscriptions.update(sub.id, params)
    inv = client.v1.invoices.retrieve(updated.latest_invoice)
    assert [line.amount for line in inv.lines.data] == [-667, -667, 1000, 1000]
    assert _lines(preview) == _lines(inv) and inv.amount_paid == 666
    assert {i.current_period_start for i in updated["items"].data} == {at}


@pytest.mark.parametrize("behavior", ["create_prorations", "always_invoice", "none"])
def test_preview_matches_what_the_update_bills(
    client: stripe.StripeClient, plans: Plans, emulator_url: str, api_key: str, behavior: str
) -> None:
    sub = _subscribe(client, plans.basic, quantity=2)
    # An earlier change's pending item must show on both sides too.
    client.v1.subscriptions.update(sub.id, _switch(sub, quantity=3))
    change = _switch(sub, plans.pro, quantity=2, proration_behavior=behavior)
    preview = _preview(client, sub, change)
    assert preview.id.startswith("upcoming_in_") and preview.status == "draft"
    assert client.v1.invoices.list({"customer": sub.customer}).data[0].id != preview.id
    updated = client.v1.subscriptions.update(sub.id, change)
    if behavior == "always_invoice":
        billed = client.v1.invoices.retrieve(updated.latest_invoice)
    else:
        advance_time(emulator_url, api_key, 31 * DAY)
        billed = client.v1.invoices.retrieve(client.v1.subscriptions.retrieve(sub.id).latest_invoice)
    assert _lines(preview) == _lines(billed)
    assert [(line.period.start, line.period.end) for line in preview.lines.data] == [
        (line.period.start, line.period.end) for line in billed.lines.data
    ]
    assert (preview.amount_due, preview.total, preview.subtotal) == (
        billed.amount_due,
        billed.total,
        billed.subtotal,
    )
    expected = {
        # 2→3 seats of $10 (−1333 + 2000), then 3 Basic → 2 Pro (−2000 + 4000), then 2 × $30.
        "create_prorations": -1333 + 2000 - 2000 + 4000 + 6000,
        "always_invoice": -1333 + 2000 - 2000 + 4000,
        "none": -1333 + 2000 + 6000,
    }[behavior]
    assert preview.amount_due == expected


def test_preview_of_an_interval_change_is_the_invoice_it_creates(
    client: stripe.StripeClient, plans: Plans
) -> None:
    sub = _subscribe(client, plans.basic)
    change = _switch(sub, plans.yearly)
    preview = _preview(client, sub, change)
    assert (preview.billing_reason, preview.amount_due) == ("subscription_update", 9333)
    billed = client.v1.invoices.retrieve(client.v1.subscriptions.update(sub.id, change).latest_invoice)
    assert _lines(preview) == _lines(billed)


def test_preview_changes_nothing(client: stripe.StripeClient, plans: Plans) -> None:
    sub = _subscribe(client, plans.basic)
    events = len(client.v1.events.list({"limit": 100}).data)
    preview = _preview(client, sub, _switch(sub, plans.pro, proration_behavior="always_invoice"))
    assert preview.amount_due == 1333
    assert client.v1.subscriptions.retrieve(sub.id)["items"].data[0].price.id == plans.basic.id
    assert _pending(client, sub.customer) == []
    assert len(client.v1.invoices.list({"customer": sub.customer}).data) == 1
    assert len(client.v1.events.list({"limit": 100}).data) == events


def _fail_future_charges(client: stripe.StripeClient, customer: str) -> None:
    """The customer's default card now attaches fine but declines charges."""
    pm = client.v1.payment_methods.attach("pm_card_chargeCustomerFail", {"customer": customer})
    client.v1.customers.update(customer, {"invoice_settings": {"default_payment_method": pm.id}})


def test_error_if_incomplete_declined_changes_nothing(client: stripe.StripeClient, plans: Plans) -> None:
    sub = _subscribe(client, plans.basic)
    _fail_future_charges(client, sub.customer)
    events = len(client.v1.events.list({"limit": 100}).data)
    with pytest.raises(stripe.CardError) as declined:
        client.v1.subscriptions.update(
            sub.id,
            _switch(
                sub, plans.pro, proration_behavior="always_invoice", payment_behavior="error_if_incomplete"
            ),
        )
    assert declined.value.http_status == 402 and declined.value.code == "card_declined"
    assert declined.value.error.type == "card_error"
    after = client.v1.subscriptions.retrieve(sub.id)
    assert after["items"].data[0].price.id == plans.basic.id and after.status == "active"
    assert after.latest_invoice == sub.latest_invoice
    assert _pending(client, sub.customer) == []
    assert len(client.v1.invoices.list({"customer": sub.customer}).data) == 1
    assert len(client.v1.events.list({"limit": 100}).data) == events


def test_allow_incomplete_declined_leaves_the_invoice_open(client: stripe.StripeClient, plans: Plans) -> None:
    sub = _subscribe(client, plans.basic)
    _fail_future_charges(client, sub.customer)
    change = _switch(sub, plans.pro, proration_behavior="always_invoice")
    updated = client.v1.subscriptions.update(sub.id, change)
    assert updated["items"].data[0].price.id == plans.pro.id and updated.status == "past_due"
    inv = client.v1.invoices.retrieve(updated.latest_invoice)
    assert (inv.status, inv.amount_remaining) == ("open", 1333)


def test_create_prorations_needs_no_charge_so_a_failing_card_does_not_block(
    client: stripe.StripeClient, plans: Plans
) -> None:
    sub = _subscribe(client, plans.basic)
    _fail_future_charges(client, sub.customer)
    change = _switch(sub, plans.pro, payment_behavior="error_if_incomplete")
    updated = client.v1.subscriptions.update(sub.id, change)
    assert updated["items"].data[0].price.id == plans.pro.id
    assert len(_pending(client, sub.customer)) == 2


@pytest.mark.parametrize("offset", [-1, 30 * DAY])
def test_proration_date_outside_the_period_is_rejected(
    client: stripe.StripeClient, plans: Plans, offset: int
) -> None:
    sub = _subscribe(client, plans.basic)
    change = {**_switch(sub, plans.pro), "proration_date": sub["items"].data[0].current_period_start + offset}
    with pytest.raises(stripe.InvalidRequestError) as bad:
        client.v1.subscriptions.update(sub.id, change)
    assert bad.value.http_status == 400 and bad.value.param == "proration_date"
    with pytest.raises(stripe.InvalidRequestError) as bad_preview:
        _preview(client, sub, change)
    assert bad_preview.value.param == "subscription_details[proration_date]"
    assert client.v1.subscriptions.retrieve(sub.id)["items"].data[0].price.id == plans.basic.id


def test_update_emits_subscription_updated_with_the_old_items(
    client: stripe.StripeClient, plans: Plans
) -> None:
    sub = _subscribe(client, plans.basic)
    client.v1.subscriptions.update(sub.id, _switch(sub, plans.pro))
    event = client.v1.events.list({"type": "customer.subscription.updated", "limit": 1}).data[0]
    assert event.data.object["items"].data[0].price.id == plans.pro.id
    assert event.data.previous_attributes["items"].data[0].price.id == plans.basic.id
    created = client.v1.events.list({"type": "invoiceitem.created", "limit": 10}).data
    assert sorted(e.data.object.amount for e in created) == [-667, 2000]



def test_pending_if_incomplete_waits_for_the_invoice_to_be_paid(
    client: stripe.StripeClient, plans: Plans
) -> None:
    sub = _subscribe(client, plans.basic)
    _fail_future_charges(client, sub.customer)
    change = _switch(
        sub, plans.pro, proration_behavior="always_invoice", payment_behavior="pending_if_incomplete"
    )
    waiting = client.v1.subscriptions.update(sub.id, change)
    assert waiting["items"].data[0].price.id == plans.basic.id and waiting.status == "active"
    pending = waiting.pending_update
    assert pending.expires_at == change["proration_date"] + 23 * 3600
    assert [(i.price.id, i.quantity) for i in pending.subscription_items] == [(plans.pro.id, 1)]
    inv = client.v1.invoices.retrieve(waiting.latest_invoice)
    assert (inv.status, inv.amount_due) == ("open", 1333)

    good = client.v1.payment_methods.attach("pm_card_visa", {"customer": sub.customer})
    client.v1.invoices.pay(inv.id, {"payment_method": good.id})
    applied = client.v1.subscriptions.retrieve(sub.id)
    assert applied["items"].data[0].price.id == plans.pro.id and applied.pending_update is None
    applied_events = client.v1.events.list({"type": "customer.subscription.pending_update_applied"})
    event = applied_events.data[0]
    assert event.data.object.id == sub.id
    assert event.data.previous_attributes["items"].data[0].price.id == plans.basic.id


def test_an_invoice_item_for_a_subscription_lands_on_its_renewal(
    client: stripe.StripeClient, plans: Plans, emulator_url: str, api_key: str
) -> None:
    sub = _subscribe(client, plans.basic)
    other = _subscribe(client, plans.pro)
    ii = client.v1.invoice_items.create(
        {
            "customer": sub.customer,
            "subscription": sub.id,
            "amount": 250,
            "currency": "usd",
            "description": "Setup",
        }
    )
    assert ii.parent.subscription_details.subscription == sub.id and ii.proration is False
    with pytest.raises(stripe.InvalidRequestError) as foreign:
        client.v1.invoice_items.create(
            {"customer": sub.customer, "subscription": other.id, "amount": 1, "currency": "usd"}
        )
    assert foreign.value.param == "subscription"
    advance_time(emulator_url, api_key, 31 * DAY)
    renewal = client.v1.invoices.retrieve(client.v1.subscriptions.retrieve(sub.id).latest_invoice)
    assert _lines(renewal)[0] == (250, "Setup") and renewal.amount_due == 1250
    assert renewal.lines.data[0].parent.invoice_item_details.invoice_item == ii.id


def test_always_invoice_without_a_proration_bills_nothing(client: stripe.StripeClient, plans: Plans) -> None:
    sub = _subscribe(client, plans.basic)
    updated = client.v1.subscriptions.update(
        sub.id, {**_switch(sub, plans.basic), "proration_behavior": "always_invoice", "metadata": {"k": "v"}}
    )
    assert updated.latest_invoice == sub.latest_invoice and updated.metadata["k"] == "v"


def test_subscription_item_update_prorates_too(client: stripe.StripeClient, plans: Plans) -> None:
    sub = _subscribe(client, plans.basic)
    item = sub["items"].data[0]
    client.v1.subscription_items.update(
        item.id,
        {
            "price": plans.pro.id,
            "proration_behavior": "always_invoice",
            "proration_date": item.current_period_start + 10 * DAY,
        },
    )
    inv = client.v1.invoices.retrieve(client.v1.subscriptions.retrieve(sub.id).latest_invoice)
    assert (inv.billing_reason, inv.amount_paid) == ("subscription_update", 1333)


def test_adding_an_item_charges_and_deleting_one_credits_the_rest_of_the_period(
    client: stripe.StripeClient, plans: Plans
) -> None:
    sub = _subscribe(client, plans.basic)
    at = sub["items"].data[0].current_period_start + 10 * DAY
    added = client.v1.subscriptions.update(
        sub.id, {"items": [{"price": plans.seat.id, "quantity": 3}], "proration_date": at}
    )
    seat = added["items"].data[1]
    assert (seat.price.id, seat.quantity) == (plans.seat.id, 3)
    pending = _pending(client, sub.customer)
    assert [(ii.amount, ii.parent.subscription_details.subscription_item) for ii in pending] == [(1000, seat.id)]
    client.v1.subscriptions.update(sub.id, {"items": [{"id": seat.id, "deleted": True}], "proration_date": at})
    assert sorted(ii.amount for ii in _pending(client, sub.customer)) == [-1000, 1000]
    assert [i.id for i in client.v1.subscriptions.retrieve(sub.id)["items"].data] == [sub["items"].data[0].id]
