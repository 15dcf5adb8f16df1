"""Pure ASGI guard for the JSON API: body size and content type, before any parsing.

For POST/PUT/PATCH under the JSON API prefixes:
- a body over the prefix's limit → 413 (from Content-Length when declared, else while
  reading): 16 KiB, except Stripe webhooks (1 MiB: an event carries a whole object,
  e.g. an invoice with its lines, and the route needs the raw body to verify it);
- a non-empty body that is not `application/json` (or `…+json`) → 415 (Stripe sends
  `application/json; charset=utf-8`);
- an empty body passes, so the route reports the missing fields (400).
Invalid JSON is left to FastAPI, whose decode error becomes a 400 `invalid_json` in
api_routes/errors.py. The first matching prefix wins.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api_routes.errors import error_body
from billstack import routes

MAX_JSON_BODY_BYTES = 16 * 1024
MAX_WEBHOOK_BODY_BYTES = 1024 * 1024
JSON_API_LIMITS = (
    (routes.STRIPE_WEBHOOK_PREFIX, MAX_WEBHOOK_BODY_BYTES),
    ("/api/billstack/", MAX_JSON_BODY_BYTES),
    ("/api/portal/", MAX_JSON_BODY_BYTES),
)
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class JsonBodyLimits:
    def __init__(self, app: ASGIApp, *, limits: tuple[tuple[str, int], ...] = JSON_API_LIMITS) -> None:
        self.app = app
        self.limits = limits

    def _limit_for(self, path: str) -> int | None:
        return next((max_bytes for prefix, max_bytes in self.limits if path.startswith(prefix)), None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        max_bytes = self._limit_for(scope["path"]) if scope["type"] == "http" else None
        if max_bytes is None or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
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
            await _reject(send, 413, "request_too_large",
                          f"The request body is larger than {max_bytes} bytes.")
            return
        if (content_length or chunked) and not _is_json(content_type):
            await _reject(send, 415, "unsupported_media_type",
                          "Send the request body as JSON with Content-Type: application/json.")
            return

        # Read the (small) body here, so an oversized chunked body is refused before
        # FastAPI buffers it, then replay it to the app.
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > max_bytes:
                await _reject(send, 413, "request_too_large",
                              f"The request body is larger than {max_bytes} bytes.")
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        if size and not _is_json(content_type):
            await _reject(send, 415, "unsupported_media_type",
                          "Send the request body as JSON with Content-Type: application/json.")
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _is_json(content_type: bytes) -> bool:
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))


async def _reject(send: Send, status: int, code: str, message: str) -> None:
    body = error_body(status, code, message)
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close")],
    })
    await send({"type": "http.response.body", "body": body})
