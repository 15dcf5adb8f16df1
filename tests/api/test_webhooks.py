"""Stripe webhooks in-process (ASGI): signatures, duplicates, order, unknown customers, retries.

The events are the emulator's own (`GET /v1/events` after changing things through the
SDK), delivered by the test and signed here with Stripe's scheme (HMAC-SHA256 over
`t.payload`), so each test controls order, duplicates and tampering. Processing is run
explicitly (`process_due_events`) except where the worker thread itself is under test.
"Mirror equals Stripe" is checked as: a full sync of the customer writes no row.
Every test runs on SQLite and on PostgreSQL (the `world` fixture takes `db_url`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel, select

from billstack import routes
from billstack.clock import UNIX_MAX, UNIX_MIN, utcnow
from billstack.db import session_scope
from devtools.emulator import advance_time
from billstack.models import Customer, Invoice, PaymentMethod, Project, Subscription, TaxId, WebhookEvent
from billstack.services import sync, webhooks
from billstack.services.webhooks.processing import _claim_next
from tests.api.conftest import assert_error, make_tenant
from tests.portal_world import World, mirror, mirror_snapshot, submit_checkout, world  # noqa: F401 - fixture

pytestmark = pytest.mark.asyncio

SECRET = "whsec_testSigningSecret0123456789"
DEADLINE_S = 15


class _ManualWorker:
    """Stands in for the worker thread: the tests process events themselves, deterministically."""

    notified = 0

    def notify(self) -> None:
        self.notified += 1


@pytest.fixture
def hooked(world: World, monkeypatch: pytest.MonkeyPatch) -> World:
    """`world` with a webhook secret, Alice's mirror synced, and no background processing."""
    monkeypatch.setattr(webhooks, "worker", _ManualWorker())
    world.set_project(webhook_secret=SECRET)
    full_sync(world, world.alice.customer_id)
    return world


# --- helpers -------------------------------------------------------------------------------


