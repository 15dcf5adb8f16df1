"""The `/v1/*` request pipeline: latency, auth, faults, parsing, idempotency, dispatch, rendering."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from stripe_emulator.context import API_VERSION, Ctx
from stripe_emulator.errors import StripeError, unrecognized_url
from stripe_emulator.ids import new_id
from stripe_emulator.registry import match
from stripe_emulator.render import copy_json, expand, render
from stripe_emulator.store import Account, IdempotentRecord, Store
from stripe_emulator.wire import expand_paths, parse_form

log = logging.getLogger("stripe_emulator")
_KEY = re.compile(r"^(sk|rk)_test_[A-Za-z0-9_]+$")


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body).encode(), status_code=status, media_type="application/json", headers=headers
    )


def error_response(err: StripeError, headers: dict[str, str] | None = None) -> Response:
    return json_response(err.status, err.body(), {**(headers or {}), **err.headers})


def authenticate(store: Store, request: Request) -> Account:
    header = request.headers.get("authorization", "")
    key = None
    if header.lower().startswith("bearer "):
        key = header[7:].strip()
    elif header.lower().startswith("basic "):
        try:
            key = base64.b64decode(header[6:].strip()).decode().split(":", 1)[0]
        except ValueError:
            key = ""
    if not key:
        raise StripeError(
            "You did not provide an API key. You need to provide your API key in the Authorization header, "
            "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). "
            "See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.",
            status=401,
            headers={"WWW-Authenticate": 'Bearer realm="Stripe"'},
        )
    if not _KEY.match(key):
        shown = key[:8] + "*" * max(0, len(key) - 12) + key[-4:] if len(key) > 12 else "*" * len(key)
        hint = (
            " The emulator is test-mode only: use an sk_test_… key."
            if key.startswith(("sk_live_", "rk_live_"))
            else ""
        )
        raise StripeError(
            f"Invalid API Key provided: {shown}.{hint}",
            status=401,
            headers={"WWW-Authenticate": 'Bearer realm="Stripe"'},
        )
    with store.lock:
        return store.account(key)


def base_url(request: Request, public_url: str | None) -> str:
    return (public_url or str(request.base_url)).rstrip("/")


def _execute(
    ctx: Ctx, handler: Any, params: dict[str, Any], path_params: dict[str, str], method: str
) -> tuple[int, bytes]:
    """Run one handler atomically: a request that fails (other than a card error, which
    Stripe records) leaves no trace — new objects are dropped and the target object restored."""
    account = ctx.account
    target = (
        account.objects.get(next(iter(path_params.values()))) if method != "GET" and path_params else None
    )
    snapshot = copy_json(target) if target is not None else None
    account.journal = []
    try:
        result = handler(ctx, params, **path_params)
        body = expand(ctx, render(ctx, result), expand_paths(params))
        return 200, json.dumps(body).encode()
    except StripeError as err:
        if err.status == 402:
            return err.status, json.dumps(err.body()).encode()
        for obj in reversed(account.journal):
            account.remove(obj)
        if target is not None and snapshot is not None:
            target.clear()
            target.update(snapshot)
        raise
    finally:
        account.journal = None


async def handle(request: Request) -> Response:
    app = request.app.state
    store: Store = app.store
    request_id = new_id("req")
    headers = {"Request-Id": request_id, "Stripe-Version": request.headers.get("stripe-version", API_VERSION)}
    if app.latency_ms:
        await asyncio.sleep(app.latency_ms / 1000)
    try:
        account = authenticate(store, request)
        with store.lock:
            fault = account.take_fault()
        if fault is not None:
            if fault.delay_ms:
                await asyncio.sleep(fault.delay_ms / 1000)
            if fault.status == 429:
                extra = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                raise StripeError(
                    "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
                    status=429,
                    code="rate_limit",
                    headers=extra,
                )
            if fault.status is not None:
                raise StripeError("An unknown error occurred", status=fault.status, type="api_error")
        method = request.method
        path = request.url.path
        if method == "POST":
            params = parse_form((await request.body()).decode("utf-8", "replace"))
        else:
            params = parse_form(request.url.query)
        idem_key = request.headers.get("idempotency-key") if method in ("POST", "DELETE") else None
        if idem_key:
            headers["Idempotency-Key"] = idem_key
        hit = match(method, path)
        if hit is None:
            raise unrecognized_url(method, path)
        handler, path_params = hit
        fingerprint = hashlib.sha256(json.dumps([method, path, params], sort_keys=True).encode()).hexdigest()
        with store.lock:
            if idem_key:
                record = account.idempotency.get(idem_key)
                if record is not None:
                    if record.fingerprint != fingerprint:
                        raise StripeError(
                            "Keys for idempotent requests can only be used with the same parameters they were first "
                            f"used with. Try using a key other than '{idem_key}' if you meant to execute a different request.",
                            type="idempotency_error",
                        )
                    return Response(
                        record.body,
                        status_code=record.status,
                        media_type="application/json",
                        headers={**headers, "Idempotent-Replayed": "true"},
                    )
            ctx = Ctx(store, account, base_url(request, app.public_url), app.webhooks, request_id, idem_key)
            status, payload = _execute(ctx, handler, params, path_params, method)
            if idem_key:
                account.idempotency[idem_key] = IdempotentRecord(fingerprint, status, payload)
        return Response(payload, status_code=status, media_type="application/json", headers=headers)
    except StripeError as err:
        return error_response(err, headers)
    except Exception:  # a bug in the emulator: answer as Stripe would, and say why in the log
        log.exception("emulator error on %s %s", request.method, request.url.path)
        return error_response(StripeError("An unknown error occurred", status=500, type="api_error"), headers)
