"""`pause_collection` in renewals and immediate cancel with a prorated credit, through the real
SDK, against hand-computed figures (issue 20)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
import stripe

from devtools.emulator import advance_time, emulator_now
from tests.emulator.helpers import customer_with_card

DAY = 86400


@pytest.fixture
def plan49(client: stripe.StripeClient) -> stripe.Price:
    """$49 every 30 days: 10 days in, 20/30 of the period is unused."""
    return client.v1.prices.create(
        {
            "product_data": {"name": "Team"},
            "currency": "usd",
            "unit_amount": 4900,
            "recurring": {"interval": "day", "interval_count": 30},
        }
    )


def _subscribe(client: stripe.StripeClient, price: stripe.Price) -> stripe.Subscription:
    cus = customer_with_card(client)
    return client.v1.subscriptions.create({"customer": cus.id, "items": [{"price": price.id}]})


def _invoices(client: stripe.StripeClient, sub_id: str) -> list[stripe.Invoice]:
    """Oldest first."""
    return list(reversed(client.v1.invoices.list({"subscription": sub_id, "limit": 100}).data))


# --- pause_collection ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("behavior", "status"),
    [("void", "void"), ("mark_uncollectible", "uncollectible"), ("keep_as_draft", "draft")],
)
def test_paused_renewal_is_not_charged(
    client: stripe.StripeClient,
    plan49: stripe.Price,
    emulator_url: str,
    api_key: str,
    behavior: str,
    status: str,
) -> None:
    sub = _subscribe(client, plan49)
    paused = client.v1.subscriptions.update(sub.id, {"pause_collection": {"behavior": behavior}})
    assert paused.pause_collection.behavior == behavior and paused.pause_collection.resumes_at is None
    advance_time(emulator_url, api_key, 31 * DAY)
    renewal = _invoices(client, sub.id)[-1]
    assert (renewal.billing_reason, renewal.status) == ("subscription_cycle", status)
    assert renewal.attempt_count == 0
    assert renewal.amount_paid == 0 and renewal.subtotal == 4900
    after = client.v1.subscriptions.retrieve(sub.id)
    assert after.status == "active" and after.pause_collection.behavior == behavior
    resumed = client.v1.subscriptions.update(sub.id, {"pause_collection": ""})
    assert resumed.pause_collection is None
    advance_time(emulator_url, api_key, 30 * DAY)
    assert _invoices(client, sub.id)[-1].status == "paid"


def test_collection_resumes_at_resumes_at(
    client: stripe.StripeClient, plan49: stripe.Price, emulator_url: str, api_key: str
) -> None:
    sub = _subscribe(client, plan49)
    resumes_at = emulator_now(emulator_url, api_key) + 45 * DAY
    pause = {"behavior": "void", "resumes_at": resumes_at}
    client.v1.subscriptions.update(sub.id, {"pause_collection": pause})
    advance_time(emulator_url, api_key, 31 * DAY)  # renewal at day 30: voided
    assert client.v1.subscriptions.retrieve(sub.id).pause_collection.resumes_at == resumes_at
    advance_time(emulator_url, api_key, 30 * DAY)  # day 45: resumed; renewal at day 60: charged
    assert client.v1.subscriptions.retrieve(sub.id).pause_collection is None
    assert [i.status for i in _invoices(client, sub.id)] == ["paid", "void", "paid"]
    events = client.v1.events.list({"type": "customer.subscription.updated", "limit": 10}).data
    resumed = [
        e for e in events if "pause_collection" in (e.data.to_dict().get("previous_attributes") or {})
    ]
    assert resumed and resumed[0].data.object.pause_collection is None


def test_pause_collection_is_checked(client: stripe.StripeClient, plan49: stripe.Price) -> None:
    sub = _subscribe(client, plan49)
    with pytest.raises(stripe.InvalidRequestError) as bad:
        client.v1.subscriptions.update(sub.id, {"pause_collection": {"behavior": "skip"}})
    assert bad.value.param == "pause_collection[behavior]"
    with pytest.raises(stripe.InvalidRequestError) as past:
        client.v1.subscriptions.update(sub.id, {"pause_collection": {"behavior": "void", "resumes_at": 1}})
    assert past.value.param == "pause_collection[resumes_at]"


# --- immediate cancel with a prorated credit ---------------------------------------------------


def _credit(start: int, end: int, at: int) -> int:
    """4900 × (end − at) / (end − start), rounded half away from zero: the unused time's credit."""
    exact = Decimal(4900) * (end - at) / (end - start)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def test_cancel_now_with_invoice_now_credits_the_unused_time(
    client: stripe.StripeClient, plan49: stripe.Price, emulator_url: str, api_key: str
) -> None:
    sub = _subscribe(client, plan49)
    start, end = sub["items"].data[0].current_period_start, sub["items"].data[0].current_period_end
    assert end - start == 30 * DAY
    advance_time(emulator_url, api_key, 10 * DAY)
    canceled = client.v1.subscriptions.cancel(
        sub.id,
        {
            "prorate": True,
            "invoice_now": True,
            "cancellation_details": {"feedback": "too_expensive", "comment": "Cheaper elsewhere"},
        },
    )
    at = canceled.canceled_at
    credit = _credit(start, end, at)
    assert 3265 <= credit <= 3267  # ≈ 20/30 of $49.00 = $32.67 (a few seconds passed since day 10)
    assert canceled.status == "canceled" and canceled.ended_at == at
    details = canceled.cancellation_details
    assert (details.reason, details.feedback, details.comment) == (
        "cancellation_requested",
        "too_expensive",
        "Cheaper elsewhere",
    )
    final = _invoices(client, sub.id)[-1]
    assert [line.amount for line in final.lines.data] == [-credit]
    assert (final.total, final.amount_due, final.status) == (-credit, 0, "paid")
    assert (final.starting_balance, final.ending_balance) == (0, -credit)
    assert client.v1.customers.retrieve(sub.customer).balance == -credit


