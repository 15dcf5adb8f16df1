"""Subscriptions and subscription items through the real SDK."""

from __future__ import annotations

import pytest
import stripe

from tests.emulator.helpers import Catalog, customer_with_card, make_catalog


@pytest.fixture
def catalog(client: stripe.StripeClient) -> Catalog:
    return make_catalog(client)


def test_create_with_items_pays_the_first_invoice(client: stripe.StripeClient, catalog: Catalog) -> None:
    cus = customer_with_card(client)
    sub = client.v1.subscriptions.create(
        {
            "customer": cus.id,
            "items": [{"price": catalog.basic.id}, {"price": catalog.seats.id, "quantity": 3}],
            "metadata": {"plan": "team"},
        }
    )
    assert sub.status == "active" and sub.customer == cus.id and sub.currency == "usd"
    items = sub["items"].data
    assert [(i.price.id, i.quantity) for i in items] == [(catalog.basic.id, 1), (catalog.seats.id, 3)]
    for item in items:
        assert item.current_period_start == sub.start_date
        assert 28 * 86400 <= item.current_period_end - item.current_period_start <= 31 * 86400
    inv = client.v1.invoices.retrieve(sub.latest_invoice)
    assert (inv.status, inv.billing_reason, inv.amount_due, inv.amount_paid) == (
        "paid",
        "subscription_create",
        2500,
        2500,
    )
    assert inv.parent.subscription_details.subscription == sub.id
    assert [line.amount for line in inv.lines.data] == [1000, 1500]
    assert inv.lines.data[1].description == "3 × Seats (at $5.00 / month)"
    types = [e.type for e in client.v1.events.list({"limit": 20}).data]
    for expected in ("customer.subscription.created", "invoice.created", "invoice.finalized", "invoice.paid"):
        assert expected in types


def test_expand_and_retrieve(client: stripe.StripeClient, catalog: Catalog) -> None:
    cus = customer_with_card(client)
    sub = client.v1.subscriptions.create({"customer": cus.id, "items": [{"price": catalog.basic.id}]})
    got = client.v1.subscriptions.retrieve(
        sub.id,
        {
            "expand": [
                "latest_invoice",
                "items.data.price.product",
                "customer.invoice_settings.default_payment_method",
            ]
        },
    )
    assert got.latest_invoice.object == "invoice" and got.latest_invoice.status == "paid"
    assert got["items"].data[0].price.product.name == "Basic"
    assert got.customer.invoice_settings.default_payment_method.card.last4 == "4242"
    with pytest.raises(stripe.InvalidRequestError) as bad:
        client.v1.subscriptions.retrieve(sub.id, {"expand": ["status"]})
    assert bad.value.param == "expand"
    items = client.v1.subscription_items.list({"subscription": sub.id})
    assert [i.id for i in items.data] == [sub["items"].data[0].id]
    assert (
        client.v1.subscription_items.retrieve(items.data[0].id).current_period_end
        == items.data[0].current_period_end
    )


def test_list_by_customer_and_status(client: stripe.StripeClient, catalog: Catalog) -> None:
    a, b = customer_with_card(client), customer_with_card(client, email="b@example.com")
    s1 = client.v1.subscriptions.create({"customer": a.id, "items": [{"price": catalog.basic.id}]})
    s2 = client.v1.subscriptions.create({"customer": a.id, "items": [{"price": catalog.seats.id}]})
    s3 = client.v1.subscriptions.create({"customer": b.id, "items": [{"price": catalog.basic.id}]})
    client.v1.subscriptions.cancel(s1.id)
    assert [s.id for s in client.v1.subscriptions.list({"customer": a.id}).data] == [s2.id]
    assert [s.id for s in client.v1.subscriptions.list({"customer": a.id, "status": "all"}).data] == [
        s2.id,
        s1.id,
    ]
    assert [s.id for s in client.v1.subscriptions.list({"customer": a.id, "status": "canceled"}).data] == [
        s1.id
    ]
    assert [s.id for s in client.v1.subscriptions.list({"price": catalog.basic.id}).data] == [s3.id]
    page = client.v1.subscriptions.list({"status": "all", "limit": 2})
    assert page.has_more and len(page.data) == 2
    expanded = client.v1.subscriptions.list(
        {"customer": a.id, "expand": ["data.latest_invoice", "data.customer"]}
    )
    assert (
        expanded.data[0].latest_invoice.status == "paid"
        and expanded.data[0].customer.email == "sub@example.com"
    )


