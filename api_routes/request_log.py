"""Pure ASGI: a request id for every request, and the optional access log.

The id is the client's `X-Request-ID` when it is sane (a proxy or the SaaS backend may
have set one to follow a request across systems), else a new one; it is echoed in the
response's `X-Request-ID` and carried by every log line written while the request runs
(billstack/log_context.py). A websocket gets one for its whole connection.

With BILLSTACK_ACCESS_LOG=1 each HTTP request is one line on the `billstack.access` logger
(INFO): method, path (a portal token redacted; no query string), status, milliseconds and
the client address as ProxyHeaders resolved it.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import secrets
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from billstack import log_context
from billstack.logs import redact

REQUEST_ID_HEADER = b"x-request-id"
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
access_log = logging.getLogger("billstack.access")


class _RequestIds:
    """32 hex characters unique across processes: a random prefix per process (drawn again in
    a forked worker) and a counter — a uuid4 per request cost more than the rest of this layer."""

    def __init__(self) -> None:
        self.renew()
        os.register_at_fork(after_in_child=self.renew)

    def renew(self) -> None:
        self._prefix = secrets.token_hex(8)
        self._counter = itertools.count(1)

    def new(self) -> str:
        return f"{self._prefix}{next(self._counter):016x}"


_request_ids = _RequestIds()


def request_id_of(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER:
            text = value.decode("latin-1")
            if SANE_REQUEST_ID.fullmatch(text) and redact(text) == text:  # never a token as an id
                return text
            break
    return _request_ids.new()


class RequestLog:
    def __init__(self, app: ASGIApp, *, access_log_on: bool) -> None:
        self.app = app
        self.access_log_on = access_log_on

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        with log_context.fresh():
            request_id = request_id_of(scope)
            log_context.request_id.set(request_id)
            if scope["type"] == "websocket":
                await self.app(scope, receive, send)
            else:
                await self._http(scope, receive, send, request_id.encode())

    async def _http(self, scope: Scope, receive: Receive, send: Send, request_id: bytes) -> None:
        started = time.perf_counter()
        status = 500  # if the app fails before answering, the server answers 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # BillStack's own answers carry no X-Request-ID of their own: append, don't filter.
                message = {**message, "headers": [*message.get("headers", ()), (REQUEST_ID_HEADER, request_id)]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.access_log_on:
                self._log(scope, status, (time.perf_counter() - started) * 1000)

    @staticmethod
    def _log(scope: Scope, status: int, duration_ms: float) -> None:
        method, path = scope["method"], redact(scope["path"])
        client = (scope.get("client") or ("-",))[0]
        access_log.info("%s %s %d %.1fms %s", method, path, status, duration_ms, client,
                        extra={"method": method, "path": path, "status": status,
                               "durationMs": round(duration_ms, 1), "client": client})
