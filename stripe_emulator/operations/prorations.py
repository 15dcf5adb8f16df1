"""Changing a subscription's items mid-period, as Stripe bills it.

A change at time t (`proration_date`, else now) within the current period [s, e) credits the
unused time of what an item billed and charges the remaining time of what it bills now:
fraction = (e − t) / (e − s), exact; each line rounded on its own, half away from zero.
`create_prorations` leaves those lines as pending invoice items for the next renewal;
`always_invoice` invoices them at once; `none` drops them. A change of interval (or
`billing_cycle_anchor=now`) restarts the cycle at t and bills the new period at once.

Everything is planned first (`plan_change`, no side effects): the invoice preview renders the
plan (`preview_invoice`), the update applies it (`apply_change`, or `pending_updates` when
a declined charge holds it back) — one code path, so the preview and what Stripe then bills
cannot disagree.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from stripe_emulator.context import Ctx
from stripe_emulator.errors import StripeError, invalid
from stripe_emulator.ids import new_id
from stripe_emulator.operations.invoices import (
    build_invoice_item,
    payment_method_for_subscription,
)
from stripe_emulator.operations.payment_methods import charge
from stripe_emulator.operations.subscriptions import (
    Billed,
    billed_items,
    build_item,
    current_period,
    issue_invoice,
    items_of,
    pending_items,
    period_invoice,
    product_name,
    resolve_price,
)
from stripe_emulator.periods import add_interval
from stripe_emulator.wire import merge_metadata, take_bool, take_int, take_str

PRORATION_BEHAVIORS = ("create_prorations", "always_invoice", "none")
PAYMENT_BEHAVIORS = (
    "allow_incomplete",
    "default_incomplete",
    "error_if_incomplete",
    "pending_if_incomplete",
)


@dataclass(frozen=True)
class ItemChange:
    """One item before and after: `old` None for a new item, `new` None for a deleted one."""

    item_id: str
    old: Billed | None
    new: Billed | None
    metadata: dict[str, str] | None = None


@dataclass
class Change:
    """A planned change of a subscription's items (nothing applied yet)."""

    sub: dict[str, Any]
    items: list[ItemChange]
    at: int  # the proration date t
    period: tuple[int, int]  # the current period [s, e)
    behavior: str  # proration_behavior
    reset: bool  # the cycle restarts at t
    after: list[Billed]  # what the subscription bills after the change
    prorations: list[dict[str, Any]] = field(default_factory=list)  # unsaved invoice items

    @property
    def next_period(self) -> tuple[int, int]:
        """The period the new items bill next: [t, t + interval) after a reset, else the renewal's."""
        rec = self.after[0].price["recurring"]
        if self.reset:
            return self.at, add_interval(self.at, rec["interval"], rec["interval_count"])
        end = self.period[1]
        anchor = self.sub["billing_cycle_anchor"]
        return end, add_interval(end, rec["interval"], rec["interval_count"], anchor=anchor)

    @property
    def bills_now(self) -> bool:
        """A reset bills the new period now; `always_invoice` bills its prorations now (if any)."""
        return self.reset or (self.behavior == "always_invoice" and bool(self.prorations))


# --- planning ---------------------------------------------------------------------------


def plan_change(
    ctx: Ctx,
    sub: dict[str, Any],
    raw_items: list[Any],
    *,
    behavior: str,
    proration_date: int | None,
    anchor_now: bool = False,
    prefix: str = "items",
    date_param: str = "proration_date",
) -> Change:
    """Validate `items[i][id|price|quantity|deleted|metadata]` and work out the change."""
    period = current_period(ctx, sub)
    at = _proration_date(ctx, period, proration_date, date_param)
    changes = _item_changes(ctx, sub, raw_items, prefix)
    return plan_item_changes(
        ctx, sub, changes, behavior=behavior, at=at, anchor_now=anchor_now, prefix=prefix
    )


def plan_item_changes(
    ctx: Ctx,
    sub: dict[str, Any],
    changes: list[ItemChange],
    *,
    behavior: str,
    at: int,
    anchor_now: bool = False,
    prefix: str = "items",
) -> Change:
    """The change `changes` make at `at` (within the current period), checked: one interval, one currency."""
    after = _after(ctx, sub, changes)
    if not after:
        raise invalid(prefix, "A subscription must have at least one active item.")
    intervals = {_interval(b) for b in after}
    if len(intervals) > 1:
        raise invalid(prefix, "All prices on a subscription must have the same `recurring.interval`.")
    if len({b.price["currency"] for b in after}) > 1:
        raise invalid(prefix, "All prices on a subscription must have the same currency.")
    before = {_interval(b) for b in billed_items(ctx, sub)}
    change = Change(
        sub=sub,
        items=changes,
        at=at,
        period=current_period(ctx, sub),
        behavior=behavior,
        reset=anchor_now or intervals != before,
        after=after,
    )
    change.prorations = _proration_items(ctx, change)
    return change