def test_cancel_at_period_end_and_resume(client: stripe.StripeClient, catalog: Catalog) -> None:
    cus = customer_with_card(client)
    sub = client.v1.subscriptions.create({"customer": cus.id, "items": [{"price": catalog.basic.id}]})
    period_end = sub["items"].data[0].current_period_end
    canceling = client.v1.subscriptions.update(sub.id, {"cancel_at_period_end": True})
    assert canceling.cancel_at_period_end is True and canceling.cancel_at == period_end
    assert canceling.status == "active" and canceling.canceled_at is not None
    event = client.v1.events.list({"type": "customer.subscription.updated", "limit": 1}).data[0]
    assert event.data.object.id == sub.id
    assert event.data.previous_attributes.cancel_at_period_end is False
    resumed = client.v1.subscriptions.update(sub.id, {"cancel_at_period_end": False})
    assert (resumed.cancel_at_period_end, resumed.cancel_at, resumed.canceled_at) == (False, None, None)


def test_default_payment_method_and_metadata(client: stripe.StripeClient, catalog: Catalog) -> None:
    cus = customer_with_card(client)
    sub = client.v1.subscriptions.create({"customer": cus.id, "items": [{"price": catalog.basic.id}]})
    mc = client.v1.payment_methods.attach("pm_card_mastercard", {"customer": cus.id})
    updated = client.v1.subscriptions.update(
        sub.id, {"default_payment_method": mc.id, "metadata": {"a": "1"}}
    )
    assert updated.default_payment_method == mc.id and updated.metadata.to_dict() == {"a": "1"}
    stranger = client.v1.payment_methods.create({"type": "card", "card": {"token": "tok_visa"}})
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.subscriptions.update(sub.id, {"default_payment_method": stranger.id})
    assert exc.value.param == "default_payment_method"
    key = {"idempotency_key": "upd-1"}
    first = client.v1.subscriptions.update(sub.id, {"metadata": {"b": "2"}}, key)
    assert (
        client.v1.subscriptions.update(sub.id, {"metadata": {"b": "2"}}, key).metadata.to_dict()
        == first.metadata.to_dict()
    )


def test_cancel_now(client: stripe.StripeClient, catalog: Catalog) -> None:
    cus = customer_with_card(client)
    sub = client.v1.subscriptions.create({"customer": cus.id, "items": [{"price": catalog.basic.id}]})
    canceled = client.v1.subscriptions.cancel(sub.id, {"cancellation_details": {"comment": "too pricey"}})
    assert canceled.status == "canceled" and canceled.ended_at is not None
    assert canceled.cancellation_details.comment == "too pricey"
    assert client.v1.events.list({"limit": 1}).data[0].type == "customer.subscription.deleted"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.subscriptions.update(sub.id, {"cancel_at_period_end": True})
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.subscriptions.cancel(sub.id)


def test_idempotent_create(client: stripe.StripeClient, catalog: Catalog) -> None:
    cus = customer_with_card(client)
    params = {"customer": cus.id, "items": [{"price": catalog.basic.id}]}
    first = client.v1.subscriptions.create(params, {"idempotency_key": "sub-1"})  # type: ignore[arg-type]
    again = client.v1.subscriptions.create(params, {"idempotency_key": "sub-1"})  # type: ignore[arg-type]
    assert first.id == again.id
    assert len(client.v1.subscriptions.list({"customer": cus.id}).data) == 1
    assert len(client.v1.invoices.list({"customer": cus.id}).data) == 1


