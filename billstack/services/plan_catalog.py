"""The prices a project lets customers switch between (`--plan-change-price`), kept as
PlanPrice rows: a snapshot of what Stripe said about each price when it was set, so the
portal lists plans without asking Stripe (and while Stripe is down).

CONTRACT (issue 15): `plan_prices` is what the portal services read; `set_plan_prices`
(helper B) validates price ids against Stripe and replaces the list.
"""

from __future__ import annotations

from sqlmodel import Session, select

from billstack.models import PlanPrice, Project


def plan_prices(db: Session, project_id: str) -> list[PlanPrice]:
    """The project's plan prices in display order."""
    return list(db.exec(select(PlanPrice).where(PlanPrice.project_id == project_id).order_by(PlanPrice.position)))


def set_plan_prices(db: Session, project: Project, price_ids: list[str]) -> list[PlanPrice]:
    """Replace the project's plan prices with `price_ids` (in this order), each checked with
    Stripe: it exists, is active and recurring (400 `param: planChangePrice` naming the id)."""
    raise NotImplementedError
