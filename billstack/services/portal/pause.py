"""Pause a subscription's payments (Stripe's `pause_collection`), or resume them.

While paused the subscription stays active and renews, but its invoices are not charged:
Stripe voids them (`void`) or marks them uncollectible (`mark_uncollectible`) until the
customer resumes or `resumes_at` comes. Stripe is written first, with an idempotency key,
then the mirror from Stripe's answer; nothing changes locally when Stripe fails.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlmodel import Session

from billstack import stripe_gateway
from billstack.clock import utcnow
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
from billstack.services.views import PAUSE_BEHAVIORS, SubscriptionView
# A resume day that is not after today (the page says so in the customer's language).
RESUMES_AT_PAST = "resumes_at_past"


@dataclass(frozen=True)
class PauseRequest:
    """How to pause: Stripe's `behavior`, and the day collection resumes by itself (None: when
    the customer resumes). The day starts at 00:00 UTC, as Stripe's timestamps are UTC."""

    behavior: str = "void"
    resumes_on: date | None = None

    def checked(self, today: date) -> PauseRequest:
        if self.behavior not in PAUSE_BEHAVIORS:
            raise invalid(f"behavior must be one of {', '.join(PAUSE_BEHAVIORS)}.", param="behavior")
        if self.resumes_on is not None and self.resumes_on <= today:
            raise invalid("resumesAt must be a day after today (UTC).", param="resumesAt", code=RESUMES_AT_PAST)
        return self

    def pause_collection(self) -> dict[str, Any]:
        """Stripe's `pause_collection`; `resumes_at` is the resume day's start (UTC), in unix seconds."""
        if self.resumes_on is None:
            return {"behavior": self.behavior}
        return {"behavior": self.behavior, "resumes_at": calendar.timegm(self.resumes_on.timetuple())}


def pause_payments(
    db: Session, ctx: PortalContext, subscription_id: str, request: PauseRequest, *,
    idempotency_key: str | None = None,
) -> SubscriptionView:
    project, customer = ctx.project, ctx.customer
    audit.attempt(ctx, "subscription.paused", stripe_object_id=subscription_id)
    if not project.feature_pause:
        raise feature_off("Pausing payments")
    request = request.checked(utcnow().date())
    ensure_synced(db, ctx)
    row = own_subscription(db, customer, subscription_id)
    require_live(row, "paused")
    key = action_key(ctx, "sub-pause", row.stripe_id, idempotency_key)
    release_connection(db)
    updated = stripe_gateway.set_pause_collection(project, row.stripe_id, request.pause_collection(), key=key)
    apply_subscription(db, project, customer, updated)
    detail = {"behavior": request.behavior, "resumes_on": request.resumes_on.isoformat() if request.resumes_on else None}
    audit.record_portal(db, ctx, "subscription.paused", stripe_object_id=row.stripe_id, detail=detail)
    return own_subscription_view(db, customer, subscription_id)


def resume_payments(
    db: Session, ctx: PortalContext, subscription_id: str, *, idempotency_key: str | None = None
) -> SubscriptionView:
    """Collect again from the next invoice on. Harmless on a subscription that is not paused."""
    project, customer = ctx.project, ctx.customer
    audit.attempt(ctx, "subscription.unpaused", stripe_object_id=subscription_id)
    if not project.feature_pause:
        raise feature_off("Pausing payments")
    ensure_synced(db, ctx)
    row = own_subscription(db, customer, subscription_id)
    require_live(row, "resumed")
    key = action_key(ctx, "sub-unpause", row.stripe_id, idempotency_key)
    release_connection(db)
    updated = stripe_gateway.set_pause_collection(project, row.stripe_id, None, key=key)
    apply_subscription(db, project, customer, updated)
    audit.record_portal(db, ctx, "subscription.unpaused", stripe_object_id=row.stripe_id)
    return own_subscription_view(db, customer, subscription_id)
