"""Portal API (DESIGN.md §4.3): the portal's data and actions, authenticated by the token.

Thin: each route hands one service of billstack/services/portal.py — the same functions
the Reflex page calls — to `run_portal_call` (services/portal_calls.py: validates the
token, runs the service within the per-project and per-session limits, off the event
loop) and shapes the answer. Ids are Stripe's own (`sub_…`, `in_…`, `pm_…`, `cs_…`); one
that is not the token customer's is a 404, an action the project turned off a 403, Stripe
unreachable or too busy a 503 with nothing changed.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Header, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from pydantic.alias_generators import to_camel

from api_routes.deps import client_ip
from api_routes.portal_sessions import ErrorResponse
from billstack.config import get_settings
from billstack.services import portal
from billstack.services.portal_calls import Work, run_portal_call
from billstack.services.views import to_camel_json

router = APIRouter(prefix="/api/portal", tags=["Portal"])

_ISO_Z = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"
_TOKEN_DOC = "The portal token from the session's `portalUrl`."


class _Request(BaseModel):
    # camelCase only, unknown fields refused (400 `parameter_unknown`), so a typo such as
    # `cancel_at_period_end` cannot silently do nothing.
    model_config = ConfigDict(alias_generator=to_camel, validate_by_name=False, validate_by_alias=True,
                              extra="forbid")


class _Response(BaseModel):
    # `extra="forbid"`: a field added to the view model must be added here too (a test checks).
    model_config = ConfigDict(alias_generator=to_camel, validate_by_name=False, validate_by_alias=True,
                              serialize_by_alias=True, extra="forbid")


# --- request bodies ------------------------------------------------------------------------


class UpdateSubscriptionRequest(_Request):
    cancel_at_period_end: StrictBool = Field(
        description="true: the subscription ends when the current period ends; false: it renews again."
    )
    reason: Literal[portal.CANCEL_REASONS] | None = Field(  # type: ignore[valid-type]
        default=None, description="Why the customer cancels (Stripe's `cancellation_details[feedback]`)."
    )
    comment: str | None = Field(default=None, max_length=portal.CANCEL_COMMENT_MAX,
                                description="Free-text feedback, sent to Stripe with the cancellation.")


class SetupIntentRequest(_Request):
    return_url: str | None = Field(
        default=None, max_length=2000,
        description="Where Checkout returns to (default: this portal). `?setup=success&session_id=…` or "
        "`?setup=canceled` is appended. Must be on one of the project's allowed return origins.",
    )


class CompleteSetupRequest(_Request):
    # Its shape (`cs_…`) is checked by the service, so a malformed id is the same 404 as an
    # unknown one here and in the portal page, and never reaches Stripe.
    checkout_session_id: str = Field(min_length=1, max_length=255, examples=["cs_test_a1b2c3"],
                                     description="The `session_id` Checkout returned with (`cs_…`). An id that is "
                                     "malformed, unknown or another customer's is a 404 `resource_missing`.")


# --- responses (the view model of billstack/services/views.py, as JSON) -------------------


class BrandingOut(_Response):
    display_name: str
    logo_url: str | None
    accent_color: str
    support_email: str | None
    support_url: str | None
    terms_url: str | None
    privacy_url: str | None


class FeaturesOut(_Response):
    cancel: bool
    resume: bool
    invoice_history: bool
    payment_method_update: bool


class SubscriptionOut(_Response):
    id: str = Field(examples=["sub_1OaBcDeFgHiJkLmN"])
    status: str = Field(examples=["active"])
    product_name: str
    price_nickname: str | None
    unit_amount: int | None = Field(description="Minor units of `currency` (cents; yen for JPY).")
    currency: str = Field(examples=["usd"])
    interval: str | None = Field(examples=["month"])
    interval_count: int
    quantity: int
    cancel_at_period_end: bool
    current_period_end: str | None = Field(pattern=_ISO_Z)
    cancel_at: str | None = Field(pattern=_ISO_Z)
    canceled_at: str | None = Field(pattern=_ISO_Z)


class InvoiceOut(_Response):
    id: str = Field(examples=["in_1OaBcDeFgHiJkLmN"])
    number: str | None
    status: str = Field(examples=["paid"])
    created: str = Field(pattern=_ISO_Z)
    total: int
    amount_due: int
    currency: str
    invoice_pdf: str | None = Field(description="Stripe's PDF link.")
    hosted_invoice_url: str | None = Field(description="Stripe's hosted page, where open invoices are paid.")


class InvoicePageOut(_Response):
    invoices: list[InvoiceOut]
    has_more: bool = Field(description="Ask again with `startingAfter` = the last id for more.")


class PaymentMethodOut(_Response):
    id: str = Field(examples=["pm_1OaBcDeFgHiJkLmN"])
    brand: str | None = Field(examples=["visa"])
    last4: str | None = Field(examples=["4242"])
    exp_month: int | None
    exp_year: int | None
    is_default: bool


class PortalViewOut(_Response):
    session_id: str
    customer_id: str
    customer_email: str | None
    customer_name: str | None
    branding: BrandingOut
    features: FeaturesOut
    subscriptions: list[SubscriptionOut]
    invoices: InvoicePageOut
    payment_methods: list[PaymentMethodOut]
    return_url: str | None
    locale: str
    expires_at: str = Field(pattern=_ISO_Z)
    flow: dict[str, Any] | None
    synced_at: str | None = Field(pattern=_ISO_Z, description="When the data was last read from Stripe.")
    stale: bool = Field(description="true: Stripe could not be reached; this is saved data.")
    notices: list[str]


class CheckoutOut(_Response):
    id: str = Field(examples=["cs_test_a1b2c3"])
    url: str = Field(description="Stripe Checkout (setup mode): send the customer's browser here.")


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Invalid body or parameter (`param` names the field)."},
    401: {"model": ErrorResponse, "description": "Invalid, expired or revoked portal token."},
    403: {"model": ErrorResponse, "description": "The project turned this feature off (`feature_disabled`)."},
    404: {"model": ErrorResponse, "description": "No such object for this customer."},
    429: {"model": ErrorResponse, "description": "Too many failed token validations; see `Retry-After`."},
    503: {"model": ErrorResponse, "description": "Stripe is unavailable; nothing was changed."},
}
# Routes that write to Stripe, always with an idempotency key, which Stripe refuses (409)
# while a request with the same key is still running, or for a different request.
_STRIPE_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    409: {"model": ErrorResponse, "description": "Idempotency conflict (`idempotency_error`): the same key is in "
          "use by a request still running, or was used for a different request. Nothing was changed."},
}


# --- routes ----------------------------------------------------------------------------------


@router.get("/{token}", response_model=PortalViewOut, responses=_ERRORS, operation_id="getPortal",
            summary="The whole portal view",
            description="Customer, branding, feature switches, subscriptions, the first invoice page and "
            "payment methods. Read from BillStack's mirror (synced from Stripe on first use, kept fresh by "
            "webhooks); `?refresh=true` reads Stripe first. When Stripe is unreachable the saved data comes "
            "back with `stale: true`.")
async def get_portal(
    token: str,
    request: Request,
    refresh: bool = Query(default=False, description="true: read Stripe first instead of the saved mirror."),
) -> PortalViewOut:
    mode = "always" if refresh else "if_stale"
    view = await run_portal_call(
        token, client_ip(request), lambda db, ctx: portal.load_portal_view(db, ctx, refresh=mode),
        work=Work.STRIPE_READ,
    )
    return PortalViewOut.model_validate(view.to_json())


@router.get("/{token}/invoices", response_model=InvoicePageOut, responses=_ERRORS,
            operation_id="listInvoices", summary="A page of invoices, newest first")
async def list_invoices(
    token: str,
    request: Request,
    starting_after: str | None = Query(default=None, alias="startingAfter", max_length=255,
                                       description="The last invoice id of the previous page."),
    limit: int = Query(default=10, ge=1, le=portal.INVOICE_PAGE_MAX),
) -> InvoicePageOut:
    page = await run_portal_call(
        token, client_ip(request),
        lambda db, ctx: portal.list_invoices(db, ctx, starting_after=starting_after, limit=limit),
        work=Work.MIRROR,
    )
    return InvoicePageOut.model_validate(to_camel_json(page))


@router.patch("/{token}/subscriptions/{subscriptionId}", response_model=SubscriptionOut,
              responses=_STRIPE_WRITE_ERRORS,
              operation_id="updateSubscription", summary="Cancel at period end, or resume",
              description="Stripe is updated first, then BillStack's mirror from Stripe's answer. Send an "
              "`Idempotency-Key` header to make a retry replay the first result instead of acting again.")
async def update_subscription(
    token: str,
    subscriptionId: str,  # noqa: N803 - path name as in the public contract
    body: UpdateSubscriptionRequest,
    request: Request,
    idempotency_key: str | None = Header(default=None, alias="Idempotency-Key", min_length=1, max_length=200),
) -> SubscriptionOut:
    updated = await run_portal_call(
        token, client_ip(request),
        lambda db, ctx: portal.set_cancel_at_period_end(
            db, ctx, subscriptionId, body.cancel_at_period_end,
            reason=body.reason, comment=body.comment, idempotency_key=idempotency_key,
        ),
        work=Work.ACTION,
    )
    return SubscriptionOut.model_validate(to_camel_json(updated))


@router.post("/{token}/setup-intent", response_model=CheckoutOut, responses=_STRIPE_WRITE_ERRORS,
             operation_id="createSetupCheckout", summary="Start a payment-method update",
             description="Creates a Stripe Checkout Session in setup mode. Send the customer to `url`; "
             "Checkout returns to the portal with `?setup=success&session_id={CHECKOUT_SESSION_ID}` "
             "(then call `setup-intent/complete`) or `?setup=canceled` (nothing changed).")
async def create_setup_intent(token: str, request: Request, body: SetupIntentRequest | None = None) -> CheckoutOut:
    portal_url = f"{get_settings().resolved_public_url}/portal/{token}"
    return_url = body.return_url if body else None
    checkout = await run_portal_call(
        token, client_ip(request),
        lambda db, ctx: portal.start_payment_method_checkout(db, ctx, portal_url=portal_url, return_url=return_url),
        work=Work.ACTION,
    )
    return CheckoutOut(id=checkout.id, url=checkout.url)


@router.post("/{token}/setup-intent/complete", response_model=PaymentMethodOut, responses=_STRIPE_WRITE_ERRORS,
             operation_id="completeSetupCheckout", summary="Finish a payment-method update",
             description="Makes the card collected by a completed Checkout the default for the customer "
             "and their active subscriptions; returns it. Repeating it is harmless. A canceled or "
             "unfinished Checkout is a 400 and changes nothing.")
async def complete_setup_intent(token: str, body: CompleteSetupRequest, request: Request) -> PaymentMethodOut:
    method = await run_portal_call(
        token, client_ip(request),
        lambda db, ctx: portal.complete_payment_method_update(db, ctx, body.checkout_session_id),
        work=Work.ACTION,
    )
    return PaymentMethodOut.model_validate(to_camel_json(method))