def test_payment_failures(client: stripe.StripeClient, catalog: Catalog) -> None:
    cus = customer_with_card(client, pm="pm_card_chargeCustomerFail")
    incomplete = client.v1.subscriptions.create({"customer": cus.id, "items": [{"price": catalog.basic.id}]})
    assert incomplete.status == "incomplete"
    inv = client.v1.invoices.retrieve(incomplete.latest_invoice)
    assert (inv.status, inv.attempt_count, inv.amount_paid) == ("open", 1, 0)
    with pytest.raises(stripe.CardError):
        client.v1.subscriptions.create(
            {
                "customer": cus.id,
                "items": [{"price": catalog.seats.id}],
                "payment_behavior": "error_if_incomplete",
            }
        )
    assert len(client.v1.subscriptions.list({"customer": cus.id, "status": "all"}).data) == 1
    # Paying the open invoice with a good card activates the subscription.
    paid = client.v1.invoices.pay(inv.id, {"payment_method": "pm_card_visa"})
    assert paid.status == "paid"
    assert client.v1.subscriptions.retrieve(incomplete.id).status == "active"


def test_trial_and_send_invoice(client: stripe.StripeClient, catalog: Catalog) -> None:
    cus = client.v1.customers.create({"email": "t@example.com"})
    trial = client.v1.subscriptions.create(
        {"customer": cus.id, "items": [{"price": catalog.basic.id}], "trial_period_days": 14}
    )
    assert trial.status == "trialing" and trial.trial_end - trial.trial_start == 14 * 86400
    assert trial["items"].data[0].current_period_end == trial.trial_end
    assert client.v1.invoices.retrieve(trial.latest_invoice).amount_due == 0
    invoiced = client.v1.subscriptions.create(
        {
            "customer": cus.id,
            "items": [{"price": catalog.seats.id}],
            "collection_method": "send_invoice",
            "days_until_due": 7,
        }
    )
    inv = client.v1.invoices.retrieve(invoiced.latest_invoice)
    assert invoiced.status == "active" and inv.status == "open"
    assert inv.due_date - inv.status_transitions.finalized_at == 7 * 86400


def test_create_errors(client: stripe.StripeClient, catalog: Catalog) -> None:
    cus = customer_with_card(client)
    one_time = client.v1.prices.create(
        {"product_data": {"name": "Fee"}, "currency": "usd", "unit_amount": 100}
    )
    cases = [
        ({"customer": cus.id}, "items"),
        ({"customer": cus.id, "items": [{"price": one_time.id}]}, "items[0][price]"),
        ({"customer": cus.id, "items": [{"price": "price_missing"}]}, "items[0][price]"),
        ({"customer": "cus_missing", "items": [{"price": catalog.basic.id}]}, "customer"),
        ({"customer": cus.id, "items": [{"price": catalog.basic.id}, {"price": catalog.yearly.id}]}, "items"),
        ({"customer": cus.id, "items": [{"price": catalog.basic.id, "quantity": 0}]}, "items[0][quantity]"),
    ]
    for params, param in cases:
        with pytest.raises(stripe.InvalidRequestError) as exc:
            client.v1.subscriptions.create(params)  # type: ignore[arg-type]
        assert exc.value.param == param, params
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.subscriptions.retrieve("sub_missing")
    assert missing.value.http_status == 404


def test_change_items(client: stripe.StripeClient, catalog: Catalog) -> None:
    cus = customer_with_card(client)
    sub = client.v1.subscriptions.create({"customer": cus.id, "items": [{"price": catalog.basic.id}]})
    item = sub["items"].data[0]
    updated = client.v1.subscriptions.update(
        sub.id, {"items": [{"id": item.id, "quantity": 4}, {"price": catalog.seats.id}]}
    )
    assert [(i.price.id, i.quantity) for i in updated["items"].data] == [
        (catalog.basic.id, 4),
        (catalog.seats.id, 1),
    ]
    assert updated["items"].data[1].current_period_end == item.current_period_end