def replacing_items(
    ctx: Ctx, sub: dict[str, Any], wanted: list[tuple[dict[str, Any], int]]
) -> list[ItemChange]:
    """The item changes that make the subscription bill exactly `wanted` (price, quantity):
    an item keeps its id when its price stays, else items are paired in order (a price switch
    keeps the item), and the rest are added or deleted."""
    current = billed_items(ctx, sub)
    left = list(wanted)
    changes: list[ItemChange] = []
    unmatched: list[Billed] = []
    for b in current:
        same = next((w for w in left if w[0]["id"] == b.price["id"]), None)
        if same is None:
            unmatched.append(b)
            continue
        left.remove(same)
        changes.append(ItemChange(b.item_id, b, Billed(b.item_id, same[0], same[1])))
    for b in unmatched:
        if left:
            price, qty = left.pop(0)
            changes.append(ItemChange(b.item_id, b, Billed(b.item_id, price, qty)))
        else:
            changes.append(ItemChange(b.item_id, b, None))
    for price, qty in left:
        item_id = new_id("si")
        changes.append(ItemChange(item_id, None, Billed(item_id, price, qty), {}))
    return changes


def _interval(billed: Billed) -> tuple[str, int]:
    rec = billed.price["recurring"]
    return rec["interval"], rec["interval_count"]


def _proration_date(ctx: Ctx, period: tuple[int, int], given: int | None, param: str) -> int:
    start, end = period
    at = given if given is not None else min(max(ctx.now(), start), end - 1)
    if not start <= at < end:
        raise invalid(
            param,
            f"The proration date must fall within the subscription's current billing period "
            f"[{start}, {end}); got {at}.",
            code="parameter_invalid_integer",
        )
    return at


def _item_changes(ctx: Ctx, sub: dict[str, Any], raw_items: list[Any], prefix: str) -> list[ItemChange]:
    current = {b.item_id: b for b in billed_items(ctx, sub)}
    out: list[ItemChange] = []
    for i, raw in enumerate(raw_items):
        param = f"{prefix}[{i}]"
        if not isinstance(raw, dict):
            raise invalid(param, "Invalid hash")
        item_id = take_str(raw, "id", param=f"{param}[id]")
        if item_id is None:
            price = resolve_price(ctx, raw, param)
            qty = take_int(raw, "quantity", param=f"{param}[quantity]", minimum=1) or 1
            new_id_ = new_id("si")
            out.append(ItemChange(new_id_, None, Billed(new_id_, price, qty), merge_metadata({}, raw)))
            continue
        item = ctx.account.require("subscription_item", item_id, param=f"{param}[id]")
        if item["subscription"] != sub["id"]:
            raise invalid(f"{param}[id]", f"Subscription item {item_id} is not on this subscription.")
        old = current[item_id]
        if take_bool(raw, "deleted", param=f"{param}[deleted]"):
            out.append(ItemChange(item_id, old, None))
            continue
        price = resolve_price(ctx, raw, param) if "price" in raw else old.price
        qty = take_int(raw, "quantity", param=f"{param}[quantity]", minimum=0)
        metadata = merge_metadata(item["metadata"], raw) if "metadata" in raw else None
        new = Billed(item_id, price, old.quantity if qty is None else qty)
        out.append(ItemChange(item_id, old, new, metadata))
    return out


def _after(ctx: Ctx, sub: dict[str, Any], changes: list[ItemChange]) -> list[Billed]:
    by_id = {c.item_id: c for c in changes}
    after = [by_id[b.item_id].new if b.item_id in by_id else b for b in billed_items(ctx, sub)]
    after += [c.new for c in changes if c.old is None and c.new is not None]
    return [b for b in after if b is not None]


# --- proration lines --------------------------------------------------------------------


def prorated(amount: int, fraction: Fraction) -> int:
    """amount × fraction in minor units, rounded half away from zero."""
    exact = Decimal(abs(amount)) * fraction.numerator / fraction.denominator
    rounded = int(exact.quantize(Decimal(1), rounding="ROUND_HALF_UP"))
    return -rounded if amount < 0 else rounded


def _proration_items(ctx: Ctx, change: Change) -> list[dict[str, Any]]:
    """The unsaved invoice items for the unused time (credits) and the remaining time (charges).
    A reset credits every item's unused time; the new period is then billed whole."""
    if change.behavior == "none" or change.sub["status"] == "trialing":
        return []
    start, end = change.period
    fraction = Fraction(end - change.at, end - start)
    day = dt.datetime.fromtimestamp(change.at, dt.UTC).strftime("%d %b %Y")
    if change.reset:
        pairs: list[tuple[Billed | None, Billed | None]] = [(b, None) for b in billed_items(ctx, change.sub)]
    else:
        pairs = [(c.old, c.new) for c in change.items if c.old != c.new]
    out = []
    for old, new in pairs:
        if old is not None:
            text = f"Unused time on {old.quantity} × {product_name(ctx, old.price)} after {day}"
            out.append(_proration(ctx, change, old, -prorated(_full(old), fraction), text))
        if new is not None:
            text = f"Remaining time on {new.quantity} × {product_name(ctx, new.price)} after {day}"
            out.append(_proration(ctx, change, new, prorated(_full(new), fraction), text))
    return [ii for ii in out if ii["amount"] != 0]


