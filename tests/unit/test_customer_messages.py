"""What a customer reads on the portal page when an action fails: a card's own words and
BillStack's checks, never Stripe's words about the request BillStack built (an integrator
reads those in the API answer, unchanged)."""

from __future__ import annotations

import pytest
import stripe

from billstack import stripe_gateway
from billstack.errors import BillStackError, customer_message, invalid


def _raising(exc: Exception):
    def fail() -> None:
        raise exc

    return fail


def _mapped(exc: Exception) -> BillStackError:
    with pytest.raises(BillStackError) as caught:
        stripe_gateway.call(_raising(exc))
    return caught.value


def test_stripe_refusing_a_parameter_reaches_the_api_but_not_the_customer() -> None:
    refused = stripe.InvalidRequestError("Unrecognized request URL (POST: /v1/subscription_schedules).",
                                         param="phases", code="parameter_unknown")
    error = _mapped(refused)
    assert error.to_dict()["error"]["message"].startswith("Unrecognized request URL")  # the integrator's view
    assert customer_message(error) is None  # the page shows its generic message


def test_a_rejected_secret_key_is_not_shown_to_customers() -> None:
    assert customer_message(_mapped(stripe.AuthenticationError("Invalid API Key provided: sk_test_…"))) is None


def test_a_declined_card_says_so_in_its_own_words() -> None:
    error = _mapped(stripe.CardError("Your card was declined.", param=None, code="card_declined"))
    assert (error.status, customer_message(error)) == (402, "Your card was declined.")


def test_billstacks_own_checks_are_shown() -> None:
    assert customer_message(invalid("Quantity must be between 1 and 50.", param="quantity")) == (
        "Quantity must be between 1 and 50.")
