"""JSON shapes of what the commands print (camelCase keys; secrets only as "set")."""

from __future__ import annotations

from typing import Any

from billstack.clock import to_iso_z
from billstack.models import ApiKey, Customer, PlanPrice, PortalSession, Project, Team
from billstack.services.cancel_settings import offered_reasons, retention_terms
from billstack.services.plan_catalog import schedule_conditions
from billstack.services.portal.rows import allowed_updates
from billstack.services.tenants import allowed_return_origins, stripe_mode


def iso(moment: Any) -> str | None:
    return to_iso_z(moment) if moment is not None else None


def team_json(team: Team) -> dict[str, Any]:
    return {"id": team.id, "object": "team", "name": team.name, "createdAt": iso(team.created_at)}


def project_json(project: Project, plan_prices: list[PlanPrice]) -> dict[str, Any]:
    return {
        "id": project.id,
        "object": "project",
        "teamId": project.team_id,
        "name": project.name,
        "displayName": project.display_name,
        "logoUrl": project.logo_url,
        "accentColor": project.accent_color,
        "supportEmail": project.support_email,
        "supportUrl": project.support_url,
        "termsUrl": project.terms_url,
        "privacyUrl": project.privacy_url,
        "defaultReturnUrl": project.default_return_url,
        "allowedReturnOrigins": allowed_return_origins(project),
        "frameAncestors": project.frame_ancestors,
        "linkBinding": project.link_binding,
        "features": {
            "cancel": project.feature_cancel,
            "resume": project.feature_resume,
            "invoiceHistory": project.feature_invoice_history,
            "paymentMethodUpdate": project.feature_payment_method_update,
            "planChange": project.feature_plan_change,
            "paymentMethodRemove": project.feature_payment_method_remove,
            "pause": project.feature_pause,
            "promotionCode": project.feature_promotion_code,
        },
        "subscriptionUpdate": subscription_update_json(project, plan_prices),
        "subscriptionCancel": subscription_cancel_json(project),
        "customerUpdate": customer_update_json(project),
        "stripeSecretKey": "set",
        "stripeMode": stripe_mode(project),
        "stripeApiBase": project.stripe_api_base,
        "webhookSecret": "set" if project.webhook_secret_sealed else None,
        "createdAt": iso(project.created_at),
    }


def subscription_update_json(project: Project, plan_prices: list[PlanPrice]) -> dict[str, Any]:
    """Stripe's `features.subscription_update`, as the project sets it."""
    return {
        "enabled": project.feature_plan_change,
        "prices": [
            {
                "priceId": price.price_id,
                "productId": price.product_id,
                "productName": price.product_name,
                "description": price.description,
                "unitAmount": price.unit_amount,
                "currency": price.currency,
                "interval": price.interval,
                "intervalCount": price.interval_count,
            }
            for price in plan_prices
        ],
        "prorationBehavior": project.proration_behavior,
        "scheduleAtPeriodEnd": schedule_conditions(project),
        "quantity": {
            "enabled": project.feature_quantity_change,
            "min": project.quantity_min,
            "max": project.quantity_max,
        },
    }


def subscription_cancel_json(project: Project) -> dict[str, Any]:
    """Stripe's `features.subscription_cancel`, plus the retention offer as stored."""
    offer = retention_terms(project)
    return {
        "mode": project.cancel_mode,
        "prorationBehavior": project.cancel_proration,
        "reasons": offered_reasons(project),
        "retention": None if offer is None else {
            "couponId": offer.coupon_id,
            "percentOff": offer.percent_off,
            "amountOff": offer.amount_off,
            "currency": offer.currency,
            "duration": offer.duration,
            "durationInMonths": offer.duration_in_months,
        },
    }


def customer_update_json(project: Project) -> dict[str, Any]:
    """Stripe's `features.customer_update`: the billing details customers may edit."""
    allowed = allowed_updates(project)
    return {"enabled": bool(allowed), "allowedUpdates": allowed}


def api_key_json(api_key: ApiKey) -> dict[str, Any]:
    return {
        "id": api_key.id,
        "object": "api_key",
        "projectId": api_key.project_id,
        "prefix": api_key.prefix,
        "status": "revoked" if api_key.revoked_at else "active",
        "createdAt": iso(api_key.created_at),
        "lastUsedAt": iso(api_key.last_used_at),
        "revokedAt": iso(api_key.revoked_at),
    }


def customer_json(customer: Customer) -> dict[str, Any]:
    return {
        "id": customer.id,
        "object": "customer",
        "projectId": customer.project_id,
        "stripeCustomerId": customer.stripe_customer_id,
        "email": customer.email,
        "name": customer.name,
        "createdAt": iso(customer.created_at),
        "removedAt": iso(customer.removed_at),
    }


def revoked_session_json(revoked: PortalSession) -> dict[str, Any]:
    return {
        "id": revoked.id,
        "object": "portal_session",
        "projectId": revoked.project_id,
        "customerId": revoked.customer_id,
        "revoked": True,
        "revokedAt": iso(revoked.revoked_at),
        "expiresAt": iso(revoked.expires_at),
    }
