"""Checkout Sessions (mode=setup) through the SDK, and the hosted page driven over HTTP.

The browser version of the same flow is tests/e2e/test_emulator_checkout.py.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import stripe

CARD = {"cardnumber": "4242 4242 4242 4242", "exp": "12 / 40", "cvc": "123", "name": "Ada Lovelace"}


@pytest.fixture
def customer(client: stripe.StripeClient) -> stripe.Customer:
    return client.v1.customers.create({"email": "checkout@example.com"})


def _session(client: stripe.StripeClient, customer: stripe.Customer, **extra: str) -> stripe.checkout.Session:
    return client.v1.checkout.sessions.create(
        {
            "mode": "setup",
            "customer": customer.id,
            "currency": "usd",
            "success_url": "https://portal.example/return?session_id={CHECKOUT_SESSION_ID}",
            "cancel_url": "https://portal.example/cancel",
            **extra,
        }
    )


def test_create_retrieve_list_expire(
    client: stripe.StripeClient, customer: stripe.Customer, emulator_url: str
) -> None:
    cs = _session(client, customer, metadata={"portal": "1"})  # type: ignore[arg-type]
    assert cs.id.startswith("cs_test_") and cs.mode == "setup" and cs.status == "open"
    assert cs.url == f"{emulator_url}/c/pay/{cs.id}"
    assert cs.setup_intent.startswith("seti_") and cs.payment_status == "no_payment_required"
    got = client.v1.checkout.sessions.retrieve(cs.id, {"expand": ["setup_intent"]})
    assert got.setup_intent.status == "requires_payment_method" and got.setup_intent.customer == customer.id
    assert [s.id for s in client.v1.checkout.sessions.list({"customer": customer.id}).data] == [cs.id]
    expired = client.v1.checkout.sessions.expire(cs.id)
    assert expired.status == "expired" and expired.url is None
    assert httpx.get(cs.url).status_code == 410
    key = {"idempotency_key": "cs-1"}
    assert _session_idem(client, customer, key) == _session_idem(client, customer, key)


def _session_idem(client: stripe.StripeClient, customer: stripe.Customer, options: dict) -> str:
    return client.v1.checkout.sessions.create(
        {"mode": "setup", "customer": customer.id, "success_url": "https://x.example/ok"}, options
    ).id  # type: ignore[arg-type]


def test_create_errors(client: stripe.StripeClient, customer: stripe.Customer) -> None:
    for params, param in [
        ({"customer": customer.id, "success_url": "https://x.example"}, "mode"),
        ({"mode": "setup", "customer": customer.id}, "success_url"),
        ({"mode": "setup", "customer": customer.id, "success_url": "not a url"}, "success_url"),
        ({"mode": "payment", "customer": customer.id, "success_url": "https://x.example"}, "mode"),
        ({"mode": "setup", "customer": "cus_missing", "success_url": "https://x.example"}, "customer"),
    ]:
        with pytest.raises(stripe.InvalidRequestError) as exc:
            client.v1.checkout.sessions.create(params)  # type: ignore[arg-type]
        assert exc.value.param == param


def test_hosted_page_saves_a_card(client: stripe.StripeClient, customer: stripe.Customer) -> None:
    cs = _session(client, customer)
    page = httpx.get(cs.url)
    assert page.status_code == 200
    for label in ("Card number", "Expiry", "CVC", "Cardholder name", "Save card"):
        assert label in page.text
    assert 'href="https://portal.example/cancel"' in page.text
    done = httpx.post(cs.url, data={**CARD, "cardnumber": "5555 5555 5555 4444"})
    assert done.status_code == 303
    target = urlsplit(done.headers["location"])
    assert (target.netloc, target.path) == ("portal.example", "/return")
    assert parse_qs(target.query)["session_id"] == [cs.id]
    session = client.v1.checkout.sessions.retrieve(cs.id, {"expand": ["setup_intent.payment_method"]})
    assert session.status == "complete" and session.url is None
    assert session.customer_details.name == "Ada Lovelace"
    si = session.setup_intent
    assert si.status == "succeeded" and si.payment_method.customer == customer.id
    assert (si.payment_method.card.brand, si.payment_method.card.last4) == ("mastercard", "4444")
    assert (si.payment_method.card.exp_month, si.payment_method.card.exp_year) == (12, 2040)
    types = [e.type for e in client.v1.events.list({"limit": 3}).data]
    assert types == ["checkout.session.completed", "setup_intent.succeeded", "payment_method.attached"]
    # A completed session no longer takes cards.
    again = httpx.post(cs.url, data=CARD)
    assert (
        again.status_code == 200 and len(client.v1.payment_methods.list({"customer": customer.id}).data) == 1
    )


def test_declined_card_attaches_nothing(client: stripe.StripeClient, customer: stripe.Customer) -> None:
    cs = _session(client, customer)
    resp = httpx.post(cs.url, data={**CARD, "cardnumber": "4000 0000 0000 0002"})
    assert resp.status_code == 402 and "Your card was declined." in resp.text and 'role="alert"' in resp.text
    assert client.v1.payment_methods.list({"customer": customer.id}).data == []
    session = client.v1.checkout.sessions.retrieve(cs.id, {"expand": ["setup_intent"]})
    assert session.status == "open" and session.setup_intent.status == "requires_payment_method"
    assert session.setup_intent.last_setup_error.decline_code == "generic_decline"
    assert client.v1.events.list({"limit": 1}).data[0].type == "setup_intent.setup_failed"
    # The customer can try again with a good card.
    assert httpx.post(cs.url, data=CARD).status_code == 303


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("cardnumber", "4242 4242 4242 4241", "Your card number is invalid."),
        ("cardnumber", "4242", "Your card number is incomplete."),
        ("exp", "13 / 40", "Your card's expiration month is invalid."),
        ("exp", "01 / 20", "Your card's expiration year is in the past."),
        ("exp", "1", "Your card's expiration date is incomplete."),
        ("cvc", "1", "Your card's security code is incomplete."),
    ],
)
def test_invalid_input_is_explained_inline(
    client: stripe.StripeClient, customer: stripe.Customer, field: str, value: str, message: str
) -> None:
    cs = _session(client, customer)
    resp = httpx.post(cs.url, data={**CARD, field: value})
    assert resp.status_code == 422
    assert message.replace("'", "&#x27;") in resp.text
    assert f'aria-describedby="{field}-error" aria-invalid="true"' in resp.text
    assert client.v1.checkout.sessions.retrieve(cs.id).status == "open"
    assert client.v1.payment_methods.list({"customer": customer.id}).data == []


def test_unknown_session_is_404(emulator_url: str) -> None:
    assert httpx.get(f"{emulator_url}/c/pay/cs_test_nope").status_code == 404


def test_locale_and_branding_are_checked_echoed_and_shown(client: stripe.StripeClient, customer: stripe.Customer) -> None:
    cs = _session(client, customer, locale="fr", branding_settings={  # type: ignore[arg-type]
        "display_name": "Acme", "button_color": "#0A7D33", "logo": {"type": "url", "url": "https://acme.example/l.png"},
    })
    assert cs.locale == "fr"
    branding = client.v1.checkout.sessions.retrieve(cs.id).branding_settings
    assert (branding.display_name, branding.button_color, branding.background_color) == ("Acme", "#0A7D33", "#ffffff")
    assert (branding.logo.type, branding.logo.url, branding.icon) == ("url", "https://acme.example/l.png", None)
    page = httpx.get(cs.url).text
    assert 'data-checkout-locale="fr"' in page and "Acme will save this card" in page
    assert "button{background:#0A7D33}" in page
    assert _session(client, customer).branding_settings is None  # not asked for: none echoed


@pytest.mark.parametrize(("extra", "param"), [
    ({"locale": "xx"}, "locale"),
    ({"branding_settings": {"button_color": "green"}}, "branding_settings[button_color]"),
    ({"branding_settings": {"border_style": "wavy"}}, "branding_settings[border_style]"),
    ({"branding_settings": {"logo": {"type": "url", "url": "http://acme.example/l.png"}}},
     "branding_settings[logo][url]"),
    ({"branding_settings": {"logo": {"type": "url", "url": "https://a.example/l.png"},
                            "icon": {"type": "url", "url": "https://a.example/i.png"}}}, "branding_settings"),
])
def test_bad_locale_or_branding_is_refused_naming_the_param(
    client: stripe.StripeClient, customer: stripe.Customer, extra: dict, param: str
) -> None:
    before = len(client.v1.setup_intents.list({"customer": customer.id}).data)
    with pytest.raises(stripe.InvalidRequestError) as error:
        _session(client, customer, **extra)
    assert error.value.param == param
    assert len(client.v1.setup_intents.list({"customer": customer.id}).data) == before  # nothing half made
