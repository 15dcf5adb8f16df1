"""`POST /v1/billing_portal/sessions` (issue 14): Stripe's official Python SDK, unchanged but
for its API base and key, creates BillStack portal sessions and raises its own error
classes. The app runs in-process behind a real HTTP server (uvicorn in a thread), as the
SDK speaks HTTP only."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest
import stripe
import uvicorn
from sqlmodel import select

from api_routes import create_api
from api_routes.fast_paths import FastPaths
from billstack import routes
from billstack.config import reset_settings
from billstack.db import session_scope
from billstack.models import Customer, PortalSession, Subscription
from billstack.services import plan_catalog, ratelimit, tenants
from stripe_emulator.seed import seed_demo_customer
from tests.portal_world import World, mirror, world  # noqa: F401 - fixture

START_TIMEOUT_S = 30


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, ready: threading.Event) -> None:
        super().__init__(config)
        self.ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()


@pytest.fixture
def server_url(db_url: str) -> Iterator[str]:
    """The API as `billstack serve` runs it (fast paths in front) on a free loopback port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    ready = threading.Event()
    server = _Server(uvicorn.Config(FastPaths(create_api()), log_level="warning", lifespan="off"), ready)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        assert ready.wait(START_TIMEOUT_S), "the test server did not start"
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(START_TIMEOUT_S)
        sock.close()


@pytest.fixture
def api_key(world: World) -> str:
    with session_scope() as db:
        return tenants.create_api_key(db, project_id=world.project_id)[1]


def sdk(server_url: str, key: str) -> stripe.StripeClient:
    """Stripe's client exactly as a SaaS would configure it, but for the base address and key."""
    return stripe.StripeClient(key, base_addresses={"api": server_url}, max_network_retries=0)


def token_of(url: str) -> str:
    return routes.token_from_path("/" + url.split("/", 3)[3])


def test_sdk_creates_a_session_for_a_linked_customer(server_url, world: World, api_key) -> None:
    session = sdk(server_url, api_key).v1.billing_portal.sessions.create(
        {"customer": world.alice.stripe_customer_id, "return_url": "https://a.example.com/account"})

    assert isinstance(session, stripe.billing_portal.Session)
    assert session.id.startswith("bps_") and session.object == "billing_portal.session"
    assert session.customer == world.alice.stripe_customer_id
    assert session.livemode is False and session.on_behalf_of is None and session.flow is None
    assert session.return_url == "https://a.example.com/account"
    assert isinstance(session.created, int)
    view = httpx.get(f"{server_url}/api/portal/{token_of(session.url)}")
    assert view.status_code == 200, view.text
    assert view.json()["customerId"] == world.alice.customer_id
    assert {s["id"] for s in view.json()["subscriptions"]} <= set(world.alice.seeded["subscriptions"])


def test_sdk_links_an_unlinked_stripe_customer_on_the_fly(server_url, world: World, api_key) -> None:
    erin = seed_demo_customer(world.stripe, email="erin@example.com", name="Erin Example")
    session = sdk(server_url, api_key).v1.billing_portal.sessions.create({"customer": erin["customer"]})
    assert session.customer == erin["customer"]
    with session_scope() as db:
        linked = db.exec(select(Customer).where(Customer.project_id == world.project_id,
                                                Customer.stripe_customer_id == erin["customer"])).one()
    assert {s.stripe_id for s in mirror(Subscription, linked.id)} == set(erin["subscriptions"])


def test_sdk_takes_a_billstack_customer_id_locale_and_flow(server_url, world: World, api_key) -> None:
    subscription = world.alice.seeded["subscriptions"][0]
    session = sdk(server_url, api_key).v1.billing_portal.sessions.create({
        "customer": world.alice.customer_id, "locale": "de-CH",
        "flow_data": {"type": "subscription_cancel", "subscription_cancel": {"subscription": subscription}},
    })
    assert session.customer == world.alice.stripe_customer_id
    assert session.locale == "de-CH"
    assert session.flow.type == "subscription_cancel"
    assert session.flow.subscription_cancel.subscription == subscription
    with session_scope() as db:
        stored = db.exec(select(PortalSession).where(PortalSession.customer_id == world.alice.customer_id)
                         .order_by(PortalSession.created_at.desc(), PortalSession.id.desc())).first()
    assert stored is not None and stored.locale == "de"
    assert stored.flow is not None and subscription in stored.flow


@pytest.mark.parametrize(("locale", "ours"), [("auto", "auto"), ("fr-CA", "fr-CA"), ("ja", "ja"), ("es-419", "es-419"),
                                              ("zh-HK", "zh-HK"), ("en-AU", "en-AU")])
