"""Cancellation as the project configures it and the retention offer, over the portal API, the
real stripe SDK and the emulator (issue 20): reason and comment land in Stripe's
`cancellation_details`, `immediately` ends the subscription (with a prorated credit when set),
a reason the project does not offer is a 400, and the retention coupon is offered once."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import httpx
import pytest

from devtools.emulator import advance_time
from tests.api.conftest import assert_error
from tests.portal_world import World, mirror, world  # noqa: F401 - fixture
from billstack.models import AuditEvent, Subscription
from billstack.db import session_scope
from sqlmodel import select

pytestmark = pytest.mark.asyncio
DAY = 86400


def _base(world: World) -> str:
    return f"/api/portal/{world.alice.token}"


async def _view(client: httpx.AsyncClient, world: World) -> dict:
    response = await client.get(_base(world))
    assert response.status_code == 200, response.text
    return response.json()


async def _cancel(client: httpx.AsyncClient, world: World, sub_id: str, **body: object) -> httpx.Response:
    return await client.patch(f"{_base(world)}/subscriptions/{sub_id}", json={"cancelAtPeriodEnd": True, **body})


async def test_reason_and_comment_land_in_stripes_cancellation_details(client: httpx.AsyncClient, world: World) -> None:
    sub_id = world.alice.seeded["subscriptions"][0]
    response = await _cancel(client, world, sub_id, reason="too_expensive", comment="  Cheaper elsewhere  ")
    assert response.status_code == 200, response.text
    details = world.stripe.v1.subscriptions.retrieve(sub_id).cancellation_details
    assert (details.feedback, details.comment) == ("too_expensive", "Cheaper elsewhere")
    assert response.json()["cancelAtPeriodEnd"] is True and response.json()["status"] == "active"


async def test_the_view_carries_the_cancel_settings(client: httpx.AsyncClient, world: World) -> None:
    cancellation = (await _view(client, world))["cancellation"]
    assert cancellation == {"mode": "at_period_end", "prorationBehavior": "none",
                            "reasons": ["too_expensive", "missing_features", "switched_service", "unused",
                                        "customer_service", "too_complex", "low_quality", "other"],
                            "commentMaxLength": 500, "retention": None}
    world.set_project(cancel_mode="immediately", cancel_proration="create_prorations", cancel_reasons="unused,other")
    cancellation = (await _view(client, world))["cancellation"]
    assert (cancellation["mode"], cancellation["prorationBehavior"], cancellation["reasons"]) == (
        "immediately", "create_prorations", ["unused", "other"])
    world.set_project(feature_cancel=False)
    assert (await _view(client, world))["cancellation"] is None


async def test_a_reason_not_offered_or_a_long_comment_is_a_400_and_nothing_changes(
    client: httpx.AsyncClient, world: World
) -> None:
    sub_id = world.alice.seeded["subscriptions"][0]
    world.set_project(cancel_reasons="too_expensive,other")
    assert_error(await _cancel(client, world, sub_id, reason="unused"), 400, param="reason")
    assert_error(await _cancel(client, world, sub_id, comment="x" * 501), 400, param="comment")
    world.set_project(cancel_reasons="")  # the question is off: a reason is refused, not dropped
    error = assert_error(await _cancel(client, world, sub_id, reason="too_expensive"), 400, param="reason")
    assert "does not ask" in error["message"]
    assert world.stripe.v1.subscriptions.retrieve(sub_id).cancel_at_period_end is False
    assert (await _cancel(client, world, sub_id)).status_code == 200  # no reason: fine


async def test_immediately_ends_the_subscription_now_without_a_credit(client: httpx.AsyncClient, world: World) -> None:
    sub_id = world.alice.seeded["subscriptions"][0]
    world.set_project(cancel_mode="immediately")
    response = await _cancel(client, world, sub_id, reason="unused", comment="Not needed")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "canceled" and response.json()["canceledAt"] is not None
    stripe_sub = world.stripe.v1.subscriptions.retrieve(sub_id)
    assert stripe_sub.status == "canceled"
    assert (stripe_sub.cancellation_details.feedback, stripe_sub.cancellation_details.comment) == (
        "unused", "Not needed")
    assert world.stripe.v1.customers.retrieve(world.alice.stripe_customer_id).balance == 0
    assert [s.status for s in mirror(Subscription, world.alice.customer_id) if s.stripe_id == sub_id] == ["canceled"]
    # Ended now: there is nothing to resume.
    resumed = await client.patch(f"{_base(world)}/subscriptions/{sub_id}", json={"cancelAtPeriodEnd": False})
    assert_error(resumed, 400, "subscription_not_live")
    with session_scope() as db:
        actions = db.exec(select(AuditEvent.action).where(AuditEvent.stripe_object_id == sub_id)).all()
    assert "subscription.canceled" in actions


async def test_immediately_with_prorations_credits_the_unused_time(client: httpx.AsyncClient, world: World) -> None:
    sub_id = world.alice.seeded["subscriptions"][0]
    sub = world.stripe.v1.subscriptions.retrieve(sub_id)
    item = sub["items"].data[0]
    start, end, amount = item.current_period_start, item.current_period_end, item.price.unit_amount * item.quantity
    advance_time(world.emulator_url, world.stripe_key, 5 * DAY)
    balance_before = world.stripe.v1.customers.retrieve(world.alice.stripe_customer_id).balance
    world.set_project(cancel_mode="immediately", cancel_proration="create_prorations")

    response = await _cancel(client, world, sub_id)

    assert response.status_code == 200 and response.json()["status"] == "canceled"
    canceled = world.stripe.v1.subscriptions.retrieve(sub_id)
    at = canceled.canceled_at
    # The unused share of the period, rounded half away from zero: amount × (end − at) / (end − start).
    credit = int((Decimal(amount) * (end - at) / (end - start)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    assert 0 < credit < amount
    final = world.stripe.v1.invoices.list({"subscription": sub_id, "limit": 1}).data[0]
    assert [line.amount for line in final.lines.data] == [-credit]
    assert world.stripe.v1.customers.retrieve(world.alice.stripe_customer_id).balance == balance_before - credit


async def _retention_coupon(world: World) -> str:
    coupon = world.stripe.v1.coupons.create({"percent_off": 20, "duration": "repeating", "duration_in_months": 3})
    world.set_project(retention_coupon=coupon.id)
    return coupon.id


async def test_retention_accepted_discounts_the_subscription_and_is_not_offered_twice(
    client: httpx.AsyncClient, world: World
) -> None:
    coupon_id = await _retention_coupon(world)
    subs = world.alice.seeded["subscriptions"]
    offer = (await _view(client, world))["cancellation"]["retention"]
    assert (offer["couponId"], offer["percentOff"], offer["duration"], offer["durationInMonths"]) == (
        coupon_id, 20, "repeating", 3)
    assert set(offer["subscriptionIds"]) == set(subs)
    # Even a cancel already scheduled is undone by accepting.
    assert (await _cancel(client, world, subs[0])).status_code == 200

    response = await client.post(f"{_base(world)}/subscriptions/{subs[0]}/retention", json={})

    assert response.status_code == 200, response.text
    assert response.json()["discount"]["couponId"] == coupon_id and response.json()["cancelAtPeriodEnd"] is False
    stripe_sub = world.stripe.v1.subscriptions.retrieve(subs[0], {"expand": ["discounts"]})
    assert [d.source.coupon for d in stripe_sub.discounts] == [coupon_id]
    assert stripe_sub.cancel_at_period_end is False and stripe_sub.status == "active"
    offer = (await _view(client, world))["cancellation"]["retention"]
    assert subs[0] not in offer["subscriptionIds"] and set(offer["subscriptionIds"]) == set(subs[1:])
    again = await client.post(f"{_base(world)}/subscriptions/{subs[0]}/retention")
    assert_error(again, 409, "retention_offer_unavailable")
    with session_scope() as db:
        actions = db.exec(select(AuditEvent.action).where(AuditEvent.stripe_object_id == subs[0])).all()
    assert "subscription.retention_accepted" in actions


async def test_retention_declined_means_the_cancel_goes_ahead(client: httpx.AsyncClient, world: World) -> None:
    await _retention_coupon(world)
    sub_id = world.alice.seeded["subscriptions"][1]
    # Declining is not calling the offer: the cancel is confirmed as usual.
    response = await _cancel(client, world, sub_id, reason="too_expensive")
    assert response.status_code == 200 and response.json()["cancelAtPeriodEnd"] is True
    stripe_sub = world.stripe.v1.subscriptions.retrieve(sub_id)
    assert stripe_sub.cancel_at_period_end is True and not stripe_sub.discounts


async def test_no_offer_is_a_409_and_bad_bodies_a_400(client: httpx.AsyncClient, world: World) -> None:
    sub_id = world.alice.seeded["subscriptions"][0]
    assert_error(await client.post(f"{_base(world)}/subscriptions/{sub_id}/retention"), 409,
                 "retention_offer_unavailable")
    await _retention_coupon(world)
    assert_error(await client.post(f"{_base(world)}/subscriptions/{sub_id}/retention", json={"coupon": "X"}), 400)
    foreign = world.bob.seeded["subscriptions"][0]
    assert_error(await client.post(f"{_base(world)}/subscriptions/{foreign}/retention"), 404)
    assert not world.stripe.v1.subscriptions.retrieve(sub_id).discounts
