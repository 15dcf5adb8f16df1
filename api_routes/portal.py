"""Portal API (DESIGN.md §4.3): the portal's data and actions, authenticated by the token.

Thin: each route hands one service of billstack/services/portal/ — the same functions
the Reflex page calls — to its `PortalCall` (api_routes/deps.py: validates the token, runs
the service within the per-project and per-session limits, off the event loop) and
answers with the view model it returns (billstack/services/views.py, camelCase). Ids are
Stripe's own (`sub_…`, `in_…`, `pm_…`, `cs_…`); one that is not the token customer's is a
404, an action the project turned off a 403, Stripe unreachable or too busy a 503 with
nothing changed.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Header, Query
from pydantic import Field, StrictBool

from api_routes.deps import PortalCall
from api_routes.schemas import RequestBody, error_responses
from billstack import routes
from billstack.config import get_settings
from billstack.services import portal
from billstack.services.portal_calls import Work
from billstack.services.views import (
    CANCEL_REASONS,
    CheckoutRedirect,
    InvoicePage,
    PaymentMethodView,
    PortalView,
    SubscriptionView,
)

router = APIRouter(prefix=routes.PORTAL_API_PREFIX, tags=["Portal"])


# --- request bodies ------------------------------------------------------------------------


class UpdateSubscriptionRequest(RequestBody):
    cancel_at_period_end: StrictBool = Field(
        description="true: the subscription ends when the current period ends; false: it renews again."
    )
    reason: Literal[CANCEL_REASONS] | None = Field(  # type: ignore[valid-type]
        default=None, description="Why the customer cancels (Stripe's `cancellation_details[feedback]`)."
    )
    comment: str | None = Field(default=None, max_length=portal.CANCEL_COMMENT_MAX,
                                description="Free-text feedback, sent to Stripe with the cancellation.")


class SetupIntentRequest(RequestBody):
    return_url: str | None = Field(
        default=None, max_length=2000,
        description="Where Checkout returns to (default: this portal). `?setup=success&session_id=…` or "
        "`?setup=canceled` is appended. Must be on one of the project's allowed return origins.",
    )


class CompleteSetupRequest(RequestBody):
    # Its shape (`cs_…`) is checked by the service, so a malformed id is the same 404 as an
    # unknown one here and in the portal page, and never reaches Stripe.
    checkout_session_id: str = Field(min_length=1, max_length=255, examples=["cs_test_a1b2c3"],
                                     description="The `session_id` Checkout returned with (`cs_…`). An id that is "
                                     "malformed, unknown or another customer's is a 404 `resource_missing`.")


_ERRORS = error_responses({
    400: "Invalid body or parameter (`param` names the field).",
    401: "Invalid, expired or revoked portal token.",
    403: "The project turned this feature off (`feature_disabled`).",
    404: "No such object for this customer.",
    429: "Too many failed token validations; see `Retry-After`.",
    503: "Stripe is unavailable; nothing was changed.",
})
# Routes that write to Stripe, always with an idempotency key, which Stripe refuses (409)
# while a request with the same key is still running, or for a different request.
_STRIPE_WRITE_ERRORS = {
    **_ERRORS,
    **error_responses({409: "Idempotency conflict (`idempotency_error`): the same key is in use by a request "
                            "still running, or was used for a different request. Nothing was changed."}),
}


# --- routes ----------------------------------------------------------------------------------


@router.get("/{token}", response_model=PortalView, responses=_ERRORS, operation_id="getPortal",
            summary="The whole portal view",
            description="Customer, branding, feature switches, subscriptions, the first invoice page and "
            "payment methods. Read from BillStack's mirror (synced from Stripe on first use, kept fresh by "
            "webhooks); `?refresh=true` reads Stripe first. When Stripe is unreachable the saved data comes "
            "back with `stale: true`.")
async def get_portal(
    call: PortalCall,
    refresh: bool = Query(default=False, description="true: read Stripe first instead of the saved mirror."),
) -> PortalView:
    mode = "always" if refresh else "if_stale"
    return await call(lambda db, ctx: portal.load_portal_view(db, ctx, refresh=mode), work=Work.STRIPE_READ)


@router.get("/{token}/invoices", response_model=InvoicePage, responses=_ERRORS,
            operation_id="listInvoices", summary="A page of invoices, newest first")
async def list_invoices(
    call: PortalCall,
    starting_after: str | None = Query(default=None, alias="startingAfter", max_length=255,
                                       description="The last invoice id of the previous page."),
    limit: int = Query(default=10, ge=1, le=portal.INVOICE_PAGE_MAX),
) -> InvoicePage:
    return await call(
        lambda db, ctx: portal.list_invoices(db, ctx, starting_after=starting_after, limit=limit), work=Work.MIRROR
    )


@router.patch("/{token}/subscriptions/{subscriptionId}", response_model=SubscriptionView,
              responses=_STRIPE_WRITE_ERRORS,
              operation_id="updateSubscription", summary="Cancel at period end, or resume",
              description="Stripe is updated first, then BillStack's mirror from Stripe's answer. Send an "
              "`Idempotency-Key` header to make a retry replay the first result instead of acting again.")
async def update_subscription(
    call: PortalCall,
    subscriptionId: str,  # noqa: N803 - path name as in the public contract
    body: UpdateSubscriptionRequest,
    idempotency_key: str | None = Header(default=None, alias="Idempotency-Key", min_length=1, max_length=200),
) -> SubscriptionView:
    return await call(
        lambda db, ctx: portal.set_cancel_at_period_end(
            db, ctx, subscriptionId, body.cancel_at_period_end,
            reason=body.reason, comment=body.comment, idempotency_key=idempotency_key,
        ),
        work=Work.ACTION,
    )


@router.post("/{token}/setup-intent", response_model=CheckoutRedirect, responses=_STRIPE_WRITE_ERRORS,
             operation_id="createSetupCheckout", summary="Start a payment-method update",
             description="Creates a Stripe Checkout Session in setup mode. Send the customer to `url`; "
             "Checkout returns to the portal with `?setup=success&session_id={CHECKOUT_SESSION_ID}` "
             "(then call `setup-intent/complete`) or `?setup=canceled` (nothing changed).")
async def create_setup_intent(call: PortalCall, body: SetupIntentRequest | None = None) -> CheckoutRedirect:
    portal_url = routes.portal_url(get_settings().resolved_public_url, call.token)
    return_url = body.return_url if body else None
    return await call(
        lambda db, ctx: portal.start_payment_method_checkout(db, ctx, portal_url=portal_url, return_url=return_url),
        work=Work.ACTION,
    )


@router.post("/{token}/setup-intent/complete", response_model=PaymentMethodView, responses=_STRIPE_WRITE_ERRORS,
             operation_id="completeSetupCheckout", summary="Finish a payment-method update",
             description="Makes the card collected by a completed Checkout the default for the customer "
             "and their active subscriptions; returns it. Repeating it is harmless. A canceled or "
             "unfinished Checkout is a 400 and changes nothing.")
async def complete_setup_intent(call: PortalCall, body: CompleteSetupRequest) -> PaymentMethodView:
    return await call(
        lambda db, ctx: portal.complete_payment_method_update(db, ctx, body.checkout_session_id),
        work=Work.ACTION,
    )
