"""Cancel a subscription, or resume it (undo a cancel scheduled at the period end).

How a cancel works is the project's setting (Stripe's `features.subscription_cancel`):
`at_period_end` schedules the end (resumable until then); `immediately` ends it now through
Stripe's cancel, crediting the unused time when `cancel_proration` is `create_prorations`,
and cannot be undone. The reason must be one the project offers: with the question off
(no reasons offered) any reason is refused, so a headless caller learns that it was not
stored rather than losing it silently.

Stripe is written first, with an idempotency key, then the mirror from Stripe's answer;
nothing changes locally when Stripe fails.
"""

from __future__ import annotations

from sqlmodel import Session

from billstack import stripe_gateway
from billstack.db import release_connection
from billstack.errors import invalid
from billstack.models import Project
from billstack.services import audit
from billstack.services.cancel_settings import offered_reasons
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
CANCELED_NOW = "subscription.canceled"


def cancels_now(project: Project) -> bool:
    """Whether a cancel in this portal ends the subscription at once (not at the period end)."""
    return project.cancel_mode == "immediately"


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
    """Cancel (`cancel=True`, as the project's mode says) or undo a scheduled cancel.

    `reason` is one of Stripe's `cancellation_details[feedback]` values the project offers
    and `comment` free text (≤ CANCEL_COMMENT_MAX); both are sent to Stripe on cancel only.
    """
    project, customer = ctx.project, ctx.customer
    now = cancel and cancels_now(project)
    action = CANCELED_NOW if now else "subscription.cancel_scheduled" if cancel else "subscription.resumed"
    audit.attempt(ctx, action, stripe_object_id=subscription_id)
    if cancel and not project.feature_cancel:
        raise feature_off("Cancelling subscriptions")
    if not cancel and not project.feature_resume:
        raise feature_off("Resuming subscriptions")
    reason, comment = _check_reason(project, reason, comment) if cancel else (None, None)
    ensure_synced(db, ctx)
    row = own_subscription(db, customer, subscription_id)
    require_live(row, "cancelled" if cancel else "resumed")
    key = action_key(ctx, "sub-cancel-now" if now else "sub-cancel" if cancel else "sub-resume", row.stripe_id,
                     idempotency_key)
    release_connection(db)
    if now:
        updated = stripe_gateway.cancel_subscription_now(
            project, row.stripe_id, prorate=project.cancel_proration == "create_prorations", key=key,
            feedback=reason, comment=comment,
        )
    else:
        updated = stripe_gateway.set_cancel_at_period_end(
            project, row.stripe_id, cancel, key=key, feedback=reason, comment=comment
        )
    apply_subscription(db, project, customer, updated)
    audit.record_portal(db, ctx, action, stripe_object_id=row.stripe_id, detail={"reason": reason} if reason else None)
    return own_subscription_view(db, customer, subscription_id)


def _check_reason(project: Project, reason: str | None, comment: str | None) -> tuple[str | None, str | None]:
    if reason is not None and reason not in CANCEL_REASONS:  # not one of Stripe's values at all
        raise invalid(f"reason must be one of {', '.join(CANCEL_REASONS)}.", param="reason")
    offered = offered_reasons(project)
    if reason is not None and reason not in offered:
        if not offered:
            raise invalid("This portal does not ask why customers cancel; send no reason.", param="reason")
        raise invalid(f"reason must be one of {', '.join(offered)}.", param="reason")
    comment = (comment or "").strip() or None
    if comment is not None and len(comment) > CANCEL_COMMENT_MAX:
        raise invalid(f"comment is longer than {CANCEL_COMMENT_MAX} characters.", param="comment")
    return reason, comment
