"""Cancel a subscription at its period end, or resume it (undo that).

Stripe is written first, with an idempotency key, then the mirror from Stripe's answer;
nothing changes locally when Stripe fails.
"""

from __future__ import annotations

from sqlmodel import Session

from billstack import stripe_gateway
from billstack.db import release_connection
from billstack.errors import invalid
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
from billstack.services.views import CANCEL_REASONS, SubscriptionView

CANCEL_COMMENT_MAX = 500


def set_cancel_at_period_end(
    db: Session,
    ctx: PortalContext,
    subscription_id: str,
    cancel: bool,
    *,
    reason: str | None = None,
    comment: str | None = None,
    idempotency_key: str | None = None,
) -> SubscriptionView:
    """Schedule the end of a subscription at its period end (`cancel=True`) or undo that.

    `reason` is one of Stripe's `cancellation_details[feedback]` values and `comment`
    free text; both are sent to Stripe on cancel only.
    """
    project, customer = ctx.project, ctx.customer
    action = "subscription.cancel_scheduled" if cancel else "subscription.resumed"
    audit.attempt(ctx, action, stripe_object_id=subscription_id)
    if cancel and not project.feature_cancel:
        raise feature_off("Cancelling subscriptions")
    if not cancel and not project.feature_resume:
        raise feature_off("Resuming subscriptions")
    reason, comment = _check_reason(reason, comment) if cancel else (None, None)
    ensure_synced(db, ctx)
    row = own_subscription(db, customer, subscription_id)
    require_live(row, "cancelled" if cancel else "resumed")
    key = action_key(ctx, "sub-cancel" if cancel else "sub-resume", row.stripe_id, idempotency_key)
    release_connection(db)
    updated = stripe_gateway.set_cancel_at_period_end(
        project, row.stripe_id, cancel, key=key, feedback=reason, comment=comment
    )
    apply_subscription(db, project, customer, updated)
    audit.record_portal(db, ctx, action, stripe_object_id=row.stripe_id, detail={"reason": reason} if reason else None)
    return own_subscription_view(db, customer, subscription_id)


def _check_reason(reason: str | None, comment: str | None) -> tuple[str | None, str | None]:
    if reason is not None and reason not in CANCEL_REASONS:
        raise invalid(f"reason must be one of {', '.join(CANCEL_REASONS)}.", param="reason")
    comment = (comment or "").strip() or None
    if comment is not None and len(comment) > CANCEL_COMMENT_MAX:
        raise invalid(f"comment is longer than {CANCEL_COMMENT_MAX} characters.", param="comment")
    return reason, comment
