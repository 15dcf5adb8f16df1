"""Coupons, promotion codes and discounts on subscription invoices, through the real SDK,
against hand-computed figures (issue 20)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import stripe

from devtools.emulator import advance_time, emulator_now
from tests.emulator.helpers import customer_with_card

DAY = 86400


@pytest.fixture
def plan49(client: stripe.StripeClient) -> stripe.Price:
    return _monthly(client, "Team", 4900)


def _monthly(client: stripe.StripeClient, name: str, amount: int) -> stripe.Price:
    return client.v1.prices.create(
        {
            "product_data": {"name": name},
            "currency": "usd",
            "unit_amount": amount,
            "recurring": {"interval": "month"},
        }
    )


def _coupon(client: stripe.StripeClient, **params: Any) -> stripe.Coupon:
    return client.v1.coupons.create(params)


def _subscribe(client: stripe.StripeClient, price: stripe.Price, **params: Any) -> stripe.Subscription:
    cus = customer_with_card(client)
    return client.v1.subscriptions.create({"customer": cus.id, "items": [{"price": price.id}], **params})


def _invoices(client: stripe.StripeClient, sub_id: str) -> list[stripe.Invoice]:
    """Oldest first."""
    return list(reversed(client.v1.invoices.list({"subscription": sub_id, "limit": 100}).data))


def _error(excinfo: pytest.ExceptionInfo[stripe.StripeError]) -> tuple[int | None, str | None, str]:
    err = excinfo.value
    return err.http_status, err.code, err.user_message or ""


def test_twenty_percent_off_49_dollars_is_39_20(client: stripe.StripeClient, plan49: stripe.Price) -> None:
    coupon = _coupon(client, percent_off=20, duration="forever")
    sub = _subscribe(client, plan49, discounts=[{"coupon": coupon.id}])
    assert len(sub.discounts) == 1
    discount = client.v1.subscriptions.retrieve(sub.id, {"expand": ["discounts"]}).discounts[0]
    assert discount.source.coupon == coupon.id and discount.end is None and discount.subscription == sub.id
    inv = client.v1.invoices.retrieve(sub.latest_invoice)
    assert (inv.subtotal, inv.total, inv.amount_due, inv.amount_paid) == (4900, 3920, 3920, 3920)
    assert inv.status == "paid"
    assert [(d.amount, d.discount) for d in inv.total_discount_amounts] == [(980, discount.id)]
    assert [(d.amount, d.discount) for d in inv.lines.data[0].discount_amounts] == [(980, discount.id)]
    assert inv.discounts == [discount.id]
    assert client.v1.coupons.retrieve(coupon.id).times_redeemed == 1


def test_percent_rounds_half_away_from_zero_per_line(client: stripe.StripeClient) -> None:
    # 12.5 % of $9.99 = 124.875 → 125 cents off → $8.74.
    price = _monthly(client, "Odd", 999)
    coupon = _coupon(client, percent_off="12.5", duration="forever")
    sub = _subscribe(client, price, coupon=coupon.id)
    inv = client.v1.invoices.retrieve(sub.latest_invoice)
    assert (inv.subtotal, inv.total) == (999, 874)


def test_five_dollars_off_a_three_dollar_invoice_is_capped(client: stripe.StripeClient) -> None:
    price = _monthly(client, "Tiny", 300)
    coupon = _coupon(client, amount_off=500, currency="usd", duration="forever")
    sub = _subscribe(client, price, discounts=[{"coupon": coupon.id}])
    inv = client.v1.invoices.retrieve(sub.latest_invoice)
    assert (inv.subtotal, inv.total, inv.amount_due, inv.status) == (300, 0, 0, "paid")
    assert [d.amount for d in inv.total_discount_amounts] == [300]


def test_repeating_three_months_then_full_price(
    client: stripe.StripeClient, plan49: stripe.Price, emulator_url: str, api_key: str
) -> None:
    coupon = _coupon(client, percent_off=20, duration="repeating", duration_in_months=3)
    sub = _subscribe(client, plan49, discounts=[{"coupon": coupon.id}])
    start = sub["items"].data[0].current_period_start
    discount = client.v1.subscriptions.retrieve(sub.id, {"expand": ["discounts"]}).discounts[0]
    assert discount.start == start and discount.end is not None and discount.end > start + 88 * DAY
    advance_time(emulator_url, api_key, 100 * DAY)  # renewals at +1, +2, +3 months
    totals = [(i.billing_reason, i.subtotal, i.total) for i in _invoices(client, sub.id)]
    assert totals == [
        ("subscription_create", 4900, 3920),
        ("subscription_cycle", 4900, 3920),
        ("subscription_cycle", 4900, 3920),
        ("subscription_cycle", 4900, 4900),  # month 4: the discount ended with month 3
    ]
    assert client.v1.subscriptions.retrieve(sub.id).discounts == []


def test_once_applies_to_the_first_invoice_only(
    client: stripe.StripeClient, plan49: stripe.Price, emulator_url: str, api_key: str
) -> None:
    coupon = _coupon(client, amount_off=1000, currency="usd", duration="once")
    sub = _subscribe(client, plan49, discounts=[{"coupon": coupon.id}])
    advance_time(emulator_url, api_key, 40 * DAY)
    assert [i.total for i in _invoices(client, sub.id)] == [3900, 4900]


def test_forever_applies_to_every_renewal_and_the_preview(
    client: stripe.StripeClient, plan49: stripe.Price, emulator_url: str, api_key: str
) -> None:
    coupon = _coupon(client, percent_off=20, duration="forever")
    sub = _subscribe(client, plan49)
    assert client.v1.invoices.retrieve(sub.latest_invoice).total == 4900
    client.v1.subscriptions.update(sub.id, {"discounts": [{"coupon": coupon.id}]})
    preview = client.v1.invoices.create_preview({"customer": sub.customer, "subscription": sub.id})
    assert (preview.subtotal, preview.total) == (4900, 3920)
    advance_time(emulator_url, api_key, 70 * DAY)
    assert [i.total for i in _invoices(client, sub.id)] == [4900, 3920, 3920]


def test_deleting_the_discount_restores_full_price(
    client: stripe.StripeClient, plan49: stripe.Price
) -> None:
    coupon = _coupon(client, percent_off=20, duration="forever")
    sub = _subscribe(client, plan49, discounts=[{"coupon": coupon.id}])
    deleted = client.v1.subscriptions.delete_discount(sub.id)
    assert deleted.deleted is True and deleted.object == "discount"
    assert client.v1.subscriptions.retrieve(sub.id).discounts == []
    preview = client.v1.invoices.create_preview({"customer": sub.customer, "subscription": sub.id})
    assert preview.total == 4900


def test_coupon_validation(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as both:
        _coupon(client, percent_off=20, amount_off=500, currency="usd")
    assert _error(both)[:2] == (400, "parameter_invalid_string")
    assert "amount_off, percent_off" in _error(both)[2]
    with pytest.raises(stripe.InvalidRequestError) as no_months:
        _coupon(client, percent_off=20, duration="repeating")
    assert _error(no_months)[:2] == (400, "parameter_missing")
    with pytest.raises(stripe.InvalidRequestError) as no_currency:
        _coupon(client, amount_off=500)
    assert no_currency.value.param == "currency"
    coupon = _coupon(client, id="SAVE20", percent_off=20, max_redemptions=1)
    assert (coupon.id, coupon.duration, coupon.valid, coupon.times_redeemed) == ("SAVE20", "once", True, 0)
    assert [c.id for c in client.v1.coupons.list().data] == ["SAVE20"]
    assert client.v1.coupons.delete("SAVE20").deleted is True


# --- promotion codes ---------------------------------------------------------------------


def _promo(client: stripe.StripeClient, coupon: stripe.Coupon, **params: Any) -> stripe.PromotionCode:
    return client.v1.promotion_codes.create({"promotion": {"type": "coupon", "coupon": coupon.id}, **params})


def test_promotion_code_is_redeemed(client: stripe.StripeClient, plan49: stripe.Price) -> None:
    coupon = _coupon(client, percent_off=20, duration="forever")
    promo = _promo(client, coupon, code="WELCOME20")
    assert [p.id for p in client.v1.promotion_codes.list({"code": "WELCOME20"}).data] == [promo.id]
    sub = _subscribe(client, plan49, discounts=[{"promotion_code": promo.id}])
    assert client.v1.invoices.retrieve(sub.latest_invoice).total == 3920
    discount = client.v1.subscriptions.retrieve(sub.id, {"expand": ["discounts"]}).discounts[0]
    assert discount.promotion_code == promo.id
    assert client.v1.promotion_codes.retrieve(promo.id).times_redeemed == 1
    assert client.v1.coupons.retrieve(coupon.id).times_redeemed == 1


def _refusal(client: stripe.StripeClient, sub_id: str, promo_id: str) -> tuple[int | None, str | None, str]:
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.subscriptions.update(sub_id, {"discounts": [{"promotion_code": promo_id}]})
    return _error(exc)


def test_promotion_code_refusals(
    client: stripe.StripeClient, plan49: stripe.Price, emulator_url: str, api_key: str
) -> None:
    coupon = _coupon(client, percent_off=20, duration="forever")
    sub = _subscribe(client, plan49)  # its first invoice is paid: no longer a first-time customer
    inactive = _promo(client, coupon, code="OLD")
    client.v1.promotion_codes.update(inactive.id, {"active": False})
    expiring = _promo(client, coupon, code="SOON", expires_at=emulator_now(emulator_url, api_key) + DAY)
    used_up = _promo(client, coupon, code="ONCE", max_redemptions=1)
    _subscribe(client, plan49, discounts=[{"promotion_code": used_up.id}])
    first_only = _promo(client, coupon, code="FIRST", restrictions={"first_time_transaction": True})
    advance_time(emulator_url, api_key, 2 * DAY)
    cases = {
        inactive.id: "inactive",
        expiring.id: "expired",
        used_up.id: "maximum number of redemptions",
        first_only.id: "first-time customers",
    }
    for promo_id, why in cases.items():
        status, code, message = _refusal(client, sub.id, promo_id)
        assert (status, code) == (400, "promotion_code_invalid") and why in message, (promo_id, message)
    after = client.v1.subscriptions.retrieve(sub.id)
    assert after.discounts == [] and client.v1.promotion_codes.retrieve(first_only.id).times_redeemed == 0


def test_first_time_code_works_for_a_new_customer(client: stripe.StripeClient, plan49: stripe.Price) -> None:
    coupon = _coupon(client, percent_off=20, duration="once")
    promo = _promo(client, coupon, code="HELLO", restrictions={"first_time_transaction": True})
    sub = _subscribe(client, plan49, discounts=[{"promotion_code": promo.id}])
    assert client.v1.invoices.retrieve(sub.latest_invoice).total == 3920


def test_active_codes_are_unique(client: stripe.StripeClient) -> None:
    coupon = _coupon(client, percent_off=10)
    _promo(client, coupon, code="SPRING")
    with pytest.raises(stripe.InvalidRequestError) as dup:
        _promo(client, coupon, code="spring")
    assert dup.value.code == "resource_already_exists"


def test_once_waits_for_the_first_paid_invoice_after_a_trial(
    client: stripe.StripeClient, plan49: stripe.Price, emulator_url: str, api_key: str
) -> None:
    coupon = _coupon(client, percent_off=20, duration="once")
    sub = _subscribe(client, plan49, trial_period_days=7, discounts=[{"coupon": coupon.id}])
    advance_time(emulator_url, api_key, 8 * DAY + 31 * DAY)  # trial end, then one renewal
    assert [i.total for i in _invoices(client, sub.id)] == [0, 3920, 4900]


def test_amount_off_must_be_in_the_subscriptions_currency(
    client: stripe.StripeClient, plan49: stripe.Price
) -> None:
    coupon = _coupon(client, amount_off=500, currency="eur", duration="forever")
    with pytest.raises(stripe.InvalidRequestError) as exc:
        _subscribe(client, plan49, discounts=[{"coupon": coupon.id}])
    assert exc.value.param == "discounts[0][coupon]" and "(eur)" in (exc.value.user_message or "")
    assert client.v1.coupons.retrieve(coupon.id).times_redeemed == 0


def test_hosted_invoice_and_pdf_show_the_discount(client: stripe.StripeClient, plan49: stripe.Price) -> None:
    coupon = _coupon(client, percent_off=20, duration="forever", name="Spring")
    sub = _subscribe(client, plan49, discounts=[{"coupon": coupon.id}])
    inv = client.v1.invoices.retrieve(sub.latest_invoice)
    page = httpx.get(inv.hosted_invoice_url).text
    assert "Spring (20% off)" in page and "-$9.80" in page and "$39.20" in page
    pdf = httpx.get(inv.invoice_pdf).content
    assert b"Spring \\(20% off\\)" in pdf and b"-$9.80" in pdf  # parentheses escaped in PDF text


def test_a_non_discountable_item_is_not_discounted(
    client: stripe.StripeClient, plan49: stripe.Price, emulator_url: str, api_key: str
) -> None:
    coupon = _coupon(client, percent_off=20, duration="forever")
    sub = _subscribe(client, plan49, discounts=[{"coupon": coupon.id}])
    extra = {"amount": 1000, "currency": "usd", "discountable": False}
    client.v1.invoice_items.create({"customer": sub.customer, "subscription": sub.id, **extra})
    advance_time(emulator_url, api_key, 32 * DAY)
    renewal = _invoices(client, sub.id)[-1]
    # 4900 + 1000 = 5900; only the plan's line is discounted: 980 off → 4920.
    assert (renewal.subtotal, renewal.total) == (5900, 4920)
    assert sorted(sum(d.amount for d in line.discount_amounts) for line in renewal.lines.data) == [0, 980]


def test_a_deleted_coupon_still_expands_on_the_discounts_that_redeemed_it(
    client: stripe.StripeClient, plan49: stripe.Price
) -> None:
    """Deleting a coupon keeps existing discounts (and their terms): a subscription read with
    `discounts.source.coupon` expanded still works, while the coupon itself is gone (404)."""
    coupon = _coupon(client, percent_off=20, duration="forever")
    sub = _subscribe(client, plan49, discounts=[{"coupon": coupon.id}])
    client.v1.coupons.delete(coupon.id)
    with pytest.raises(stripe.InvalidRequestError) as gone:
        client.v1.coupons.retrieve(coupon.id)
    assert gone.value.http_status == 404
    expanded = client.v1.subscriptions.retrieve(sub.id, {"expand": ["discounts.source.coupon"]})
    assert (expanded.discounts[0].source.coupon.id, expanded.discounts[0].source.coupon.percent_off) == (coupon.id, 20)
    listed = client.v1.subscriptions.list({"customer": sub.customer, "expand": ["data.discounts.source.coupon"]})
    assert listed.data[0].discounts[0].source.coupon.id == coupon.id
