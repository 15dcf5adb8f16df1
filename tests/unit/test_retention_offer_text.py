"""The retention offer's terms as the cancel dialog shows them: percent by the locale's pattern,
money by Babel, plural months by the language's rules (issue 20)."""

from __future__ import annotations

import pytest

from billstack.presenters import retention_offer_text
from billstack.services.views import RetentionOfferView


def _offer(**terms: object) -> RetentionOfferView:
    base = {"coupon_id": "STAY", "percent_off": None, "amount_off": None, "currency": None,
            "duration": "once", "duration_in_months": None, "subscription_ids": ["sub_1"]}
    return RetentionOfferView(**{**base, **terms})


@pytest.mark.parametrize(
    ("terms", "locale", "text"),
    [
        ({"percent_off": 20, "duration": "repeating", "duration_in_months": 3}, "en", "20% off for 3 months"),
        ({"percent_off": 20, "duration": "repeating", "duration_in_months": 1}, "en", "20% off for 1 month"),
        ({"percent_off": 12.5, "duration": "forever"}, "en", "12.5% off every invoice"),
        ({"amount_off": 500, "currency": "eur", "duration": "once"}, "en", "€5.00 off your next invoice"),
        ({"amount_off": 1500, "currency": "jpy", "duration": "forever"}, "en", "¥1,500 off every invoice"),
    ],
)
def test_english_terms(terms: dict, locale: str, text: str) -> None:
    assert retention_offer_text(_offer(**terms), locale) == text


def test_other_locales_format_the_numbers_their_way() -> None:
    repeating = _offer(percent_off=20, duration="repeating", duration_in_months=3)
    assert "20\xa0%" in retention_offer_text(repeating, "de") and "3" in retention_offer_text(repeating, "de")
    assert "5,00\xa0€" in retention_offer_text(_offer(amount_off=500, currency="eur"), "fr")
    assert retention_offer_text(repeating, "de") != retention_offer_text(repeating, "en")