def sign(payload: bytes, secret: str = SECRET, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def url(world: World, project_id: str | None = None) -> str:
    return f"/api/billstack/webhooks/stripe/{project_id or world.project_id}"


async def deliver(client: httpx.AsyncClient, world: World, event: dict[str, Any], **sign_options: Any) -> httpx.Response:
    payload = json.dumps(event, indent=2).encode()
    headers = {"Content-Type": "application/json; charset=utf-8", "Stripe-Signature": sign(payload, **sign_options)}
    return await client.post(url(world), content=payload, headers=headers)


def raw_events(world: World, **params: Any) -> list[dict[str, Any]]:
    """`GET /v1/events` as Stripe's JSON (the SDK's objects turn amounts into Decimals), newest first."""
    found: list[dict[str, Any]] = []
    while True:
        page = httpx.get(f"{world.emulator_url}/v1/events", params={"limit": 100, **params},
                         headers={"Authorization": f"Bearer {world.stripe_key}"}, timeout=30).json()
        found += page["data"]
        if not page["has_more"]:
            return found
        params["starting_after"] = page["data"][-1]["id"]


def events(world: World, event_type: str, object_id: str | None = None) -> list[dict[str, Any]]:
    """The emulator's events of a type (about one object), oldest first (the seed made some too)."""
    found = raw_events(world, type=event_type)
    return [e for e in reversed(found) if object_id is None or e["data"]["object"]["id"] == object_id]


def full_sync(world: World, customer_id: str) -> int:
    with session_scope() as db:
        return sync.sync_customer(db, db.get(Project, world.project_id), db.get(Customer, customer_id))


def assert_mirror_equals_stripe(world: World, customer_id: str) -> None:
    assert full_sync(world, customer_id) == 0, "a full sync had to correct the mirror"


def event_rows() -> list[WebhookEvent]:
    with session_scope() as db:
        return list(db.exec(select(WebhookEvent).order_by(WebhookEvent.id)))


def subscription_row(world: World, sub_id: str) -> Subscription:
    [row] = [r for r in mirror(Subscription, world.alice.customer_id) if r.stripe_id == sub_id]
    return row


# --- receipt and processing ------------------------------------------------------------------


async def test_a_signed_event_is_recorded_once_and_the_mirror_follows_stripe(
    client: httpx.AsyncClient, hooked: World
) -> None:
    sub_id = hooked.alice.seeded["subscriptions"][0]
    hooked.stripe.v1.subscriptions.update(sub_id, {"cancel_at_period_end": True})
    event = events(hooked, "customer.subscription.updated", sub_id)[-1]

    response = await deliver(client, hooked, event)

    assert response.status_code == 200, response.text
    assert response.json() == {"received": True, "duplicate": False}
    assert webhooks.worker.notified == 1  # processing is handed off, not done in the request
    assert subscription_row(hooked, sub_id).cancel_at_period_end is False
    assert webhooks.process_due_events() == 1
    assert subscription_row(hooked, sub_id).cancel_at_period_end is True
    [row] = event_rows()
    assert (row.stripe_event_id, row.type, row.object_id) == (event["id"], event["type"], sub_id)
    assert (row.stripe_customer_id, row.outcome, row.error, row.attempts) == (
        hooked.alice.stripe_customer_id, webhooks.APPLIED, None, 1)
    assert row.processed_at is not None and row.next_attempt_at is None

    again = await deliver(client, hooked, event)

    assert again.status_code == 200 and again.json() == {"received": True, "duplicate": True}
    assert len(event_rows()) == 1 and webhooks.worker.notified == 1
    assert webhooks.process_due_events() == 0
    assert_mirror_equals_stripe(hooked, hooked.alice.customer_id)


async def test_an_older_update_delivered_after_a_newer_one_cannot_roll_the_mirror_back(
    client: httpx.AsyncClient, hooked: World
) -> None:
    sub_id = hooked.alice.seeded["subscriptions"][0]
    hooked.stripe.v1.subscriptions.update(sub_id, {"cancel_at_period_end": True})
    hooked.stripe.v1.subscriptions.update(sub_id, {"cancel_at_period_end": False, "metadata": {"plan": "kept"}})
    older, newer = events(hooked, "customer.subscription.updated", sub_id)[-2:]
    assert older["data"]["object"]["cancel_at_period_end"] is True  # the stale snapshot

    for event in (newer, older, older, newer):  # newest first, then the old one, then duplicates
        assert (await deliver(client, hooked, event)).status_code == 200
        webhooks.process_due_events()

    assert subscription_row(hooked, sub_id).cancel_at_period_end is False
    assert [r.outcome for r in event_rows()] == [webhooks.UNCHANGED, webhooks.UNCHANGED]
    assert_mirror_equals_stripe(hooked, hooked.alice.customer_id)


async def test_a_renewal_delivered_backwards_ends_with_the_paid_invoice_and_the_new_period(
    client: httpx.AsyncClient, hooked: World
) -> None:
    since = raw_events(hooked)[0]["id"]
    advance_time(hooked.emulator_url, hooked.stripe_key, 32 * 86400)  # both subscriptions renew
    renewal = raw_events(hooked, ending_before=since)
    mine = [e for e in renewal if hooked.alice.stripe_customer_id in json.dumps(e["data"]["object"])]
    assert {"invoice.created", "invoice.paid", "customer.subscription.updated"} <= {e["type"] for e in mine}
    known_invoices = {row.stripe_id for row in mirror(Invoice, hooked.alice.customer_id)}

    for event in renewal:  # the list is newest first: every invoice's `paid` before its `created`
        assert (await deliver(client, hooked, event)).status_code == 200
    assert webhooks.process_due_events() == len(renewal)

    new = [row for row in mirror(Invoice, hooked.alice.customer_id) if row.stripe_id not in known_invoices]
    assert len(new) == 2 and {row.status for row in new} == {"paid"}
    for sub_id in hooked.alice.seeded["subscriptions"]:
        stripe_sub = hooked.stripe.v1.subscriptions.retrieve(sub_id)
        assert subscription_row(hooked, sub_id).current_period_end.timestamp() == stripe_sub["items"].data[0].current_period_end
    # Bob is linked too: his renewal reached his mirror, and none of it reached Alice's.
    assert {row.stripe_id for row in mirror(Invoice, hooked.bob.customer_id)}.isdisjoint(known_invoices | {r.stripe_id for r in new})
    assert_mirror_equals_stripe(hooked, hooked.alice.customer_id)


async def test_a_detached_card_leaves_and_a_setup_checkout_brings_the_new_one(
    client: httpx.AsyncClient, hooked: World
) -> None:
    alice = hooked.alice
    since = raw_events(hooked)[0]["id"]
    hooked.stripe.v1.payment_methods.detach(alice.seeded["payment_method"])
    detach_events = raw_events(hooked, ending_before=since)
    assert {"payment_method.detached", "customer.updated"} <= {e["type"] for e in detach_events}
    for event in detach_events:
        await deliver(client, hooked, event)
    webhooks.process_due_events()

    assert mirror(PaymentMethod, alice.customer_id) == []
    with session_scope() as db:
        assert db.get(Customer, alice.customer_id).default_payment_method_id is None
    assert_mirror_equals_stripe(hooked, alice.customer_id)

    session = hooked.stripe.v1.checkout.sessions.create({
        "mode": "setup", "customer": alice.stripe_customer_id, "currency": "usd",
        "success_url": "https://app.example.com/ok", "cancel_url": "https://app.example.com/no",
    })
    submit_checkout(session.url, "5555555555554444")
    [completed] = events(hooked, "checkout.session.completed", session.id)
    await deliver(client, hooked, completed)  # alone: it must bring the card by itself
    webhooks.process_due_events()

    assert [(c.brand, c.last4) for c in mirror(PaymentMethod, alice.customer_id)] == [("mastercard", "4444")]
    assert_mirror_equals_stripe(hooked, alice.customer_id)


async def test_a_deleted_customer_empties_their_mirror(client: httpx.AsyncClient, hooked: World) -> None:
    hooked.stripe.v1.customers.delete(hooked.alice.stripe_customer_id)
    [deleted] = events(hooked, "customer.deleted", hooked.alice.stripe_customer_id)

    await deliver(client, hooked, deleted)
    webhooks.process_due_events()

    for model in (Subscription, Invoice, PaymentMethod, TaxId):
        assert mirror(model, hooked.alice.customer_id) == []


async def deliver_since(client: httpx.AsyncClient, world: World, since: str) -> list[dict[str, Any]]:
    """Deliver every event after `since` (oldest first) and process them; returns them."""
    new = list(reversed(raw_events(world, ending_before=since)))
    for event in new:
        assert (await deliver(client, world, event)).status_code == 200
    webhooks.process_due_events()
    return new


async def test_a_tax_id_added_in_stripe_reaches_the_mirror_and_leaves_when_deleted(
    client: httpx.AsyncClient, hooked: World
) -> None:
    alice = hooked.alice
    since = raw_events(hooked)[0]["id"]
    tax_id = hooked.stripe.v1.customers.tax_ids.create(alice.stripe_customer_id, {"type": "eu_vat", "value": "DE123456789"})

    delivered = await deliver_since(client, hooked, since)

    assert [e["type"] for e in delivered] == ["customer.tax_id.created"]
    [row] = mirror(TaxId, alice.customer_id)
    assert (row.stripe_id, row.type, row.value) == (tax_id.id, "eu_vat", "DE123456789")
    assert row.verification_status == tax_id.verification.status
    assert [r.outcome for r in event_rows()] == [webhooks.APPLIED]
    assert mirror(TaxId, hooked.bob.customer_id) == []
    assert_mirror_equals_stripe(hooked, alice.customer_id)

    since = raw_events(hooked)[0]["id"]
    hooked.stripe.v1.customers.tax_ids.delete(alice.stripe_customer_id, tax_id.id)
    delivered = await deliver_since(client, hooked, since)

    assert "customer.tax_id.deleted" in [e["type"] for e in delivered]
    assert mirror(TaxId, alice.customer_id) == []
    assert_mirror_equals_stripe(hooked, alice.customer_id)


async def test_an_address_and_phone_changed_in_stripe_reach_the_mirror(
    client: httpx.AsyncClient, hooked: World
) -> None:
    alice = hooked.alice
    since = raw_events(hooked)[0]["id"]
    hooked.stripe.v1.customers.update(alice.stripe_customer_id, {
        "phone": "+49 30 1234567",
        "address": {"line1": "Unter den Linden 1", "city": "Berlin", "postal_code": "10117", "country": "DE"},
    })

    delivered = await deliver_since(client, hooked, since)

    assert [e["type"] for e in delivered] == ["customer.updated"]
    with session_scope() as db:
        row = db.get(Customer, alice.customer_id)
        assert (row.phone, row.address_line1, row.address_line2, row.address_city, row.address_postal_code,
                row.address_country) == ("+49 30 1234567", "Unter den Linden 1", None, "Berlin", "10117", "DE")
    assert_mirror_equals_stripe(hooked, alice.customer_id)


async def test_the_next_invoice_follows_a_pending_item_and_a_cancellation(
    client: httpx.AsyncClient, hooked: World
) -> None:
    alice = hooked.alice
    sub_id = alice.seeded["subscriptions"][0]
    before = subscription_row(hooked, sub_id).next_invoice_amount
    assert before is not None and before > 0
    since = raw_events(hooked)[0]["id"]
    hooked.stripe.v1.invoice_items.create({
        "customer": alice.stripe_customer_id, "subscription": sub_id, "amount": 1234, "currency": "usd",
    })

    await deliver_since(client, hooked, since)

    preview = hooked.stripe.v1.invoices.create_preview({"customer": alice.stripe_customer_id, "subscription": sub_id})
    assert subscription_row(hooked, sub_id).next_invoice_amount == preview.amount_due == before + 1234
    assert_mirror_equals_stripe(hooked, alice.customer_id)

    since = raw_events(hooked)[0]["id"]
    hooked.stripe.v1.subscriptions.update(sub_id, {"cancel_at_period_end": True})
    await deliver_since(client, hooked, since)

    row = subscription_row(hooked, sub_id)
    assert (row.next_invoice_amount, row.next_invoice_date) == (None, None)  # it will not bill again
    assert_mirror_equals_stripe(hooked, alice.customer_id)


# --- what is refused, and what is ignored ---------------------------------------------------


async def test_unsigned_tampered_stale_and_foreign_deliveries_are_400_and_change_nothing(
    client: httpx.AsyncClient, hooked: World, db_url: str
) -> None:
    sub_id = hooked.alice.seeded["subscriptions"][0]
    hooked.stripe.v1.subscriptions.update(sub_id, {"cancel_at_period_end": True})
    event = events(hooked, "customer.subscription.updated", sub_id)[-1]
    payload = json.dumps(event).encode()
    tampered = payload.replace(b'"cancel_at_period_end": true', b'"cancel_at_period_end": false')
    assert tampered != payload
    with session_scope() as db:  # a second project that never set a webhook secret
        other = Project(id="proj_noSecret0000000000", team_id=hooked.team_id, name="No secret",
                        stripe_secret_key_sealed=db.get(Project, hooked.project_id).stripe_secret_key_sealed)
        db.add(other)
    before = mirror_snapshot(hooked.alice.customer_id)
    json_type = {"Content-Type": "application/json"}
    refused = {
        "no signature": (url(hooked), payload, json_type),
        "garbage signature": (url(hooked), payload, {**json_type, "Stripe-Signature": "nonsense"}),
        "another secret": (url(hooked), payload, {**json_type, "Stripe-Signature": sign(payload, "whsec_otherSecret0000")}),
        "tampered body": (url(hooked), tampered, {**json_type, "Stripe-Signature": sign(payload)}),
        "older than 5 minutes": (url(hooked), payload,
                                 {**json_type, "Stripe-Signature": sign(payload, timestamp=int(time.time()) - 301)}),
        "unknown project": (url(hooked, "proj_doesNotExist000000"), payload, {**json_type, "Stripe-Signature": sign(payload)}),
        "project without secret": (url(hooked, other.id), payload, {**json_type, "Stripe-Signature": sign(payload)}),
        "project id with a NUL": (url(hooked, "proj_%00"), payload, {**json_type, "Stripe-Signature": sign(payload)}),
        "signed but not JSON": (url(hooked), b"\xff\xfe", {**json_type, "Stripe-Signature": sign(b"\xff\xfe")}),
    }

    for case, (path, body, headers) in refused.items():
        response = await client.post(path, content=body, headers=headers)
        error = assert_error(response, 400, "webhook_signature_invalid")
        assert error["message"] == "Webhook signature verification failed.", case

    assert event_rows() == []
    assert webhooks.worker.notified == 0 and webhooks.process_due_events() == 0
    assert mirror_snapshot(hooked.alice.customer_id) == before
    # Within the tolerance the same event is accepted: the refusals above were about the signature.
    near_limit = await client.post(url(hooked), content=payload,
                                   headers={**json_type, "Stripe-Signature": sign(payload, timestamp=int(time.time()) - 240)})
    assert near_limit.status_code == 200


async def test_events_for_customers_billstack_does_not_know_are_acknowledged_and_ignored(
    client: httpx.AsyncClient, hooked: World
) -> None:
    stranger = hooked.stripe.v1.customers.create({"email": "carol@example.com"})
    price = hooked.stripe.v1.prices.list({"limit": 1}).data[0]
    sub = hooked.stripe.v1.subscriptions.create({"customer": stranger.id, "items": [{"price": price.id}],
                                                 "collection_method": "send_invoice", "days_until_due": 30})
    [created] = events(hooked, "customer.subscription.created", sub.id)
    [product_event] = events(hooked, "product.created")[:1]

    for event in (created, product_event):
        assert (await deliver(client, hooked, event)).status_code == 200
    # Ignoring an unknown customer needs no Stripe call: it works while Stripe is down.
    with hooked.stripe_down():
        assert webhooks.process_due_events() == 1  # the product event was done on arrival

    outcomes = {row.type: (row.outcome, row.error) for row in event_rows()}
    assert outcomes == {"customer.subscription.created": (webhooks.IGNORED_CUSTOMER, None),
                        "product.created": (webhooks.IGNORED_TYPE, None)}
    with session_scope() as db:
        assert db.exec(select(Subscription).where(Subscription.stripe_id == sub.id)).first() is None


async def test_bodies_over_one_mebibyte_are_413_and_large_events_fit(client: httpx.AsyncClient, hooked: World) -> None:
    sub_id = hooked.alice.seeded["subscriptions"][0]
    hooked.stripe.v1.subscriptions.update(sub_id, {"metadata": {f"k{i}": "x" * 400 for i in range(50)}})
    event = events(hooked, "customer.subscription.updated", sub_id)[-1]
    assert len(json.dumps(event, indent=2)) > 16 * 1024  # more than the JSON API allows

    assert (await deliver(client, hooked, event)).status_code == 200
    huge = b'{"pad": "' + b"x" * (1024 * 1024) + b'"}'
    assert_error(await client.post(url(hooked), content=huge,
                                   headers={"Content-Type": "application/json", "Stripe-Signature": sign(huge)}), 413)


# --- failures, retries, restarts --------------------------------------------------------------


async def test_a_failure_is_recorded_and_retried_until_stripe_answers(client: httpx.AsyncClient, hooked: World) -> None:
    sub_id = hooked.alice.seeded["subscriptions"][0]
    hooked.stripe.v1.subscriptions.update(sub_id, {"cancel_at_period_end": True})
    event = events(hooked, "customer.subscription.updated", sub_id)[-1]
    await deliver(client, hooked, event)

    with hooked.stripe_down():
        webhooks.process_due_events()

    [row] = event_rows()
    assert row.processed_at is None and row.attempts == 1
    assert row.error.startswith("stripe_unavailable: ")
    assert row.next_attempt_at > utcnow()  # backing off, not hammering Stripe
    assert subscription_row(hooked, sub_id).cancel_at_period_end is False
    assert webhooks.process_due_events() == 0  # not due yet

    assert webhooks.process_due_events(now=utcnow() + timedelta(minutes=1)) == 1

    [row] = event_rows()
    assert (row.outcome, row.error, row.attempts) == (webhooks.APPLIED, None, 2)
    assert subscription_row(hooked, sub_id).cancel_at_period_end is True


async def test_after_the_last_attempt_an_event_stays_failed(client: httpx.AsyncClient, hooked: World) -> None:
    sub_id = hooked.alice.seeded["subscriptions"][0]
    hooked.stripe.v1.subscriptions.update(sub_id, {"cancel_at_period_end": True})
    await deliver(client, hooked, events(hooked, "customer.subscription.updated", sub_id)[-1])
    with session_scope() as db:  # as if every retry but the last had failed already
        row = db.exec(select(WebhookEvent)).one()
        row.attempts = len(webhooks.RETRY_BACKOFF)
        db.add(row)

    with hooked.stripe_down():
        webhooks.process_due_events()

    [row] = event_rows()
    assert row.processed_at is None and row.next_attempt_at is None and row.error
    assert webhooks.process_due_events(now=utcnow() + timedelta(days=1)) == 0
    with session_scope() as db:
        status = webhooks.webhook_status(db, hooked.project_id)
    assert (status.failed, status.retrying, status.pending) == (1, 0, 0)
    assert status.failures[0].stripe_event_id == row.stripe_event_id and status.failures[0].next_attempt_at is None


async def test_an_event_whose_worker_died_is_processed_again_after_its_lease(
    client: httpx.AsyncClient, hooked: World
) -> None:
    sub_id = hooked.alice.seeded["subscriptions"][0]
    hooked.stripe.v1.subscriptions.update(sub_id, {"cancel_at_period_end": True})
    await deliver(client, hooked, events(hooked, "customer.subscription.updated", sub_id)[-1])
    claimed = _claim_next(datetime.now(UTC))  # a worker took it, then its process went away
    assert claimed is not None

    assert webhooks.process_due_events() == 0  # leased: nobody else takes it meanwhile
    assert webhooks.process_due_events(now=utcnow() + webhooks.LEASE + timedelta(seconds=1)) == 1
    assert subscription_row(hooked, sub_id).cancel_at_period_end is True


async def test_the_worker_thread_processes_deliveries_and_a_backlog_after_a_restart(
    client: httpx.AsyncClient, hooked: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = hooked.alice.seeded["subscriptions"]
    hooked.stripe.v1.subscriptions.update(first, {"cancel_at_period_end": True})
    await deliver(client, hooked, events(hooked, "customer.subscription.updated", first)[-1])  # left unprocessed

    real = webhooks.WebhookWorker(poll_interval=0.2)  # a fresh server process starting up
    monkeypatch.setattr(webhooks, "worker", real)
    real.start()
    try:
        _wait_until(lambda: subscription_row(hooked, first).cancel_at_period_end)
        hooked.stripe.v1.subscriptions.update(second, {"cancel_at_period_end": True})
        await deliver(client, hooked, events(hooked, "customer.subscription.updated", second)[-1])
        _wait_until(lambda: subscription_row(hooked, second).cancel_at_period_end)
    finally:
        real.stop()
    assert all(row.processed_at is not None for row in event_rows())


def _wait_until(condition, timeout: float = DEADLINE_S) -> None:
    """Poll the database for what the worker thread does (bounded, no fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the worker did not process the event in time"
        time.sleep(0.05)


async def test_status_counts_lag_and_failures(client: httpx.AsyncClient, hooked: World) -> None:
    first, second = hooked.alice.seeded["subscriptions"]
    for sub_id in (first, second):
        hooked.stripe.v1.subscriptions.update(sub_id, {"cancel_at_period_end": True})
        await deliver(client, hooked, events(hooked, "customer.subscription.updated", sub_id)[-1])
    webhooks.process_due_events(limit=1)

    with session_scope() as db:
        status = webhooks.webhook_status(db, hooked.project_id)

    assert (status.received, status.applied, status.pending, status.failed) == (2, 1, 1, 0)
    assert status.last_type == "customer.subscription.updated" and status.last_received_at is not None
    assert status.lag_avg_s is not None and 0 <= status.lag_avg_s < 60
    assert status.oldest_unprocessed_at is not None and status.secret_set


# --- signed but malformed bodies ---------------------------------------------------------------
# Signed with the project's own secret, so they pass the signature check and reach the event's
# validation: each must be a 400 that records nothing (never a 500 from the SDK, the clock or the
# database). No emulator: a malformed event is refused before anything would ask Stripe.

# The limits come from the columns the values are stored in.
EVENT_ID_MAX = WebhookEvent.__table__.c.stripe_event_id.type.length
TYPE_MAX = WebhookEvent.__table__.c.type.type.length
OBJECT_ID_MAX = WebhookEvent.__table__.c.object_id.type.length
CUSTOMER_ID_MAX = WebhookEvent.__table__.c.stripe_customer_id.type.length
SUBSCRIPTION = {"id": "sub_1", "object": "subscription", "customer": "cus_1"}


def well_formed(**top: Any) -> dict[str, Any]:
    """A Stripe event about a subscription; `top` replaces top-level fields (None drops one)."""
    event: dict[str, Any] = {
        "id": "evt_" + "1" * 24, "object": "event", "type": "customer.subscription.updated",
        "created": 1_700_000_000, "livemode": False, "data": {"object": SUBSCRIPTION},
    }
    event.update(top)
    return {key: value for key, value in event.items() if value is not None}


def with_object(**fields: Any) -> dict[str, Any]:
    """`well_formed()` with some fields of its subscription replaced."""
    return well_formed(data={"object": {**SUBSCRIPTION, **fields}})


def encoded(event: dict[str, Any], **raw: str) -> bytes:
    """The event as JSON; each `raw` top-level value is spliced in as written (JSON json.dumps won't make)."""
    body = json.dumps({**event, **{key: f"@{key}@" for key in raw}})
    for key, text in raw.items():
        body = body.replace(f'"@{key}@"', text)
    return body.encode()


DEEP = 200_000
MALFORMED: dict[str, bytes] = {
    "array": b"[1,2]",
    "null": b"null",
    "string": b'"evt_1"',
    "number": b"42",
    "not JSON": b"{not json",
    "empty object": b"{}",
    "numeric id only": b'{"id": 5}',
    "arrays nested 200,000 deep": b"[" * DEEP + b"]" * DEEP,
    "objects nested 100,000 deep": b'{"a":' * (DEEP // 2) + b"1" + b"}" * (DEEP // 2),
    "a valid event nesting 200,000 arrays": encoded(well_formed(), metadata="[" * DEEP + "]" * DEEP),
    "not an event object": encoded(well_formed(object="v2.core.event")),
    "id missing": encoded(well_formed(id=None)),
    "id a number": encoded(well_formed(id=5)),
    "id empty": encoded(well_formed(id="")),
    "id without evt_": encoded(well_formed(id="sub_123")),
    "id of 300 characters": encoded(well_formed(id="evt_" + "x" * 296)),
    "id with a NUL": encoded(well_formed(id="evt_1\u00002")),
    "type missing": encoded(well_formed(type=None)),
    "type empty": encoded(well_formed(type="")),
    "type a list": encoded(well_formed(type=["invoice.paid"])),
    "type one over its column": encoded(well_formed(type="invoice." + "x" * (TYPE_MAX - 7))),
    "type of 10,000 characters": encoded(well_formed(type="invoice." + "x" * 10_000)),
    "type with a lone surrogate": encoded(well_formed(), type='"invoice.\\ud800"'),
    "created missing": encoded(well_formed(created=None)),
    "created 1e20": encoded(well_formed(created=10**20)),
    "created -1e20": encoded(well_formed(created=-(10**20))),
    "created 2**63": encoded(well_formed(created=2**63)),
    "created negative": encoded(well_formed(created=-1)),
    "created a float": encoded(well_formed(), created="1e20"),
    "created true": encoded(well_formed(created=True)),
    "created a string": encoded(well_formed(created="1700000000")),
    "created of 5,000 digits": encoded(well_formed(), created="1" * 5000),
    "data missing": encoded(well_formed(data=None)),
    "data a list": encoded(well_formed(data=[])),
    "data.object missing": encoded(well_formed(data={})),
    "data.object a string": encoded(well_formed(data={"object": "sub_1"})),
    "data.object null": encoded(well_formed(data={"object": None})),
    "data.previous_attributes a list": encoded(
        well_formed(data={"object": SUBSCRIPTION, "previous_attributes": []})),
    "object.id a number": encoded(with_object(id=5)),
    "object.id one over its column": encoded(with_object(id="sub_" + "x" * (OBJECT_ID_MAX - 3))),
    "object.id of 300 characters": encoded(with_object(id="sub_" + "x" * 296)),
    "object.customer of 300 characters": encoded(with_object(customer="cus_" + "x" * 296)),
    "object.customer expanded with a 300-character id": encoded(
        with_object(customer={"id": "cus_" + "x" * 296, "object": "customer"})),
    "object.customer a number": encoded(with_object(customer=5)),
    "previous customer of 300 characters": encoded(well_formed(
        type="payment_method.detached",
        data={"object": {"id": "pm_1", "customer": None},
              "previous_attributes": {"customer": "cus_" + "x" * 296}},
    )),
}


@pytest.fixture
def signed_project(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A project with a webhook secret (its Stripe key is never used), and no background processing."""
    monkeypatch.setattr(webhooks, "worker", _ManualWorker())
    with session_scope() as db:
        return make_tenant(db, label="w", webhook_secret=SECRET).project_id


def row_counts() -> dict[str, int]:
    """Rows per table: the webhook events, the mirror, the audit trail, everything."""
    with session_scope() as db:
        return {table.name: db.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
                for table in SQLModel.metadata.sorted_tables}


async def post_signed(client: httpx.AsyncClient, project_id: str, body: bytes) -> httpx.Response:
    headers = {"Content-Type": "application/json", "Stripe-Signature": sign(body)}
    return await client.post(routes.stripe_webhook_path(project_id), content=body, headers=headers)


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
async def test_a_signed_but_malformed_event_is_400_and_records_nothing(
    client: httpx.AsyncClient, signed_project: str, body: bytes
) -> None:
    assert len(body) <= 1024 * 1024  # within the body limit: this is about the content, not the size
    before = row_counts()

    response = await post_signed(client, signed_project, body)

    assert_error(response, 400, "webhook_payload_invalid")
    assert row_counts() == before
    assert webhooks.worker.notified == 0 and webhooks.process_due_events() == 0


@pytest.mark.parametrize("event", [
    well_formed(),
    with_object(id="sub_" + "x" * (OBJECT_ID_MAX - 4), customer="cus_" + "x" * (CUSTOMER_ID_MAX - 4)),
    well_formed(id="evt_" + "x" * (EVENT_ID_MAX - 4),
                type="invoice." + "x" * (TYPE_MAX - 8), created=UNIX_MIN),
    well_formed(created=UNIX_MAX),
], ids=["well formed", "ids as long as their columns", "event id and type as long as their columns, created 0",
        "created at the last second accepted"])
async def test_the_events_the_malformed_ones_are_made_from_are_accepted(
    client: httpx.AsyncClient, signed_project: str, event: dict[str, Any]
) -> None:
    response = await post_signed(client, signed_project, encoded(event))

    assert response.status_code == 200, response.text
    [row] = event_rows()
    subscription = event["data"]["object"]
    assert (row.stripe_event_id, row.type) == (event["id"], event["type"])
    assert (row.object_id, row.stripe_customer_id) == (subscription["id"], subscription["customer"])
    assert row.stripe_created == datetime.fromtimestamp(event["created"], UTC)