def test_stripe_locales_map_to_the_portals(server_url, world: World, api_key, locale, ours) -> None:
    session = sdk(server_url, api_key).v1.billing_portal.sessions.create(
        {"customer": world.alice.stripe_customer_id, "locale": locale})
    with session_scope() as db:
        assert db.get(PortalSession, "portal_sess_" + session.id.removeprefix("bps_")).locale == ours


def test_bad_key_raises_authentication_error(server_url, world: World) -> None:
    with pytest.raises(stripe.AuthenticationError) as raised:
        sdk(server_url, "bsk_not_a_key").v1.billing_portal.sessions.create({"customer": world.alice.stripe_customer_id})
    assert raised.value.http_status == 401


def test_unknown_customer_raises_invalid_request_error(server_url, world: World, api_key) -> None:
    for customer in ("cus_unknowntostripe", "pc_unknown"):
        with pytest.raises(stripe.InvalidRequestError) as raised:
            sdk(server_url, api_key).v1.billing_portal.sessions.create({"customer": customer})
        assert (raised.value.http_status, raised.value.code, raised.value.param) == (400, "resource_missing", "customer")


@pytest.mark.parametrize(("params", "param", "code"), [
    ({"configuration": "bpc_123"}, "configuration", "parameter_unsupported"),
    ({"on_behalf_of": "acct_123"}, "on_behalf_of", "parameter_unsupported"),
    ({"custom": "x"}, "custom", "parameter_unknown"),
    ({"flow_data": {"type": "subscription_schedule_update"}}, "flow_data[type]", "parameter_invalid"),
    ({"flow_data": {"type": "payment_method_update", "after_completion": {"type": "redirect",
                                                                          "redirect": {"url": "x"}}}},
     "flow_data[after_completion][redirect][url]", "parameter_unknown"),
    ({"return_url": "javascript:alert(1)"}, "return_url", "parameter_invalid"),
])
def test_unsupported_and_unknown_params_raise_invalid_request_error(server_url, world: World, api_key, params, param,
                                                                    code) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        sdk(server_url, api_key).v1.billing_portal.sessions.create({"customer": world.alice.stripe_customer_id,
                                                                    **params})
    assert (raised.value.http_status, raised.value.param, raised.value.code) == (400, param, code)


def test_rate_limit_raises_rate_limit_error(server_url, world: World, api_key, monkeypatch) -> None:
    monkeypatch.setenv("BILLSTACK_RATE_LIMIT_SESSIONS_PER_MINUTE", "1")
    reset_settings()
    ratelimit.reset_all()
    client = sdk(server_url, api_key)
    client.v1.billing_portal.sessions.create({"customer": world.alice.stripe_customer_id})
    with pytest.raises(stripe.RateLimitError) as raised:
        client.v1.billing_portal.sessions.create({"customer": world.alice.stripe_customer_id})
    assert raised.value.http_status == 429


def test_errors_are_in_stripes_envelope(server_url, world: World) -> None:
    response = httpx.post(f"{server_url}{routes.STRIPE_PORTAL_SESSIONS_PATH}",
                          headers={"Authorization": "Bearer bsk_nope"}, data={"customer": "cus_x"})
    assert response.status_code == 401
    assert response.json() == {"error": {"type": "invalid_request_error", "code": "invalid_api_key",
                                         "message": "Invalid API key provided.", "param": None}}


# --- plan-change deep links (issue 15): Stripe's flow_data, Stripe's `flow` back ---------------


@pytest.fixture
def plan_prices(world: World) -> list[str]:
    """Plan changes on, with two real prices of the world's emulator account set as an operator would."""
    team = world.stripe.v1.prices.create({"product_data": {"name": "Team"}, "currency": "usd", "unit_amount": 4900,
                                          "recurring": {"interval": "month"}})
    business = world.stripe.v1.prices.create({"product_data": {"name": "Business"}, "currency": "usd",
                                              "unit_amount": 9900, "recurring": {"interval": "month"}})
    with session_scope() as db:
        project = tenants.update_project(db, world.project_id, feature_plan_change=True)
        plan_catalog.set_plan_prices(db, project, [team.id, business.id])
    return [team.id, business.id]


def _stored_flow(session: stripe.billing_portal.Session) -> dict:
    with session_scope() as db:
        stored = db.get(PortalSession, "portal_sess_" + session.id.removeprefix("bps_"))
        return json.loads(stored.flow)


