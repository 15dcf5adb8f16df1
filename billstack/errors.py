"""BillStack errors: one shape everywhere, modelled on Stripe's error object.

Services raise these; the REST error handler and the Reflex state turn them into
`{"error": {"type", "code", "message", "param"}}` responses or on-page messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class BillStackError(Exception):
    message: str
    code: str = "error"
    type: str = "invalid_request_error"
    param: str | None = None
    status: int = 400
    headers: dict[str, str] = field(default_factory=dict)
    # False: the message is about the request BillStack made (Stripe refusing a parameter,
    # the project's key): an integrator reads it in the API answer, but a customer on the
    # portal page is shown a generic message instead (`customer_message`).
    for_customers: bool = True

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def to_dict(self) -> dict:
        body = {"type": self.type, "code": self.code, "message": self.message}
        if self.param:
            body["param"] = self.param
        return {"error": body}


def customer_message(exc: BillStackError) -> str | None:
    """The message a customer may read on the portal page, or None (show a generic one)."""
    return exc.message if exc.for_customers and exc.message else None


def api_param(field: str) -> str:
    """A service field name as the API spells it in an error's `param` (`accent_color` → `accentColor`)."""
    head, *rest = field.split("_")
    return head + "".join(word.capitalize() for word in rest)


def invalid(message: str, param: str | None = None, code: str = "parameter_invalid") -> BillStackError:
    return BillStackError(message, code=code, param=param, status=400)


def not_found(message: str, param: str | None = None) -> BillStackError:
    return BillStackError(message, code="resource_missing", param=param, status=404)


def unauthorized(message: str, code: str = "invalid_api_key") -> BillStackError:
    return BillStackError(
        message,
        code=code,
        type="authentication_error",
        status=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


def forbidden(message: str, code: str = "permission_denied") -> BillStackError:
    return BillStackError(message, code=code, type="permission_error", status=403)


def rate_limited(retry_after: int) -> BillStackError:
    return BillStackError(
        "Too many requests. Retry later.",
        code="rate_limited",
        type="rate_limit_error",
        status=429,
        headers={"Retry-After": str(max(1, retry_after))},
    )


def busy(message: str, code: str, retry_after: int = 1) -> BillStackError:
    """503: this server has no capacity for the request right now; nothing was done."""
    return BillStackError(
        message, code=code, type="api_error", status=503, headers={"Retry-After": str(max(1, retry_after))}
    )


def database_busy() -> BillStackError:
    """No database connection came free within BILLSTACK_DB_POOL_TIMEOUT_S."""
    return busy("The server is busy right now. Nothing was changed; please try again.", "database_busy")


class StripeUnavailable(BillStackError):
    """Stripe could not be reached or answered with a server error; nothing was changed."""

    def __init__(self, message: str = "Stripe is unavailable right now. Nothing was changed; please try again.") -> None:
        super().__init__(message, code="stripe_unavailable", type="api_error", status=503)
