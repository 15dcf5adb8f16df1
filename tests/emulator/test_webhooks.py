"""Events and webhook delivery: Stripe signatures, retries with back-off, bounded attempts."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import stripe

from devtools.emulator import new_account_key, running_emulator, webhook_deliveries


class Receiver:
    """A local webhook endpoint that answers with queued statuses (then 200) and records every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        self.cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.cond:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.calls.append((dict(self.headers), body))
                    receiver.cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/stripe"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[tuple[dict[str, str], bytes]]:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.calls) >= count, timeout), (
                f"only {len(self.calls)} deliveries"
            )
            return list(self.calls)

    def events(self) -> list[dict[str, Any]]:
        with self.cond:
            return [json.loads(body) for _, body in self.calls]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_events_are_listed_and_retrievable(client: stripe.StripeClient) -> None:
    cus = client.v1.customers.create({"email": "e@example.com"})
    client.v1.customers.update(cus.id, {"name": "Eve"})
    events = client.v1.events.list().data
    assert [e.type for e in events] == ["customer.updated", "customer.created"]
    updated = client.v1.events.retrieve(events[0].id)
    assert updated.data.object.name == "Eve" and updated.data.previous_attributes.name is None
    assert updated.api_version == "2026-10-28.endive" and updated.request.id.startswith("req_")
    assert [e.type for e in client.v1.events.list({"type": "customer.c*"}).data] == ["customer.created"]
    assert [e.type for e in client.v1.events.list({"types": ["customer.updated"]}).data] == [
        "customer.updated"
    ]
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.events.retrieve("evt_missing")


def test_webhook_endpoint_crud(client: stripe.StripeClient, receiver: Receiver) -> None:
    we = client.v1.webhook_endpoints.create({"url": receiver.url, "enabled_events": ["customer.created"]})
    assert we.secret.startswith("whsec_") and we.status == "enabled"
    assert "secret" not in client.v1.webhook_endpoints.retrieve(we.id)  # shown only at creation
    assert [w.id for w in client.v1.webhook_endpoints.list().data] == [we.id]
    assert client.v1.webhook_endpoints.update(we.id, {"disabled": True}).status == "disabled"
    assert client.v1.webhook_endpoints.delete(we.id).deleted is True
    with pytest.raises(stripe.InvalidRequestError) as bad:
        client.v1.webhook_endpoints.create({"url": "ftp://nope", "enabled_events": ["*"]})
    assert bad.value.param == "url"


def test_delivery_is_signed_as_stripe_signs(client: stripe.StripeClient, receiver: Receiver) -> None:
    we = client.v1.webhook_endpoints.create(
        {"url": receiver.url, "enabled_events": ["customer.created", "customer.updated"]}
    )
    cus = client.v1.customers.create({"email": "signed@example.com"})
    client.v1.payment_methods.attach("pm_card_visa", {"customer": cus.id})  # not subscribed: not delivered
    client.v1.customers.update(cus.id, {"name": "Signed"})
    (h1, body1), (_, body2) = receiver.wait_for(2)
    headers = {k.lower(): v for k, v in h1.items()}
    assert headers["content-type"].startswith("application/json")
    event = stripe.Webhook.construct_event(body1.decode(), headers["stripe-signature"], we.secret)
    assert event.type == "customer.created" and event.data.object.id == cus.id
    assert json.loads(body2)["type"] == "customer.updated"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(
            body1.decode().replace("signed@", "forged@"), headers["stripe-signature"], we.secret
        )
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body1.decode(), headers["stripe-signature"], "whsec_wrong")
    assert [e["type"] for e in receiver.events()] == ["customer.created", "customer.updated"]


def test_failed_deliveries_are_retried_with_back_off() -> None:
    receiver = Receiver()
    receiver.statuses = [500, 503]
    try:
        with running_emulator(webhook_backoff=(0.05, 0.1, 0.2)) as url:
            key = new_account_key()
            client = stripe.StripeClient(key, base_addresses={"api": url}, max_network_retries=0)
            we = client.v1.webhook_endpoints.create({"url": receiver.url, "enabled_events": ["*"]})
            cus = client.v1.customers.create({})
            calls = receiver.wait_for(3)
            bodies = [json.loads(body) for _, body in calls]
            assert {b["id"] for b in bodies} == {bodies[0]["id"]} and bodies[0]["data"]["object"][
                "id"
            ] == cus.id
            for headers, body in calls:
                stripe.Webhook.construct_event(body.decode(), headers["Stripe-Signature"], we.secret)
            (delivery,) = webhook_deliveries(url, key)
            assert [a["status"] for a in delivery["attempts"]] == [500, 503, 200] and delivery[
                "status"
            ] == "succeeded"
            gaps = [b["at"] - a["at"] for a, b in zip(delivery["attempts"], delivery["attempts"][1:])]
            assert gaps[0] >= 0.05 and gaps[1] >= 0.1
            assert client.v1.events.retrieve(bodies[0]["id"]).pending_webhooks == 0
    finally:
        receiver.close()


def test_attempts_are_bounded_for_a_dead_endpoint() -> None:
    with running_emulator(webhook_backoff=(0.01, 0.01)) as url:
        key = new_account_key()
        client = stripe.StripeClient(key, base_addresses={"api": url}, max_network_retries=0)
        client.v1.webhook_endpoints.create(
            {"url": "http://127.0.0.1:9/nothing-listens-here", "enabled_events": ["*"]}
        )
        client.v1.customers.create({})
        event_id = client.v1.events.list().data[0].id
        deadline = time.monotonic() + 10
        while (deliveries := webhook_deliveries(url, key))[0]["status"] == "pending":
            assert time.monotonic() < deadline, deliveries
            threading.Event().wait(0.02)  # poll the control API until the worker gives up
        (delivery,) = deliveries
        assert delivery["status"] == "failed" and len(delivery["attempts"]) == 3
        assert all(a["error"] for a in delivery["attempts"])
        assert client.v1.events.retrieve(event_id).pending_webhooks == 1
