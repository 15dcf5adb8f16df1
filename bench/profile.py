"""Profile the server worker under the session API load or under portal page loads (py-spy).

    python -m bench.profile session-api [--seconds 15]
    python -m bench.profile portal-load [--loads 20]      # Chromium, fresh contexts (assets too)
    python -m bench.profile portal-clients [--clients 200]  # websocket clients: load + cancel

Samples the Granian worker of a `billstack serve` we start (py-spy record; blocking mode,
whose brief pauses give whole stacks) while the benchmark's own client drives it, then prints the
functions with the most samples: "self" (the frame on top of the stack) and "inclusive"
(anywhere on the stack). Raw collapsed stacks go to bench/results/profile-<target>.txt
(any flame-graph tool reads them). Not part of `make bench`: needs py-spy
(`pip install py-spy`) and ptrace rights over the worker.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from bench.common import EMULATOR_PORTS, RESULTS_DIR
from bench.context import RunContext
from billstack import routes

SAMPLE_RATE = 200  # Hz


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("target", choices=("session-api", "portal-load", "portal-clients"))
    parser.add_argument("--seconds", type=float, default=15.0, help="session-api: seconds of load")
    parser.add_argument("--loads", type=int, default=20, help="portal-load: fresh-context page loads")
    parser.add_argument("--clients", type=int, default=200, help="portal-clients: simultaneous clients")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        raise SystemExit("py-spy is not installed: .venv/bin/pip install py-spy")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    output = RESULTS_DIR / f"profile-{args.target}.txt"
    work = Path(tempfile.mkdtemp(prefix="billstack-profile-"))
    try:
        ctx = RunContext(smoke=False, work_dir=work)
        if args.target == "session-api":
            profile_session_api(ctx, py_spy, output, args.seconds)
        elif args.target == "portal-load":
            profile_portal_load(ctx, py_spy, output, args.loads)
        else:
            profile_portal_clients(ctx, py_spy, output, args.clients)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summarise(output, args.top)


@contextmanager
def sampled(py_spy: str, pid: int, output: Path) -> Iterator[None]:
    """py-spy records `pid` while the block runs, and writes `output` when it ends (on SIGINT)."""
    recorder = subprocess.Popen(
        [py_spy, "record", "--pid", str(pid), "--rate", str(SAMPLE_RATE), "--format", "raw",
         "--output", str(output)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        yield
    finally:
        recorder.send_signal(2)
        _, err = recorder.communicate(timeout=60)
    if recorder.returncode not in (0, -2, 130):
        raise RuntimeError(f"py-spy failed ({recorder.returncode}): {err.decode(errors='replace')[-2000:]}")


def profile_session_api(ctx: RunContext, py_spy: str, output: Path, seconds: float) -> None:
    from bench.fixtures import api_tenant, use_database
    from bench.servers import billstack_server
    from bench.session_api import CUSTOMERS, drive, session_requests

    work = ctx.scratch("profile-session-api")
    db_url = f"sqlite:///{work / 'billstack.db'}"
    with use_database(db_url, work / "data"):
        tenant = api_tenant(CUSTOMERS)
    with billstack_server(db_url, work) as server:
        requests = session_requests(server, tenant)
        drive(server, requests, 1.0, ctx)  # warm-up, not sampled
        with sampled(py_spy, server.worker_pid, output):
            result = drive(server, requests, seconds, ctx)
    print(f"session API under profile: {result['rps']:.0f} requests/s, p50 {result['p50_ms']:.1f} ms")


def profile_portal_load(ctx: RunContext, py_spy: str, output: Path, loads: int) -> None:
    from bench.browser import chromium
    from bench.fixtures import emulator_tenant, mint_session, use_database
    from bench.portal_browser import load_once
    from bench.servers import billstack_server, emulator

    work = ctx.scratch("profile-portal-load")
    db_url = f"sqlite:///{work / 'billstack.db'}"
    with emulator(EMULATOR_PORTS[0], work) as stripe:
        with use_database(db_url, work / "data"):
            tenant = emulator_tenant(stripe, customers=1)
        with (
            billstack_server(db_url, work, BILLSTACK_SYNC_MAX_AGE="3600") as server,
            chromium() as browser,
            httpx.Client(timeout=30) as http,
        ):
            customer = tenant.customer_ids[0]
            load_once(
                browser, routes.portal_url(server.url, mint_session(http, server.url, tenant, customer)["token"])
            )
            with sampled(py_spy, server.worker_pid, output):
                times = [
                    load_once(
                        browser,
                        routes.portal_url(server.url, mint_session(http, server.url, tenant, customer)["token"]),
                    ).visible_ms
                    for _ in range(loads)
                ]
    print(f"portal loads under profile: {loads}, median time to data {sorted(times)[len(times) // 2]:.0f} ms")


def profile_portal_clients(ctx: RunContext, py_spy: str, output: Path, clients: int) -> None:
    """The concurrency benchmark's scenario (load, then cancel, all at once), sampled throughout."""
    import asyncio

    from bench import concurrency
    from bench.common import CLIENT_CPU, ROOT, WEB_WORKDIR, pinned_to
    from bench.fixtures import emulator_tenant, mint_session, use_database
    from bench.reflex_client import Build
    from bench.servers import billstack_server, emulator

    work = ctx.scratch("profile-portal-clients")
    db_url = f"sqlite:///{work / 'billstack.db'}"
    with emulator(EMULATOR_PORTS[0], work) as stripe:
        with use_database(db_url, work / "data"):
            tenant = emulator_tenant(stripe, (clients + 1) // 2)
        with (
            billstack_server(db_url, work, BILLSTACK_SYNC_MAX_AGE="3600") as server,
            httpx.Client(timeout=30) as http,
        ):
            visits = [
                concurrency.Visit(
                    mint_session(http, server.url, tenant, tenant.customer_ids[i // 2])["token"],
                    tenant.subscriptions[tenant.customer_ids[i // 2]][i % 2],
                )
                for i in range(clients)
            ]
            build = Build.read(ROOT / WEB_WORKDIR)
            with sampled(py_spy, server.worker_pid, output), pinned_to(CLIENT_CPU):
                asyncio.run(concurrency.measure(ctx, server, build, tenant, visits))
    loads = sorted(v.load_ms for v in visits)
    print(f"{clients} clients under profile: load p50 {loads[len(loads) // 2]:.0f} ms")


_LINE = re.compile(r" \(([^()]*):\d+\)$")
OUR_CODE = ("billstack/", "api_routes/")


def summarise(collapsed: Path, top: int) -> None:
    """Self samples per function and per package; inclusive samples of our own functions."""
    own: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    total = 0
    idle = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short(f) for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        if not frames or _is_idle(frames[-1]):
            idle += count  # a thread waiting (for work, a lock, the selector) or in native code only
            continue
        total += count
        own[frames[-1]] += count
        packages[_package(frames[-1])] += count
        for frame in set(frames):
            anywhere[frame] += count
    print(f"\n{total} busy samples at {SAMPLE_RATE} Hz (and {idle} idle ones, left out) → {collapsed}")
    print("percentages are of the busy samples")
    print(f"\ntop {top} functions by self samples (time in the function itself, or in C/Rust it calls):")
    _print(own.most_common(top), total)
    print("\nself samples by package:")
    _print(packages.most_common(), total)
    root = max(anywhere.values(), default=0)  # the process's start-up chain is on every stack: skip it
    ours = [
        (frame, count)
        for frame, count in anywhere.most_common()
        if any(f"({code}" in frame for code in OUR_CODE) and count < 0.95 * root
    ]
    print(f"\ntop {top} of our functions by inclusive samples (anywhere on the stack):")
    _print(ours[:top], total)


# Leaves where a thread is waiting rather than working (py-spy's blocking mode samples them).
_IDLE_LEAVES = (
    "Condition.wait (threading.py)",
    "Event.wait (threading.py)",
    "Thread.join (threading.py)",
    "_worker (concurrent/futures/thread.py)",
    "EpollSelector.select (selectors.py)",
    "Queue.get (queue.py)",
)


def _is_idle(frame: str) -> bool:
    return frame.startswith(_IDLE_LEAVES)


def _print(rows: list[tuple[str, int]], total: int) -> None:
    for name, count in rows:
        print(f"  {100 * count / max(total, 1):5.1f}%  {name}")


def _package(frame: str) -> str:
    match = re.search(r"\(([^()]*)\)$", frame)
    path = match.group(1) if match else frame
    if path.startswith(OUR_CODE):
        return path.split("/", 1)[0] + "/ (ours)"
    head = path.split("/", 1)[0]
    return head.removesuffix(".py") if "/" in path else f"stdlib:{head.removesuffix('.py')}"


def _short(frame: str) -> str:
    return _LINE.sub(lambda m: f" ({_trim(m.group(1))})", frame.strip())


def _trim(path: str) -> str:
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


if __name__ == "__main__":
    main()
