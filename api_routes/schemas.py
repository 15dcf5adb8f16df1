"""What every route of the JSON API shares: the error shape, the camelCase body base, and
the documentation of the errors a route answers.

Operation-specific bodies live beside their routes; the portal's responses are the view
model itself (billstack/services/views.py).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class RequestBody(BaseModel):
    # Only the camelCase names are accepted, and unknown fields are refused (400
    # `parameter_unknown`): a typo such as `ttl_ms`, `cancel_at_period_end` or Stripe's
    # `return_url` would otherwise be silently ignored and the request done with defaults.
    model_config = ConfigDict(alias_generator=to_camel, validate_by_name=False, validate_by_alias=True,
                              serialize_by_alias=True, extra="forbid")


class ResponseBody(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, validate_by_name=True, serialize_by_alias=True)


class ErrorDetail(BaseModel):
    type: str = Field(examples=["invalid_request_error"])
    code: str = Field(examples=["parameter_invalid"])
    message: str
    param: str | None = Field(default=None, examples=["ttlMs"], description="The request field at fault, if any.")


class ErrorResponse(BaseModel):
    error: ErrorDetail


def error_responses(descriptions: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each status answered in the error shape, with why."""
    return {status: {"model": ErrorResponse, "description": text} for status, text in descriptions.items()}
