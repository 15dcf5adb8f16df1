"""Pure ASGI guard for the JSON API: body size and content type, before any parsing.

For POST/PUT/PATCH under the JSON API prefixes:
- a body over the prefix's limit → 413 (from Content-Length when declared, else while
  reading): 16 KiB, except Stripe webhooks (1 MiB: an event carries a whole object,
  e.g. an invoice with its lines, and the route needs the raw body to verify it);
- a non-empty body that is not `application/json` (or `…+json`) → 415 (Stripe sends
  `application/json; charset=utf-8`);
- an empty body passes, so the route reports the missing fields (400).
Invalid JSON is left to the route, whose decode error becomes a 400 `invalid_json` in
api_routes/errors.py. The first matching prefix wins.

`read_json_body` is the check itself; the session API's fast path (api_routes/fast_paths.py)
calls it directly, the middleware below does for every other route.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api_routes.errors import error_body
from billstack import routes

MAX_JSON_BODY_BYTES = 16 * 1024
MAX_WEBHOOK_BODY_BYTES = 1024 * 1024
JSON_API_LIMITS = (
    (routes.STRIPE_WEBHOOK_PREFIX, MAX_WEBHOOK_BODY_BYTES),
    (routes.API_PREFIX + "/", MAX_JSON_BODY_BYTES),
    (routes.PORTAL_API_PREFIX + "/", MAX_JSON_BODY_BYTES),
)
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class BodyRejected(Exception):
    """The request body may not be read: 413 or 415 (answered with `reject`)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class ClientGone(Exception):
    """The client disconnected before its body arrived: nothing to answer."""


def _too_large(max_bytes: int) -> BodyRejected:
    return BodyRejected(413, "request_too_large", f"The request body is larger than {max_bytes} bytes.")


_NOT_JSON = BodyRejected(415, "unsupported_media_type", "Send the request body as JSON with Content-Type: application/json.")


async def read_json_body(scope: Scope, receive: Receive, max_bytes: int) -> bytes:
    """The whole body, refused (BodyRejected) when too large or not declared as JSON.

    Declared sizes are checked before reading; a chunked body is counted while read,
    so an oversized one is refused before it is buffered.
    """
    content_type = b""
    content_length: int | None = None
    chunked = False
    for name, value in scope["headers"]:
        if name == b"content-type":
            content_type = value
        elif name == b"content-length":
            try:
                content_length = int(value)
            except ValueError:
                content_length = None
        elif name == b"transfer-encoding":
            chunked = True
    if content_length is not None and content_length > max_bytes:
        raise _too_large(max_bytes)
    if (content_length or chunked) and not _is_json(content_type):
        raise _NOT_JSON
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
        more = message.get("more_body", False)
    if size and not _is_json(content_type):
        raise _NOT_JSON
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def reject(send: Send, rejected: BodyRejected, extra_headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    """Answer 413/415 in the error shape and close the connection (the body may be unread)."""
    body = error_body(rejected.status, rejected.code, rejected.message)
    await send({
        "type": "http.response.start",
        "status": rejected.status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"), *extra_headers],
    })
    await send({"type": "http.response.body", "body": body})


class JsonBodyLimits:
    def __init__(self, app: ASGIApp, *, limits: tuple[tuple[str, int], ...] = JSON_API_LIMITS) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        max_bytes = body_limit(scope["path"], self.limits) if scope["type"] == "http" else None
        if max_bytes is None or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        try:
            body = await read_json_body(scope, receive, max_bytes)
        except BodyRejected as rejected:
            await reject(send, rejected)
            return
        except ClientGone:
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def body_limit(path: str, limits: tuple[tuple[str, int], ...] = JSON_API_LIMITS) -> int | None:
    """The body limit of a path (the first matching prefix), or None where bodies are not checked."""
    return next((max_bytes for prefix, max_bytes in limits if path.startswith(prefix)), None)


def _is_json(content_type: bytes) -> bool:
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))
