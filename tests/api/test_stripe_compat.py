"""`POST /v1/billing_portal/sessions` (issue 14): Stripe's official Python SDK, unchanged but
for its API base and key, creates BillStack portal sessions and raises its own error
classes. The app runs in-process behind a real HTTP server (uvicorn in a thread), as the
SDK speaks HTTP only."""

from __future__ import annotations

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
from billstack.services import ratelimit, tenants
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


@pytest.mark.parametrize(("locale", "ours"), [("auto", "en"), ("fr-CA", "fr"), ("ja", "en"), ("es-419", "en")])
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
    ({"flow_data": {"type": "subscription_update"}}, "flow_data[type]", "parameter_invalid"),
    ({"flow_data": {"type": "payment_method_update", "after_completion": {"type": "redirect"}}},
     "flow_data[after_completion]", "parameter_unknown"),
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
