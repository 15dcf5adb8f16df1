"""Pause payments and promotion codes through the portal API (issue 20): the real stripe SDK
against the emulator, the services behind the REST routes, on SQLite and on PostgreSQL.

Alice's seeded "Team plan" ($49/month) is the subscription under test. What Stripe holds is
read back from the emulator with the SDK, never from BillStack.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import stripe
from sqlmodel import select

from billstack.db import session_scope
from billstack.models import AuditEvent
from devtools.emulator import advance_time, emulator_now
from tests.api.conftest import assert_error
from tests.portal_world import World, world  # noqa: F401 - fixture

pytestmark = pytest.mark.asyncio

DAY = 86400


@pytest.fixture
def on(world: World) -> World:
    world.set_project(feature_pause=True, feature_promotion_code=True)
    return world


def _actions(world: World) -> list[str]:
    with session_scope() as db:
        return list(db.exec(select(AuditEvent.action).where(AuditEvent.customer_id == world.alice.customer_id)))


def _sub_url(world: World, sub_id: str | None = None, person: Any = None) -> str:
    person = person or world.alice
    return f"/api/portal/{person.token}/subscriptions/{sub_id or world.alice.seeded['subscriptions'][0]}"


async def _view_sub(client: httpx.AsyncClient, world: World, sub_id: str, **params: str) -> dict[str, Any]:
    response = await client.get(f"/api/portal/{world.alice.token}", params=params)
    assert response.status_code == 200, response.text
    return next(s for s in response.json()["subscriptions"] if s["id"] == sub_id)


def _day(days_from_today: int) -> str:
    return (datetime.now(UTC).date() + timedelta(days=days_from_today)).isoformat()


def _midnight(day: str) -> int:
    return calendar.timegm(datetime.fromisoformat(day).timetuple())


# --- pause --------------------------------------------------------------------------------


async def test_pause_void_by_default_then_resume(client: httpx.AsyncClient, on: World) -> None:
    sub_id = on.alice.seeded["subscriptions"][0]

    response = await client.post(f"{_sub_url(on)}/pause")

    assert response.status_code == 200, response.text
    assert response.json()["pauseCollection"] == {"behavior": "void", "resumesAt": None}
    stripe_sub = on.stripe.v1.subscriptions.retrieve(sub_id)
    assert (stripe_sub.pause_collection.behavior, stripe_sub.pause_collection.resumes_at) == ("void", None)
    assert (await _view_sub(client, on, sub_id))["pauseCollection"]["behavior"] == "void"

    response = await client.delete(f"{_sub_url(on)}/pause")

    assert response.status_code == 200, response.text
    assert response.json()["pauseCollection"] is None
    assert on.stripe.v1.subscriptions.retrieve(sub_id).pause_collection is None
    assert (await _view_sub(client, on, sub_id, refresh="true"))["pauseCollection"] is None
    actions = _actions(on)
    assert actions.count("subscription.paused") == 1 and actions.count("subscription.unpaused") == 1


async def test_pause_mark_uncollectible_until_a_day(client: httpx.AsyncClient, on: World) -> None:
    sub_id = on.alice.seeded["subscriptions"][0]
    day = _day(20)

    response = await client.post(f"{_sub_url(on)}/pause",
                                 json={"behavior": "mark_uncollectible", "resumesAt": day})

    assert response.status_code == 200, response.text
    assert response.json()["pauseCollection"] == {"behavior": "mark_uncollectible", "resumesAt": f"{day}T00:00:00Z"}
    pause = on.stripe.v1.subscriptions.retrieve(sub_id).pause_collection
    assert (pause.behavior, pause.resumes_at) == ("mark_uncollectible", _midnight(day))
    refreshed = await _view_sub(client, on, sub_id, refresh="true")
    assert refreshed["pauseCollection"] == {"behavior": "mark_uncollectible", "resumesAt": f"{day}T00:00:00Z"}


async def test_a_renewal_while_paused_with_void_is_a_void_invoice(client: httpx.AsyncClient, on: World) -> None:
    sub_id = on.alice.seeded["subscriptions"][0]
    assert (await client.post(f"{_sub_url(on)}/pause", json={"behavior": "void"})).status_code == 200
    before = {inv.id for inv in on.stripe.v1.invoices.list({"subscription": sub_id, "limit": 100}).data}

    advance_time(on.emulator_url, on.stripe_key, 32 * DAY)  # one renewal of the monthly plan

    renewal = [inv for inv in on.stripe.v1.invoices.list({"subscription": sub_id, "limit": 100}).data
               if inv.id not in before]
    assert [(inv.status, inv.amount_paid, inv.total) for inv in renewal] == [("void", 0, 4900)]
    response = await client.get(f"/api/portal/{on.alice.token}", params={"refresh": "true"})
    shown = {inv["id"]: inv for inv in response.json()["invoices"]["invoices"]}
    assert shown[renewal[0].id]["status"] == "void"
    sub = next(s for s in response.json()["subscriptions"] if s["id"] == sub_id)
    assert sub["status"] == "active" and sub["pauseCollection"]["behavior"] == "void"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"resumesAt": "2020-01-01"}, "resumesAt"),  # the past
        ({"resumesAt": "today"}, "resumesAt"),  # filled in below
        ({"resumesAt": "01/02/2099"}, "resumesAt"),  # not YYYY-MM-DD
        ({"resumesAt": "2099-02-30"}, "resumesAt"),  # no such day
        ({"behavior": "keep_as_draft"}, "behavior"),  # an operator's choice, not the customer's
        ({"behavior": "forever"}, "behavior"),
    ],
)
async def test_a_bad_pause_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, on: World, body: dict[str, str], param: str
) -> None:
    if body.get("resumesAt") == "today":
        body = {"resumesAt": _day(0)}
    response = await client.post(f"{_sub_url(on)}/pause", json=body)
    assert_error(response, 400, param=param)
    assert on.stripe.v1.subscriptions.retrieve(on.alice.seeded["subscriptions"][0]).pause_collection is None


async def test_pause_needs_a_live_subscription_of_ones_own(client: httpx.AsyncClient, on: World) -> None:
    bobs = on.bob.seeded["subscriptions"][0]
    assert_error(await client.post(f"{_sub_url(on, bobs)}/pause"), 404, code="resource_missing")
    assert on.stripe.v1.subscriptions.retrieve(bobs).pause_collection is None

    ended = on.alice.seeded["subscriptions"][1]
    on.stripe.v1.subscriptions.cancel(ended)
    await client.get(f"/api/portal/{on.alice.token}", params={"refresh": "true"})
    assert_error(await client.post(f"{_sub_url(on, ended)}/pause"), 400, code="subscription_not_live")


# --- promotion codes ------------------------------------------------------------------------


def _promotion_code(world: World, code: str, coupon: dict[str, Any] | None = None, **params: Any) -> stripe.PromotionCode:
    coupon_obj = world.stripe.v1.coupons.create(coupon or {"percent_off": 20, "duration": "forever"})
    return world.stripe.v1.promotion_codes.create(
        {"promotion": {"type": "coupon", "coupon": coupon_obj.id}, "code": code, **params})


async def test_a_promotion_code_discounts_the_subscription_and_its_next_invoice(
    client: httpx.AsyncClient, on: World
) -> None:
    sub_id = on.alice.seeded["subscriptions"][0]
    promo = _promotion_code(on, "SPRING20")
    assert (await _view_sub(client, on, sub_id))["nextInvoice"]["amountDue"] == 4900

    response = await client.post(f"{_sub_url(on)}/promotion-code", json={"code": " spring20 "})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["discount"] == {"couponId": promo.promotion.coupon, "percentOff": 20.0, "amountOff": None,
                                "end": None, "promotionCode": "SPRING20"}
    assert body["nextInvoice"]["amountDue"] == 3920  # $49 − 20 % = $39.20
    discount = on.stripe.v1.subscriptions.retrieve(sub_id, {"expand": ["discounts"]}).discounts[0]
    assert discount.promotion_code == promo.id
    assert on.stripe.v1.promotion_codes.retrieve(promo.id).times_redeemed == 1
    assert (await _view_sub(client, on, sub_id, refresh="true"))["discount"]["promotionCode"] == "SPRING20"
    assert "subscription.promotion_code_applied" in _actions(on)


async def test_an_amount_off_code_for_three_months_has_an_end(client: httpx.AsyncClient, on: World) -> None:
    _promotion_code(on, "FIVEOFF", {"amount_off": 500, "currency": "usd", "duration": "repeating",
                                    "duration_in_months": 3})

    response = await client.post(f"{_sub_url(on)}/promotion-code", json={"code": "FIVEOFF"})

    assert response.status_code == 200, response.text
    discount = response.json()["discount"]
    assert (discount["amountOff"], discount["percentOff"], discount["promotionCode"]) == (500, None, "FIVEOFF")
    end = datetime.fromisoformat(discount["end"].replace("Z", "+00:00"))
    assert timedelta(days=88) < end - datetime.now(UTC) < timedelta(days=93)
    assert response.json()["nextInvoice"]["amountDue"] == 4400  # $49 − $5


async def test_codes_stripe_refuses_come_back_with_stripes_message(client: httpx.AsyncClient, on: World) -> None:
    sub_id = on.alice.seeded["subscriptions"][0]
    inactive = _promotion_code(on, "OLD")
    on.stripe.v1.promotion_codes.update(inactive.id, {"active": False})
    _promotion_code(on, "SOON", expires_at=emulator_now(on.emulator_url, on.stripe_key) + DAY)
    used_up = _promotion_code(on, "ONCE", max_redemptions=1)
    on.stripe.v1.subscriptions.update(on.bob.seeded["subscriptions"][0], {"discounts": [{"promotion_code": used_up.id}]})
    _promotion_code(on, "FIRST", restrictions={"first_time_transaction": True})  # Alice has paid before
    advance_time(on.emulator_url, on.stripe_key, 2 * DAY)
    cases = {
        "OLD": "inactive",
        "SOON": "expired",
        "ONCE": "maximum number of redemptions",
        "FIRST": "first-time customers",
        "NOSUCHCODE": "does not exist",
        "not a code!": "does not exist",
    }
    for code, why in cases.items():
        response = await client.post(f"{_sub_url(on)}/promotion-code", json={"code": code})
        error = assert_error(response, 400, code="promotion_code_invalid", param="code")
        assert why in error["message"], (code, error)
    assert on.stripe.v1.subscriptions.retrieve(sub_id).discounts == []
    assert (await _view_sub(client, on, sub_id, refresh="true"))["discount"] is None


async def test_a_promotion_code_needs_a_subscription_of_ones_own(client: httpx.AsyncClient, on: World) -> None:
    _promotion_code(on, "SPRING20")
    bobs = on.bob.seeded["subscriptions"][0]
    assert_error(await client.post(f"{_sub_url(on, bobs)}/promotion-code", json={"code": "SPRING20"}), 404)
    assert on.stripe.v1.subscriptions.retrieve(bobs).discounts == []
    assert_error(await client.post(f"{_sub_url(on)}/promotion-code", json={"code": ""}), 400, param="code")


# --- features off ------------------------------------------------------------------------------


async def test_features_off_are_403_and_change_nothing(client: httpx.AsyncClient, world: World) -> None:
    sub_id = world.alice.seeded["subscriptions"][0]
    _promotion_code(world, "SPRING20")
    view = await client.get(f"/api/portal/{world.alice.token}")
    assert (view.json()["features"]["pause"], view.json()["features"]["promotionCode"]) == (False, False)

    assert_error(await client.post(f"{_sub_url(world)}/pause"), 403, code="feature_disabled")
    assert_error(await client.delete(f"{_sub_url(world)}/pause"), 403, code="feature_disabled")
    assert_error(await client.post(f"{_sub_url(world)}/promotion-code", json={"code": "SPRING20"}), 403,
                 code="feature_disabled")

    stripe_sub = world.stripe.v1.subscriptions.retrieve(sub_id)
    assert stripe_sub.pause_collection is None and stripe_sub.discounts == []
    world.set_project(feature_pause=True, feature_promotion_code=True)
    view = await client.get(f"/api/portal/{world.alice.token}")
    assert (view.json()["features"]["pause"], view.json()["features"]["promotionCode"]) == (True, True)
