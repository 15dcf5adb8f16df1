"""Portal API (DESIGN.md §4.3): the portal's data and actions, authenticated by the token.

Thin: each route hands one service of billstack/services/portal/ — the same functions
the Reflex page calls — to its `PortalCall` (api_routes/deps.py: validates the token, runs
the service within the per-project and per-session limits, off the event loop) and
answers with the view model it returns (billstack/services/views.py, camelCase). Ids are
Stripe's own (`sub_…`, `in_…`, `pm_…`, `cs_…`, `txi_…`); one that is not the token customer's
is a 404, an action or billing-details field the project turned off a 403, Stripe
unreachable or too busy a 503 with nothing changed. Removals answer `{"id", "deleted": true}`
as Stripe's do.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, Header, Query
from pydantic import ConfigDict, Field, StrictBool, StrictInt, StrictStr

from api_routes.deps import PortalCall
from api_routes.schemas import RequestBody, error_responses
from billstack import routes
from billstack.config import get_settings
from billstack.errors import invalid
from billstack.services import plan_catalog, portal
from billstack.services.portal import billing_details
from billstack.services.portal.billing_details import AddressUpdate, DetailsUpdate
from billstack.services.portal.pause import PauseRequest
from billstack.services.portal_calls import Work
from billstack.services.views import (
    CANCEL_REASONS,
    PAUSE_BEHAVIORS,
    TAX_ID_TYPES,
    CheckoutRedirect,
    CustomerDetails,
    DeletedView,
    InvoicePage,
    PaymentMethodView,
    PlanChangePreview,
    PlanList,
    PortalView,
    SubscriptionView,
    TaxIdView,
)

router = APIRouter(prefix=routes.PORTAL_API_PREFIX, tags=["Portal"])

# Stripe's header for a retry-safe write: a retry with the same key gets the first answer again.
_IdempotencyKey = Header(default=None, alias="Idempotency-Key", min_length=1, max_length=200)


# --- request bodies ------------------------------------------------------------------------


def _quantity_field() -> Any:
    return Field(default=None, ge=1, le=plan_catalog.QUANTITY_LIMIT,
                 description="The new quantity (default: the current one). Another quantity than the current "
                 "needs quantity changes on, within the rule `GET …/plans` returns.")


_CANCEL_FIELDS = ("cancel_at_period_end", "reason", "comment")
_PLAN_FIELDS = ("price_id", "quantity", "proration_date")


class UpdateSubscriptionRequest(RequestBody):
    # OpenAPI: one of the two intents (checked by `intent`: 400 naming the field).
    model_config = ConfigDict(**RequestBody.model_config, json_schema_extra={
        "oneOf": [{"required": ["cancelAtPeriodEnd"]}, {"required": ["priceId"]}]})

    # Cancel or resume …
    cancel_at_period_end: StrictBool | None = Field(
        default=None, description="true: the subscription ends when the current period ends; false: it renews again."
    )
    reason: Literal[CANCEL_REASONS] | None = Field(  # type: ignore[valid-type]
        default=None, description="Why the customer cancels (Stripe's `cancellation_details[feedback]`)."
    )
    comment: str | None = Field(default=None, max_length=portal.CANCEL_COMMENT_MAX,
                                description="Free-text feedback, sent to Stripe with the cancellation.")
    # … or change plan.
    price_id: str | None = Field(default=None, pattern=plan_catalog.PRICE_ID_PATTERN,
                                 examples=["price_1OaBcDeFgHiJkLmN"],
                                 description="Change plan: one of the prices `GET …/plans` lists.")
    quantity: StrictInt | None = _quantity_field()
    proration_date: StrictInt | None = Field(
        default=None, ge=0, description="Unix seconds: the preview's `prorationDate`, so the charge equals the "
        "preview. Within the current period and not in the future. Default: now.")

    def intent(self) -> Literal["cancel", "plan"]:
        """Cancel/resume or change plan: exactly one (400 otherwise, nothing done)."""
        sent = self.model_fields_set
        cancel, plan = sent & set(_CANCEL_FIELDS), sent & set(_PLAN_FIELDS)
        if cancel and plan:
            raise invalid("Send either cancelAtPeriodEnd (cancel or resume) or priceId (change plan), not both.",
                          param="priceId", code="parameter_conflict")
        if plan and self.price_id is None:
            raise invalid("Missing required param: priceId.", param="priceId", code="parameter_missing")
        if plan:
            return "plan"
        if self.cancel_at_period_end is None:
            raise invalid("Missing required param: cancelAtPeriodEnd (or priceId to change plan).",
                          param="cancelAtPeriodEnd", code="parameter_missing")
        return "cancel"


class PreviewPlanChangeRequest(RequestBody):
    price_id: str = Field(pattern=plan_catalog.PRICE_ID_PATTERN, examples=["price_1OaBcDeFgHiJkLmN"],
                          description="The new plan: one of the prices `GET …/plans` lists.")
    quantity: StrictInt | None = _quantity_field()


class PauseRequestBody(RequestBody):
    behavior: Literal[PAUSE_BEHAVIORS] = Field(  # type: ignore[valid-type]
        default="void", description="What happens to invoices while paused (Stripe's `pause_collection.behavior`): "
        "`void` (not owed) or `mark_uncollectible` (owed, not charged).")
    resumes_at: StrictStr | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$", examples=["2026-06-01"],
                                         description="YYYY-MM-DD, after today (UTC): payments resume by themselves "
                                         "at that day's start (UTC). null: until the customer resumes.")

    def request(self) -> PauseRequest:
        try:
            resumes_on = date.fromisoformat(self.resumes_at) if self.resumes_at else None
        except ValueError:
            raise invalid(f"resumesAt is not a day: {self.resumes_at}.", param="resumesAt") from None
        return PauseRequest(behavior=self.behavior, resumes_on=resumes_on)


class PromotionCodeRequest(RequestBody):
    code: StrictStr = Field(min_length=1, max_length=portal.PROMOTION_CODE_MAX, examples=["SPRING20"],
                            description="The code as the customer typed it (any case).")


class EmptyRequest(RequestBody):
    """No fields: an action whose subject is in the path (anything sent is a 400)."""


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


class AddressRequest(RequestBody):
    line1: StrictStr | None = Field(default=None, max_length=billing_details.ADDRESS_LINE_MAX)
    line2: StrictStr | None = Field(default=None, max_length=billing_details.ADDRESS_LINE_MAX)
    city: StrictStr | None = Field(default=None, max_length=billing_details.ADDRESS_LINE_MAX)
    state: StrictStr | None = Field(default=None, max_length=billing_details.ADDRESS_LINE_MAX,
                                    description="State, county, province or region.")
    postal_code: StrictStr | None = Field(default=None, max_length=billing_details.POSTAL_CODE_MAX)
    country: StrictStr | None = Field(default=None, max_length=2, examples=["DE"],
                                      description="ISO 3166-1 alpha-2 (any case); Stripe decides whether it exists.")

    def update(self) -> AddressUpdate:
        return AddressUpdate(line1=self.line1, line2=self.line2, city=self.city, state=self.state,
                             postal_code=self.postal_code, country=self.country)


class UpdateCustomerRequest(RequestBody):
    name: StrictStr | None = Field(default=None, max_length=billing_details.NAME_MAX)
    email: StrictStr | None = Field(default=None, max_length=320, examples=["ada@example.com"])
    phone: StrictStr | None = Field(default=None, max_length=billing_details.PHONE_MAX,
                                    description="Up to 20 characters; \"\" removes it.")
    address: AddressRequest | None = Field(
        default=None, description="The whole address: a field left out or \"\" is cleared.")

    def update(self) -> DetailsUpdate:
        return DetailsUpdate(name=self.name, email=self.email, phone=self.phone,
                             address=self.address.update() if self.address else None)


class AddTaxIdRequest(RequestBody):
    type: Literal[TAX_ID_TYPES] = Field(examples=["eu_vat"],  # type: ignore[valid-type]
                                        description="Stripe's tax id type; the ones the portal offers.")
    value: StrictStr = Field(min_length=1, max_length=billing_details.TAX_ID_VALUE_MAX, examples=["DE123456789"],
                             description="Checked by Stripe for the type's format (400 `tax_id_invalid`).")


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
# A plan change charges the card now (always_invoice, a new billing interval).
_PLAN_WRITE_ERRORS = {
    **_STRIPE_WRITE_ERRORS,
    **error_responses({402: "The card was declined (`card_error`, Stripe's message); the plan was not changed."}),
}


# --- routes ----------------------------------------------------------------------------------


@router.get("/{token}", response_model=PortalView, responses=_ERRORS, operation_id="getPortal",
            summary="The whole portal view",
            description="Customer (with `customer.details`: name, email, phone, address, tax IDs), branding, "
            "feature switches, subscriptions (each with its `nextInvoice`: Stripe's preview of the next payment, "
            "null when it will not renew), the first invoice page and payment methods. Read from BillStack's mirror (synced from Stripe on first use, kept fresh by "
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
              responses=_PLAN_WRITE_ERRORS,
              operation_id="updateSubscription", summary="Cancel at period end, resume, or change plan",
              description="Either `cancelAtPeriodEnd` (with `reason`, `comment`: cancel, or resume) or "
              "`priceId` (with `quantity`, `prorationDate`: change plan) — both or neither is a 400. "
              "A cancel follows the project's `cancellation` settings (`GET /{token}`): at the period end, or, in "
              "`immediately` mode, now (`status: canceled`, unused time credited with `create_prorations`; it "
              "cannot be resumed). `reason` must be one of `cancellation.reasons` (400 otherwise; with none "
              "offered any reason is refused); `comment` ≤ 500 characters; both land in Stripe's "
              "`cancellation_details`. "
              "A plan change applies now, prorated as the project says (a declined charge is a 402 and changes "
              "nothing), or, when the project defers such a change, at the period end (`scheduledChange`). "
              "Stripe is updated first, then BillStack's mirror from Stripe's answer. Send an "
              "`Idempotency-Key` header to make a retry replay the first result instead of acting again.")
async def update_subscription(
    call: PortalCall,
    subscriptionId: str,  # noqa: N803 - path name as in the public contract
    body: UpdateSubscriptionRequest,
    idempotency_key: str | None = _IdempotencyKey,
) -> SubscriptionView:
    if body.intent() == "plan":
        assert body.price_id is not None  # intent() checked it
        price_id = body.price_id
        return await call(
            lambda db, ctx: portal.change_plan(
                db, ctx, subscriptionId, price_id, body.quantity,
                proration_date=body.proration_date, idempotency_key=idempotency_key,
            ),
            work=Work.ACTION,
        )
    cancel = bool(body.cancel_at_period_end)
    return await call(
        lambda db, ctx: portal.set_cancel_at_period_end(
            db, ctx, subscriptionId, cancel,
            reason=body.reason, comment=body.comment, idempotency_key=idempotency_key,
        ),
        work=Work.ACTION,
    )


@router.get("/{token}/subscriptions/{subscriptionId}/plans", response_model=PlanList, responses=_ERRORS,
            operation_id="listPlans", summary="The plans a subscription can change to",
            description="The project's plan prices in its order (the subscription's own marked `current`) and "
            "the quantity rule. Read from BillStack (no Stripe call). 403 when plan changes are off; 400 "
            "`subscription_not_live` for an ended subscription.")
async def list_plans(call: PortalCall, subscriptionId: str) -> PlanList:  # noqa: N803
    return await call(lambda db, ctx: portal.list_plans(db, ctx, subscriptionId), work=Work.MIRROR)


@router.post("/{token}/subscriptions/{subscriptionId}/preview", response_model=PlanChangePreview,
             responses=_ERRORS, operation_id="previewPlanChange", summary="What a plan change costs",
             description="Stripe's invoice preview for the change, changing nothing: what is charged today "
             "(`amountDue`, its `lines`), the next invoice (`nextAmount` on `nextDate`), and whether the change "
             "applies `now` or at the `period_end`. PATCH the subscription with the returned `prorationDate` "
             "to be charged exactly `amountDue`.")
async def preview_plan_change(
    call: PortalCall, subscriptionId: str, body: PreviewPlanChangeRequest  # noqa: N803
) -> PlanChangePreview:
    return await call(
        lambda db, ctx: portal.preview_plan_change(db, ctx, subscriptionId, body.price_id, body.quantity),
        work=Work.STRIPE_READ,
    )


@router.delete("/{token}/subscriptions/{subscriptionId}/scheduled-change", response_model=SubscriptionView,
               responses=_STRIPE_WRITE_ERRORS, operation_id="keepCurrentPlan",
               summary="Keep the current plan (drop the change waiting for the period end)",
               description="Releases the subscription schedule that would change the plan at the period end. "
               "400 `no_scheduled_change` when nothing is waiting.")
async def keep_current_plan(
    call: PortalCall,
    subscriptionId: str,  # noqa: N803
    idempotency_key: str | None = _IdempotencyKey,
) -> SubscriptionView:
    return await call(
        lambda db, ctx: portal.keep_current_plan(db, ctx, subscriptionId, idempotency_key=idempotency_key),
        work=Work.ACTION,
    )


@router.post("/{token}/subscriptions/{subscriptionId}/pause", response_model=SubscriptionView,
             responses=_STRIPE_WRITE_ERRORS, operation_id="pausePayments", summary="Pause payments",
             description="Sets Stripe's `pause_collection`: the subscription stays active, its invoices are "
             "voided (`void`, the default) or marked uncollectible until `resumesAt` or a resume. 403 when "
             "pausing is off (`features.pause`); 400 for a day not after today or another behavior; 400 "
             "`subscription_not_live` for an ended subscription.")
async def pause_payments(
    call: PortalCall,
    subscriptionId: str,  # noqa: N803
    body: PauseRequestBody | None = None,
    idempotency_key: str | None = _IdempotencyKey,
) -> SubscriptionView:
    request = body.request() if body else PauseRequest()
    return await call(
        lambda db, ctx: portal.pause_payments(db, ctx, subscriptionId, request, idempotency_key=idempotency_key),
        work=Work.ACTION,
    )


@router.delete("/{token}/subscriptions/{subscriptionId}/pause", response_model=SubscriptionView,
               responses=_STRIPE_WRITE_ERRORS, operation_id="resumePayments", summary="Resume payments",
               description="Clears Stripe's `pause_collection`: the next invoice is charged as usual. Harmless "
               "when not paused. 403 when pausing is off (`features.pause`).")
async def resume_payments(
    call: PortalCall,
    subscriptionId: str,  # noqa: N803
    idempotency_key: str | None = _IdempotencyKey,
) -> SubscriptionView:
    return await call(
        lambda db, ctx: portal.resume_payments(db, ctx, subscriptionId, idempotency_key=idempotency_key),
        work=Work.ACTION,
    )


@router.post("/{token}/subscriptions/{subscriptionId}/promotion-code", response_model=SubscriptionView,
             responses=_STRIPE_WRITE_ERRORS, operation_id="applyPromotionCode", summary="Apply a promotion code",
             description="Looks the code up in Stripe and redeems it on the subscription (it replaces the "
             "subscription's discount); returns the subscription with its `discount`. A code Stripe refuses "
             "(unknown, inactive, expired, used up, first-time customers only) is a 400 with Stripe's message "
             "(`promotion_code_invalid` or Stripe's own code, param `code`). 403 when promotion codes are off "
             "(`features.promotionCode`).")
async def apply_promotion_code(
    call: PortalCall,
    subscriptionId: str,  # noqa: N803
    body: PromotionCodeRequest,
    idempotency_key: str | None = _IdempotencyKey,
) -> SubscriptionView:
    return await call(
        lambda db, ctx: portal.apply_promotion_code(db, ctx, subscriptionId, body.code,
                                                    idempotency_key=idempotency_key),
        work=Work.ACTION,
    )


@router.post("/{token}/subscriptions/{subscriptionId}/retention", response_model=SubscriptionView,
             responses={**_STRIPE_WRITE_ERRORS, **error_responses({409: "No retention offer applies "
                        "(`retention_offer_unavailable`): the project makes none, or the subscription already "
                        "has a discount. Nothing was changed."})},
             operation_id="acceptRetentionOffer", summary="Accept the retention offer",
             description="Applies the project's retention coupon (`cancellation.retention` in `GET /{token}`) "
             "to the subscription instead of cancelling it, and undoes a cancel scheduled at the period end; "
             "returns the subscription with its `discount`. The body is empty (`{}` or none). Offered once: "
             "a subscription with a discount is not offered it again (409).")
async def accept_retention_offer(
    call: PortalCall,
    subscriptionId: str,  # noqa: N803
    body: EmptyRequest | None = None,
    idempotency_key: str | None = _IdempotencyKey,
) -> SubscriptionView:
    return await call(
        lambda db, ctx: portal.accept_retention_offer(db, ctx, subscriptionId, idempotency_key=idempotency_key),
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


# --- billing details and the card wallet -----------------------------------------------------
_REMOVE_CARD_ERRORS = {
    **_STRIPE_WRITE_ERRORS,
    **error_responses({409: "`payment_method_in_use`: the card pays for an active subscription; choose another "
                            "default card first. Nothing was changed. (Or `idempotency_error`.)"}),
}


@router.patch("/{token}/customer", response_model=CustomerDetails, responses=_STRIPE_WRITE_ERRORS,
              operation_id="updateCustomerDetails", summary="Update the billing details",
              description="Any of `name`, `email`, `phone`, `address` (the whole address). Each field sent must "
              "be one the project lets customers edit (`features.customerUpdate`), else 403 `feature_disabled`. "
              "A bad value is a 400 whose `param` names the field (`email`, `address.country`). Stripe is "
              "updated first, then BillStack's mirror; returns the details as they are now.")
async def update_customer_details(
    call: PortalCall, body: UpdateCustomerRequest, idempotency_key: str | None = _IdempotencyKey
) -> CustomerDetails:
    update = body.update()
    return await call(
        lambda db, ctx: portal.update_customer_details(db, ctx, update, idempotency_key=idempotency_key),
        work=Work.ACTION,
    )


@router.post("/{token}/tax-ids", response_model=TaxIdView, status_code=201, responses=_STRIPE_WRITE_ERRORS,
             operation_id="addTaxId", summary="Add a tax ID",
             description="Adds a tax ID (e.g. an EU VAT number) to the customer in Stripe, which prints it on "
             "invoices. 400 `tax_id_invalid` (param `value`) when Stripe refuses its format; 403 when tax IDs "
             "are not in `features.customerUpdate`.")
async def add_tax_id(
    call: PortalCall, body: AddTaxIdRequest, idempotency_key: str | None = _IdempotencyKey
) -> TaxIdView:
    return await call(
        lambda db, ctx: portal.add_tax_id(db, ctx, body.type, body.value, idempotency_key=idempotency_key),
        work=Work.ACTION,
    )


# A deletion in Stripe takes no idempotency key, so it never answers 409.
@router.delete("/{token}/tax-ids/{taxIdId}", response_model=DeletedView, responses=_ERRORS,
               operation_id="removeTaxId", summary="Remove a tax ID",
               description="Deletes the customer's tax ID in Stripe, then in BillStack's mirror; answers "
               "`{\"id\", \"deleted\": true}` as Stripe does. Another customer's id is a 404.")
async def remove_tax_id(call: PortalCall, taxIdId: str) -> DeletedView:  # noqa: N803
    await call(lambda db, ctx: portal.remove_tax_id(db, ctx, taxIdId), work=Work.ACTION)
    return DeletedView(id=taxIdId)


@router.post("/{token}/payment-methods/{paymentMethodId}/default", response_model=PaymentMethodView,
             responses=_STRIPE_WRITE_ERRORS, operation_id="setDefaultPaymentMethod",
             summary="Make a saved card the default",
             description="The card becomes the customer's default and that of each active subscription that "
             "had a default card of its own. 403 when payment-method updates are off; another customer's card "
             "is a 404.")
async def set_default_payment_method(
    call: PortalCall, paymentMethodId: str, idempotency_key: str | None = _IdempotencyKey  # noqa: N803
) -> PaymentMethodView:
    return await call(
        lambda db, ctx: portal.set_default_payment_method(db, ctx, paymentMethodId, idempotency_key=idempotency_key),
        work=Work.ACTION,
    )


@router.delete("/{token}/payment-methods/{paymentMethodId}", response_model=DeletedView,
               responses=_REMOVE_CARD_ERRORS, operation_id="removePaymentMethod", summary="Remove a saved card",
               description="Detaches the card from the customer in Stripe (then drops it from BillStack's mirror); "
               "answers `{\"id\", \"deleted\": true}`. The card an active "
               "subscription is charged to (the default) is refused with 409 `payment_method_in_use`. 403 when "
               "removing cards is off (`features.paymentMethodRemove`); another customer's card is a 404 and "
               "is left untouched.")
async def remove_payment_method(
    call: PortalCall, paymentMethodId: str, idempotency_key: str | None = _IdempotencyKey  # noqa: N803
) -> DeletedView:
    await call(
        lambda db, ctx: portal.remove_payment_method(db, ctx, paymentMethodId, idempotency_key=idempotency_key),
        work=Work.ACTION,
    )
    return DeletedView(id=paymentMethodId)
