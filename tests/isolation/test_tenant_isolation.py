"""One tenant's slow Stripe must not slow down another tenant (the real server, end to end).

`billstack serve` runs as in production, with two projects, A and B, on one Stripe emulator
(each its own account key). B's latencies are measured with nothing else going on (before
and after), and while A's Stripe account answers only after STRIPE_DELAY_MS and A has
A_ACTIONS portal actions (one token, in parallel) and A_TABS portal pages in flight. B's
medians under that load must stay within twice the normal ones, nothing anywhere may
answer 500, and A's own requests may only succeed (200), be refused for being too many
(429), or say that Stripe or the server is busy (503) — in the JSON error shape.

"Page load" is measured both ways a portal page loads its data: `GET /api/portal/{token}`
(the portal API) and the Reflex page itself (the HTML, then the websocket and its on_load,
spoken by bench/reflex_client.py until the subscriptions are on screen).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from bench.reflex_client import BROWSER_NAVIGATION, Build, PortalClient, binding_cookie
from billstack.config import reset_settings
from billstack.db import engine_for
from devtools.emulator import clear_faults, inject_faults
from tests.conftest import throwaway_pg_database
from tests.e2e.seeding import Tenant, new_portal_session, seed_tenant
from tests.live_server import REPO, LiveServer, live_billstack

# A fixed port keeps the frontend bundle (built for one public URL) reusable across runs;
# its own build folder keeps it from rebuilding the one the browser tests use.
ISOLATION_PORT = int(os.environ.get("BILLSTACK_ISOLATION_PORT", "18771"))
WEB_WORKDIR = ".web-isolation"

STRIPE_DELAY_MS = 30_000
DELAYED_REQUESTS = 1_000  # more than A makes in the run: every one of A's Stripe requests waits
A_ACTIONS = 50
A_TABS = 8
SAMPLES = 30  # of each of B's requests, per run
PAGE_SAMPLES = 8  # Reflex page loads (each a new websocket), per run
IN_FLIGHT = 4  # at least this many of A's requests wait at Stripe while B is measured under load
A_TIMEOUT_S = 90  # one of A's actions: longer than the Stripe delay, so every answer comes back
B_TIMEOUT_S = 15  # one of B's requests; one that takes longer counts as this long and as failed
PHASE_TIMEOUT_S = 60  # all of one run of B's measurements
SETTLE_TIMEOUT_S = 20  # for A's load to settle before B is measured under it
POLL_S = 0.05  # how often the emulator's queue of delayed requests is looked at


@dataclass
class Run:
    """One run of B's requests: latency (ms) per kind, and every answer's status."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: {"session": [], "api_load": [], "page": []})
    statuses: list[int | str] = field(default_factory=list)

    def median(self, kind: str) -> float:
        return statistics.median(self.latencies[kind])

    def merged(self, other: Run) -> Run:
        return Run({kind: values + other.latencies[kind] for kind, values in self.latencies.items()},
                   self.statuses + other.statuses)


@dataclass(frozen=True)
class Scene:
    server: LiveServer
    build: Build
    a: Tenant
    b: Tenant
    a_token: str
    a_subscription: str
    a_tab_tokens: list[str]
    b_token: str


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, emulator_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[LiveServer]:
    """The server on SQLite, then on PostgreSQL (a database of its own, migrated by `serve`)."""
    with contextlib.ExitStack() as stack:
        database_url = (
            stack.enter_context(throwaway_pg_database("billstack_isolation"))
            if request.param == "postgresql" else None
        )
        server = stack.enter_context(live_billstack(
            ISOLATION_PORT,
            tmp_path_factory.mktemp("isolation-data"),
            emulator_url,
            database_url=database_url,
            web_workdir=WEB_WORKDIR,
            BILLSTACK_SYNC_MAX_AGE="3600",  # no background refresh of B's fresh mirror mid-measurement
            BILLSTACK_LOG_LEVEL="WARNING",
        ))
        monkeypatch.setenv("BILLSTACK_DATABASE_URL", server.db_url)  # seed the server's database
        reset_settings()
        yield server
        engine_for(server.db_url).dispose()  # before the PostgreSQL database is dropped


