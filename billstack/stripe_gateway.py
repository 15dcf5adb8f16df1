"""The Stripe boundary: the only module that talks to Stripe.

One `stripe.StripeClient` per project (its own secret key, `api_base` overridable so
the emulator and real Stripe differ only by URL), network retries on, a timeout of
BILLSTACK_STRIPE_TIMEOUT_S, an idempotency key on every write, and Stripe errors mapped
to BillStack errors (a timeout is StripeUnavailable: 503, nothing changed).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import quote

import requests
import stripe

from billstack.config import get_settings, origin_of
from billstack.errors import BillStackError, StripeUnavailable
from billstack.models import Project
from billstack.secrets_box import unseal

T = TypeVar("T")


class _HttpClient(stripe.RequestsClient):
    """The SDK's default HTTP client (requests), with BILLSTACK_STRIPE_TIMEOUT_S as its
    timeout instead of 80 s, and a timed-out attempt given up instead of retried: a retry
    would wait as long again, while its caller holds one of its project's few slots for
    Stripe work (services/portal_calls.py). Failures that answer (a 5xx, a refused
    connection) are still retried with backoff, so one Stripe request takes at most the
    timeout plus a few quick retries."""

    def request(self, method: str, url: str, headers: Any, post_data: Any = None) -> Any:
        try:
            return super().request(method, url, headers, post_data)
        except stripe.APIConnectionError as exc:
            if isinstance(exc.__cause__, requests.exceptions.Timeout):
                exc.should_retry = False
            raise


@lru_cache(maxsize=256)
def _client(secret_key: str, api_base: str | None, timeout_s: float) -> stripe.StripeClient:
    kwargs: dict[str, Any] = {"max_network_retries": 2, "http_client": _HttpClient(timeout=timeout_s)}
    if api_base:
        kwargs["base_addresses"] = {"api": api_base.rstrip("/")}
    return stripe.StripeClient(secret_key, **kwargs)


def client_for(project: Project) -> stripe.StripeClient:
    settings = get_settings()
    api_base = project.stripe_api_base or settings.stripe_api_base
    return _client(unseal(project.stripe_secret_key_sealed), api_base, settings.stripe_timeout_s)


STRIPE_CHECKOUT_ORIGIN = "https://checkout.stripe.com"


def checkout_origin(project: Project) -> str:
    """Where the project's Checkout pages are (the page CSP's `form-action`): Stripe's, or its API base's (the emulator)."""
    api_base = project.stripe_api_base or get_settings().stripe_api_base
    return origin_of(api_base) if api_base and origin_of(api_base) != origin_of(stripe.DEFAULT_API_BASE) else STRIPE_CHECKOUT_ORIGIN


CHECK_TIMEOUT_S = 5.0


def check_credentials(secret_key: str, api_base: str | None) -> None:
    """One cheap read (one customer of the account) with a short timeout and no retries, to tell
    an operator at once when a key or API base cannot work. Raises BillStackError naming
    the URL: `stripe_unreachable` (param stripeApiBase) or `stripe_key_invalid` (param
    stripeSecretKey)."""
    base = (api_base or get_settings().stripe_api_base or stripe.DEFAULT_API_BASE).rstrip("/")
    client = stripe.StripeClient(
        secret_key, base_addresses={"api": base}, max_network_retries=0,
        http_client=_HttpClient(timeout=CHECK_TIMEOUT_S),
    )
    try:
        client.v1.customers.list({"limit": 1})
    except stripe.AuthenticationError as exc:
        raise BillStackError(
            f"Stripe at {base} refused the secret key ({exc.user_message or 'invalid API key'}).",
            code="stripe_key_invalid", param="stripeSecretKey", status=400,
        ) from exc
    except stripe.PermissionError:
        return  # a restricted key without this permission still authenticated
    except stripe.APIConnectionError as exc:
        cause = exc.__cause__ or exc
        raise BillStackError(
            f"Stripe could not be reached at {base}: {_reason(cause)}.",
            code="stripe_unreachable", param="stripeApiBase", status=502, type="api_error",
        ) from exc
    except stripe.StripeError as exc:
        raise BillStackError(
            f"Stripe at {base} answered with an error (HTTP {exc.http_status or '?'}): "
            f"{exc.user_message or type(exc).__name__}.",
            code="stripe_unreachable", param="stripeApiBase", status=502, type="api_error",
        ) from exc


def _reason(exc: BaseException) -> str:
    if isinstance(exc, requests.exceptions.Timeout):
        return f"no answer within {CHECK_TIMEOUT_S:g} s"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return "connection failed"
    return type(exc).__name__


def idempotency_key(*parts: str) -> str:
    """Deterministic when the caller passes the parts of a logical action, random otherwise."""
    return "bs-" + ("-".join(parts) if parts else uuid.uuid4().hex)


def call(fn: Callable[[], T]) -> T:
    """Run one Stripe call, mapping Stripe's errors onto BillStack's."""
    try:
        return fn()
    except stripe.AuthenticationError as exc:
        raise BillStackError(
            "Stripe rejected the project's secret key.", code="stripe_auth_failed", type="api_error", status=502,
            for_customers=False,
        ) from exc
    except stripe.InvalidRequestError as exc:
        if exc.code == "resource_missing":
            raise BillStackError(
                exc.user_message or "Not found in Stripe.", code="resource_missing", status=404, param=exc.param
            ) from exc
        raise BillStackError(
            exc.user_message or "Stripe rejected the request.", code=exc.code or "stripe_invalid_request", param=exc.param,
            for_customers=False,
        ) from exc
    except stripe.IdempotencyError as exc:
        raise BillStackError(
            "This Idempotency-Key was already used for a different request, or that request is still running.",
            code="idempotency_error",
            status=409,
        ) from exc
    except stripe.CardError as exc:
        raise BillStackError(exc.user_message or "The card was declined.", code=exc.code or "card_declined", type="card_error", status=402) from exc
    except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as exc:
        raise StripeUnavailable() from exc
    except stripe.StripeError as exc:
        raise StripeUnavailable() from exc


def create_customer(project: Project, *, email: str | None, name: str | None, key: str) -> stripe.Customer:
    params: dict[str, Any] = {}
    if email:
        params["email"] = email
    if name:
        params["name"] = name
    client = client_for(project)
    return call(lambda: client.v1.customers.create(params, {"idempotency_key": idempotency_key("cus", key)}))


def retrieve_customer(project: Project, stripe_customer_id: str) -> stripe.Customer:
    client = client_for(project)
    return call(lambda: client.v1.customers.retrieve(stripe_customer_id))


# --- the portal's reads -----------------------------------------------------------------
# They return plain JSON dicts (as Stripe sent them, and as webhook payloads arrive), so the
# mirror code has one input shape. Lists are read to the end inside `call`, so a failure
# on a later page maps like one on the first.

# Product names live on the product, two expansions below each subscription item; a plan
# change waiting for the period end lives on the subscription's schedule; a discount's terms
# on its coupon and the code a customer typed on its promotion code (the card shows both).
_SUBSCRIPTION_EXPAND = ["items.data.price.product", "schedule", "discounts.source.coupon", "discounts.promotion_code"]
_PAGE = 100
StripeDict = dict[str, Any]


def plain(obj: stripe.StripeObject) -> StripeDict:
    return obj.to_dict()


def _current(obj: stripe.StripeObject, retrieve: Callable[[], stripe.StripeObject]) -> StripeDict:
    """A write's answer as current state. A replayed idempotent request returns the
    original answer, which may be history by now (e.g. resumed since), so re-read."""
    response = obj.last_response
    if response is not None and response.headers.get("idempotent-replayed") == "true":
        return plain(call(retrieve))
    return plain(obj)


def _get(project: Project, path: str, params: dict[str, Any] | None = None) -> StripeDict:
    """GET as Stripe's JSON. The mirror only reads plain dicts, so building SDK objects just
    to turn them back into dicts would be wasted (it was most of a backfill's CPU time)."""
    client = client_for(project)
    return call(lambda: client.raw_request("get", path, **(params or {}))).data


def _get_all(project: Project, path: str, params: dict[str, Any]) -> list[StripeDict]:
    """Every item of a list endpoint, 100 per page."""
    client = client_for(project)

    def read_all() -> list[StripeDict]:
        items: list[StripeDict] = []
        query = {**params, "limit": _PAGE}
        while True:
            page = client.raw_request("get", path, **query).data
            items += page["data"]
            if not page.get("has_more") or not page["data"]:
                return items
            query["starting_after"] = page["data"][-1]["id"]

    return call(read_all)


def _path(*parts: str) -> str:
    return "/v1/" + "/".join(quote(part, safe="") for part in parts)


def list_subscriptions(project: Project, stripe_customer_id: str) -> list[StripeDict]:
    """All of the customer's subscriptions, canceled ones included, products expanded."""
    params: dict[str, Any] = {
        "customer": stripe_customer_id,
        "status": "all",
        "expand": ["data." + path for path in _SUBSCRIPTION_EXPAND],
    }
    return _get_all(project, _path("subscriptions"), params)


def retrieve_subscription(project: Project, subscription_id: str) -> StripeDict:
    return _get(project, _path("subscriptions", subscription_id), {"expand": _SUBSCRIPTION_EXPAND})


def list_invoices(project: Project, stripe_customer_id: str) -> list[StripeDict]:
    return _get_all(project, _path("invoices"), {"customer": stripe_customer_id})


def list_card_payment_methods(project: Project, stripe_customer_id: str) -> list[StripeDict]:
    return _get_all(project, _path("customers", stripe_customer_id, "payment_methods"), {"type": "card"})


def retrieve_customer_data(project: Project, stripe_customer_id: str) -> StripeDict:
    """The customer as a plain dict (a deleted customer comes back with `deleted: true`)."""
    return _get(project, _path("customers", stripe_customer_id))


def retrieve_invoice(project: Project, invoice_id: str) -> StripeDict:
    return _get(project, _path("invoices", invoice_id))


def list_customers_page(project: Project, *, starting_after: str | None = None) -> tuple[list[StripeDict], bool]:
    """One page (up to 100) of the account's customers, newest first; and whether more follow."""
    params: dict[str, Any] = {"limit": _PAGE}
    if starting_after:
        params["starting_after"] = starting_after
    page = _get(project, _path("customers"), params)
    return list(page["data"]), bool(page.get("has_more"))


def retrieve_checkout_session(project: Project, checkout_session_id: str) -> StripeDict:
    client = client_for(project)
    params: dict[str, Any] = {"expand": ["setup_intent"]}
    return plain(call(lambda: client.v1.checkout.sessions.retrieve(checkout_session_id, params)))


# --- the portal's writes (each with the caller's idempotency key) -----------------------


def set_cancel_at_period_end(
    project: Project,
    subscription_id: str,
    cancel: bool,
    *,
    key: str,
    feedback: str | None = None,
    comment: str | None = None,
) -> StripeDict:
    params: dict[str, Any] = {"cancel_at_period_end": cancel, "expand": _SUBSCRIPTION_EXPAND}
    details = {k: v for k, v in (("feedback", feedback), ("comment", comment)) if v}
    if cancel and details:
        params["cancellation_details"] = details
    return _update_subscription(project, subscription_id, params, key)


def cancel_subscription_now(
    project: Project, subscription_id: str, *, prorate: bool, key: str, feedback: str | None = None,
    comment: str | None = None,
) -> StripeDict:
    """End it now (DELETE /v1/subscriptions/{id}; no resume). A prorated credit is invoiced at once
    (`invoice_now`): nothing renews to carry a pending item, so it goes to the customer's balance."""
    params: dict[str, Any] = {"prorate": prorate, "expand": _SUBSCRIPTION_EXPAND}
    params.update({"invoice_now": True} if prorate else {})
    if details := {k: v for k, v in (("feedback", feedback), ("comment", comment)) if v}:
        params["cancellation_details"] = details
    client = client_for(project)
    canceled = call(lambda: client.v1.subscriptions.cancel(subscription_id, params, {"idempotency_key": key}))
    expand: dict[str, Any] = {"expand": _SUBSCRIPTION_EXPAND}
    return _current(canceled, lambda: client.v1.subscriptions.retrieve(subscription_id, expand))


def apply_retention_coupon(project: Project, subscription_id: str, coupon_id: str, *, key: str) -> StripeDict:
    """The retention offer accepted: the coupon as the discount, a scheduled cancel undone."""
    params = {"discounts": [{"coupon": coupon_id}], "cancel_at_period_end": False, "expand": _SUBSCRIPTION_EXPAND}
    return _update_subscription(project, subscription_id, params, key)


def retrieve_coupon(project: Project, coupon_id: str) -> StripeDict:
    """A coupon's terms (`percent_off` or `amount_off` + `currency`, `duration`, `valid`)."""
    return _get(project, _path("coupons", coupon_id))


def set_pause_collection(project: Project, subscription_id: str, pause: dict[str, Any] | None, *, key: str) -> StripeDict:
    """Pause collection (`pause`: `behavior`, optional `resumes_at`), or resume it (None: Stripe
    clears `pause_collection` when sent "")."""
    params = {"pause_collection": pause or "", "expand": _SUBSCRIPTION_EXPAND}
    return _update_subscription(project, subscription_id, params, key)


def find_promotion_code(project: Project, code: str) -> StripeDict | None:
    """The code a customer typed (Stripe matches any case): an active one, else an inactive one
    (redeeming it gets Stripe's refusal, which says why); None when Stripe knows no such code."""
    found = _get(project, _path("promotion_codes"), {"code": code, "limit": 10})["data"]
    return next((promo for promo in found if promo.get("active")), found[0] if found else None)


def apply_promotion_code(project: Project, subscription_id: str, promotion_code_id: str, *, key: str) -> StripeDict:
    """The code's coupon replaces the subscription's discount. Stripe's refusal (inactive, expired,
    used up, first-time customers only) is about what the customer typed: theirs to read."""
    params = {"discounts": [{"promotion_code": promotion_code_id}], "expand": _SUBSCRIPTION_EXPAND}
    try:
        return _update_subscription(project, subscription_id, params, key)
    except BillStackError as exc:
        if exc.status != 400:
            raise
        raise dataclasses.replace(exc, param="code", for_customers=True) from exc


def set_subscription_default_payment_method(
    project: Project, subscription_id: str, payment_method_id: str, *, key: str
) -> StripeDict:
    params: dict[str, Any] = {"default_payment_method": payment_method_id, "expand": _SUBSCRIPTION_EXPAND}
    return _update_subscription(project, subscription_id, params, key)


def set_customer_default_payment_method(
    project: Project, stripe_customer_id: str, payment_method_id: str, *, key: str
) -> StripeDict:
    params: dict[str, Any] = {"invoice_settings": {"default_payment_method": payment_method_id}}
    client = client_for(project)
    updated = call(lambda: client.v1.customers.update(stripe_customer_id, params, {"idempotency_key": key}))
    return _current(updated, lambda: client.v1.customers.retrieve(stripe_customer_id))


def _update_subscription(
    project: Project, subscription_id: str, params: dict[str, Any], key: str
) -> StripeDict:
    client = client_for(project)
    updated = call(lambda: client.v1.subscriptions.update(subscription_id, params, {"idempotency_key": key}))
    expand: dict[str, Any] = {"expand": _SUBSCRIPTION_EXPAND}
    return _current(updated, lambda: client.v1.subscriptions.retrieve(subscription_id, expand))


def retrieve_price(project: Project, price_id: str) -> StripeDict:
    """A price with its product expanded (a plan the portal may offer)."""
    return _get(project, _path("prices", price_id), {"expand": ["product"]})


def preview_subscription_change(
    project: Project,
    stripe_customer_id: str,
    subscription_id: str,
    *,
    item_id: str,
    price_id: str,
    quantity: int,
    proration_behavior: str,
    proration_date: int,
) -> StripeDict:
    """Stripe's invoice preview for switching one item (`POST /v1/invoices/create_preview`):
    with `always_invoice` the invoice the change creates now; otherwise the next invoice,
    with the prorations `create_prorations` leaves for it."""
    params: dict[str, Any] = {
        "customer": stripe_customer_id,
        "subscription": subscription_id,
        "subscription_details": {
            "items": [{"id": item_id, "price": price_id, "quantity": quantity}],
            "proration_behavior": proration_behavior,
            "proration_date": proration_date,
        },
    }
    client = client_for(project)
    return plain(call(lambda: client.v1.invoices.create_preview(params)))


def change_subscription_price(
    project: Project,
    subscription_id: str,
    *,
    item_id: str,
    price_id: str,
    quantity: int,
    proration_behavior: str,
    proration_date: int | None,
    key: str,
) -> StripeDict:
    """Switch one item's price and quantity now. `error_if_incomplete`: a declined charge is a
    CardError (402) and Stripe leaves the subscription as it was."""
    params: dict[str, Any] = {
        "items": [{"id": item_id, "price": price_id, "quantity": quantity}],
        "proration_behavior": proration_behavior,
        "payment_behavior": "error_if_incomplete",
        "expand": _SUBSCRIPTION_EXPAND,
    }
    if proration_date is not None:
        params["proration_date"] = proration_date
    return _update_subscription(project, subscription_id, params, key)


def schedule_subscription_change(
    project: Project,
    subscription_id: str,
    *,
    current: tuple[str, int],
    new: tuple[str, int],
    period_end: int,
    key: str,
) -> StripeDict:
    """Apply (price, quantity) `new` at `period_end`: a subscription schedule made from the
    subscription, its first phase (`current`) ending then and a second phase of one period,
    after which the schedule releases the subscription. Returns the schedule."""
    client = client_for(project)
    schedule = call(lambda: client.v1.subscription_schedules.create(
        {"from_subscription": subscription_id}, {"idempotency_key": idempotency_key(key, "create")}))
    phases = [
        {"items": [{"price": current[0], "quantity": current[1]}],
         "start_date": schedule.phases[0].start_date, "end_date": period_end},
        {"items": [{"price": new[0], "quantity": new[1]}], "iterations": 1},
    ]
    params: dict[str, Any] = {"phases": phases, "end_behavior": "release", "proration_behavior": "none"}
    return plain(call(lambda: client.v1.subscription_schedules.update(
        schedule.id, params, {"idempotency_key": idempotency_key(key, "phases")})))


def release_subscription_schedule(project: Project, schedule_id: str, *, key: str) -> StripeDict:
    """End the schedule and leave the subscription as it is now (keeps the current plan)."""
    client = client_for(project)
    return plain(call(lambda: client.v1.subscription_schedules.release(schedule_id, {}, {"idempotency_key": key})))


def retrieve_subscription_schedule(project: Project, schedule_id: str) -> StripeDict:
    return _get(project, _path("subscription_schedules", schedule_id))


def update_customer_details(project: Project, stripe_customer_id: str, params: dict[str, Any], *, key: str) -> StripeDict:
    """Write billing details (`name`, `email`, `phone`, `address`) to the Stripe customer."""
    client = client_for(project)
    updated = call(lambda: client.v1.customers.update(stripe_customer_id, params, {"idempotency_key": key}))
    return _current(updated, lambda: client.v1.customers.retrieve(stripe_customer_id))


def list_tax_ids(project: Project, stripe_customer_id: str) -> list[StripeDict]:
    return _get_all(project, _path("customers", stripe_customer_id, "tax_ids"), {})


def create_tax_id(project: Project, stripe_customer_id: str, *, tax_type: str, value: str, key: str) -> StripeDict:
    client = client_for(project)
    params: dict[str, Any] = {"type": tax_type, "value": value}
    return plain(call(lambda: client.v1.customers.tax_ids.create(stripe_customer_id, params, {"idempotency_key": key})))


def delete_tax_id(project: Project, stripe_customer_id: str, tax_id: str) -> None:
    client = client_for(project)
    call(lambda: client.v1.customers.tax_ids.delete(stripe_customer_id, tax_id))


def detach_payment_method(project: Project, payment_method_id: str, *, key: str) -> StripeDict:
    client = client_for(project)
    return plain(call(lambda: client.v1.payment_methods.detach(payment_method_id, {}, {"idempotency_key": key})))


def preview_next_invoice(project: Project, stripe_customer_id: str, subscription_id: str) -> StripeDict:
    """The subscription's next invoice as Stripe would issue it now (`create_preview`)."""
    client = client_for(project)
    params: dict[str, Any] = {"customer": stripe_customer_id, "subscription": subscription_id}
    return plain(call(lambda: client.v1.invoices.create_preview(params)))


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
) -> StripeDict:
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
    client = client_for(project)
    return plain(call(lambda: client.v1.checkout.sessions.create(params, {"idempotency_key": key})))


# --- webhook endpoints (operator setup) ---------------------------------------------------


def create_webhook_endpoint(project: Project, *, url: str, events: list[str], key: str) -> StripeDict:
    """Creates the endpoint; Stripe returns its signing `secret` in this answer only."""
    params: dict[str, Any] = {
        "url": url,
        "enabled_events": events,
        "description": f"BillStack Portal ({project.id})",
        "metadata": {"billstack_project": project.id},
    }
    client = client_for(project)
    return plain(call(lambda: client.v1.webhook_endpoints.create(params, {"idempotency_key": key})))


def delete_webhook_endpoint(project: Project, endpoint_id: str) -> None:
    client = client_for(project)
    call(lambda: client.v1.webhook_endpoints.delete(endpoint_id))


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
