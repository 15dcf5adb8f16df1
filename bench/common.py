"""What every benchmark shares: figures, percentiles, ports, child processes, CPU pinning, RSS.

Every figure carries the baseline measured in the same run and the ratio to it, because
absolute numbers on a shared 2-core machine are noisy; the ratio is what we compare.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT / "bench" / ".data"  # seeded databases, reused between runs (gitignored)
RESULTS_DIR = ROOT / "bench" / "results"
PYTHON = sys.executable
SECRET_KEY = "bench-secret-key-" + "b" * 40

# Ports the benchmarks may bind (the brief reserves 18800–18899 for them).
# The portal server always uses the first one: Reflex bakes its URL into the frontend
# bundle, so one fixed URL means the bundle in .web-bench is built once and reused.
PORT_BASE = int(os.environ.get("BILLSTACK_BENCH_PORT", "18800"))
PORTAL_PORT = PORT_BASE
BASELINE_PORT = PORT_BASE + 1
EMULATOR_PORTS = (PORT_BASE + 10, PORT_BASE + 11)
# The e2e tests' .web is never touched; BILLSTACK_BENCH_WEB_WORKDIR lets two checkouts' runs
# (or a run on another BILLSTACK_BENCH_PORT) keep bundles of their own.
WEB_WORKDIR = os.environ.get("BILLSTACK_BENCH_WEB_WORKDIR", ".web-bench")

# CPU layout on a 2-core machine: the server under test on one core, load generators
# and browsers on the other, so the client cannot steal the server's CPU.
SERVER_CPU = 0
CLIENT_CPU = 1


# --- figures ---------------------------------------------------------------------------


@dataclass
class Target:
    """`on` is "value", "ratio" or "over_baseline" (value − baseline, for "baseline + N");
    the figure meets it when `<on> <op> limit`."""

    on: str
    op: str  # "<=" or ">="
    limit: float

    def met(self, value: float | None, ratio: float | None, baseline: float | None = None) -> bool | None:
        subject = {"value": value, "ratio": ratio}.get(self.on)
        if self.on == "over_baseline" and value is not None and baseline is not None:
            subject = value - baseline
        if subject is None or (isinstance(subject, float) and math.isnan(subject)):
            return None
        return subject <= self.limit if self.op == "<=" else subject >= self.limit

    def describe(self, unit: str) -> str:
        if self.on == "ratio":
            return f"ratio {self.op} {self.limit:g}"
        if self.on == "over_baseline":
            return f"{self.op} baseline + {self.limit:g} {unit}"
        return f"{self.op} {self.limit:g} {unit}"


@dataclass
class Figure:
    id: str
    benchmark: str
    name: str
    value: float | None
    unit: str
    baseline: float | None = None
    baseline_name: str | None = None
    targets: list[Target] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.baseline:
            return None
        return self.value / self.baseline

    @property
    def meets_targets(self) -> bool | None:
        verdicts = [t.met(self.value, self.ratio, self.baseline) for t in self.targets]
        if not verdicts or any(v is None for v in verdicts):
            return None
        return all(verdicts)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ratio"] = self.ratio
        data["meets_targets"] = self.meets_targets
        data["targets"] = [{**asdict(t), "text": t.describe(self.unit)} for t in self.targets]
        return data


class Skipped(Exception):
    """A benchmark (or part of one) cannot run here; the reason is printed and recorded."""


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0–100) of a non-empty sequence."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


_STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"  · [{time.monotonic() - _STARTED:5.1f} s] {message}", flush=True)


# --- ports and child processes ---------------------------------------------------------


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def require_free_port(port: int) -> None:
    if not port_is_free(port):
        raise RuntimeError(
            f"Port {port} is busy (another benchmark run?). Free it, or set BILLSTACK_BENCH_PORT "
            "to another base in 18800–18899."
        )


def pinned(command: list[str], cpu: int | None) -> list[str]:
    """`command` run on one CPU (via taskset, so children such as server workers inherit it)."""
    if cpu is None or (os.cpu_count() or 1) < 2 or not shutil.which("taskset"):
        return command
    return ["taskset", "-c", str(cpu), *command]


def server_env(**settings: str) -> dict[str, str]:
    """A clean environment for a BillStack child process: no stray BILLSTACK_* or Redis,
    the bench's own Reflex build folder, and the given settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLSTACK_") and k != "REFLEX_REDIS_URL"}
    env.update(REFLEX_WEB_WORKDIR=WEB_WORKDIR, BILLSTACK_SECRET_KEY=SECRET_KEY, PYTHONUNBUFFERED="1")
    env.update(settings)
    return env


@dataclass
class Child:
    process: subprocess.Popen
    log_path: Path
    name: str

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


@contextmanager
def child_process(
    name: str,
    command: list[str],
    *,
    env: dict[str, str],
    log_dir: Path,
    ready: Callable[[], bool],
    timeout_s: float = 300,
) -> Iterator[Child]:
    """Start a child, poll `ready()` until it answers (bounded by `timeout_s`), stop it on exit."""
    log_path = log_dir / f"{name}.log"
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
    child = Child(process, log_path, name)
    try:
        _wait_until_ready(child, ready, timeout_s)
        yield child
    finally:
        stop_child(child)


def _wait_until_ready(child: Child, ready: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise RuntimeError(f"{child.name} exited with {child.process.returncode}:\n{child.log_tail()}")
        if ready():
            return
        try:
            child.process.wait(timeout=0.1)  # a bounded pause between polls that also notices an exit
        except subprocess.TimeoutExpired:
            pass
    raise RuntimeError(f"{child.name} was not ready within {timeout_s:.0f} s:\n{child.log_tail()}")


def stop_child(child: Child, timeout_s: float = 20) -> None:
    """SIGTERM to the child's own process group (it was started in a new session), then SIGKILL."""
    if child.process.poll() is not None:
        return
    try:
        os.killpg(child.process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        child.process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(child.process.pid, signal.SIGKILL)
        child.process.wait(timeout=10)


def http_ok(url: str, timeout: float = 2.0) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def pinned_to(cpu: int) -> Iterator[None]:
    """This process (and children it starts meanwhile) on one CPU, e.g. a client off the server's core."""
    before = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if before is not None and len(before) > 1 and cpu in before:
        os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        if before is not None:
            os.sched_setaffinity(0, before)


# --- /proc: process tree, memory, CPU --------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields and int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def descendants_of(pid: int) -> list[int]:
    result, frontier = [], [pid]
    while frontier:
        kids = [kid for parent in frontier for kid in children_of(parent)]
        result.extend(kids)
        frontier = kids
    return result


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def granian_workers(server_pid: int) -> list[int]:
    """Granian's worker processes under a server we started (not multiprocessing helpers)."""
    return [pid for pid in descendants_of(server_pid) if "resource_tracker" not in cmdline(pid)]


def wait_for_workers(server_pid: int, count: int = 1, timeout_s: float = 30) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        workers = granian_workers(server_pid)
        if len(workers) >= count:
            return workers
        time.sleep(0.05)  # polling /proc for a process that is being spawned, bounded above
    raise RuntimeError(f"no Granian worker appeared under pid {server_pid} within {timeout_s:.0f} s")


def rss_bytes(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    fields = _stat_fields(pid)
    if not fields:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- small helpers -----------------------------------------------------------------------


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    tmp.replace(path)


def chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
