"""Writes on customers (each with the caller's idempotency key): create, billing details, tax
ids, default and detached cards, and Stripe Checkout in setup mode for a new card."""

from __future__ import annotations

from typing import Any

import stripe

from billstack.models import Project
from billstack.stripe_gateway import core


def create_customer(project: Project, *, email: str | None, name: str | None, key: str) -> stripe.Customer:
    params: dict[str, Any] = {}
    if email:
        params["email"] = email
    if name:
        params["name"] = name
    client = core.client_for(project)
    return core.call(lambda: client.v1.customers.create(params, {"idempotency_key": core.idempotency_key("cus", key)}))


def set_customer_default_payment_method(
    project: Project, stripe_customer_id: str, payment_method_id: str, *, key: str
) -> core.StripeDict:
    params: dict[str, Any] = {"invoice_settings": {"default_payment_method": payment_method_id}}
    client = core.client_for(project)
    updated = core.call(lambda: client.v1.customers.update(stripe_customer_id, params, {"idempotency_key": key}))
    return core.current(updated, lambda: client.v1.customers.retrieve(stripe_customer_id))


def update_customer_details(project: Project, stripe_customer_id: str, params: dict[str, Any], *, key: str) -> core.StripeDict:
    """Write billing details (`name`, `email`, `phone`, `address`) to the Stripe customer."""
    client = core.client_for(project)
    updated = core.call(lambda: client.v1.customers.update(stripe_customer_id, params, {"idempotency_key": key}))
    return core.current(updated, lambda: client.v1.customers.retrieve(stripe_customer_id))


def create_tax_id(project: Project, stripe_customer_id: str, *, tax_type: str, value: str, key: str) -> core.StripeDict:
    client = core.client_for(project)
    params: dict[str, Any] = {"type": tax_type, "value": value}
    return core.plain(core.call(lambda: client.v1.customers.tax_ids.create(stripe_customer_id, params, {"idempotency_key": key})))


def delete_tax_id(project: Project, stripe_customer_id: str, tax_id: str) -> None:
    client = core.client_for(project)
    core.call(lambda: client.v1.customers.tax_ids.delete(stripe_customer_id, tax_id))


def detach_payment_method(project: Project, payment_method_id: str, *, key: str) -> core.StripeDict:
    client = core.client_for(project)
    return core.plain(core.call(lambda: client.v1.payment_methods.detach(payment_method_id, {}, {"idempotency_key": key})))


def create_setup_checkout_session(
    project: Project,
    stripe_customer_id: str,
    *,
    currency: str,
    success_url: str,
    cancel_url: str,
    key: str,
    locale: str | None = None,
    branding: dict[str, Any] | None = None,
) -> core.StripeDict:
    """Stripe-hosted card collection (`mode=setup`): card data never reaches BillStack.
    `locale`: Checkout's language (Stripe's `locale`, e.g. "de"); `branding`: Checkout's
    `branding_settings` (display_name, button_color, logo …)."""
    params: dict[str, Any] = {
        "mode": "setup",
        "customer": stripe_customer_id,
        "currency": currency,
        # The portal lists and shows cards; collecting only cards keeps the two consistent.
        "payment_method_types": ["card"],
        "success_url": success_url,
        "cancel_url": cancel_url,
    }
    if locale:
        params["locale"] = locale
    if branding:
        params["branding_settings"] = branding
    client = core.client_for(project)
    return core.plain(core.call(lambda: client.v1.checkout.sessions.create(params, {"idempotency_key": key})))
