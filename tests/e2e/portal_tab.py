"""A portal tab without a browser, for tests that send what a real page never would.

It speaks Reflex's websocket protocol (bench/reflex_client.py) to the live server, as a
forged page could: open the portal, send events, and read the state the page would hold.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import urlsplit

from bench.reflex_client import Build, PortalClient
from billstack.server import web_dir
from tests.e2e.conftest import LiveServer

T = TypeVar("T")
STEP_TIMEOUT_S = 30


async def _send(live: LiveServer, portal_url: str, events: list[tuple[str, dict]], sub_id: str) -> dict[str, Any]:
    parts = urlsplit(live.url)
    client = PortalClient(parts.hostname or "localhost", parts.port or 80, urlsplit(portal_url).path,
                          Build.read(web_dir()))
    await client.connect()
    try:
        await client.wait_until(lambda state: state.get("page_status") == "ready", STEP_TIMEOUT_S)
        for name, payload in events:
            client.emit(name, payload)
        # A tab's events are handled in order: once this one is answered, those above were too.
        client.emit("open_cancel", {"sub_id": sub_id})
        await client.wait_until(lambda state: state.get("cancel_dialog_open") is True, STEP_TIMEOUT_S)
        return dict(client.state)
    finally:
        await client.close()


def send_events(live: LiveServer, portal_url: str, events: list[tuple[str, dict]], *, sub_id: str) -> dict[str, Any]:
    """Open the portal at `portal_url`, send `events` (handler name, payload), and return the
    page's state once they were all handled (opening the cancel dialog of `sub_id`, the
    customer's own subscription, is the last event and the sign of that)."""
    return _in_own_thread(_send(live, portal_url, events, sub_id))


def _in_own_thread(coroutine: Coroutine[Any, Any, T]) -> T:
    """asyncio.run in a thread of its own: this process may be running Playwright's loop."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, coroutine).result()
