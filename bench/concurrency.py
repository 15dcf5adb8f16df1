"""Benchmark 5: 200 simultaneous portal clients on one server worker; latency and memory.
Then the same on two workers sharing Redis (`billstack serve --workers 2`, REFLEX_REDIS_URL
= BILLSTACK_BENCH_REDIS_URL, default the local Redis), reported against one worker: p95
action latency and actions per second (skipped, with the reason, when Redis is absent).

Each client (bench/reflex_client.py: Reflex's websocket protocol, no browser) fetches the
page's HTML, connects, hydrates and runs the page's on_load until its subscriptions
arrive; when all are in, every client cancels one subscription at once (the confirm in the
browser-side dialog) — the event a click sends. Figures: p95 action latency against the same
action by a single client alone (baseline), and the worker's RSS idle (warmed up, no
clients), with all clients connected and at the peak of the actions, per client. With two
workers, RSS is the sum over both.
"""

from __future__ import annotations

import asyncio
import os
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
    Target,
    log,
    median,
    percentile,
    cpu_seconds,
    pinned_to,
    rss_bytes,
)
from bench.context import RunContext
from bench.fixtures import Tenant, emulator_tenant, mint_session, use_database
from bench.reflex_client import BROWSER_NAVIGATION, Build, PortalClient, binding_cookie
from bench.servers import Server, billstack_server, emulator
from billstack import routes
from devtools.redis_server import unreachable_reason

BENCH = "concurrency"
STEP_TIMEOUT_S = 120  # one step of one client, however loaded the machine is
RSS_SAMPLE_S = 0.05
# Issue 19's targets: one worker core serves 200 customers at once with no visible wait;
# a second worker adds capacity in proportion; a connected page costs little memory.
P95_TARGET_MS = 400
RSS_PER_CLIENT_TARGET = 300 * 1024
SCALING_TARGET = 1.7
REDIS_URL = os.environ.get("BILLSTACK_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass
class Visit:
    """One client: its session, the subscription it cancels, and what it measured."""

    token: str
    subscription: str
    load_ms: float | None = None
    action_ms: float | None = None
    client: PortalClient | None = field(default=None, repr=False)
    # The client's link-binding cookie: its first load binds the link to it (issue 18), and
    # like a browser it sends it with every later load and its websocket.
    cookie: str = field(default="", repr=False)


def run(ctx: RunContext) -> list[Figure]:
    clients = ctx.pick_int(200, 10)
    work = ctx.scratch("concurrency")
    db_url = f"sqlite:///{work / 'billstack.db'}"
    redis_down = unreachable_reason(REDIS_URL)
    with emulator(EMULATOR_PORTS[0], work) as stripe:
        customers = (clients + 1) // 2  # each demo customer has two subscriptions
        log(f"seeding {customers} demo customers (two subscriptions each) on the emulator")
        with use_database(db_url, work / "data"):
            tenant = emulator_tenant(stripe, customers)
            # The first run cancels every subscription: the second gets customers of its own.
            second = None if redis_down else emulator_tenant(stripe, customers)
        one = serve_and_measure(ctx, db_url, work, tenant, clients)
        figures = figures_for(*one)
        if second is None:
            ctx.skip(f"{BENCH}.two_workers", f"two workers need Redis: {redis_down}")
            return figures
        log(f"again on two workers sharing Redis ({REDIS_URL})")
        two = serve_and_measure(ctx, db_url, work, second, clients, workers=2, REFLEX_REDIS_URL=REDIS_URL)
    return figures + scaling_figures(one, two)


def serve_and_measure(
    ctx: RunContext, db_url: str, work, tenant: Tenant, clients: int, workers: int = 1, **settings: str
) -> tuple[dict, list[Visit]]:
    with (
        billstack_server(db_url, work, workers=workers, BILLSTACK_SYNC_MAX_AGE="3600", **settings) as server,
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
    measured["workers"] = workers
    return measured, visits


async def measure(ctx: RunContext, server: Server, build: Build, tenant: Tenant, visits: list[Visit]) -> dict:
    solo = await single_client_baseline(ctx, server, build, visits[0])
    idle = workers_rss(server)
    log(f"{len(visits)} clients load the portal at once")
    cpu_before_loads = workers_cpu(server)
    async with httpx.AsyncClient(timeout=STEP_TIMEOUT_S, limits=httpx.Limits(max_connections=None)) as http:
        await asyncio.gather(*(load(server, build, http, visit) for visit in visits))
    cpu_loads = workers_cpu(server) - cpu_before_loads
    connected = workers_rss(server)
    log(f"{len(visits)} clients cancel a subscription at once")
    peak = RssPeak(server)
    sampler = asyncio.create_task(peak.sample())
    cpu_before_actions = workers_cpu(server)
    started = time.perf_counter()
    try:
        await asyncio.gather(*(cancel(visit) for visit in visits))
    finally:
        sampler.cancel()
    actions_s = time.perf_counter() - started
    cpu_actions = workers_cpu(server) - cpu_before_actions
    after = workers_rss(server)
    await asyncio.gather(*(visit.client.close() for visit in visits if visit.client))
    return {
        "solo": solo,
        "rss_idle": idle,
        "rss_connected": connected,
        "rss_peak": max(peak.peak, connected or 0, after or 0),
        "actions_per_s": len(visits) / actions_s,
        # Server CPU (all workers, user + system) per portal load and per cancel, in µs.
        "cpu_per_load_us": cpu_loads / len(visits) * 1e6,
        "cpu_per_action_us": cpu_actions / len(visits) * 1e6,
    }


async def single_client_baseline(ctx: RunContext, server: Server, build: Build, visit: Visit) -> dict:
    """One client alone, again and again: load, cancel (timed), resume (not timed)."""
    rounds = ctx.pick_int(10, 3)
    log(f"baseline: one client alone, {rounds} loads and cancels (+1 warm-up)")
    loads, actions = [], []
    async with httpx.AsyncClient(timeout=STEP_TIMEOUT_S) as http:
        for number in range(rounds + 1):
            solo = Visit(visit.token, visit.subscription, cookie=visit.cookie)
            await load(server, build, http, solo)
            visit.cookie = solo.cookie  # one browser: later loads of this link carry its cookie
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
    headers = BROWSER_NAVIGATION | ({"cookie": visit.cookie} if visit.cookie else {})
    response = await http.get(server.url + page_path, headers=headers)
    response.raise_for_status()
    parts = urlsplit(server.url)
    visit.cookie = binding_cookie(response.headers.get_list("set-cookie")) or visit.cookie
    visit.client = PortalClient("127.0.0.1", parts.port or 80, page_path, build, cookie=visit.cookie)
    await visit.client.connect()
    await visit.client.wait_until(
        lambda state: state.get("page_status") == "ready" and _row(state, visit.subscription) is not None,
        STEP_TIMEOUT_S,
    )
    visit.load_ms = (time.perf_counter() - started) * 1000


async def cancel(visit: Visit) -> None:
    """Click "Cancel subscription" (the dialog opens in the browser), then "Cancel at period
    end": the one event a click sends; until "Cancels on" shows."""
    client = visit.client
    assert client is not None
    started = time.perf_counter()
    client.emit("confirm_cancel", {"sub_id": visit.subscription, "reason": None})
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


def workers_rss(server: Server) -> int | None:
    sizes = [rss_bytes(pid) for pid in server.worker_pids]
    return None if None in sizes else sum(sizes)


def workers_cpu(server: Server) -> float:
    """CPU seconds (user + system) the server's workers have used so far."""
    return sum(cpu_seconds(pid) or 0.0 for pid in server.worker_pids)


class RssPeak:
    def __init__(self, server: Server) -> None:
        self.server, self.peak = server, 0

    async def sample(self) -> None:
        while True:  # ends when cancelled, right after the actions finish
            self.peak = max(self.peak, workers_rss(self.server) or 0)
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
        "actions_per_s": measured["actions_per_s"],
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
            [Target("value", "<=", P95_TARGET_MS)],
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
            [Target("value", "<=", P95_TARGET_MS)],
        ),
        Figure(
            f"{BENCH}.cpu.load",
            BENCH,
            "Server CPU per portal load (page, websocket, hydrate, on_load)",
            measured["cpu_per_load_us"],
            "µs",
            details={"formula": "worker CPU time over the 200-client load phase / clients", "events_per_load": 2},
        ),
        Figure(
            f"{BENCH}.cpu.action",
            BENCH,
            "Server CPU per cancel (one event, one Stripe write)",
            measured["cpu_per_action_us"],
            "µs",
            details={"formula": "worker CPU time over the 200-client cancel phase / clients", "events_per_action": 1},
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
            targets=[Target("value", "<=", RSS_PER_CLIENT_TARGET)],
            details={"formula": "(peak RSS with all clients − idle RSS) / clients"},
        ),
    ]


