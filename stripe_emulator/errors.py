"""Stripe's error shape: `{"error": {"type", "code", "message", "param", ...}}` plus an HTTP status."""

from __future__ import annotations

from typing import Any


class StripeError(Exception):
    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type
        self.code = code
        self.param = param
        self.headers = headers or {}
        self.extra = extra

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code is not None:
            err["code"] = self.code
            err["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param is not None:
            err["param"] = self.param
        err.update(self.extra)
        return {"error": err}


def missing(param: str) -> StripeError:
    return StripeError(f"Missing required param: {param}.", code="parameter_missing", param=param)


def invalid(param: str, message: str, code: str = "parameter_invalid_string") -> StripeError:
    return StripeError(message, code=code, param=param)


def no_such(kind: str, obj_id: str, param: str = "id") -> StripeError:
    return StripeError(f"No such {kind}: '{obj_id}'", status=404, code="resource_missing", param=param)


def unknown_param(param: str) -> StripeError:
    return StripeError(f"Received unknown parameter: {param}", code="parameter_unknown", param=param)


def unrecognized_url(method: str, path: str) -> StripeError:
    return StripeError(
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
        "or we can help at https://support.stripe.com/.",
        status=404,
    )


def card_error(
    code: str, message: str, *, decline_code: str | None = None, param: str | None = None, **extra: Any
) -> StripeError:
    if decline_code is not None:
        extra["decline_code"] = decline_code
    return StripeError(message, status=402, type="card_error", code=code, param=param, **extra)
