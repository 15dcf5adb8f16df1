"""The prices a project lets customers switch between (`--plan-change-price`), kept as
PlanPrice rows: a snapshot of what Stripe said about each price when it was set, so the
portal lists plans without asking Stripe (and while Stripe is down).

Also the project's other plan-change settings, mirroring Stripe's
`features.subscription_update`: the proration behaviours and the `schedule_at_period_end`
conditions a project may choose (the CLI's choices are these tuples).

CONTRACT (issue 15): `plan_prices` is what the portal services read; `set_plan_prices`
(helper B) validates price ids against Stripe and replaces the list.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from billstack import stripe_gateway
from billstack.errors import BillStackError, invalid
from billstack.models import PlanPrice, Project
from billstack.services import audit

# Stripe's `proration_behavior`; the first is the default for a new project (as in Stripe).
PRORATION_BEHAVIORS = ("create_prorations", "always_invoice", "none")
# Stripe's `schedule_at_period_end.conditions[].type`: a change meeting one waits for the period end.
SCHEDULE_CONDITIONS = ("decreasing_item_amount", "shortening_interval")
# Stripe's portal offers at most 10 products (each with its prices).
MAX_PRODUCTS = 10
# The highest quantity a customer may choose (Stripe's portal allows up to 10,000 a line).
QUANTITY_LIMIT = 10_000
# The project's plan-change settings besides the feature switches and the prices
# (`tenants.update_project` hands each to `apply_setting`).
SETTING_FIELDS = ("proration_behavior", "schedule_at_period_end", "quantity_min", "quantity_max")
# Anchored for pydantic's `pattern=`; Python checks use fullmatch (see sessions/request.py).
PRICE_ID_PATTERN = r"^price_[A-Za-z0-9_]{1,250}$"
_PRICE_ID = re.compile(PRICE_ID_PATTERN)
_PARAM = "planChangePrice"


def is_price_id(value: object) -> bool:
    """A Stripe price id (`price_…`) in shape; says nothing of whether the project offers it."""
    return isinstance(value, str) and _PRICE_ID.fullmatch(value) is not None


def plan_prices(db: Session, project_id: str) -> list[PlanPrice]:
    """The project's plan prices in display order."""
    return list(db.exec(select(PlanPrice).where(PlanPrice.project_id == project_id).order_by(PlanPrice.position)))


def offers_price(db: Session, project_id: str, price_id: str) -> bool:
    """Whether `price_id` is one of the project's plan prices (one indexed lookup)."""
    query = select(PlanPrice.id).where(PlanPrice.project_id == project_id, PlanPrice.price_id == price_id)
    return db.exec(query).first() is not None


def schedule_conditions(project: Project) -> list[str]:
    """The project's `schedule_at_period_end` conditions, as a list."""
    return project.schedule_at_period_end.split()


def apply_setting(project: Project, field: str, value: object) -> None:
    """One of SETTING_FIELDS, checked (400 naming the field; nothing is written here)."""
    if field == "proration_behavior":
        if value not in PRORATION_BEHAVIORS:
            raise invalid(f"prorationBehavior must be one of {', '.join(PRORATION_BEHAVIORS)}, "
                          f"got {str(value)[:64]!r}.", param="prorationBehavior")
        project.proration_behavior = str(value)
    elif field == "schedule_at_period_end":
        conditions = value if isinstance(value, list | tuple) else str(value).split()
        unknown = [str(c) for c in conditions if c not in SCHEDULE_CONDITIONS]
        if unknown:
            raise invalid(f"scheduleAtPeriodEnd conditions are {' and '.join(SCHEDULE_CONDITIONS)}, "
                          f"got {unknown[0][:64]!r}.", param="scheduleAtPeriodEnd")
        project.schedule_at_period_end = " ".join(dict.fromkeys(str(c) for c in conditions))
    elif field == "quantity_min":
        project.quantity_min = _quantity(value, "quantityMin")
    elif field == "quantity_max":  # '' removes the maximum
        project.quantity_max = None if value == "" else _quantity(value, "quantityMax")
    else:
        raise invalid(f"Unknown plan-change setting {field!r}.", param=field)


def check_quantity_range(project: Project, *, min_given: bool) -> None:
    """On the settings as they result, so a new minimum meets the stored maximum (and back);
    the error names the bound the caller gave."""
    low, high = project.quantity_min, project.quantity_max
    if high is None or low <= high:
        return
    if min_given:
        raise invalid(f"quantityMin ({low}) is above the maximum quantity ({high}).", param="quantityMin")
    raise invalid(f"quantityMax ({high}) is below the minimum quantity ({low}).", param="quantityMax")


