"""Helpers for tests: an emulator on a free loopback port, and the control API over HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn

from stripe_emulator.ids import new_secret_key
from stripe_emulator.server import create_app, listening_socket


def new_account_key() -> str:
    """A fresh random `sk_test_…`; every key is its own isolated emulator account."""
    return new_secret_key()


@contextmanager
def running_emulator(latency_ms: int = 0, **app_options: Any) -> Iterator[str]:
    """Start the emulator (uvicorn, background thread) and yield its base URL; stop it on exit."""
    sock = listening_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(latency_ms, **app_options), log_level="warning", access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"emulator-{port}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("The Stripe emulator failed to start (see the log above).")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("The Stripe emulator did not start within 10 s.")
        time.sleep(0.002)  # polling uvicorn's readiness flag, bounded by the deadline
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _control(
    method: str, base_url: str, secret_key: str, path: str, data: dict[str, Any] | None = None
) -> dict[str, Any]:
    resp = httpx.request(
        method,
        f"{base_url.rstrip('/')}/_emulator/{path}",
        data={k: str(v) for k, v in (data or {}).items() if v is not None},
        headers={"Authorization": f"Bearer {secret_key}"},
        timeout=30,
    )
    resp.raise_for_status()
    return resp.json()


def advance_time(base_url: str, secret_key: str, seconds: int) -> dict[str, Any]:
    """Move the account's clock forward; returns {"now", "offset", "renewed", "canceled", "expired",
    "tax_ids_verified"} (pending tax ids become verified on any advance)."""
    return _control("POST", base_url, secret_key, "clock/advance", {"seconds": int(seconds)})


def emulator_now(base_url: str, secret_key: str) -> int:
    return _control("GET", base_url, secret_key, "clock")["now"]


def inject_faults(
    base_url: str,
    secret_key: str,
    *,
    status: int | None = 500,
    count: int = 1,
    delay_ms: int | None = None,
    retry_after: int | None = None,
) -> None:
    """The account's next `count` API requests fail with `status` (500 or 429) and/or wait `delay_ms`."""
    _control(
        "POST",
        base_url,
        secret_key,
        "faults",
        {"status": status, "count": count, "delay_ms": delay_ms, "retry_after": retry_after},
    )


def clear_faults(base_url: str, secret_key: str) -> None:
    _control("DELETE", base_url, secret_key, "faults")


@contextmanager
def stripe_down(base_url: str, secret_key: str, *, status: int = 500, count: int = 10_000) -> Iterator[None]:
    """Inside the block the account's requests fail with `status` (the SDK's retries
    included); the faults are cleared on the way out, whatever happened inside."""
    inject_faults(base_url, secret_key, status=status, count=count)
    try:
        yield
    finally:
        clear_faults(base_url, secret_key)


def webhook_deliveries(base_url: str, secret_key: str) -> list[dict[str, Any]]:
    return _control("GET", base_url, secret_key, "webhook_deliveries")["data"]
