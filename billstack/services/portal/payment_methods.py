"""The card wallet: add a card through Stripe Checkout (setup mode), make a saved card the
default, remove one.

Card data never reaches BillStack: Checkout collects the card, then
`complete_payment_method_update` makes it the default for the customer and their live
subscriptions. `set_default_payment_method` does the same for a card already saved;
`remove_payment_method` detaches one that no live subscription depends on.
"""

from __future__ import annotations

import re
from typing import Any

from sqlmodel import Session, select

from billstack import stripe_gateway
from billstack.db import release_connection
from billstack.errors import BillStackError, invalid, not_found
from billstack.i18n import SUPPORTED_LOCALES
from billstack.models import Customer, Invoice, PaymentMethod, Project, Subscription
from billstack.services import audit
from billstack.services.portal.keys import action_key
from billstack.services.portal.rows import (
    ensure_synced,
    feature_off,
    live_subscriptions,
    own_payment_method,
    payment_method_view_by_id,
)
from billstack.services.sessions import PortalContext, check_return_url
from billstack.services.sync import apply_customer, apply_subscription, forget, id_of, sync_customer
from billstack.services.views import CheckoutRedirect, PaymentMethodView

CHECKOUT_SESSION_PLACEHOLDER = "{CHECKOUT_SESSION_ID}"
# What a Checkout Session id can look like (`cs_test_…`, `cs_live_…`), at most 255 characters.
# Checked before the id goes into a Stripe URL, where `/`, `.` or `?` would change the request.
_CHECKOUT_SESSION_ID = re.compile(r"cs_[A-Za-z0-9_]{1,252}")
_HEX_COLOR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
# The portal's locales Stripe Checkout also has (`checkout.Session.create`'s `locale`): all
# but the regional Englishes besides en-GB, which checkout_locale maps.
_CHECKOUT_ENGLISH = {"en-AU": "en-GB", "en-IE": "en-GB", "en-IN": "en-GB", "en-NZ": "en-GB", "en-SG": "en-GB",
                     "en-CA": "en"}
CHECKOUT_LOCALES = frozenset(SUPPORTED_LOCALES) - set(_CHECKOUT_ENGLISH)
# Only for a customer Stripe knows no currency of yet (no subscription, invoice or balance).
FALLBACK_CURRENCY = "usd"


def start_payment_method_update(db: Session, ctx: PortalContext, *, success_url: str, cancel_url: str) -> str:
    """The Stripe Checkout URL (setup mode) to send the customer to."""
    return create_payment_method_checkout(db, ctx, success_url=success_url, cancel_url=cancel_url).url


def start_payment_method_checkout(
    db: Session, ctx: PortalContext, *, portal_url: str, return_url: str | None = None
) -> CheckoutRedirect:
    """Checkout that comes back to `portal_url` (trusted, built by the caller), or to
    `return_url` (client-supplied, so held to the project's allowed return origins)."""
    base = check_return_url(return_url, ctx.project) if return_url is not None else portal_url
    glue = "&" if "?" in base else "?"
    return create_payment_method_checkout(
        db,
        ctx,
        success_url=f"{base}{glue}setup=success&session_id={CHECKOUT_SESSION_PLACEHOLDER}",
        cancel_url=f"{base}{glue}setup=canceled",
    )


def create_payment_method_checkout(
    db: Session, ctx: PortalContext, *, success_url: str, cancel_url: str
) -> CheckoutRedirect:
    project, customer = ctx.project, ctx.customer
    audit.attempt(ctx, "payment_method.checkout_started", stripe_object_id=customer.stripe_customer_id)
    if not project.feature_payment_method_update:
        raise feature_off("Updating the payment method")
    if CHECKOUT_SESSION_PLACEHOLDER not in success_url:
        # Without the session id on return there is no way to finish the update.
        raise invalid(f"success_url must contain {CHECKOUT_SESSION_PLACEHOLDER}.", param="successUrl")
    currency = _mirrored_currency(db, customer)
    release_connection(db)
    session = stripe_gateway.create_setup_checkout_session(
        project,
        customer.stripe_customer_id,
        currency=currency or _stripe_currency(project, customer),
        success_url=success_url,
        cancel_url=cancel_url,
        # Each click is its own Checkout; the key only makes the SDK's network retries safe.
        key=stripe_gateway.idempotency_key(),
        locale=checkout_locale(ctx.locale),
        branding=checkout_branding(project),
    )
    audit.record_portal(db, ctx, "payment_method.checkout_started", stripe_object_id=session["id"])
    return CheckoutRedirect(id=session["id"], url=session["url"])