def test_a_tenant_whose_stripe_is_slow_does_not_slow_down_another(live: LiveServer) -> None:
    a, b = seed_tenant(live.emulator_url), seed_tenant(live.emulator_url)
    scene = Scene(
        server=live,
        build=Build.read(REPO / WEB_WORKDIR),
        a=a,
        b=b,
        a_token=new_portal_session(live.url, a)["token"],
        a_subscription=a.seeded["subscriptions"][0],
        # Pages of A's other customer, never synced: opening one reads Stripe.
        a_tab_tokens=[new_portal_session(live.url, a, a.other_customer_id)["token"] for _ in range(A_TABS)],
        b_token=new_portal_session(live.url, b)["token"],
    )
    try:
        normal, under_load, a_answers = asyncio.run(_scenario(scene))
    finally:
        clear_faults(live.emulator_url, a.stripe_key)

    figures = {
        kind: (round(normal.median(kind), 1), round(under_load.median(kind), 1)) for kind in normal.latencies
    }
    a_outcomes = Counter(f"{status} {body.get('error', {}).get('code', '')}".strip() for status, body in a_answers)
    print(f"\nB's median ms (normal, with A's Stripe slow): {figures}; "
          f"A's {A_ACTIONS} actions: {dict(sorted(a_outcomes.items()))}")

    assert set(normal.statuses) == {200}, normal.statuses
    assert set(under_load.statuses) == {200}, f"B's answers while A's Stripe was slow: {under_load.statuses}"
    for kind, (before, during) in figures.items():
        assert during <= 2 * before, f"B's {kind} median went from {before} ms to {during} ms"
    assert {status for status, _body in a_answers} <= {200, 429, 503}, a_outcomes
    assert "Traceback" not in live.log_path.read_text(), f"the server logged errors: see {live.log_path}"
    for status, body in a_answers:
        if status != 200:
            error = body["error"]
            assert {"type", "code", "message"} <= set(error), body
            assert all(isinstance(error[k], str) and error[k] for k in ("type", "code", "message")), body


async def _scenario(scene: Scene) -> tuple[Run, Run, list[tuple[int | str, dict]]]:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with (
        httpx.AsyncClient(base_url=scene.server.url, timeout=B_TIMEOUT_S) as b_http,
        httpx.AsyncClient(base_url=scene.server.url, timeout=A_TIMEOUT_S, limits=limits) as a_http,
    ):
        await _warm_up(scene, a_http, b_http)
        before = await _measure_b(scene, b_http)

        inject_faults(
            scene.server.emulator_url, scene.a.stripe_key, status=None, count=DELAYED_REQUESTS,
            delay_ms=STRIPE_DELAY_MS,
        )
        actions = [asyncio.create_task(_cancel(scene, a_http)) for _ in range(A_ACTIONS)]
        tabs = [_tab(scene, token) for token in scene.a_tab_tokens]
        try:
            await asyncio.gather(*(tab.connect() for tab in tabs))  # each page's on_load starts at once
            await _until_a_waits_on_stripe(scene, actions)
            under_load = await _measure_b(scene, b_http)
            async with asyncio.timeout(A_TIMEOUT_S + 30):
                a_answers = await asyncio.gather(*actions)
        finally:
            for task in actions:
                task.cancel()
            await asyncio.gather(*(tab.close() for tab in tabs), return_exceptions=True)
        clear_faults(scene.server.emulator_url, scene.a.stripe_key)
        after = await _measure_b(scene, b_http)
    # "Normal" is measured on both sides of the load, so that a machine busy with something
    # else for a while (other test runs on a shared 2-core box) weighs on it as on the rest.
    return before.merged(after), under_load, a_answers


async def _warm_up(scene: Scene, a_http: httpx.AsyncClient, b_http: httpx.AsyncClient) -> None:
    """First opens sync the mirrors from Stripe; imports and caches warm up on a first run."""
    for http, token in ((a_http, scene.a_token), (b_http, scene.b_token)):
        response = await http.get(f"/api/portal/{token}")
        assert response.status_code == 200, response.text
    await _measure_b(scene, b_http, samples=3, page_samples=2)