def _full(billed: Billed) -> int:
    """A whole period's amount."""
    return int(billed.price["unit_amount"]) * billed.quantity


def _proration(ctx: Ctx, change: Change, billed: Billed, amount: int, description: str) -> dict[str, Any]:
    qty = max(billed.quantity, 1)
    return build_invoice_item(
        customer=change.sub["customer"],
        amount=amount,
        currency=billed.price["currency"],
        description=description,
        quantity=billed.quantity,
        period=(change.at, change.period[1]),
        at=change.at,
        unit_amount_decimal=str((Decimal(amount) / qty).normalize()),
        subscription=change.sub["id"],
        subscription_item=billed.item_id,
        proration=True,
    )


# --- preview ----------------------------------------------------------------------------


def preview_invoice(ctx: Ctx, change: Change) -> dict[str, Any]:
    """What the change bills, stored nowhere: the invoice it creates at once when it bills now,
    else the renewal invoice at the period end (with the prorations `create_prorations` leaves)."""
    pending = pending_items(ctx, change.sub["id"]) + change.prorations
    inv_id = "upcoming_" + new_id("in")
    if change.bills_now:
        return _now_invoice(ctx, change, pending, inv_id)
    inv = period_invoice(
        ctx,
        change.sub,
        pending=pending,
        billed=change.after,
        period=change.next_period,
        reason="upcoming",
        at=change.period[1],
        invoice_period=change.period,
        inv_id=inv_id,
    )
    if inv["collection_method"] == "charge_automatically":
        # Stripe's preview says when the renewal will be charged: here, at the period end.
        inv["next_payment_attempt"] = change.period[1]
    return inv


def _now_invoice(
    ctx: Ctx, change: Change, pending: list[dict[str, Any]], inv_id: str | None = None
) -> dict[str, Any]:
    return period_invoice(
        ctx,
        change.sub,
        pending=pending,
        billed=change.after,
        period=change.next_period if change.reset else None,
        reason="subscription_update",
        at=change.at,
        invoice_period=(change.at, change.at),
        inv_id=inv_id,
    )


# --- apply ------------------------------------------------------------------------------


def payment_error(ctx: Ctx, change: Change) -> StripeError | None:
    """The card error the immediate charge would meet (None when nothing is charged now)."""
    sub = change.sub
    if not change.bills_now or sub["collection_method"] != "charge_automatically":
        return None
    amount = _now_invoice(ctx, change, pending_items(ctx, sub["id"]) + change.prorations)["amount_due"]
    if amount <= 0:
        return None
    try:
        charge(payment_method_for_subscription(ctx, sub))
    except StripeError as err:
        return err
    return None


def apply_change(ctx: Ctx, change: Change) -> dict[str, Any] | None:
    """Store the prorations, switch the items (restarting the cycle on a reset) and, when the
    change bills now, invoice and charge. Returns that invoice, if any."""
    sub = change.sub
    store_prorations(ctx, change)
    switch_items(ctx, change)
    if not change.bills_now:
        return None
    inv = issue_now_invoice(ctx, change)
    declined = inv["status"] == "open" and sub["collection_method"] == "charge_automatically"
    if declined and sub["status"] == "active":
        sub["status"] = "past_due"
    return inv


def store_prorations(ctx: Ctx, change: Change) -> None:
    for ii in change.prorations:
        ctx.account.add(ii)
        ctx.emit("invoiceitem.created", ii)


def issue_now_invoice(ctx: Ctx, change: Change) -> dict[str, Any]:
    pending = pending_items(ctx, change.sub["id"])
    return issue_invoice(ctx, change.sub, _now_invoice(ctx, change, pending), pending, at=change.at)


def switch_items(ctx: Ctx, change: Change) -> None:
    """The items take their new prices and quantities; on a reset, the cycle restarts at t."""
    sub = change.sub
    apply_items(ctx, sub, change.items, change.at)
    if change.reset:
        start, end = change.next_period
        for item in items_of(ctx, sub):
            item["current_period_start"], item["current_period_end"] = start, end
        sub["billing_cycle_anchor"] = start


def apply_items(ctx: Ctx, sub: dict[str, Any], changes: list[ItemChange], at: int) -> None:
    """Switch the subscription's items to the planned prices and quantities."""
    period = current_period(ctx, sub)
    for c in changes:
        if c.old is None and c.new is not None:
            price, qty = c.new.price, c.new.quantity
            item = ctx.account.add(build_item(sub["id"], price, qty, c.metadata or {}, period, at, c.item_id))
            sub["_items"].append(item["id"])
            continue
        item = ctx.account.require("subscription_item", c.item_id)
        if c.new is None:
            sub["_items"].remove(c.item_id)
            ctx.account.remove(item)
            continue
        item["_price"], item["quantity"] = c.new.price["id"], c.new.quantity
        if c.metadata is not None:
            item["metadata"] = c.metadata