def checkout_locale(locale: str) -> str:
    """Checkout in the page's language. Checkout has every portal locale but the regional
    Englishes other than en-GB: those get British English (their dates and spelling are
    closer to it), Canada's the plain one; anything else lets Checkout follow the browser."""
    if locale in CHECKOUT_LOCALES:
        return locale
    return _CHECKOUT_ENGLISH.get(locale, "auto")


def checkout_branding(project: Project) -> dict[str, Any]:
    """The project's look as Checkout's `branding_settings`: its name, its accent on the
    buttons (Checkout's background stays Stripe's light default: an accent strong enough
    for buttons would make text on it hard to read) and its logo when served over https
    (Checkout fetches it itself)."""
    branding: dict[str, Any] = {"display_name": (project.display_name or project.name)[:100]}
    if _HEX_COLOR.fullmatch(project.accent_color or ""):
        branding["button_color"] = project.accent_color
    if project.logo_url and project.logo_url.startswith("https://"):
        branding["logo"] = {"type": "url", "url": project.logo_url}
    return branding


def _mirrored_currency(db: Session, customer: Customer) -> str | None:
    """Checkout in setup mode needs a currency: the one the customer is billed in. A live
    subscription's first, else the newest subscription's (ended ones too), else the
    newest invoice's; None when the mirror has neither."""
    for row in live_subscriptions(db, customer):
        return row.currency
    newest_subscription = db.exec(
        select(Subscription.currency).where(Subscription.customer_id == customer.id)
        .order_by(Subscription.created.desc(), Subscription.stripe_id.desc()).limit(1)
    ).first()
    if newest_subscription:
        return newest_subscription
    return db.exec(
        select(Invoice.currency).where(Invoice.customer_id == customer.id)
        .order_by(Invoice.created.desc(), Invoice.stripe_id.desc()).limit(1)
    ).first()


def _stripe_currency(project: Project, customer: Customer) -> str:
    """Nothing billed yet in the mirror: Stripe's `customer.currency` (set by a balance or a
    first charge), else FALLBACK_CURRENCY."""
    stripe_customer = stripe_gateway.retrieve_customer_data(project, customer.stripe_customer_id)
    currency = stripe_customer.get("currency")
    return currency if isinstance(currency, str) and currency else FALLBACK_CURRENCY


def complete_payment_method_update(
    db: Session, ctx: PortalContext, checkout_session_id: str
) -> PaymentMethodView:
    """After Checkout: make the new card the default for the customer and their live
    subscriptions. Safe to repeat (a reload of the return URL): the Stripe writes use
    keys derived from the Checkout Session, and subscriptions already on the card are
    left alone."""
    project, customer = ctx.project, ctx.customer
    audit.attempt(ctx, "payment_method.added", stripe_object_id=checkout_session_id,
                  detail={"checkout_session": checkout_session_id})
    if not project.feature_payment_method_update:
        raise feature_off("Updating the payment method")
    release_connection(db)
    payment_method_id = _completed_setup_payment_method(project, customer, checkout_session_id)
    previous_default = customer.default_payment_method_id
    stripe_customer = stripe_gateway.set_customer_default_payment_method(
        project,
        customer.stripe_customer_id,
        payment_method_id,
        key=stripe_gateway.idempotency_key("cus-default-pm", project.id, checkout_session_id),
    )
    settings = stripe_customer.get("invoice_settings") or {}
    superseded = id_of(settings.get("default_payment_method")) != payment_method_id
    sync_customer(db, project, customer)
    # A replay of an old checkout whose card has since been replaced must not bring it back.
    for row in [] if superseded else live_subscriptions(db, customer):
        if row.default_payment_method_id != payment_method_id:
            key = stripe_gateway.idempotency_key(
                "sub-default-pm", project.id, checkout_session_id, row.stripe_id
            )
            release_connection(db)
            updated = stripe_gateway.set_subscription_default_payment_method(
                project, row.stripe_id, payment_method_id, key=key
            )
            apply_subscription(db, project, customer, updated)
    if previous_default != payment_method_id:  # not again on a reload of the return URL
        audit.record_portal(db, ctx, "payment_method.added", stripe_object_id=payment_method_id,
                            detail={"checkout_session": checkout_session_id, "previous": previous_default})
    return payment_method_view_by_id(db, customer, payment_method_id)


