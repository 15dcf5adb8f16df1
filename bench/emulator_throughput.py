"""How many simple requests per second the Stripe emulator serves on one core.

Starts `stripe_emulator.server.serve` in a child process pinned to one CPU (unless
--url points at a running emulator), then drives it from worker processes, one
keep-alive connection each (kept off the emulator's core), and prints requests/s for a retrieve (GET) and a create (POST), plus the
emulator's CPU time per request (so a busy machine does not hide its capacity).

    .venv/bin/python bench/emulator_throughput.py            # 5 s per phase
    .venv/bin/python bench/emulator_throughput.py --smoke    # ~2 s in all
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing as mp
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from devtools.ports import free_port

ROOT = Path(__file__).resolve().parents[1]


def _cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of a process (Linux /proc), or None where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, TypeError):
        return None


@contextmanager
def _emulator(latency_ms: int, cpu: int | None) -> Iterator[tuple[str, int]]:
    port = free_port()
    code = f"from stripe_emulator.server import serve; serve(port={port}, latency_ms={latency_ms})"
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(proc.pid, {cpu})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    try:
        while True:
            try:
                if httpx.get(f"{url}/_emulator/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(
                    f"emulator did not start: {proc.stderr.read().decode() if proc.stderr else ''}"
                )
            time.sleep(0.05)
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _worker(url: str, key: str, method: str, path: str, stop_at: float, out: Any) -> None:
    """One keep-alive connection, requests back to back until `stop_at` (load-generator process)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/x-www-form-urlencoded"}
    body = "email=bench%40example.com" if method == "POST" else None
    done = errors = 0
    started = time.perf_counter()
    while time.time() < stop_at:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        done += 1
        errors += resp.status >= 400
    out.put((done, errors, done / (time.perf_counter() - started)))


def _phase(
    url: str, key: str, method: str, path: str, seconds: float, concurrency: int
) -> tuple[int, int, float]:
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    stop_at = time.time() + seconds
    procs = [
        ctx.Process(target=_worker, args=(url, key, method, path, stop_at, out)) for _ in range(concurrency)
    ]
    for proc in procs:
        proc.start()
    totals = [out.get() for _ in procs]
    for proc in procs:
        proc.join()
    return sum(t[0] for t in totals), sum(t[1] for t in totals), sum(t[2] for t in totals)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="run about 2 seconds in all")
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each phase")
    parser.add_argument(
        "--concurrency", type=int, default=2, help="load-generator processes (one connection each)"
    )
    parser.add_argument("--latency-ms", type=int, default=0, help="the emulator's --latency-ms")
    parser.add_argument("--url", help="benchmark an emulator that is already running")
    parser.add_argument("--cpu", type=int, default=0, help="CPU to pin the emulator to (-1: no pinning)")
    args = parser.parse_args()
    seconds = 1.0 if args.smoke else args.seconds

    if hasattr(os, "sched_setaffinity") and args.cpu >= 0 and os.cpu_count() and os.cpu_count() > 1:
        others = set(range(os.cpu_count() or 1)) - {args.cpu}
        os.sched_setaffinity(0, others)  # keep the load generator off the emulator's core

    sys.path.insert(0, str(ROOT))
    from devtools.emulator import new_account_key

    key = new_account_key()
    with (
        _emulator(args.latency_ms, None if args.cpu < 0 else args.cpu) if not args.url else _nullctx(args.url)
    ) as (url, pid):
        cus = httpx.post(
            f"{url}/v1/customers",
            data={"email": "bench@example.com"},
            headers={"Authorization": f"Bearer {key}"},
        ).json()["id"]
        results: dict[str, float] = {}
        capacity: dict[str, float] = {}
        for label, method, path in (
            ("GET  /v1/customers/{id}", "GET", f"/v1/customers/{cus}"),
            ("POST /v1/customers", "POST", "/v1/customers"),
        ):
            cpu_before = _cpu_seconds(pid)
            done, errors, rate = _phase(url, key, method, path, seconds, args.concurrency)
            cpu_after = _cpu_seconds(pid)
            results[label] = rate
            line = f"{label:28s} {rate:8.0f} requests/s  ({done} requests, {errors} errors, concurrency {args.concurrency})"
            if cpu_before is not None and cpu_after is not None and cpu_after > cpu_before:
                per_request = (cpu_after - cpu_before) / done
                capacity[label] = 1 / per_request
                line += f"; emulator CPU {per_request * 1e6:.0f} µs/request → {1 / per_request:.0f} requests/s per core"
            print(line)
    pinned = f"pinned to CPU {args.cpu}" if not args.url and args.cpu >= 0 else "not pinned"
    print(f"emulator throughput: {min(results.values()):.0f} requests/s (slowest phase; emulator {pinned})")
    if capacity:
        # Wall-clock rates drop when other work shares the core; CPU per request does not.
        print(
            f"emulator capacity: {min(capacity.values()):.0f} requests/s per core (from its CPU time; slowest phase)"
        )


@contextmanager
def _nullctx(url: str) -> Iterator[tuple[str, None]]:
    yield url.rstrip("/"), None


if __name__ == "__main__":
    main()
