"""Time travel through the control API: renewals, period-end cancellation, failed renewals, expiry."""

from __future__ import annotations

import pytest
import stripe

from devtools.emulator import advance_time, emulator_now
from tests.emulator.helpers import Catalog, customer_with_card, make_catalog

DAY = 86400


@pytest.fixture
def catalog(client: stripe.StripeClient) -> Catalog:
    return make_catalog(client)


def _invoices(client: stripe.StripeClient, sub_id: str) -> list[stripe.Invoice]:
    return list(client.v1.invoices.list({"subscription": sub_id, "limit": 100}).data)


def test_advance_renews_with_a_new_paid_invoice(
    client: stripe.StripeClient, catalog: Catalog, emulator_url: str, api_key: str
) -> None:
    cus = customer_with_card(client)
    sub = client.v1.subscriptions.create({"customer": cus.id, "items": [{"price": catalog.basic.id}]})
    first_end = sub["items"].data[0].current_period_end
    before = emulator_now(emulator_url, api_key)
    result = advance_time(emulator_url, api_key, 32 * DAY)
    assert result["renewed"] == 1 and result["now"] >= before + 32 * DAY
    renewed = client.v1.subscriptions.retrieve(sub.id)
    item = renewed["items"].data[0]
    assert renewed.status == "active"
    assert item.current_period_start == first_end and item.current_period_end > first_end
    invoices = _invoices(client, sub.id)
    assert [(i.billing_reason, i.status) for i in invoices] == [
        ("subscription_cycle", "paid"),
        ("subscription_create", "paid"),
    ]
    assert invoices[0].created == first_end and invoices[0].id == renewed.latest_invoice
    assert invoices[0].number != invoices[1].number
    updated = client.v1.events.list({"type": "customer.subscription.updated", "limit": 1}).data[0]
    assert updated.data.object.id == sub.id
    assert updated.data.previous_attributes.latest_invoice == invoices[1].id
    # Objects created after the jump carry the account's moved clock.
    assert client.v1.customers.create({}).created >= before + 32 * DAY


def test_advance_several_periods_at_once(
    client: stripe.StripeClient, catalog: Catalog, emulator_url: str, api_key: str
) -> None:
    cus = customer_with_card(client)
    sub = client.v1.subscriptions.create({"customer": cus.id, "items": [{"price": catalog.basic.id}]})
    advance_time(emulator_url, api_key, 95 * DAY)
    assert len(_invoices(client, sub.id)) == 4  # create + 3 renewals


def test_cancel_at_period_end_ends_the_subscription(
    client: stripe.StripeClient, catalog: Catalog, emulator_url: str, api_key: str
) -> None:
    cus = customer_with_card(client)
    sub = client.v1.subscriptions.create({"customer": cus.id, "items": [{"price": catalog.basic.id}]})
    client.v1.subscriptions.update(sub.id, {"cancel_at_period_end": True})
    advance_time(emulator_url, api_key, 10 * DAY)
    assert client.v1.subscriptions.retrieve(sub.id).status == "active"
    result = advance_time(emulator_url, api_key, 25 * DAY)
    assert result["canceled"] == 1 and result["renewed"] == 0
    ended = client.v1.subscriptions.retrieve(sub.id)
    assert ended.status == "canceled" and ended.ended_at == sub["items"].data[0].current_period_end
    assert len(_invoices(client, sub.id)) == 1
    deleted = client.v1.events.list({"type": "customer.subscription.deleted"}).data
    assert [e.data.object.id for e in deleted] == [sub.id]
    assert client.v1.subscriptions.list({"customer": cus.id}).data == []


def test_declined_renewal_makes_the_subscription_past_due(
    client: stripe.StripeClient, catalog: Catalog, emulator_url: str, api_key: str
) -> None:
    cus = customer_with_card(client)
    sub = client.v1.subscriptions.create({"customer": cus.id, "items": [{"price": catalog.basic.id}]})
    bad = client.v1.payment_methods.attach("pm_card_chargeCustomerFail", {"customer": cus.id})
    client.v1.subscriptions.update(sub.id, {"default_payment_method": bad.id})
    advance_time(emulator_url, api_key, 31 * DAY)
    assert client.v1.subscriptions.retrieve(sub.id).status == "past_due"
    latest = _invoices(client, sub.id)[0]
    assert (latest.status, latest.attempt_count) == ("open", 1)
    assert client.v1.events.list({"type": "invoice.payment_failed"}).data[0].data.object.id == latest.id
    client.v1.invoices.pay(latest.id, {"payment_method": "pm_card_visa"})
    assert client.v1.subscriptions.retrieve(sub.id).status == "active"


def test_trial_converts_to_active(
    client: stripe.StripeClient, catalog: Catalog, emulator_url: str, api_key: str
) -> None:
    cus = customer_with_card(client)
    sub = client.v1.subscriptions.create(
        {"customer": cus.id, "items": [{"price": catalog.basic.id}], "trial_period_days": 7}
    )
    advance_time(emulator_url, api_key, 8 * DAY)
    after = client.v1.subscriptions.retrieve(sub.id)
    assert after.status == "active"
    assert client.v1.invoices.retrieve(after.latest_invoice).amount_paid == 1000


def test_unpaid_first_invoice_expires(
    client: stripe.StripeClient, catalog: Catalog, emulator_url: str, api_key: str
) -> None:
    cus = client.v1.customers.create({})
    sub = client.v1.subscriptions.create(
        {"customer": cus.id, "items": [{"price": catalog.basic.id}], "payment_behavior": "default_incomplete"}
    )
    assert sub.status == "incomplete"
    advance_time(emulator_url, api_key, DAY)
    assert client.v1.subscriptions.retrieve(sub.id).status == "incomplete_expired"
    assert client.v1.invoices.retrieve(sub.latest_invoice).status == "void"


def test_backdated_subscription_replays_its_history(
    client: stripe.StripeClient, catalog: Catalog, emulator_url: str, api_key: str
) -> None:
    cus = customer_with_card(client)
    now = emulator_now(emulator_url, api_key)
    sub = client.v1.subscriptions.create(
        {"customer": cus.id, "items": [{"price": catalog.basic.id}], "backdate_start_date": now - 100 * DAY}
    )
    invoices = _invoices(client, sub.id)
    assert len(invoices) == 4 and all(i.status == "paid" for i in invoices)
    assert invoices[-1].created == now - 100 * DAY
    item = client.v1.subscriptions.retrieve(sub.id)["items"].data[0]
    assert item.current_period_start <= now < item.current_period_end


def test_control_api_needs_the_accounts_key(emulator_url: str) -> None:
    import httpx

    resp = httpx.post(f"{emulator_url}/_emulator/clock/advance", data={"seconds": "10"})
    assert resp.status_code == 401
    resp = httpx.post(
        f"{emulator_url}/_emulator/clock/advance",
        data={"seconds": "-5"},
        headers={"Authorization": "Bearer sk_test_abc"},
    )
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "seconds"