def _completed_setup_payment_method(project: Project, customer: Customer, checkout_session_id: str) -> str:
    missing = not_found(f"No such checkout session: '{checkout_session_id}'.", param="checkoutSessionId")
    if not isinstance(checkout_session_id, str) or not _CHECKOUT_SESSION_ID.fullmatch(checkout_session_id):
        raise missing
    try:
        session = stripe_gateway.retrieve_checkout_session(project, checkout_session_id)
    except BillStackError as exc:
        if exc.status == 404:
            raise missing from exc
        raise
    # Another customer's (or a non-setup) session looks exactly like one that does not exist.
    if id_of(session.get("customer")) != customer.stripe_customer_id or session.get("mode") != "setup":
        raise missing
    setup_intent = session.get("setup_intent")
    setup_intent = setup_intent if isinstance(setup_intent, dict) else {}
    payment_method_id = id_of(setup_intent.get("payment_method"))
    finished = session.get("status") == "complete" and setup_intent.get("status") == "succeeded"
    if not finished or not payment_method_id:
        raise invalid(
            "This checkout was not completed, so the payment method was not changed.",
            param="checkoutSessionId",
            code="checkout_session_incomplete",
        )
    return payment_method_id


# --- the saved cards -----------------------------------------------------------------------

PAYMENT_METHOD_IN_USE = "payment_method_in_use"
IN_USE_MESSAGE = "This card pays for an active subscription. Choose another default card first."


def set_default_payment_method(
    db: Session, ctx: PortalContext, payment_method_id: str, *, idempotency_key: str | None = None
) -> PaymentMethodView:
    """Make one of the customer's saved cards their default, and the default of each live
    subscription that names a default card of its own (one without keeps following the
    customer's). 404 for a card that is not theirs; 403 when card updates are off."""
    project, customer = ctx.project, ctx.customer
    audit.attempt(ctx, "payment_method.default_changed", stripe_object_id=payment_method_id)
    if not project.feature_payment_method_update:
        raise feature_off("Updating the payment method")
    ensure_synced(db, ctx)
    own_payment_method(db, customer, payment_method_id)
    own_default = [row.stripe_id for row in live_subscriptions(db, customer)
                   if row.default_payment_method_id and row.default_payment_method_id != payment_method_id]
    previous_default = customer.default_payment_method_id
    release_connection(db)
    stripe_customer = stripe_gateway.set_customer_default_payment_method(
        project, customer.stripe_customer_id, payment_method_id,
        key=action_key(ctx, "cus-default-pm", payment_method_id, idempotency_key),
    )
    apply_customer(db, customer, stripe_customer)
    for subscription_id in own_default:
        release_connection(db)
        updated = stripe_gateway.set_subscription_default_payment_method(
            project, subscription_id, payment_method_id,
            key=action_key(ctx, "sub-default-pm", f"{subscription_id}-{payment_method_id}", idempotency_key),
        )
        apply_subscription(db, project, customer, updated)
    audit.record_portal(db, ctx, "payment_method.default_changed", stripe_object_id=payment_method_id,
                        detail={"previous": previous_default, "subscriptions": own_default})
    return payment_method_view_by_id(db, customer, payment_method_id)


def remove_payment_method(
    db: Session, ctx: PortalContext, payment_method_id: str, *, idempotency_key: str | None = None
) -> None:
    """Detach one of the customer's saved cards. Refused (409 `payment_method_in_use`, nothing
    changed) for the card a live subscription is charged to: the customer's default while
    any subscription is live, or a live subscription's own default. 404 for a card that is
    not theirs; 403 when removing cards is off."""
    project, customer = ctx.project, ctx.customer
    audit.attempt(ctx, "payment_method.removed", stripe_object_id=payment_method_id)
    if not project.feature_payment_method_remove:
        raise feature_off("Removing a payment method")
    ensure_synced(db, ctx)
    own_payment_method(db, customer, payment_method_id)
    _refuse_if_in_use(db, customer, payment_method_id)
    key = action_key(ctx, "pm-detach", payment_method_id, idempotency_key)
    release_connection(db)
    stripe_gateway.detach_payment_method(project, payment_method_id, key=key)
    forget(db, project, customer, PaymentMethod, payment_method_id)
    audit.record_portal(db, ctx, "payment_method.removed", stripe_object_id=payment_method_id)


def _refuse_if_in_use(db: Session, customer: Customer, payment_method_id: str) -> None:
    live = live_subscriptions(db, customer)
    charged = any(row.default_payment_method_id == payment_method_id for row in live)
    if charged or (live and customer.default_payment_method_id == payment_method_id):
        raise BillStackError(IN_USE_MESSAGE, code=PAYMENT_METHOD_IN_USE, param="paymentMethodId", status=409)
