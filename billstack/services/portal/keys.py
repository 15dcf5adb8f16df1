"""Stripe idempotency keys for the portal's actions on one subscription."""

from __future__ import annotations

import hashlib

from billstack import stripe_gateway
from billstack.services.sessions import PortalContext


def action_key(ctx: PortalContext, action: str, subscription_id: str, client_key: str | None) -> str:
    """The Stripe idempotency key for one action (`sub-cancel`, `sub-plan`, …).

    Without a client key every call is its own intent: the key makes the SDK's network
    retries safe, and doing the same thing again later is harmless. A client key (the
    REST `Idempotency-Key` header) is namespaced to this customer and action, so a
    client's retry after a lost answer replays Stripe's result instead of acting twice.
    """
    if client_key is None:
        return stripe_gateway.idempotency_key()
    digest = hashlib.sha256(client_key.encode()).hexdigest()[:32]
    return stripe_gateway.idempotency_key(action, ctx.project.id, ctx.customer.id, subscription_id, digest)
