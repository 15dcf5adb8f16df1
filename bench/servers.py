"""The processes under test: BillStack (`billstack serve`), the baselines and the Stripe emulator.

Servers are pinned to SERVER_CPU and run one Granian worker (the default), unless a
benchmark asks for more workers (then on every core, with Redis: `billstack serve --workers N`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.common import (
    BASELINE_PORT,
    PORTAL_PORT,
    PYTHON,
    SERVER_CPU,
    Child,
    child_process,
    http_ok,
    pinned,
    require_free_port,
    server_env,
    wait_for_workers,
)

# Generous: after a source change `billstack serve` rebuilds the frontend bundle first.
SERVER_START_TIMEOUT_S = 600
# Session creations per key per minute: high enough that the limiter runs but never refuses.
UNLIMITED_RATE = "1000000000"
# Portal calls one project may have waiting on Stripe: the benchmarks load one tenant on
# purpose, so its calls queue for the Stripe threads instead of being refused (503
# portal_busy), and the figures are latencies under that load.
UNLIMITED_CALLS = "1000000"


@dataclass(frozen=True)
class Server:
    url: str
    child: Child
    worker_pids: tuple[int, ...]

    @property
    def pid(self) -> int:
        return self.child.pid

    @property
    def worker_pid(self) -> int:
        return self.worker_pids[0]


@contextmanager
def billstack_server(
    db_url: str, log_dir: Path, *, with_static_baseline: bool = False, workers: int = 1, **settings: str
) -> Iterator[Server]:
    """`billstack serve` on PORTAL_PORT (public URL http://localhost:PORT, so the bundle in
    .web-bench is reused), or the same plus the bench's static baseline page. More than one
    worker needs REFLEX_REDIS_URL in `settings`; those servers are not pinned to one core."""
    require_free_port(PORTAL_PORT)
    url = f"http://localhost:{PORTAL_PORT}"
    env = server_env(
        BILLSTACK_DATABASE_URL=db_url,
        BILLSTACK_DATA_DIR=str(log_dir / "data"),
        BILLSTACK_HOST="127.0.0.1",
        BILLSTACK_PORT=str(PORTAL_PORT),
        BILLSTACK_PUBLIC_URL=url,
        BILLSTACK_RATE_LIMIT_SESSIONS_PER_MINUTE=UNLIMITED_RATE,
        BILLSTACK_RATE_LIMIT_PORTAL_ACTIONS_PER_MINUTE=UNLIMITED_RATE,
        BILLSTACK_STRIPE_CONCURRENCY_PER_PROJECT=UNLIMITED_CALLS,
        BILLSTACK_STRIPE_QUEUE=UNLIMITED_CALLS,
        BILLSTACK_LOG_LEVEL="WARNING",
        BILLSTACK_WORKERS=str(workers),
        **settings,
    )
    command = (
        [PYTHON, "-m", "bench.granian_targets", "portal"]
        if with_static_baseline
        else [PYTHON, "-m", "billstack", "serve"]
    )
    name = "billstack-serve-static-baseline" if with_static_baseline else "billstack-serve"
    with child_process(
        name,
        pinned(command, SERVER_CPU if workers == 1 else None),
        env=env,
        log_dir=log_dir,
        ready=lambda: http_ok(f"{url}/ping"),
        timeout_s=SERVER_START_TIMEOUT_S,
    ) as child:
        yield Server(url, child, tuple(wait_for_workers(child.pid, workers)))


@contextmanager
def insert_baseline_server(kind: str, log_dir: Path, **env_settings: str) -> Iterator[Server]:
    """The bare Starlette insert endpoint (`sqlite-insert` or `postgres-insert`) on BASELINE_PORT."""
    require_free_port(BASELINE_PORT)
    url = f"http://127.0.0.1:{BASELINE_PORT}"
    command = [PYTHON, "-m", "bench.granian_targets", kind, str(BASELINE_PORT)]
    with child_process(
        f"baseline-{kind}",
        pinned(command, SERVER_CPU),
        env=server_env(**env_settings),
        log_dir=log_dir,
        ready=lambda: http_ok(f"{url}/health"),
        timeout_s=60,
    ) as child:
        yield Server(url, child, tuple(wait_for_workers(child.pid)))


@contextmanager
def emulator(port: int, log_dir: Path, *, latency_ms: int = 0) -> Iterator[str]:
    """`billstack emulator --latency-ms N` (not pinned: it stands in for Stripe, not for us)."""
    require_free_port(port)
    url = f"http://127.0.0.1:{port}"
    command = [PYTHON, "-m", "billstack", "emulator", "--port", str(port), "--latency-ms", str(latency_ms)]
    with child_process(
        f"emulator-{latency_ms}ms",
        command,
        env=server_env(),
        log_dir=log_dir,
        ready=lambda: http_ok(f"{url}/_emulator/health"),
        timeout_s=60,
    ):
        yield url
