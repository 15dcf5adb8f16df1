"""The subscription badge says what happens next (issue 13), and links stay readable in the
project's accent."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from billstack.presenters import _contrast, _rgb, link_colours, subscription_row
from billstack.services.views import SubscriptionView

END = datetime(2027, 1, 3, tzinfo=timezone.utc)


def _sub(**changes) -> SubscriptionView:
    base = dict(
        id="sub_1", status="active", product_name="Pro", price_nickname=None, unit_amount=1200, currency="eur",
        interval="month", interval_count=1, quantity=1, cancel_at_period_end=False,
        current_period_end=END, cancel_at=None, canceled_at=None,
    )
    return SubscriptionView(**(base | changes))


def badge(sub: SubscriptionView, locale: str = "en") -> tuple[str, str]:
    row = subscription_row(sub, locale, allow_cancel=True, allow_resume=True)
    return row.status_label, row.status_color


@pytest.mark.parametrize(
    ("changes", "locale", "label"),
    [
        ({}, "en", "Active"),
        ({"cancel_at_period_end": True}, "en", "Cancels Jan 3, 2027"),
        ({"cancel_at_period_end": True}, "de", "Gekündigt zum 03.01.2027"),
        ({"cancel_at_period_end": True}, "fr", "Résiliation le 3 janv. 2027"),
        ({"cancel_at": datetime(2026, 12, 24, tzinfo=timezone.utc)}, "en", "Cancels Dec 24, 2026"),
        ({"status": "trialing"}, "en", "Trial ends Jan 3, 2027"),
        ({"status": "trialing"}, "de", "Testphase bis 03.01.2027"),
        ({"status": "trialing", "cancel_at_period_end": True}, "en", "Cancels Jan 3, 2027"),
        ({"status": "past_due"}, "en", "Past due"),
        ({"status": "paused"}, "en", "Paused"),
        ({"status": "canceled", "cancel_at_period_end": True}, "en", "Canceled"),
    ],
)
def test_the_badge_says_what_happens_next(changes: dict, locale: str, label: str) -> None:
    assert badge(_sub(**changes), locale)[0] == label


def test_a_cancelling_subscription_never_shows_the_active_colour() -> None:
    assert badge(_sub())[1] == "green"
    assert badge(_sub(cancel_at_period_end=True))[1] != "green"


@pytest.mark.parametrize("accent", ["#4f46e5", "#ffd400", "#0ea5e9", "#22c55e", "#ffffff", "#000000", "#e11d48"])
def test_links_keep_the_accents_hue_and_read_at_aa(accent: str) -> None:
    light, dark = link_colours(accent)
    assert _contrast(_rgb(light), (255, 255, 255)) >= 4.5
    assert _contrast(_rgb(dark), (0x2B, 0x2D, 0x31)) >= 4.5


def test_a_readable_accent_is_used_as_it_is() -> None:
    assert link_colours("#4f46e5")[0] == "#4f46e5"
    assert link_colours("not a colour")[0] == "#4f46e5"
