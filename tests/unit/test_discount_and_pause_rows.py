"""The subscription card's discount and pause lines, its badge while paused, and which of
Pause / Resume payments / Add promotion code it offers (issue 20)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from billstack.presenters import SubscriptionRow, discount_off, subscription_row
from billstack.services.views import DiscountView, NextInvoiceView, PauseCollectionView, SubscriptionView

END = datetime(2027, 1, 3, tzinfo=UTC)
NEXT = NextInvoiceView(amount_due=3920, currency="usd", date=END)


def _sub(**changes: object) -> SubscriptionView:
    base = dict(
        id="sub_1", status="active", product_name="Team", price_nickname=None, unit_amount=4900, currency="usd",
        interval="month", interval_count=1, quantity=1, cancel_at_period_end=False,
        current_period_end=END, cancel_at=None, canceled_at=None, next_invoice=NEXT,
    )
    return SubscriptionView(**(base | changes))


def _row(sub: SubscriptionView, locale: str = "en", **allow: bool) -> SubscriptionRow:
    options = {"allow_pause": True, "allow_promotion_code": True} | allow
    return subscription_row(sub, locale, allow_cancel=True, allow_resume=True, **options)


def _discount(**changes: object) -> DiscountView:
    return DiscountView(**({"coupon_id": "SPRING", "percent_off": None, "amount_off": None, "end": None,
                            "promotion_code": None} | changes))


@pytest.mark.parametrize(
    ("discount", "locale", "line"),
    [
        (_discount(percent_off=20), "en", "Discount: 20% off"),
        (_discount(percent_off=12.5, end=datetime(2027, 4, 3, tzinfo=UTC)), "en", "Discount: 12.5% off until Apr 3, 2027"),
        (_discount(amount_off=500), "en", "Discount: $5.00 off"),
        (_discount(), "en", ""),  # a coupon whose terms are unknown says nothing rather than "off"
        (None, "en", ""),
    ],
)
def test_the_discount_line(discount: DiscountView | None, locale: str, line: str) -> None:
    assert _row(_sub(discount=discount), locale).discount_line == line


def test_discount_off_formats_percent_and_money_for_the_locale() -> None:
    assert "20\xa0%" in _row(_sub(discount=_discount(percent_off=20)), "de").discount_line  # the words are the translators'
    assert discount_off(20, None, "usd", "en") == "20% off"
    assert discount_off(None, 500, "eur", "en") == "€5.00 off"
    assert "%20" in discount_off(20, None, "usd", "tr")  # Turkish puts the sign first
    assert discount_off(None, None, "usd", "en") == ""


def test_a_paused_subscription_says_so_and_offers_resume() -> None:
    until = datetime(2026, 12, 20, tzinfo=UTC)
    row = _row(_sub(pause_collection=PauseCollectionView(behavior="void", resumes_at=until)))
    assert (row.status_label, row.pause_line) == ("Paused", "Paused until Dec 20, 2026")
    assert (row.can_pause, row.can_unpause) == (False, True)
    assert row.next_payment == "Next payment: $39.20 on Jan 3, 2027"  # collection resumes before it

    row = _row(_sub(pause_collection=PauseCollectionView(behavior="mark_uncollectible", resumes_at=None)))
    assert (row.status_label, row.pause_line, row.next_payment) == ("Paused", "Payments paused", "")


def test_a_cancelling_subscription_keeps_its_cancel_badge_and_is_not_offered_pause_or_codes() -> None:
    row = _row(_sub(cancel_at_period_end=True))
    assert row.status_label == "Cancels Jan 3, 2027"
    assert (row.can_pause, row.can_add_promotion_code) == (False, False)


def test_what_is_offered_follows_the_projects_switches_and_the_status() -> None:
    row = _row(_sub())
    assert (row.can_pause, row.can_unpause, row.can_add_promotion_code, row.pause_line) == (True, False, True, "")
    row = _row(_sub(), allow_pause=False, allow_promotion_code=False)
    assert (row.can_pause, row.can_add_promotion_code) == (False, False)
    paused = PauseCollectionView(behavior="void", resumes_at=None)
    assert _row(_sub(pause_collection=paused), allow_pause=False).can_unpause is False
    ended = _row(_sub(status="canceled", canceled_at=END, discount=_discount(percent_off=20), pause_collection=paused))
    assert (ended.can_pause, ended.can_unpause, ended.can_add_promotion_code) == (False, False, False)
    assert (ended.discount_line, ended.pause_line, ended.status_label) == ("", "", "Canceled")
