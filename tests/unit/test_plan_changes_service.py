"""Plan changes without HTTP: when a change waits for the period end, and how the mirror reads
a subscription schedule (issue 15). Pure functions on rows and Stripe JSON; no database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from billstack.clock import from_unix
from billstack.models import PlanPrice, Project, Subscription
from billstack.services.portal import plans
from billstack.services.portal.rows import subscription_view
from billstack.services.sync import subscription_row

NOW = datetime(2026, 12, 7, tzinfo=UTC)
PERIOD_END = 1_800_000_000


def _project(conditions: str) -> Project:
    return Project(id="prj_x", team_id="team_x", name="X", stripe_secret_key_sealed="x",
                   schedule_at_period_end=conditions)


def _row(amount: int = 4900, quantity: int = 1, interval: str = "month") -> Subscription:
    return Subscription(project_id="prj_x", customer_id="pc_x", stripe_id="sub_x", status="active",
                        product_name="Team", unit_amount=amount, quantity=quantity, interval=interval,
                        interval_count=1, created=NOW, price_id="price_team")


def _plan(amount: int, interval: str = "month", count: int = 1) -> PlanPrice:
    return PlanPrice(project_id="prj_x", position=0, price_id="price_new", product_id="prod_new",
                     product_name="New", unit_amount=amount, currency="usd", interval=interval, interval_count=count)


@pytest.mark.parametrize(("conditions", "row", "plan", "quantity", "expected"), [
    ("decreasing_item_amount", _row(4900), _plan(1900), 1, "period_end"),  # cheaper
    ("decreasing_item_amount", _row(4900), _plan(9900), 1, "now"),  # dearer
    ("decreasing_item_amount", _row(4900, quantity=3), _plan(4900), 2, "period_end"),  # fewer seats
    ("", _row(4900), _plan(1900), 1, "now"),  # no condition: everything applies now
    # $490 a year is less per day than $49 a month: a decrease, though the invoice is larger.
    ("decreasing_item_amount", _row(4900), _plan(49000, "year"), 1, "period_end"),
    ("decreasing_item_amount", _row(4900), _plan(60000, "year"), 1, "now"),
    ("shortening_interval", _row(49000, interval="year"), _plan(9900), 1, "period_end"),
    ("shortening_interval", _row(4900), _plan(49000, "year"), 1, "now"),
    ("shortening_interval", _row(4900), _plan(1000, "week"), 1, "period_end"),
    ("shortening_interval", _row(4900), _plan(9000, "month", 3), 1, "now"),
])
def test_a_change_waits_for_the_period_end_when_a_condition_holds(
    conditions: str, row: Subscription, plan: PlanPrice, quantity: int, expected: str
) -> None:
    assert plans._applies_at(_project(conditions), row, plan, quantity) == expected


def _stripe_sub(schedule: Any) -> dict[str, Any]:
    item = {"id": "si_1", "quantity": 2, "current_period_start": PERIOD_END - 30 * 86400,
            "current_period_end": PERIOD_END,
            "price": {"id": "price_team", "unit_amount": 4900, "currency": "usd", "recurring": {"interval": "month"},
                      "product": {"name": "Team"}}}
    return {"id": "sub_x", "status": "active", "created": PERIOD_END - 90 * 86400, "items": {"data": [item]},
            "schedule": schedule}


def _schedule(status: str, next_items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": "sub_sched_1", "status": status, "phases": [
        {"start_date": PERIOD_END - 30 * 86400, "end_date": PERIOD_END, "items": [{"price": "price_team", "quantity": 2}]},
        {"start_date": PERIOD_END, "end_date": PERIOD_END + 30 * 86400, "items": next_items},
    ]}


def _mirrored(sub: dict[str, Any]) -> dict[str, Any]:
    project, customer = _project(""), type("C", (), {"id": "pc_x"})()
    return subscription_row(project, customer, sub, NOW)  # type: ignore[arg-type]


def test_the_mirror_keeps_the_item_and_the_change_the_schedule_makes_at_the_period_end() -> None:
    row = _mirrored(_stripe_sub(_schedule("active", [{"price": "price_starter", "quantity": 1}])))
    assert (row["stripe_item_id"], row["price_id"], row["schedule_id"]) == ("si_1", "price_team", "sub_sched_1")
    assert (row["scheduled_price_id"], row["scheduled_quantity"], row["scheduled_change_at"]) == (
        "price_starter", 1, from_unix(PERIOD_END))


@pytest.mark.parametrize("schedule", [
    None,
    "sub_sched_1",  # not expanded: nothing known to be waiting
    _schedule("released", [{"price": "price_starter", "quantity": 1}]),
    _schedule("active", [{"price": "price_team", "quantity": 2}]),  # the next phase goes on as now
    _schedule("active", []),
])
def test_no_change_is_waiting_without_a_pending_phase_that_changes_the_item(schedule: Any) -> None:
    row = _mirrored(_stripe_sub(schedule))
    assert (row["scheduled_price_id"], row["scheduled_quantity"], row["scheduled_change_at"]) == (None, None, None)
    assert row["schedule_id"] == (None if schedule is None else "sub_sched_1")


def test_the_view_names_the_waiting_plan_from_the_catalogue_or_by_its_price_id() -> None:
    row = _row()
    row.scheduled_price_id, row.scheduled_quantity, row.scheduled_change_at = "price_starter", 1, from_unix(PERIOD_END)
    named = subscription_view(row, {"price_starter": "Starter"}).scheduled_change
    assert named is not None and (named.product_name, named.quantity, named.at) == ("Starter", 1, from_unix(PERIOD_END))
    unknown = subscription_view(row).scheduled_change
    assert unknown is not None and unknown.product_name == "price_starter"
    assert subscription_view(_row()).scheduled_change is None


def test_proration_lines_are_told_apart_in_both_api_shapes() -> None:
    assert plans._is_proration({"proration": True})
    assert plans._is_proration({"parent": {"subscription_item_details": {"proration": True}}})
    assert plans._is_proration({"parent": {"invoice_item_details": {"proration": True}}})
    assert not plans._is_proration({"parent": {"subscription_item_details": {"proration": False}}})
