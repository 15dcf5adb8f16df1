"""A slow Stripe holds no database connection, is given up after BILLSTACK_STRIPE_TIMEOUT_S,
and a sync that waited on it never writes older data over a newer write."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from billstack.client_info import NO_CLIENT
from billstack import stripe_gateway
from billstack.config import reset_settings
from billstack.db import get_engine, session_scope
from devtools.emulator import clear_faults, inject_faults
from billstack.errors import StripeUnavailable
from billstack.models import Customer, Project, Subscription
from billstack.services import portal, sync
from billstack.services.portal_calls import Work, run_portal_call
from tests.portal_world import World, mirror, mirror_snapshot, submit_checkout, world  # noqa: F401 - fixture

pytestmark = pytest.mark.usefixtures("db_url")
T = TypeVar("T")

RETURN = "https://app.example.com/portal-return"


@pytest.fixture
def connections_during_stripe_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many pooled connections were checked out as each Stripe call began (the calls
    run one at a time here, so any connection counted is the caller's own)."""
    counts: list[int] = []
    real_call = stripe_gateway.core.call  # every gateway module calls Stripe through core.call

    def counting_call(fn: Callable[[], T]) -> T:
        counts.append(get_engine().pool.checkedout())
        return real_call(fn)

    monkeypatch.setattr(stripe_gateway.core, "call", counting_call)
    return counts


def _as(token: str, action: Callable[[Any, Any], T], work: Work) -> T:
    """As a request runs it: the one entry point, its own pool thread, validation included."""
    return asyncio.run(run_portal_call(token, NO_CLIENT, action, work=work))


def _mirrored(customer_id: str, sub_id: str) -> Subscription:
    [row] = [row for row in mirror(Subscription, customer_id) if row.stripe_id == sub_id]
    return row


def test_no_database_connection_is_held_while_stripe_is_called(
    world: World, connections_during_stripe_calls: list[int]
) -> None:
    alice, bob = world.alice, world.bob
    sub_id = bob.seeded["subscriptions"][0]

    # An action before any view: the first sync (Stripe reads), then the Stripe write.
    updated = _as(bob.token, lambda db, ctx: portal.set_cancel_at_period_end(db, ctx, sub_id, True), Work.ACTION)
    # A first open, which syncs; then a refresh.
    _as(alice.token, lambda db, ctx: portal.load_portal_view(db, ctx), Work.STRIPE_READ)
    _as(alice.token, lambda db, ctx: portal.load_portal_view(db, ctx, refresh="always"), Work.STRIPE_READ)
    # A payment-method update, started and completed.
    url = _as(alice.token, lambda db, ctx: portal.start_payment_method_update(
        db, ctx, success_url=RETURN + "?setup=success&session_id={CHECKOUT_SESSION_ID}",
        cancel_url=RETURN + "?setup=canceled"), Work.ACTION)
    returned = submit_checkout(url, "5555555555554444")
    session_id = parse_qs(urlsplit(returned.headers["location"]).query)["session_id"][0]
    card = _as(alice.token, lambda db, ctx: portal.complete_payment_method_update(db, ctx, session_id), Work.ACTION)

    assert updated.cancel_at_period_end and _mirrored(bob.customer_id, sub_id).cancel_at_period_end
    assert card.is_default and card.last4 == "4444"
    assert len(connections_during_stripe_calls) >= 10  # reads, pages, writes: every call was seen
    assert set(connections_during_stripe_calls) == {0}
    assert get_engine().pool.checkedout() == 0


def test_a_stripe_request_that_outlasts_the_timeout_is_a_503_and_changes_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BILLSTACK_STRIPE_TIMEOUT_S", "0.5")
    reset_settings()
    sub_id = world.alice.seeded["subscriptions"][0]
    world.as_customer(world.alice, lambda db, ctx: portal.load_portal_view(db, ctx))
    before = mirror_snapshot(world.alice.customer_id)
    delays = 3
    inject_faults(world.emulator_url, world.stripe_key, status=None, count=delays, delay_ms=5_000)
    try:
        with pytest.raises(StripeUnavailable) as caught:
            world.as_customer(
                world.alice, lambda db, ctx: portal.set_cancel_at_period_end(db, ctx, sub_id, True)
            )
        queued = httpx.get(
            f"{world.emulator_url}/_emulator/faults", headers={"Authorization": f"Bearer {world.stripe_key}"}
        ).json()["faults"]
    finally:
        clear_faults(world.emulator_url, world.stripe_key)

    assert (caught.value.status, caught.value.code) == (503, "stripe_unavailable")
    assert delays - len(queued) == 1  # one attempt: a request that timed out is not sent again
    assert mirror_snapshot(world.alice.customer_id) == before


def test_a_sync_that_raced_another_writer_reads_stripe_again_instead_of_writing_older_data(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = world.alice
    sub_id = alice.seeded["subscriptions"][0]
    world.as_customer(alice, lambda db, ctx: portal.load_portal_view(db, ctx))
    real_fetch = sync.fetch_customer_state
    fetched: list[sync.CustomerState] = []

    def fetch_while_a_webhook_lands(project: Project, stripe_customer_id: str, **options: Any) -> sync.CustomerState:
        state = real_fetch(project, stripe_customer_id, **options)
        fetched.append(state)
        if len(fetched) == 1:  # after this read, Stripe changes and a webhook writes the change
            _webhook_writes(world, world.stripe.v1.subscriptions.update(sub_id, {"cancel_at_period_end": True}))
        return state

    monkeypatch.setattr(sync, "fetch_customer_state", fetch_while_a_webhook_lands)
    with session_scope() as db:
        sync.sync_customer(db, db.get(Project, world.project_id), db.get(Customer, alice.customer_id))

    assert len(fetched) == 2
    assert _mirrored(alice.customer_id, sub_id).cancel_at_period_end is True


def _webhook_writes(world: World, stripe_sub: Any) -> None:
    """Another writer's unit of work, in its own thread (as the webhook worker's): it must
    not have to wait for the sync that is reading Stripe."""

    def write() -> None:
        with session_scope() as db:
            project, customer = db.get(Project, world.project_id), db.get(Customer, world.alice.customer_id)
            sync.apply_subscription(db, project, customer, stripe_sub.to_dict())

    writer = threading.Thread(target=write, name="webhook-writer")
    writer.start()
    writer.join(timeout=10)
    assert not writer.is_alive(), "the other writer waited on the sync reading Stripe"
