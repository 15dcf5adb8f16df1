"""The one place that shapes API errors: `{"error": {"type", "code", "message", "param"}}`.

- BillStackError (raised by services) → its status, body and headers.
- Request validation → 400; `param` is the camelCase field (`ttlMs`, `flow.subscriptionId`).
- HTTP errors under /api (unknown route 404, wrong method 405, …) → the same shape.
- Anything unexpected under /api → 500 with a generic message; the traceback goes to
  the server log only.
- A 404 anywhere else (an unknown page route, a missing static file) and any path not in
  canonical form (`//portal/<t>`, `/a/../portal/<t>`) → the same JSON 404 (`JsonNotFound`,
  run by `billstack serve` in front of Reflex).

Otherwise paths outside /api belong to the Reflex app mounted under this one and keep
its own error handling.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from billstack import routes
from billstack.db import refused_value
from billstack.errors import BillStackError, invalid
from billstack.services.sessions import FLOW_TYPES, TTL_MAX_MS, TTL_MIN_MS

log = logging.getLogger("billstack.api")

API_PREFIX = routes.API_ROOT + "/"
INTERNAL_ERROR_MESSAGE = "Something went wrong on our side; nothing was changed. Please try again."

_HTTP_CODES = {
    400: ("invalid_request_error", "bad_request"),
    401: ("authentication_error", "unauthorized"),
    403: ("permission_error", "permission_denied"),
    404: ("invalid_request_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    413: ("invalid_request_error", "request_too_large"),
    415: ("invalid_request_error", "unsupported_media_type"),
    429: ("rate_limit_error", "rate_limited"),
}
_FIELD_MESSAGES = {
    "ttlMs": f"ttlMs must be an integer number of milliseconds between {TTL_MIN_MS} (1 minute) "
    f"and {TTL_MAX_MS} (24 hours).",
}


def error_response(error: BillStackError) -> JSONResponse:
    return JSONResponse(error.to_dict(), status_code=error.status, headers=error.headers or None)


def error_body(status: int, code: str, message: str, *, type: str = "invalid_request_error",
               param: str | None = None) -> bytes:
    return json.dumps(BillStackError(message, code=code, type=type, param=param, status=status).to_dict()).encode()


INTERNAL_ERROR = {"error": {"type": "api_error", "code": "internal_error", "message": INTERNAL_ERROR_MESSAGE}}


def internal_error_response() -> JSONResponse:
    return JSONResponse(INTERNAL_ERROR, status_code=500)


def unexpected_error_response(exc: Exception, method: str | None, path: str) -> JSONResponse:
    """The generic 500 (traceback to the log only); but a value the database refused — a NUL
    in an id, a number out of range, found by tests/fuzz on PostgreSQL — is the client's 400."""
    if refused_value(exc):
        log.warning("refused %s %s: a value the database cannot hold (%s)", method, path, type(exc).__name__)
        return error_response(invalid("A value in the request cannot be stored or looked up: text with a NUL "
                                      "character, or a number or text out of range."))
    log.error("unhandled error on %s %s", method, path, exc_info=exc)
    return internal_error_response()


def validation_error(errors: Sequence[Any]) -> BillStackError:
    """The first validation problem as a 400, naming the field the client sent."""
    first = errors[0] if errors else {}
    kind = first.get("type", "")
    loc = tuple(first.get("loc", ()))
    if kind == "json_invalid":
        return invalid("The request body is not valid JSON.", code="invalid_json")
    where, path = (loc[0] if loc else "body"), loc[1:]
    # Discriminated unions put the tag in the location (flow → subscription_cancel → …).
    parts = [str(p) for p in path if not isinstance(p, int) and p not in FLOW_TYPES]
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        parts.append("type")
    param = ".".join(parts) or None
    if param is None and where == "body":
        if kind == "missing":
            return invalid("A JSON object body is required.", code="parameter_missing")
        return invalid("The request body must be a JSON object.")
    if kind == "missing":
        return invalid(f"Missing required param: {param}.", param=param, code="parameter_missing")
    if kind == "extra_forbidden":
        return invalid(f"Received unknown parameter: {param}.", param=param, code="parameter_unknown")
    message = _FIELD_MESSAGES.get(param or "") or f"Invalid {param}: {first.get('msg', 'invalid value')}."
    return invalid(message, param=param)


