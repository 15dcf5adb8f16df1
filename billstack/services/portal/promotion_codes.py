"""A promotion code a customer enters on a subscription (Stripe's portal
`default_allowed_updates: promotion_code`).

The code is looked up in Stripe and redeemed there: Stripe decides whether this customer may
use it now (active, not expired, redemptions left, first-time customers only) and its
refusal, which says why, comes back to the customer. The code replaces the subscription's
discount, as Stripe's `discounts` update does. Stripe first, then the mirror from its answer.
"""

from __future__ import annotations

import re

from sqlmodel import Session

from billstack import stripe_gateway
from billstack.db import release_connection
from billstack.errors import BillStackError, invalid
from billstack.services import audit
from billstack.services.portal.keys import action_key
from billstack.services.portal.rows import (
    ensure_synced,
    feature_off,
    own_subscription,
    own_subscription_view,
    require_live,
)
from billstack.services.sessions import PortalContext
from billstack.services.sync import apply_subscription
from billstack.services.views import SubscriptionView

PROMOTION_CODE_MAX = 200
# What Stripe's codes are made of; anything else cannot be a code, so Stripe is not asked.
PROMOTION_CODE_PATTERN = r"^[A-Za-z0-9_-]+$"
INVALID_CODE = "promotion_code_invalid"  # Stripe's own code for a code it refuses


class UnknownPromotionCode(BillStackError):
    """A code Stripe does not know (or that cannot be one): the page says so in the customer's
    language, while a refusal of Stripe's shows Stripe's reason."""


def _unknown(code: str) -> UnknownPromotionCode:
    return UnknownPromotionCode(f"The promotion code {code} does not exist.", code=INVALID_CODE, param="code")


def apply_promotion_code(
    db: Session, ctx: PortalContext, subscription_id: str, code: str, *, idempotency_key: str | None = None
) -> SubscriptionView:
    project, customer = ctx.project, ctx.customer
    audit.attempt(ctx, "subscription.promotion_code_applied", stripe_object_id=subscription_id)
    if not project.feature_promotion_code:
        raise feature_off("Promotion codes")
    code = _checked(code)
    ensure_synced(db, ctx)
    row = own_subscription(db, customer, subscription_id)
    require_live(row, "discounted")
    key = action_key(ctx, "sub-promo", row.stripe_id, idempotency_key)
    release_connection(db)
    promo = stripe_gateway.find_promotion_code(project, code)
    if promo is None:
        raise _unknown(code)
    updated = stripe_gateway.apply_promotion_code(project, row.stripe_id, promo["id"], key=key)
    apply_subscription(db, project, customer, updated)
    audit.record_portal(
        db, ctx, "subscription.promotion_code_applied", stripe_object_id=row.stripe_id,
        detail={"promotion_code": promo["id"]},
    )
    return own_subscription_view(db, customer, subscription_id)


def _checked(code: str) -> str:
    code = (code or "").strip()
    if not code:
        raise invalid("Enter a promotion code.", param="code", code="parameter_missing")
    if len(code) > PROMOTION_CODE_MAX or not re.match(PROMOTION_CODE_PATTERN, code):
        raise _unknown(code[:PROMOTION_CODE_MAX])
    return code
