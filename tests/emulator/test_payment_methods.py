"""Payment methods and setup intents through the real SDK, with Stripe's test ids and cards."""

from __future__ import annotations

import pytest
import stripe

from tests.emulator.helpers import Plans


@pytest.fixture
def customer(client: stripe.StripeClient) -> stripe.Customer:
    return client.v1.customers.create({"email": "pm@example.com"})


def test_attaching_a_test_id_creates_a_copy(client: stripe.StripeClient, customer: stripe.Customer) -> None:
    visa = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    mc = client.v1.payment_methods.attach("pm_card_mastercard", {"customer": customer.id})
    assert visa.id.startswith("pm_") and visa.id != "pm_card_visa" and visa.customer == customer.id
    assert (visa.card.brand, visa.card.last4, mc.card.brand, mc.card.last4) == (
        "visa",
        "4242",
        "mastercard",
        "4444",
    )
    again = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    assert again.id != visa.id and again.card.fingerprint == visa.card.fingerprint
    listed = client.v1.payment_methods.list({"customer": customer.id, "type": "card"})
    assert [p.id for p in listed.data] == [again.id, mc.id, visa.id]
    assert [p.id for p in client.v1.customers.payment_methods.list(customer.id, {"limit": 1}).data] == [
        again.id
    ]
    assert client.v1.customers.payment_methods.retrieve(customer.id, visa.id).id == visa.id
    assert client.v1.payment_methods.retrieve(visa.id).customer == customer.id
    updated = client.v1.payment_methods.update(
        visa.id, {"billing_details": {"name": "Ada"}, "card": {"exp_year": 2040}}
    )
    assert (updated.billing_details.name, updated.card.exp_year) == ("Ada", 2040)


def test_detach_clears_the_default(client: stripe.StripeClient, customer: stripe.Customer) -> None:
    pm = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    client.v1.customers.update(customer.id, {"invoice_settings": {"default_payment_method": pm.id}})
    detached = client.v1.payment_methods.detach(pm.id)
    assert detached.customer is None
    assert client.v1.customers.retrieve(customer.id).invoice_settings.default_payment_method is None
    assert client.v1.payment_methods.list({"customer": customer.id}).data == []
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_methods.detach(pm.id)
    types = [e.type for e in client.v1.events.list({"limit": 3}).data]
    assert types[0] == "payment_method.detached" and "customer.updated" in types


def test_declining_cards(client: stripe.StripeClient, customer: stripe.Customer) -> None:
    with pytest.raises(stripe.CardError) as declined:
        client.v1.payment_methods.attach("pm_card_chargeDeclined", {"customer": customer.id})
    assert (declined.value.http_status, declined.value.code) == (402, "card_declined")
    assert declined.value.error.decline_code == "generic_decline"
    assert declined.value.user_message == "Your card was declined."
    with pytest.raises(stripe.CardError) as funds:
        client.v1.payment_methods.attach("pm_card_chargeDeclinedInsufficientFunds", {"customer": customer.id})
    assert funds.value.error.decline_code == "insufficient_funds"
    assert client.v1.payment_methods.list({"customer": customer.id}).data == []
    # 4000 0000 0000 0341 attaches; only charges fail.
    assert (
        client.v1.payment_methods.attach("pm_card_chargeCustomerFail", {"customer": customer.id}).card.last4
        == "0341"
    )


def test_create_from_card_details(client: stripe.StripeClient, customer: stripe.Customer) -> None:
    pm = client.v1.payment_methods.create(
        {
            "type": "card",
            "card": {
                "number": "5555555555554444",
                "exp_month": 4,  # type: ignore[typeddict-unknown-key]
                "exp_year": 2041,
                "cvc": "123",
            },
        }
    )
    assert (pm.card.brand, pm.card.exp_month, pm.customer) == ("mastercard", 4, None)
    with pytest.raises(stripe.CardError) as bad:
        client.v1.payment_methods.create(
            {
                "type": "card",
                "card": {
                    "number": "4242424242424241",
                    "exp_month": 4,  # type: ignore[typeddict-unknown-key]
                    "exp_year": 2041,
                },
            }
        )
    assert bad.value.code == "invalid_number"
    with pytest.raises(stripe.CardError) as expired:
        client.v1.payment_methods.create(
            {
                "type": "card",
                "card": {
                    "number": "4242424242424242",
                    "exp_month": 1,  # type: ignore[typeddict-unknown-key]
                    "exp_year": 2001,
                },
            }
        )
    assert expired.value.code == "invalid_expiry_year"
    tok = client.v1.payment_methods.create({"type": "card", "card": {"token": "tok_visa"}})
    assert tok.card.last4 == "4242"