def scaling_figures(one: tuple[dict, list[Visit]], two: tuple[dict, list[Visit]]) -> list[Figure]:
    """Two workers with Redis against one worker alone, same clients, same machine."""
    (single, single_visits), (double, double_visits) = one, two
    n = len(double_visits)
    details = {
        "clients": n,
        "one_worker": "pinned to one core, in-process state",
        "two_workers": "billstack serve --workers 2, REFLEX_REDIS_URL, not pinned (the client keeps its core)",
        "cores": os.cpu_count(),
    }
    return [
        Figure(
            f"{BENCH}.two_workers.action.p95", BENCH, f"Cancel with {n} clients at once on two workers + Redis, p95",
            percentile([v.action_ms for v in double_visits], 95), "ms",
            percentile([v.action_ms for v in single_visits], 95), "one worker, same clients", details=details,
        ),
        Figure(
            f"{BENCH}.two_workers.load.p95", BENCH, f"Portal load with {n} clients at once on two workers + Redis, p95",
            percentile([v.load_ms for v in double_visits], 95), "ms",
            percentile([v.load_ms for v in single_visits], 95), "one worker, same clients",
        ),
        Figure(
            f"{BENCH}.two_workers.throughput", BENCH, f"Cancels per second with {n} clients on two workers + Redis",
            double["actions_per_s"], "actions/s", single["actions_per_s"], "one worker, same clients",
            [Target("ratio", ">=", SCALING_TARGET)],
            details={"rss_peak_bytes_two_workers": double["rss_peak"]},
        ),
    ]
