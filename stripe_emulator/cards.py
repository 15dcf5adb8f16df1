"""Stripe's test cards: numbers, `pm_card_*` / `tok_*` ids, and how each behaves.

Outcomes follow Stripe's testing docs: declining cards fail when attached to a
customer (Stripe verifies the card then), except 4000 0000 0000 0341, which attaches
but fails every later charge. Any other Luhn-valid number is a "live" card, which test
mode declines.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from stripe_emulator.errors import StripeError, card_error


@dataclass(frozen=True)
class TestCard:
    number: str
    brand: str
    funding: str = "credit"
    country: str = "US"
    decline: str | None = None  # decline_code/code raised when verified or charged
    charge_only: bool = False  # attaches fine; only charges fail


CARDS = {
    c.number: c
    for c in [
        TestCard("4242424242424242", "visa"),
        TestCard("4000056655665556", "visa", "debit"),
        TestCard("5555555555554444", "mastercard"),
        TestCard("2223003122003222", "mastercard"),
        TestCard("5200828282828210", "mastercard", "debit"),
        TestCard("5105105105105100", "mastercard", "prepaid"),
        TestCard("378282246310005", "amex"),
        TestCard("371449635398431", "amex"),
        TestCard("6011111111111117", "discover"),
        TestCard("3056930009020004", "diners"),
        TestCard("3566002020360505", "jcb", country="JP"),
        TestCard("6200000000000005", "unionpay", country="CN"),
        TestCard("4000000000000077", "visa"),
        TestCard("4000000000000002", "visa", decline="generic_decline"),
        TestCard("4000000000009995", "visa", decline="insufficient_funds"),
        TestCard("4000000000009987", "visa", decline="lost_card"),
        TestCard("4000000000009979", "visa", decline="stolen_card"),
        TestCard("4000000000000069", "visa", decline="expired_card"),
        TestCard("4000000000000127", "visa", decline="incorrect_cvc"),
        TestCard("4000000000000119", "visa", decline="processing_error"),
        TestCard("4000000000000341", "visa", decline="generic_decline", charge_only=True),
    ]
}

_PM_TOKENS = {
    "visa": "4242424242424242",
    "visa_debit": "4000056655665556",
    "mastercard": "5555555555554444",
    "mastercard_debit": "5200828282828210",
    "mastercard_prepaid": "5105105105105100",
    "amex": "378282246310005",
    "discover": "6011111111111117",
    "diners": "3056930009020004",
    "jcb": "3566002020360505",
    "unionpay": "6200000000000005",
    "chargeDeclined": "4000000000000002",
    "chargeDeclinedInsufficientFunds": "4000000000009995",
    "chargeDeclinedLostCard": "4000000000009987",
    "chargeDeclinedStolenCard": "4000000000009979",
    "chargeDeclinedExpiredCard": "4000000000000069",
    "chargeDeclinedIncorrectCvc": "4000000000000127",
    "chargeDeclinedProcessingError": "4000000000000119",
    "chargeCustomerFail": "4000000000000341",
}
TEST_PAYMENT_METHODS = {f"pm_card_{name}": number for name, number in _PM_TOKENS.items()}
TEST_TOKENS = {f"tok_{name}": number for name, number in _PM_TOKENS.items()}

_DECLINES = {
    "generic_decline": ("card_declined", "Your card was declined."),
    "insufficient_funds": ("card_declined", "Your card has insufficient funds."),
    "lost_card": ("card_declined", "Your card was declined."),
    "stolen_card": ("card_declined", "Your card was declined."),
    "expired_card": ("expired_card", "Your card has expired."),
    "incorrect_cvc": ("incorrect_cvc", "Your card's security code is incorrect."),
    "processing_error": (
        "processing_error",
        "An error occurred while processing your card. Try again in a little bit.",
    ),
    "test_mode_live_card": (
        "card_declined",
        (
            "Your card was declined. Your request was in test mode, but used a non test (live) card. "
            "For a list of valid test cards, visit: https://stripe.com/docs/testing."
        ),
    ),
}
_CODE_PARAM = {"incorrect_cvc": "cvc", "expired_card": "exp_month"}


def decline_error(decline: str, **extra: Any) -> StripeError:
    code, message = _DECLINES[decline]
    decline_code = decline if code == "card_declined" else None
    return card_error(code, message, decline_code=decline_code, param=_CODE_PARAM.get(code), **extra)


def luhn_ok(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def brand_of(number: str) -> str:
    if number.startswith("4"):
        return "visa"
    if number[:2] in ("34", "37"):
        return "amex"
    if number[:2] in {"51", "52", "53", "54", "55"} or "2221" <= number[:4] <= "2720":
        return "mastercard"
    if number.startswith(("6011", "65", "644")):
        return "discover"
    return "unknown"


def lookup(number: str) -> TestCard:
    """The behaviour of a Luhn-valid number; unknown numbers are live cards."""
    card = CARDS.get(number)
    if card is None:
        return TestCard(number, brand_of(number), decline="test_mode_live_card")
    return card


def fingerprint(account_key: str, number: str) -> str:
    return hashlib.sha256(f"{account_key}:{number}".encode()).hexdigest()[:16]
