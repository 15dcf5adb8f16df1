"""Plan changes (Stripe's `features.subscription_update`): the prices a customer may switch
to, what a change costs today (Stripe's own invoice preview), the change itself, and a
change deferred to the period end through a subscription schedule.

CONTRACT (issue 15): the signatures below are what the REST routes and the Reflex state
call. Stripe is written first, then the mirror from Stripe's answer; nothing changes
locally when Stripe fails.
"""

from __future__ import annotations

from sqlmodel import Session

from billstack.services.sessions import PortalContext
from billstack.services.views import PlanChangePreview, PlanList, SubscriptionView


def list_plans(db: Session, ctx: PortalContext, subscription_id: str) -> PlanList:
    """The project's plan prices (PlanPrice rows, in order), the subscription's marked
    `current`, and the quantity rule. 403 when plan changes are off; 404 for a
    subscription that is not the customer's."""
    raise NotImplementedError


def preview_plan_change(
    db: Session, ctx: PortalContext, subscription_id: str, price_id: str, quantity: int | None = None
) -> PlanChangePreview:
    """What switching to `price_id` (and `quantity`) costs, from Stripe's invoice preview
    with `proration_date` = now. 400 `param: priceId` for a price the project does not offer,
    `param: quantity` outside the rule."""
    raise NotImplementedError


def change_plan(
    db: Session,
    ctx: PortalContext,
    subscription_id: str,
    price_id: str,
    quantity: int | None = None,
    *,
    proration_date: int | None = None,
    idempotency_key: str | None = None,
) -> SubscriptionView:
    """Switch now (prorated as the project says; `proration_date` from the preview makes the
    charge equal it; a declined charge is a 402 with nothing changed) or, when a
    `schedule_at_period_end` condition holds, at the period end (the view's `scheduledChange`)."""
    raise NotImplementedError


def keep_current_plan(
    db: Session, ctx: PortalContext, subscription_id: str, *, idempotency_key: str | None = None
) -> SubscriptionView:
    """Drop a change waiting for the period end (releases the subscription schedule)."""
    raise NotImplementedError