async def _measure_b(scene: Scene, http: httpx.AsyncClient, *, samples: int = SAMPLES,
                     page_samples: int = PAGE_SAMPLES) -> Run:
    """B's requests one after another (each timed alone), the kinds taking turns so that
    anything else going on weighs on all alike; stalled ones count as B_TIMEOUT_S."""
    run = Run()
    deadline = time.monotonic() + PHASE_TIMEOUT_S
    b = scene.b

    async def create() -> int:
        response = await http.post(
            f"/api/billstack/teams/{b.team_id}/projects/{b.project_id}/portal",
            headers={"Authorization": f"Bearer {b.api_key}"},
            json={"customerId": b.customer_id},
        )
        return response.status_code

    async def api_load() -> int:
        return (await http.get(f"/api/portal/{scene.b_token}")).status_code

    for turn in range(samples):
        await _timed(run, "session", deadline, create)
        await _timed(run, "api_load", deadline, api_load)
        if turn < page_samples:
            await _timed(run, "page", deadline, lambda: _page_load(scene, http))
    return run


async def _timed(run: Run, kind: str, deadline: float, request: Callable[[], Awaitable[int]]) -> None:
    if time.monotonic() > deadline:  # the phase ran out: this one counts as stalled, unsent
        run.latencies[kind].append(B_TIMEOUT_S * 1000)
        run.statuses.append("not sent (phase timed out)")
        return
    started = time.perf_counter()
    try:
        async with asyncio.timeout(B_TIMEOUT_S):
            status: int | str = await request()
    except TimeoutError:
        status = "timeout"
    except httpx.HTTPError as exc:
        status = type(exc).__name__
    run.latencies[kind].append((time.perf_counter() - started) * 1000)
    run.statuses.append(status)


async def _page_load(scene: Scene, http: httpx.AsyncClient) -> int:
    """What opening the portal link does: GET the page, connect, hydrate, on_load → data."""
    page = await http.get(f"/portal/{scene.b_token}", headers=BROWSER_NAVIGATION)
    if page.status_code != 200:
        return page.status_code
    # The first load bound the link to this client (issue 18): its tab sends the cookie, as a browser's would.
    tab = _tab(scene, scene.b_token, binding_cookie(page.headers.get_list("set-cookie"), http.cookies))
    try:
        await tab.connect()
        await tab.wait_until(lambda s: s.get("page_status") == "ready" and bool(s.get("subscriptions")), B_TIMEOUT_S)
    finally:
        await tab.close()
    return 200


def _tab(scene: Scene, token: str, cookie: str = "") -> PortalClient:
    port = int(scene.server.url.rsplit(":", 1)[1])
    return PortalClient("127.0.0.1", port, f"/portal/{token}", scene.build, cookie=cookie)


async def _cancel(scene: Scene, http: httpx.AsyncClient) -> tuple[int | str, dict]:
    try:
        response = await http.patch(
            f"/api/portal/{scene.a_token}/subscriptions/{scene.a_subscription}", json={"cancelAtPeriodEnd": True}
        )
    except httpx.HTTPError as exc:  # no answer within A_TIMEOUT_S (or none at all)
        return type(exc).__name__, {}
    return response.status_code, response.json()


async def _until_a_waits_on_stripe(scene: Scene, actions: list[asyncio.Task]) -> None:
    """Until A's load is what it will be for a while: at least IN_FLIGHT of A's requests
    wait at the emulator, and every action of A's has either been answered (refused at
    once, say) or may be one of those waiting. Each request that reaches the emulator
    takes one of the queued delays, so the queue's length tells how many did.

    A server that stalls never gets there: after SETTLE_TIMEOUT_S it is measured as it is,
    provided A's requests do wait at Stripe (else there would be no load to test under).
    """
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    async with httpx.AsyncClient(timeout=10) as http:
        while True:
            response = await http.get(
                f"{scene.server.emulator_url}/_emulator/faults",
                headers={"Authorization": f"Bearer {scene.a.stripe_key}"},
            )
            at_stripe = DELAYED_REQUESTS - len(response.json()["faults"])
            unanswered = sum(not task.done() for task in actions)
            if at_stripe >= IN_FLIGHT and unanswered <= at_stripe:
                return
            if time.monotonic() > deadline:
                assert at_stripe >= IN_FLIGHT, f"only {at_stripe} of A's requests reached Stripe"
                return
            await asyncio.sleep(POLL_S)  # a polling interval, bounded by the deadline above