def test_sdk_opens_the_plan_picker(server_url, world: World, api_key, plan_prices) -> None:
    subscription = world.alice.seeded["subscriptions"][0]
    session = sdk(server_url, api_key).v1.billing_portal.sessions.create({
        "customer": world.alice.stripe_customer_id,
        "flow_data": {"type": "subscription_update", "subscription_update": {"subscription": subscription}},
    })
    assert session.flow.type == "subscription_update"
    assert session.flow.subscription_update.subscription == subscription
    assert session.flow.subscription_cancel is None and session.flow.subscription_update_confirm is None
    assert _stored_flow(session) == {"type": "subscription_update", "subscriptionId": subscription}
    view = httpx.get(f"{server_url}/api/portal/{token_of(session.url)}")
    assert view.status_code == 200, view.text
    assert view.json()["flow"] == {"type": "subscription_update", "subscriptionId": subscription}


def test_sdk_opens_the_confirmation_of_one_change(server_url, world: World, api_key, plan_prices) -> None:
    subscription = world.stripe.v1.subscriptions.retrieve(world.alice.seeded["subscriptions"][0])
    item = subscription["items"].data[0].id
    session = sdk(server_url, api_key).v1.billing_portal.sessions.create({
        "customer": world.alice.stripe_customer_id,
        "flow_data": {"type": "subscription_update_confirm", "subscription_update_confirm": {
            "subscription": subscription.id, "items": [{"id": item, "price": plan_prices[1], "quantity": 3}]}},
    })
    confirm = session.flow.subscription_update_confirm
    assert session.flow.type == "subscription_update_confirm" and confirm.subscription == subscription.id
    assert [(i.id, i.price, i.quantity) for i in confirm["items"]] == [(item, plan_prices[1], 3)]
    assert _stored_flow(session) == {"type": "subscription_update_confirm", "subscriptionId": subscription.id,
                                     "priceId": plan_prices[1], "quantity": 3}
    without_quantity = sdk(server_url, api_key).v1.billing_portal.sessions.create({
        "customer": world.alice.stripe_customer_id,
        "flow_data": {"type": "subscription_update_confirm", "subscription_update_confirm": {
            "subscription": subscription.id, "items": [{"id": item, "price": plan_prices[0]}]}},
    })
    assert _stored_flow(without_quantity) == {"type": "subscription_update_confirm",
                                              "subscriptionId": subscription.id, "priceId": plan_prices[0]}


def _confirm_data(subscription: str, **item: object) -> dict:
    return {"type": "subscription_update_confirm",
            "subscription_update_confirm": {"subscription": subscription, "items": [{"id": "si_x", **item}]}}


@pytest.mark.parametrize(("which", "param", "code"), [
    ("unoffered", "flow_data[subscription_update_confirm][items][0][price]", "parameter_invalid"),
    ("bad_quantity", "flow_data[subscription_update_confirm][items][0][quantity]", "parameter_invalid"),
    ("no_items", "flow_data[subscription_update_confirm][items][0][price]", "parameter_missing"),
    ("bobs", "flow_data[subscription_update_confirm][subscription]", "parameter_invalid"),
    ("bobs_update", "flow_data[subscription_update][subscription]", "parameter_invalid"),
])
def test_sdk_plan_change_errors_name_stripes_params(server_url, world: World, api_key, plan_prices, which, param,
                                                    code) -> None:
    own, bobs = world.alice.seeded["subscriptions"][0], world.bob.seeded["subscriptions"][0]
    unoffered = world.stripe.v1.prices.create({"product_data": {"name": "Secret"}, "currency": "usd",
                                               "unit_amount": 1, "recurring": {"interval": "month"}}).id
    flow_data = {
        "unoffered": _confirm_data(own, price=unoffered),
        "bad_quantity": _confirm_data(own, price=plan_prices[0], quantity=0),
        "no_items": {"type": "subscription_update_confirm", "subscription_update_confirm": {"subscription": own}},
        "bobs": _confirm_data(bobs, price=plan_prices[0]),
        "bobs_update": {"type": "subscription_update", "subscription_update": {"subscription": bobs}},
    }[which]
    with pytest.raises(stripe.InvalidRequestError) as raised:
        sdk(server_url, api_key).v1.billing_portal.sessions.create({"customer": world.alice.stripe_customer_id,
                                                                    "flow_data": flow_data})
    assert (raised.value.http_status, raised.value.param, raised.value.code) == (400, param, code)


def test_sdk_plan_change_flows_need_plan_changes_on(server_url, world: World, api_key) -> None:
    subscription = world.alice.seeded["subscriptions"][0]
    with pytest.raises(stripe.InvalidRequestError) as raised:
        sdk(server_url, api_key).v1.billing_portal.sessions.create({
            "customer": world.alice.stripe_customer_id,
            "flow_data": {"type": "subscription_update", "subscription_update": {"subscription": subscription}},
        })
    assert (raised.value.param, raised.value.code) == ("flow_data[type]", "feature_disabled")
