"""Emulator-only control API under `/_emulator/…`, authenticated with the account's key.

GET    /_emulator/health                  readiness (no auth)
GET    /_emulator/clock                   {"now", "offset"}
POST   /_emulator/clock/advance           seconds=N → renewals/cancellations due by then
POST   /_emulator/faults                  status=500|429, count=N, delay_ms=, retry_after=
GET    /_emulator/faults                  queued faults
DELETE /_emulator/faults                  clear them
GET    /_emulator/webhook_deliveries      delivery attempts, newest last
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stripe_emulator.api import authenticate, base_url, error_response, json_response
from stripe_emulator.context import Ctx
from stripe_emulator.errors import StripeError, invalid
from stripe_emulator.operations.billing import advance_clock
from stripe_emulator.store import Fault
from stripe_emulator.wire import parse_form, take_int


async def _params(request: Request) -> dict[str, Any]:
    raw = (await request.body()).decode()
    if request.headers.get("content-type", "").startswith("application/json"):
        data = json.loads(raw or "{}")
        return {k: str(v) if v is not None else "" for k, v in data.items()}
    return parse_form(raw or request.url.query)


def _guarded(fn: Any) -> Any:
    async def endpoint(request: Request) -> Response:
        try:
            account = authenticate(request.app.state.store, request)
            return await fn(request, account)
        except StripeError as err:
            return error_response(err)

    return endpoint


async def health(request: Request) -> Response:
    return json_response(200, {"status": "ok"})


async def clock(request: Request, account: Any) -> Response:
    return json_response(200, {"now": account.now(), "offset": account.clock_offset})


async def advance(request: Request, account: Any) -> Response:
    params = await _params(request)
    seconds = take_int(params, "seconds", required=True, minimum=0)
    store = request.app.state.store
    with store.lock:
        ctx = Ctx(store, account, base_url(request, request.app.state.public_url), request.app.state.webhooks)
        summary = advance_clock(ctx, seconds or 0)
    return json_response(200, {"now": account.now(), "offset": account.clock_offset, **summary})


async def faults(request: Request, account: Any) -> Response:
    store = request.app.state.store
    if request.method == "DELETE":
        with store.lock:
            account.faults.clear()
        return json_response(200, {"faults": []})
    if request.method == "POST":
        params = await _params(request)
        status = take_int(params, "status")
        if status not in (None, 429) and not 500 <= status <= 599:
            raise invalid("status", "status must be 429 or 5xx")
        count = take_int(params, "count", minimum=1) or 1
        delay = take_int(params, "delay_ms", minimum=0) or 0
        if status is None and not delay:
            raise invalid("status", "Give a status (500, 429) and/or delay_ms.")
        fault = Fault(status=status, delay_ms=delay, retry_after=take_int(params, "retry_after", minimum=0))
        with store.lock:
            account.faults.extend([fault] * count)
    with store.lock:
        queued = [vars(f) for f in account.faults]
    return json_response(200, {"faults": queued})


async def deliveries(request: Request, account: Any) -> Response:
    with request.app.state.store.lock:
        rows = [d.summary() for d in account.deliveries]
    return json_response(200, {"object": "list", "data": rows})


routes = [
    Route("/_emulator/health", health, methods=["GET"]),
    Route("/_emulator/clock", _guarded(clock), methods=["GET"]),
    Route("/_emulator/clock/advance", _guarded(advance), methods=["POST"]),
    Route("/_emulator/faults", _guarded(faults), methods=["GET", "POST", "DELETE"]),
    Route("/_emulator/webhook_deliveries", _guarded(deliveries), methods=["GET"]),
]
