"""Webhook endpoints (operator setup) and the signature check of their deliveries."""

from __future__ import annotations

from typing import Any

import stripe

from billstack.models import Project
from billstack.stripe_gateway import core


# --- webhook endpoints (operator setup) ---------------------------------------------------


def create_webhook_endpoint(project: Project, *, url: str, events: list[str], key: str) -> core.StripeDict:
    """Creates the endpoint; Stripe returns its signing `secret` in this answer only."""
    params: dict[str, Any] = {
        "url": url,
        "enabled_events": events,
        "description": f"BillStack Portal ({project.id})",
        "metadata": {"billstack_project": project.id},
    }
    client = core.client_for(project)
    return core.plain(core.call(lambda: client.v1.webhook_endpoints.create(params, {"idempotency_key": key})))


def delete_webhook_endpoint(project: Project, endpoint_id: str) -> None:
    client = core.client_for(project)
    core.call(lambda: client.v1.webhook_endpoints.delete(endpoint_id))


# --- webhook deliveries -------------------------------------------------------------------


class WebhookSignatureInvalid(Exception):
    """A delivery whose `Stripe-Signature` does not verify; the message says why (for the log only)."""


def verify_webhook_signature(payload: bytes, signature: str | None, secret: str, *, tolerance_s: int) -> None:
    """Stripe's check of a delivery: HMAC-SHA256 of `t.payload` with the endpoint's secret, `t`
    no older than `tolerance_s`. Only the signature: parsing the body is the caller's, so a
    signed but malformed body can't fail inside the SDK (its event builder assumes an object)."""
    try:
        stripe.WebhookSignature.verify_header(payload, signature, secret, tolerance_s)
    except stripe.SignatureVerificationError as exc:
        raise WebhookSignatureInvalid(exc.user_message or str(exc)) from None
    except UnicodeDecodeError:  # the SDK signs the body's text: a non-UTF-8 body can't be verified
        raise WebhookSignatureInvalid("the body is not UTF-8") from None