def test_cancel_now_with_prorate_leaves_a_pending_credit(
    client: stripe.StripeClient, plan49: stripe.Price, emulator_url: str, api_key: str
) -> None:
    sub = _subscribe(client, plan49)
    start, end = sub["items"].data[0].current_period_start, sub["items"].data[0].current_period_end
    advance_time(emulator_url, api_key, 10 * DAY)
    canceled = client.v1.subscriptions.cancel(sub.id, {"prorate": True})
    pending = client.v1.invoice_items.list({"customer": sub.customer, "pending": True}).data
    credit = _credit(start, end, canceled.canceled_at)
    assert [(ii.amount, ii.proration) for ii in pending] == [(-credit, True)]
    assert len(_invoices(client, sub.id)) == 1


def test_plain_cancel_credits_nothing(client: stripe.StripeClient, plan49: stripe.Price) -> None:
    sub = _subscribe(client, plan49)
    canceled = client.v1.subscriptions.cancel(sub.id)
    assert canceled.status == "canceled"
    assert client.v1.invoice_items.list({"customer": sub.customer, "pending": True}).data == []
    assert client.v1.customers.retrieve(sub.customer).balance == 0


def test_cancellation_details_on_update(client: stripe.StripeClient, plan49: stripe.Price) -> None:
    sub = _subscribe(client, plan49)
    updated = client.v1.subscriptions.update(
        sub.id,
        {
            "cancel_at_period_end": True,
            "cancellation_details": {"feedback": "low_quality", "comment": "Slow"},
        },
    )
    details = updated.cancellation_details
    assert (details.feedback, details.comment) == ("low_quality", "Slow")
    with pytest.raises(stripe.InvalidRequestError) as bad:
        client.v1.subscriptions.update(sub.id, {"cancellation_details": {"feedback": "bored"}})
    assert bad.value.param == "cancellation_details[feedback]"
