"""Benchmark 5: 200 simultaneous portal clients on one server worker; latency and memory.

Each client (bench/reflex_client.py: Reflex's websocket protocol, no browser) fetches the
page's HTML, connects, hydrates and runs the page's on_load until its subscriptions
arrive; when all are in, every client cancels one subscription at once (open the dialog,
confirm) — the same events a click sends. Figures: p95 action latency against the same
action by a single client alone (baseline), and the worker's RSS idle (warmed up, no
clients), with all clients connected and at the peak of the actions, per client.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from bench.common import (
    CLIENT_CPU,
    EMULATOR_PORTS,
    ROOT,
    WEB_WORKDIR,
    Figure,
    log,
    median,
    percentile,
    pinned_to,
    rss_bytes,
)
from bench.context import RunContext
from bench.fixtures import Tenant, emulator_tenant, mint_session, use_database
from bench.reflex_client import Build, PortalClient
from bench.servers import Server, billstack_server, emulator
from billstack import routes

BENCH = "concurrency"
STEP_TIMEOUT_S = 120  # one step of one client, however loaded the machine is
RSS_SAMPLE_S = 0.05


@dataclass
class Visit:
    """One client: its session, the subscription it cancels, and what it measured."""

    token: str
    subscription: str
    load_ms: float | None = None
    action_ms: float | None = None
    client: PortalClient | None = field(default=None, repr=False)


def run(ctx: RunContext) -> list[Figure]:
    clients = ctx.pick_int(200, 10)
    work = ctx.scratch("concurrency")
    db_url = f"sqlite:///{work / 'billstack.db'}"
    with emulator(EMULATOR_PORTS[0], work) as stripe:
        customers = (clients + 1) // 2  # each demo customer has two subscriptions
        log(f"seeding {customers} demo customers (two subscriptions each) on the emulator")
        with use_database(db_url, work / "data"):
            tenant = emulator_tenant(stripe, customers)
        with (
            billstack_server(db_url, work, BILLSTACK_SYNC_MAX_AGE="3600") as server,
            httpx.Client(timeout=30) as http,
        ):
            visits = [
                Visit(
                    mint_session(http, server.url, tenant, tenant.customer_ids[i // 2])["token"],
                    tenant.subscriptions[tenant.customer_ids[i // 2]][i % 2],
                )
                for i in range(clients)
            ]
            build = Build.read(ROOT / WEB_WORKDIR)
            with pinned_to(CLIENT_CPU):
                measured = asyncio.run(measure(ctx, server, build, tenant, visits))
    return figures_for(measured, visits)


async def measure(ctx: RunContext, server: Server, build: Build, tenant: Tenant, visits: list[Visit]) -> dict:
    solo = await single_client_baseline(ctx, server, build, visits[0])
    idle = rss_bytes(server.worker_pid)
    log(f"{len(visits)} clients load the portal at once")
    async with httpx.AsyncClient(timeout=STEP_TIMEOUT_S, limits=httpx.Limits(max_connections=None)) as http:
        await asyncio.gather(*(load(server, build, http, visit) for visit in visits))
    connected = rss_bytes(server.worker_pid)
    log(f"{len(visits)} clients cancel a subscription at once")
    peak = RssPeak(server.worker_pid)
    sampler = asyncio.create_task(peak.sample())
    try:
        await asyncio.gather(*(cancel(visit) for visit in visits))
    finally:
        sampler.cancel()
    after = rss_bytes(server.worker_pid)
    await asyncio.gather(*(visit.client.close() for visit in visits if visit.client))
    return {
        "solo": solo,
        "rss_idle": idle,
        "rss_connected": connected,
        "rss_peak": max(peak.peak, connected or 0, after or 0),
    }


async def single_client_baseline(ctx: RunContext, server: Server, build: Build, visit: Visit) -> dict:
    """One client alone, again and again: load, cancel (timed), resume (not timed)."""
    rounds = ctx.pick_int(10, 3)
    log(f"baseline: one client alone, {rounds} loads and cancels (+1 warm-up)")
    loads, actions = [], []
    async with httpx.AsyncClient(timeout=STEP_TIMEOUT_S) as http:
        for number in range(rounds + 1):
            solo = Visit(visit.token, visit.subscription)
            await load(server, build, http, solo)
            await cancel(solo)
            await resume(solo)
            await solo.client.close()
            if number:  # the first round warms the worker up (imports, caches) and is not counted
                loads.append(solo.load_ms)
                actions.append(solo.action_ms)
    return {"load_ms": loads, "action_ms": actions}


async def load(server: Server, build: Build, http: httpx.AsyncClient, visit: Visit) -> None:
    """What opening the portal link does: GET the page, connect, hydrate, on_load → data."""
    started = time.perf_counter()
    page_path = routes.portal_path(visit.token)
    response = await http.get(server.url + page_path)
    response.raise_for_status()
    parts = urlsplit(server.url)
    visit.client = PortalClient("127.0.0.1", parts.port or 80, page_path, build)
    await visit.client.connect()
    await visit.client.wait_until(
        lambda state: state.get("page_status") == "ready" and _row(state, visit.subscription) is not None,
        STEP_TIMEOUT_S,
    )
    visit.load_ms = (time.perf_counter() - started) * 1000


async def cancel(visit: Visit) -> None:
    """Click "Cancel subscription", then "Cancel at period end"; until "Cancels on" shows."""
    client = visit.client
    assert client is not None
    started = time.perf_counter()
    client.emit("open_cancel", {"sub_id": visit.subscription})
    await client.wait_until(lambda state: state.get("cancel_dialog_open") is True, STEP_TIMEOUT_S)
    client.emit("confirm_cancel")
    await client.wait_until(
        lambda state: (
            state.get("pending") == ""
            and (_row(state, visit.subscription) or {}).get("period_line", "").startswith("Cancels on")
        ),
        STEP_TIMEOUT_S,
    )
    visit.action_ms = (time.perf_counter() - started) * 1000


async def resume(visit: Visit) -> None:
    client = visit.client
    assert client is not None
    client.emit("resume", {"sub_id": visit.subscription})
    await client.wait_until(
        lambda state: (
            state.get("pending") == ""
            and (_row(state, visit.subscription) or {}).get("period_line", "").startswith("Renews on")
        ),
        STEP_TIMEOUT_S,
    )


def _row(state: dict, subscription: str) -> dict | None:
    return next((row for row in state.get("subscriptions") or [] if row.get("id") == subscription), None)


class RssPeak:
    def __init__(self, pid: int) -> None:
        self.pid, self.peak = pid, 0

    async def sample(self) -> None:
        while True:  # ends when cancelled, right after the actions finish
            self.peak = max(self.peak, rss_bytes(self.pid) or 0)
            await asyncio.sleep(RSS_SAMPLE_S)  # a sampling period, not synchronisation


def figures_for(measured: dict, visits: list[Visit]) -> list[Figure]:
    n = len(visits)
    actions = [v.action_ms for v in visits]
    loads = [v.load_ms for v in visits]
    solo = measured["solo"]
    idle, peak = measured["rss_idle"], measured["rss_peak"]
    details = {
        "clients": n,
        "action_p50_ms": median(actions),
        "load_p50_ms": median(loads),
        "solo_action_ms": solo["action_ms"],
        "solo_load_ms": solo["load_ms"],
        "rss_connected_bytes": measured["rss_connected"],
        "client": "bench/reflex_client.py (Socket.IO over wsproto), all clients in one asyncio process on the client core",
    }
    solo_name = "one client alone (same protocol, same server)"
    return [
        Figure(
            f"{BENCH}.action.p95",
            BENCH,
            f"Cancel with {n} clients at once, p95",
            percentile(actions, 95),
            "ms",
            percentile(solo["action_ms"], 95),
            solo_name,
            details=details,
        ),
        Figure(
            f"{BENCH}.load.p95",
            BENCH,
            f"Portal load with {n} clients at once, p95",
            percentile(loads, 95),
            "ms",
            percentile(solo["load_ms"], 95),
            solo_name,
        ),
        Figure(f"{BENCH}.rss.idle", BENCH, "Worker RSS idle (warmed up)", idle, "bytes"),
        Figure(
            f"{BENCH}.rss.load", BENCH, f"Worker RSS with {n} clients (peak)", peak, "bytes", idle, "idle RSS"
        ),
        Figure(
            f"{BENCH}.rss.per_client",
            BENCH,
            "Worker RSS per client",
            (peak - idle) / n if peak and idle else None,
            "bytes",
            details={"formula": "(peak RSS with all clients − idle RSS) / clients"},
        ),
    ]
