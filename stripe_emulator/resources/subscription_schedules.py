"""/v1/subscription_schedules: made from a subscription, phases set by update, released or
canceled. The billing clock moves subscriptions through their phases (`operations.schedules`)."""

from __future__ import annotations

from typing import Any

from stripe_emulator.context import Ctx, changed
from stripe_emulator.errors import StripeError, invalid, missing
from stripe_emulator.listing import paginate
from stripe_emulator.operations.products import plan_of
from stripe_emulator.operations.prorations import (
    PRORATION_BEHAVIORS,
    apply_change,
    plan_item_changes,
    replacing_items,
)
from stripe_emulator.operations.schedules import (
    END_BEHAVIORS,
    LIVE,
    new_phase,
    new_schedule,
    release,
    schedule_of,
)
from stripe_emulator.operations.subscriptions import (
    cancel_now,
    cancel_schedule,
    current_period,
    resolve_price,
)
from stripe_emulator.periods import add_interval
from stripe_emulator.registry import renderer, route
from stripe_emulator.render import render
from stripe_emulator.wire import check_known, merge_metadata, take_int, take_list, take_str

_SCHEDULABLE = ("active", "trialing", "past_due", "unpaid")
_PHASE_PARAMS = ("items", "start_date", "end_date", "iterations", "proration_behavior", "metadata")
PhaseItems = list[tuple[dict[str, Any], int]]  # a phase's (price, quantity) pairs