def _quantity(value: object, param: str) -> int:
    text = str(value).strip()
    digits = text.lstrip("0")  # int() refuses a string of more than 4300 digits (a ValueError): length first
    if isinstance(value, bool) or not (text.isascii() and text.isdecimal()) \
            or len(digits) > len(str(QUANTITY_LIMIT)) or not 1 <= int(digits or "0") <= QUANTITY_LIMIT:
        raise invalid(f"{param} must be a whole number from 1 to {QUANTITY_LIMIT}, got {text[:64]!r}.", param=param)
    return int(digits)


def set_plan_prices(db: Session, project: Project, price_ids: list[str]) -> list[PlanPrice]:
    """Replace the project's plan prices with `price_ids` (in this order), each checked with
    Stripe: it exists, is active and recurring (400 `param: planChangePrice` naming the id).
    Every id is asked about before anything is written, so one bad id saves nothing."""
    return replace_plan_prices(db, project, described_prices(project, price_ids))


def described_prices(project: Project, price_ids: list[str]) -> list[PlanPrice]:
    """The rows `price_ids` would become, as Stripe describes them now, checked. Stripe only,
    no database access: a caller about to write asks this first, so no write lock is held
    while Stripe answers."""
    snapshots = [_snapshot(project, price_id) for price_id in _checked_ids(price_ids)]
    products = {row.product_id for row in snapshots}
    if len(products) > MAX_PRODUCTS:
        raise invalid(
            f"The plan-change prices belong to {len(products)} products; Stripe's portal offers at most "
            f"{MAX_PRODUCTS}.",
            param=_PARAM,
        )
    return snapshots


def replace_plan_prices(db: Session, project: Project, snapshots: list[PlanPrice]) -> list[PlanPrice]:
    """Write `described_prices`' rows in place of the project's plan prices, in their order."""
    db.execute(sa.delete(PlanPrice).where(PlanPrice.project_id == project.id))
    db.flush()  # the unique (project, price) rows go before the same ids come back
    for position, row in enumerate(snapshots):
        row.project_id, row.position = project.id, position
        db.add(row)
    db.flush()
    audit.record_action(db, "project.plan_prices_set", project_id=project.id,
                        price_ids=[row.price_id for row in snapshots])
    return snapshots


def _checked_ids(price_ids: list[str]) -> list[str]:
    ids = [str(price_id).strip() for price_id in price_ids]
    for price_id in ids:
        if not is_price_id(price_id):
            raise invalid(f"planChangePrice must be a Stripe price id (price_…), got {price_id[:64]!r}.", param=_PARAM)
    duplicates = sorted({price_id for price_id in ids if ids.count(price_id) > 1})
    if duplicates:
        raise invalid(f"planChangePrice lists {', '.join(duplicates)} more than once.", param=_PARAM)
    return ids


def _snapshot(project: Project, price_id: str) -> PlanPrice:
    """The price as Stripe describes it now (not yet attached to the project)."""
    price = _retrieved(project, price_id)
    recurring = price.get("recurring")
    if not price.get("active"):
        raise invalid(f"planChangePrice {price_id} is archived (inactive) in Stripe; customers cannot switch to it.",
                      param=_PARAM)
    if not recurring:
        raise invalid(f"planChangePrice {price_id} is a one-time price; a plan needs a recurring price.", param=_PARAM)
    product = price["product"]
    if not isinstance(product, dict) or product.get("deleted"):
        raise invalid(f"planChangePrice {price_id} belongs to a deleted product.", param=_PARAM)
    if price.get("unit_amount") is None:
        raise invalid(f"planChangePrice {price_id} has no fixed unit amount (tiered or customer-chosen prices "
                      "cannot be offered as plans).", param=_PARAM)
    return PlanPrice(
        project_id=project.id,
        position=0,
        price_id=price_id,
        product_id=product["id"],
        product_name=product.get("name") or product["id"],
        description=price.get("nickname") or product.get("description") or None,
        unit_amount=price["unit_amount"],
        currency=price["currency"],
        interval=recurring["interval"],
        interval_count=recurring.get("interval_count") or 1,
    )


def _retrieved(project: Project, price_id: str) -> dict[str, Any]:
    try:
        return stripe_gateway.retrieve_price(project, price_id)
    except BillStackError as exc:
        if exc.code != "resource_missing":
            raise
        raise invalid(f"planChangePrice {price_id}: Stripe has no such price (check the id and the project's "
                      "Stripe account).",
                      param=_PARAM) from exc