def test_attach_errors(client: stripe.StripeClient, customer: stripe.Customer) -> None:
    other = client.v1.customers.create({})
    pm = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    with pytest.raises(stripe.InvalidRequestError) as taken:
        client.v1.payment_methods.attach(pm.id, {"customer": other.id})
    assert "already been attached" in str(taken.value.user_message)
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.payment_methods.attach("pm_nope", {"customer": customer.id})
    assert missing.value.http_status == 404
    with pytest.raises(stripe.InvalidRequestError) as no_customer:
        client.v1.payment_methods.attach("pm_card_visa", {"customer": "cus_nope"})
    assert no_customer.value.param == "customer"
    with pytest.raises(stripe.InvalidRequestError) as foreign:
        client.v1.customers.update(other.id, {"invoice_settings": {"default_payment_method": pm.id}})
    assert foreign.value.param == "invoice_settings[default_payment_method]"


def test_setup_intents(client: stripe.StripeClient, customer: stripe.Customer) -> None:
    si = client.v1.setup_intents.create({"customer": customer.id, "metadata": {"why": "portal"}})
    assert (si.status, si.payment_method, si.usage) == ("requires_payment_method", None, "off_session")
    assert si.client_secret.startswith(si.id + "_secret_")
    done = client.v1.setup_intents.confirm(si.id, {"payment_method": "pm_card_visa"})
    assert done.status == "succeeded"
    pm = client.v1.payment_methods.retrieve(done.payment_method)
    assert pm.customer == customer.id
    assert (
        client.v1.setup_intents.retrieve(si.id, {"expand": ["payment_method"]}).payment_method.card.last4
        == "4242"
    )
    assert client.v1.setup_intents.update(
        si.id, {"metadata": {"why": "", "who": "me"}}
    ).metadata.to_dict() == {"who": "me"}

    failing = client.v1.setup_intents.create({"customer": customer.id})
    with pytest.raises(stripe.CardError) as declined:
        client.v1.setup_intents.confirm(failing.id, {"payment_method": "pm_card_chargeDeclined"})
    assert declined.value.error.setup_intent.id == failing.id
    after = client.v1.setup_intents.retrieve(failing.id)
    assert (
        after.status == "requires_payment_method" and after.last_setup_error.decline_code == "generic_decline"
    )
    assert [p.id for p in client.v1.payment_methods.list({"customer": customer.id}).data] == [pm.id]
    canceled = client.v1.setup_intents.cancel(failing.id, {"cancellation_reason": "abandoned"})
    assert canceled.status == "canceled"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.setup_intents.confirm(failing.id, {"payment_method": "pm_card_visa"})
    assert [s.id for s in client.v1.setup_intents.list({"customer": customer.id}).data] == [failing.id, si.id]
    key = {"idempotency_key": "si-1"}
    assert (
        client.v1.setup_intents.create({"customer": customer.id}, key).id
        == client.v1.setup_intents.create({"customer": customer.id}, key).id
    )


def test_detach_semantics(client: stripe.StripeClient, customer: stripe.Customer, plans: Plans) -> None:
    first = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    second = client.v1.payment_methods.attach("pm_card_mastercard", {"customer": customer.id})
    client.v1.customers.update(customer.id, {"invoice_settings": {"default_payment_method": second.id}})
    sub = client.v1.subscriptions.create(
        {"customer": customer.id, "items": [{"price": plans.basic.id}], "default_payment_method": first.id}
    )
    other = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": plans.pro.id}]})

    detached = client.v1.payment_methods.detach(first.id)
    assert detached.customer is None
    # The customer's default (another card) stays; the subscription that used the card loses it.
    assert client.v1.customers.retrieve(customer.id).invoice_settings.default_payment_method == second.id
    assert client.v1.subscriptions.retrieve(sub.id).default_payment_method is None
    assert client.v1.subscriptions.retrieve(other.id).default_payment_method is None
    assert [p.id for p in client.v1.customers.payment_methods.list(customer.id).data] == [second.id]

    events = client.v1.events.list({"limit": 2}).data
    assert [e.type for e in events] == ["payment_method.detached", "customer.subscription.updated"]
    assert events[0].data.object.id == first.id and events[0].data.object.customer is None
    assert events[0].data.previous_attributes.customer == customer.id
    assert events[1].data.object.id == sub.id

    # Detaching again, or attaching the detached card anywhere, is refused.
    with pytest.raises(stripe.InvalidRequestError) as again:
        client.v1.payment_methods.detach(first.id)
    assert (again.value.http_status, again.value.code) == (400, "payment_method_unexpected_state")
    with pytest.raises(stripe.InvalidRequestError) as reattach:
        client.v1.payment_methods.attach(first.id, {"customer": customer.id})
    assert reattach.value.code == "payment_method_unexpected_state"
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.payment_methods.detach("pm_nope")
    assert missing.value.http_status == 404