@renderer("subscription_schedule")
def _render(ctx: Ctx, obj: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
    for phase in out["phases"]:
        for item in phase["items"]:
            item["plan"] = plan_of(ctx.account.require("price", item["price"]))
    return out


@route("POST", "/v1/subscription_schedules")
def create(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    check_known(params, frozenset({"from_subscription", "metadata"}))
    sub_id = take_str(params, "from_subscription")
    if sub_id is None:
        raise missing("from_subscription")
    sub = ctx.account.require("subscription", sub_id, param="from_subscription")
    if sub["status"] not in _SCHEDULABLE:
        raise invalid("from_subscription", f"A {sub['status']} subscription cannot be scheduled.")
    if schedule_of(ctx, sub) is not None:
        raise invalid(
            "from_subscription",
            f"You cannot migrate a subscription that is already attached to a schedule: `{sub['schedule']}`.",
        )
    schedule = new_schedule(ctx, sub, merge_metadata({}, params))
    ctx.emit("subscription_schedule.created", schedule)
    ctx.emit("customer.subscription.updated", sub, {"schedule": None})
    return schedule


@route("GET", "/v1/subscription_schedules/{schedule}")
def retrieve(ctx: Ctx, params: dict[str, Any], schedule: str) -> dict[str, Any]:
    check_known(params, frozenset())
    return ctx.account.require("subscription_schedule", schedule, kind="subscription_schedule")


@route("GET", "/v1/subscription_schedules")
def list_(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    check_known(
        params,
        frozenset(
            {"customer", "scheduled", "limit", "starting_after", "ending_before", "created", "canceled_at"}
        ),
    )
    customer = take_str(params, "customer")
    rows = (
        s for s in ctx.account.all("subscription_schedule") if customer is None or s["customer"] == customer
    )
    return paginate(params, rows, "/v1/subscription_schedules")


@route("POST", "/v1/subscription_schedules/{schedule}")
def update(ctx: Ctx, params: dict[str, Any], schedule: str) -> dict[str, Any]:
    check_known(params, frozenset({"phases", "end_behavior", "proration_behavior", "metadata"}))
    sched = _live(ctx, schedule)
    sub = ctx.account.require("subscription", sched["subscription"])
    before = render(ctx, sched)
    behavior = take_str(params, "proration_behavior", choices=PRORATION_BEHAVIORS) or "create_prorations"
    if "end_behavior" in params:
        sched["end_behavior"] = take_str(params, "end_behavior", required=True, choices=END_BEHAVIORS)
    sched["metadata"] = merge_metadata(sched["metadata"], params)
    if "phases" in params:
        sched["phases"] = _phases(ctx, sched, sub, take_list(params, "phases") or [], behavior)
        _follow_current_phase(ctx, sched, sub, behavior)
    diff = changed(before, render(ctx, sched))
    if diff:
        ctx.emit("subscription_schedule.updated", sched, diff)
    return sched


@route("POST", "/v1/subscription_schedules/{schedule}/release")
def release_route(ctx: Ctx, params: dict[str, Any], schedule: str) -> dict[str, Any]:
    check_known(params, frozenset({"preserve_cancel_date"}))
    sched = _live(ctx, schedule)
    sub = release(ctx, sched, ctx.now())
    if sub is not None:
        ctx.emit("customer.subscription.updated", sub, {"schedule": sched["id"]})
    return sched


@route("POST", "/v1/subscription_schedules/{schedule}/cancel")
def cancel(ctx: Ctx, params: dict[str, Any], schedule: str) -> dict[str, Any]:
    """Cancels the subscription too, at once, as Stripe does."""
    check_known(params, frozenset({"invoice_now", "prorate"}))
    sched = _live(ctx, schedule)
    sub = ctx.account.get("subscription", sched["subscription"])
    if sub is not None and sub["status"] not in ("canceled", "incomplete_expired"):
        cancel_now(ctx, sub)  # which cancels the schedule too
    else:
        cancel_schedule(ctx, sched, ctx.now())
    return sched


def _live(ctx: Ctx, schedule_id: str) -> dict[str, Any]:
    sched = ctx.account.require("subscription_schedule", schedule_id, kind="subscription_schedule")
    if sched["status"] not in LIVE:
        raise StripeError(
            f"You cannot update a subscription schedule that is currently in the `{sched['status']}` status. "
            "It must be in `not_started` or `active`."
        )
    return sched


# --- phases -----------------------------------------------------------------------------


def _phases(
    ctx: Ctx, sched: dict[str, Any], sub: dict[str, Any], raw_phases: list[Any], behavior: str
) -> list[dict[str, Any]]:
    """Contiguous phases: each starts where the one before ends (the first where the current
    phase starts) and lasts to its `end_date` or for `iterations` periods (the last: one by default)."""
    if not raw_phases:
        raise invalid("phases", "A subscription schedule needs at least one phase.")
    phases: list[dict[str, Any]] = []
    start = sched["phases"][0]["start_date"]
    for i, raw in enumerate(raw_phases):
        param = f"phases[{i}]"
        if not isinstance(raw, dict):
            raise invalid(param, "Invalid hash")
        check_known({f"{param}[{k}]": v for k, v in raw.items()}, {f"{param}[{k}]" for k in _PHASE_PARAMS})
        items = _phase_items(ctx, raw, param, sub["currency"])
        start = _phase_start(ctx, raw, param, start, first=i == 0)
        end = _phase_end(ctx, raw, param, start, items, last=i == len(raw_phases) - 1)
        phase_behavior = take_str(
            raw, "proration_behavior", param=f"{param}[proration_behavior]", choices=PRORATION_BEHAVIORS
        )
        phase = new_phase(items, start, end, sub["currency"], phase_behavior or behavior)
        phase["metadata"] = merge_metadata({}, raw)
        phases.append(phase)
        start = end
    return phases


def _phase_items(ctx: Ctx, raw: dict[str, Any], param: str, currency: str) -> PhaseItems:
    raw_items = take_list(raw, "items", param=f"{param}[items]")
    if not raw_items:
        raise missing(f"{param}[items]")
    items = []
    for j, it in enumerate(raw_items):
        if not isinstance(it, dict):
            raise invalid(f"{param}[items][{j}]", "Invalid hash")
        price = resolve_price(ctx, it, f"{param}[items][{j}]")
        if price["currency"] != currency:
            raise invalid(
                f"{param}[items][{j}][price]", "All prices on a subscription must have the same currency."
            )
        qty = take_int(it, "quantity", param=f"{param}[items][{j}][quantity]", minimum=1) or 1
        items.append((price, qty))
    if len({(p["recurring"]["interval"], p["recurring"]["interval_count"]) for p, _ in items}) > 1:
        raise invalid(f"{param}[items]", "All prices in a phase must have the same `recurring.interval`.")
    return items


def _phase_start(ctx: Ctx, raw: dict[str, Any], param: str, expected: int, *, first: bool) -> int:
    if raw.get("start_date") == "now":
        given: int | None = ctx.now()
    else:
        given = take_int(raw, "start_date", param=f"{param}[start_date]")
    if given is not None and given != expected:
        reason = (
            "You can not modify the start date of the current phase."
            if first
            else "Each phase must start when the previous one ends."
        )
        raise invalid(f"{param}[start_date]", reason, code="parameter_invalid_integer")
    return expected


def _phase_end(
    ctx: Ctx, raw: dict[str, Any], param: str, start: int, items: PhaseItems, *, last: bool
) -> int:
    end = take_int(raw, "end_date", param=f"{param}[end_date]")
    iterations = take_int(raw, "iterations", param=f"{param}[iterations]", minimum=1)
    if end is not None and iterations is not None:
        raise invalid(f"{param}[iterations]", "You may only specify one of `end_date` and `iterations`.")
    if end is None:
        if iterations is None and not last:
            raise missing(f"{param}[end_date]")
        rec = items[0][0]["recurring"]
        end = add_interval(start, rec["interval"], rec["interval_count"] * (iterations or 1))
    if end <= start:
        raise invalid(
            f"{param}[end_date]", "The end date must be after the start date.", "parameter_invalid_integer"
        )
    return end


def _follow_current_phase(ctx: Ctx, sched: dict[str, Any], sub: dict[str, Any], behavior: str) -> None:
    """The phase in force now sets the subscription's items at once (prorated by `behavior`)."""
    now = ctx.now()
    phase = next((p for p in sched["phases"] if p["start_date"] <= now < p["end_date"]), sched["phases"][0])
    sched["current_phase"] = {"end_date": phase["end_date"], "start_date": phase["start_date"]}
    wanted = [(ctx.account.require("price", it["price"]), it["quantity"]) for it in phase["items"]]
    changes = replacing_items(ctx, sub, wanted)
    if all(c.old == c.new for c in changes):
        return
    start, end = current_period(ctx, sub)
    before = render(ctx, sub)
    at = min(max(now, start), end - 1)
    apply_change(ctx, plan_item_changes(ctx, sub, changes, behavior=behavior, at=at))
    ctx.emit("customer.subscription.updated", sub, changed(before, render(ctx, sub)))