async def _on_billstack_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BillStackError)
    return error_response(exc)


async def _on_validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return error_response(validation_error(exc.errors()))


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if not request.url.path.startswith(API_PREFIX):
        return await http_exception_handler(request, exc)
    type_, code = _HTTP_CODES.get(exc.status_code, ("api_error" if exc.status_code >= 500 else "invalid_request_error",
                                                    "http_error"))
    if exc.status_code == 404:
        message = not_found_message(request.method, request.url.path)
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}."
    else:
        message = str(exc.detail) if isinstance(exc.detail, str) else "The request could not be processed."
    error = BillStackError(message, code=code, type=type_, status=exc.status_code, headers=dict(exc.headers or {}))
    return error_response(error)


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    return unexpected_error_response(exc, request.method, request.url.path)


class UnexpectedErrors:
    """Pure ASGI: an exception escaping an /api route becomes a generic JSON 500.

    Sits inside the security-headers middleware, so even a 500 carries those headers,
    and the exception is logged here instead of surfacing as a server trace.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                log.error("unhandled error on %s %s", scope.get("method"), scope["path"], exc_info=exc)
                raise
            await unexpected_error_response(exc, scope.get("method"), scope["path"])(scope, receive, send)


def not_found_message(method: str, path: str) -> str:
    return f"Unrecognized request URL ({method}: {path})."


def is_canonical(path: str) -> bool:
    """No empty, `.` or `..` segment (a trailing slash is fine): the one spelling of a path."""
    segments = path.split("/")
    return path.startswith("/") and not any(s in ("", ".", "..") for s in segments[1:-1]) \
        and segments[-1] not in (".", "..")


class JsonNotFound:
    """Pure ASGI, in front of the whole app: every 404 is the JSON error shape.

    - A path not in canonical form is answered here and never reaches Reflex, whose static
      files normalise it (`//portal/<t>` would be served the portal page).
    - A 404 from behind (Reflex's SPA 404 page for an unknown route or a missing file) is
      replaced; JSON ones (the API's) pass. Browsers lose nothing: Reflex's client router
      never fetches a page route, so its own 404 page still shows for links inside the
      app; only a typed or stale URL loaded directly gets this JSON.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not is_canonical(scope["path"]):
            await _not_found(scope)(scope, receive, send)
            return
        replaced = False

        async def send_json_404(message: Message) -> None:
            nonlocal replaced
            if message["type"] == "http.response.start" and message["status"] == 404 and not _is_json(message):
                replaced = True
                await _not_found(scope)(scope, receive, send)
            elif not replaced:  # the replaced response's body is dropped
                await send(message)

        await self.app(scope, receive, send_json_404)


def _not_found(scope: Scope) -> JSONResponse:
    type_, code = _HTTP_CODES[404]
    return error_response(BillStackError(not_found_message(scope["method"], scope["path"]), code=code, type=type_,
                                         status=404))


def _is_json(start: Message) -> bool:
    return any(k.lower() == b"content-type" and v.startswith(b"application/json") for k, v in start.get("headers", []))


def add_api_fallback(app: FastAPI) -> None:
    """Unknown /api paths answer 404 (or 405 with Allow) in the error shape.

    Needed because Reflex mounts its backend at "" behind this app: without this route
    an unknown /api URL would fall through to Reflex's plain-text 404. Must be the last
    route added in create_api(); only /api is caught, everything else reaches Reflex.
    """
    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

    async def api_fallback(request: Request) -> Response:
        # Which methods would another route take on this path? (Probing keeps this
        # independent of how FastAPI stores included routers.)
        allowed: set[str] = set()
        others = [r for r in app.router.routes if not isinstance(r, Mount) and getattr(r, "endpoint", None)
                  is not api_fallback]
        for method in methods:
            probe = {"type": "http", "path": request.url.path, "root_path": "", "method": method, "headers": []}
            if any(route.matches(probe)[0] is Match.FULL for route in others):
                allowed.add(method)
        if allowed:
            raise StarletteHTTPException(405, headers={"Allow": ", ".join(sorted(allowed))})
        raise StarletteHTTPException(404)

    app.add_api_route(routes.API_ROOT + "/{path:path}", api_fallback, methods=methods, include_in_schema=False)


def install_error_handling(app: FastAPI) -> None:
    app.add_exception_handler(BillStackError, _on_billstack_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(Exception, _on_unexpected)
