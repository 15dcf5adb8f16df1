"""The Stripe boundary: the only module that talks to Stripe.

One `stripe.StripeClient` per project (its own secret key, `api_base` overridable so
the emulator and real Stripe differ only by URL), network retries on, an idempotency
key on every write, and Stripe errors mapped to BillStack errors.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar

import stripe

from billstack.config import get_settings
from billstack.errors import BillStackError, StripeUnavailable
from billstack.models import Project
from billstack.secrets_box import unseal

T = TypeVar("T")


@lru_cache(maxsize=256)
def _client(secret_key: str, api_base: str | None) -> stripe.StripeClient:
    kwargs: dict[str, Any] = {"max_network_retries": 2}
    if api_base:
        kwargs["base_addresses"] = {"api": api_base.rstrip("/")}
    return stripe.StripeClient(secret_key, **kwargs)


def client_for(project: Project) -> stripe.StripeClient:
    api_base = project.stripe_api_base or get_settings().stripe_api_base
    return _client(unseal(project.stripe_secret_key_sealed), api_base)


def client_for_key(secret_key: str, api_base: str | None = None) -> stripe.StripeClient:
    """For checks before a project exists (e.g. validating a key at creation)."""
    return _client(secret_key, api_base or get_settings().stripe_api_base)


def idempotency_key(*parts: str) -> str:
    """Deterministic when the caller passes the parts of a logical action, random otherwise."""
    return "bs-" + ("-".join(parts) if parts else uuid.uuid4().hex)


def call(fn: Callable[[], T]) -> T:
    """Run one Stripe call, mapping Stripe's errors onto BillStack's."""
    try:
        return fn()
    except stripe.AuthenticationError as exc:
        raise BillStackError(
            "Stripe rejected the project's secret key.", code="stripe_auth_failed", type="api_error", status=502
        ) from exc
    except stripe.InvalidRequestError as exc:
        if exc.code == "resource_missing":
            raise BillStackError(
                exc.user_message or "Not found in Stripe.", code="resource_missing", status=404, param=exc.param
            ) from exc
        raise BillStackError(
            exc.user_message or "Stripe rejected the request.", code=exc.code or "stripe_invalid_request", param=exc.param
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
