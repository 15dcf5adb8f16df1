"""The mirror keeps a subscription's discount and `pause_collection` as Stripe has them (issue 20):
the portal's card shows both without asking Stripe."""

from __future__ import annotations

import pytest

from billstack import stripe_gateway
from billstack.clock import from_unix
from billstack.db import session_scope
from billstack.models import Customer, Project, Subscription
from billstack.services import sync
from devtools.emulator import emulator_now
from tests.portal_world import World, mirror, world  # noqa: F401 - fixture

pytestmark = pytest.mark.usefixtures("db_url")

DAY = 86400


def _sync(world: World) -> dict[str, Subscription]:
    with session_scope() as db:
        sync.sync_customer(db, db.get(Project, world.project_id), db.get(Customer, world.alice.customer_id))
    return {row.stripe_id: row for row in mirror(Subscription, world.alice.customer_id)}


def test_sync_copies_a_promotion_codes_discount_and_a_coupons_end(world: World) -> None:
    first, second = world.alice.seeded["subscriptions"]
    spring = world.stripe.v1.coupons.create({"id": "SPRING", "percent_off": 20, "duration": "repeating",
                                             "duration_in_months": 3})
    code = world.stripe.v1.promotion_codes.create({"promotion": {"type": "coupon", "coupon": spring.id},
                                                   "code": "SPRING20"})
    world.stripe.v1.subscriptions.update(first, {"discounts": [{"promotion_code": code.id}]})
    five_off = world.stripe.v1.coupons.create({"amount_off": 500, "currency": "usd", "duration": "forever"})
    world.stripe.v1.subscriptions.update(second, {"discounts": [{"coupon": five_off.id}]})

    rows = _sync(world)

    discount = world.stripe.v1.subscriptions.retrieve(first, {"expand": ["discounts"]}).discounts[0]
    assert discount.end is not None
    got = rows[first]
    assert (got.discount_coupon_id, got.discount_percent_off, got.discount_amount_off) == ("SPRING", 20, None)
    assert (got.discount_end, got.discount_promotion_code) == (from_unix(discount.end), "SPRING20")
    got = rows[second]
    assert (got.discount_coupon_id, got.discount_percent_off, got.discount_amount_off) == (five_off.id, None, 500)
    assert (got.discount_end, got.discount_promotion_code) == (None, None)

    world.stripe.v1.subscriptions.delete_discount(first)
    assert _sync(world)[first].discount_coupon_id is None


def test_sync_copies_pause_collection_and_a_resume_clears_it(world: World) -> None:
    first, second = world.alice.seeded["subscriptions"]
    resumes_at = emulator_now(world.emulator_url, world.stripe_key) + 20 * DAY
    world.stripe.v1.subscriptions.update(first, {"pause_collection": {"behavior": "void", "resumes_at": resumes_at}})
    world.stripe.v1.subscriptions.update(second, {"pause_collection": {"behavior": "mark_uncollectible"}})

    rows = _sync(world)

    assert (rows[first].pause_behavior, rows[first].pause_resumes_at) == ("void", from_unix(resumes_at))
    assert (rows[second].pause_behavior, rows[second].pause_resumes_at) == ("mark_uncollectible", None)

    world.stripe.v1.subscriptions.update(first, {"pause_collection": ""})
    rows = _sync(world)
    assert (rows[first].pause_behavior, rows[first].pause_resumes_at) == (None, None)


def test_apply_subscription_takes_the_discount_from_a_webhooks_re_read(world: World) -> None:
    """Webhook handlers re-read the subscription through the gateway, whose expansions carry
    the coupon's terms."""
    first = world.alice.seeded["subscriptions"][0]
    coupon = world.stripe.v1.coupons.create({"percent_off": 12.5, "duration": "forever"})
    world.stripe.v1.subscriptions.update(first, {"discounts": [{"coupon": coupon.id}]})
    with session_scope() as db:
        project = db.get(Project, world.project_id)
        stripe_sub = stripe_gateway.retrieve_subscription(project, first)
        assert sync.apply_subscription(db, project, db.get(Customer, world.alice.customer_id), stripe_sub)
    [row] = [r for r in mirror(Subscription, world.alice.customer_id) if r.stripe_id == first]
    assert (row.discount_coupon_id, row.discount_percent_off) == (coupon.id, 12.5)
