"""The portal's and the mirror's reads: plain JSON dicts, as Stripe sent them (and as
webhook payloads arrive), so the mirror code has one input shape. Lists are read to the end
inside one call, so a failure on a later page maps like one on the first."""

from __future__ import annotations

from typing import Any

import stripe

from billstack.models import Project
from billstack.stripe_gateway import core


def retrieve_customer(project: Project, stripe_customer_id: str) -> stripe.Customer:
    client = core.client_for(project)
    return core.call(lambda: client.v1.customers.retrieve(stripe_customer_id))


def list_subscriptions(project: Project, stripe_customer_id: str) -> list[core.StripeDict]:
    """All of the customer's subscriptions, canceled ones included, products expanded."""
    params: dict[str, Any] = {
        "customer": stripe_customer_id,
        "status": "all",
        "expand": ["data." + path for path in core.SUBSCRIPTION_EXPAND],
    }
    return core.get_all(project, core.path("subscriptions"), params)


def retrieve_subscription(project: Project, subscription_id: str) -> core.StripeDict:
    return core.get(project, core.path("subscriptions", subscription_id), {"expand": core.SUBSCRIPTION_EXPAND})


def list_invoices(project: Project, stripe_customer_id: str) -> list[core.StripeDict]:
    return core.get_all(project, core.path("invoices"), {"customer": stripe_customer_id})


def list_card_payment_methods(project: Project, stripe_customer_id: str) -> list[core.StripeDict]:
    return core.get_all(project, core.path("customers", stripe_customer_id, "payment_methods"), {"type": "card"})


def retrieve_customer_data(project: Project, stripe_customer_id: str) -> core.StripeDict:
    """The customer as a plain dict (a deleted customer comes back with `deleted: true`)."""
    return core.get(project, core.path("customers", stripe_customer_id))


def retrieve_invoice(project: Project, invoice_id: str) -> core.StripeDict:
    return core.get(project, core.path("invoices", invoice_id))


def list_customers_page(project: Project, *, starting_after: str | None = None) -> tuple[list[core.StripeDict], bool]:
    """One page (up to 100) of the account's customers, newest first; and whether more follow."""
    params: dict[str, Any] = {"limit": core.PAGE}
    if starting_after:
        params["starting_after"] = starting_after
    page = core.get(project, core.path("customers"), params)
    return list(page["data"]), bool(page.get("has_more"))


def retrieve_checkout_session(project: Project, checkout_session_id: str) -> core.StripeDict:
    client = core.client_for(project)
    params: dict[str, Any] = {"expand": ["setup_intent"]}
    return core.plain(core.call(lambda: client.v1.checkout.sessions.retrieve(checkout_session_id, params)))


def retrieve_coupon(project: Project, coupon_id: str) -> core.StripeDict:
    """A coupon's terms (`percent_off` or `amount_off` + `currency`, `duration`, `valid`)."""
    return core.get(project, core.path("coupons", coupon_id))


def find_promotion_code(project: Project, code: str) -> core.StripeDict | None:
    """The code a customer typed (Stripe matches any case): an active one, else an inactive one
    (redeeming it gets Stripe's refusal, which says why); None when Stripe knows no such code."""
    found = core.get(project, core.path("promotion_codes"), {"code": code, "limit": 10})["data"]
    return next((promo for promo in found if promo.get("active")), found[0] if found else None)


def retrieve_price(project: Project, price_id: str) -> core.StripeDict:
    """A price with its product expanded (a plan the portal may offer)."""
    return core.get(project, core.path("prices", price_id), {"expand": ["product"]})


def retrieve_subscription_schedule(project: Project, schedule_id: str) -> core.StripeDict:
    return core.get(project, core.path("subscription_schedules", schedule_id))


def list_tax_ids(project: Project, stripe_customer_id: str) -> list[core.StripeDict]:
    return core.get_all(project, core.path("customers", stripe_customer_id, "tax_ids"), {})


def preview_next_invoice(project: Project, stripe_customer_id: str, subscription_id: str) -> core.StripeDict:
    """The subscription's next invoice as Stripe would issue it now (`create_preview`)."""
    client = core.client_for(project)
    params: dict[str, Any] = {"customer": stripe_customer_id, "subscription": subscription_id}
    return core.plain(core.call(lambda: client.v1.invoices.create_preview(params)))
