"""The gateway's core: one client per project, the error mapping every call goes through,
idempotency keys, and the plain-JSON read helpers the other gateway modules share."""

from __future__ import annotations

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


# --- plain JSON reads ---------------------------------------------------------------------
# They return plain JSON dicts (as Stripe sent them, and as webhook payloads arrive), so the
# mirror code has one input shape. Lists are read to the end inside `call`, so a failure
# on a later page maps like one on the first.

# Product names live on the product, two expansions below each subscription item; a plan
# change waiting for the period end lives on the subscription's schedule; a discount's terms
# on its coupon and the code a customer typed on its promotion code (the card shows both).
SUBSCRIPTION_EXPAND = ["items.data.price.product", "schedule", "discounts.source.coupon", "discounts.promotion_code"]
PAGE = 100
StripeDict = dict[str, Any]


def plain(obj: stripe.StripeObject) -> StripeDict:
    return obj.to_dict()


def current(obj: stripe.StripeObject, retrieve: Callable[[], stripe.StripeObject]) -> StripeDict:
    """A write's answer as current state. A replayed idempotent request returns the
    original answer, which may be history by now (e.g. resumed since), so re-read."""
    response = obj.last_response
    if response is not None and response.headers.get("idempotent-replayed") == "true":
        return plain(call(retrieve))
    return plain(obj)


def get(project: Project, path: str, params: dict[str, Any] | None = None) -> StripeDict:
    """GET as Stripe's JSON. The mirror only reads plain dicts, so building SDK objects just
    to turn them back into dicts would be wasted (it was most of a backfill's CPU time)."""
    client = client_for(project)
    return call(lambda: client.raw_request("get", path, **(params or {}))).data


def get_all(project: Project, path: str, params: dict[str, Any]) -> list[StripeDict]:
    """Every item of a list endpoint, 100 per page."""
    client = client_for(project)

    def read_all() -> list[StripeDict]:
        items: list[StripeDict] = []
        query = {**params, "limit": PAGE}
        while True:
            page = client.raw_request("get", path, **query).data
            items += page["data"]
            if not page.get("has_more") or not page["data"]:
                return items
            query["starting_after"] = page["data"][-1]["id"]

    return call(read_all)


def path(*parts: str) -> str:
    return "/v1/" + "/".join(quote(part, safe="") for part in parts)
