"""`billstack serve` in a subprocess for the start-up tests: started, watched through its log,
stopped with SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from devtools.ports import free_port
from tests.conftest import TEST_SECRET_KEY

REPO = Path(__file__).resolve().parents[2]
# The URL the bundle is built for: the tests bind a free port, and /ping ignores the URL.
PUBLIC_URL = "http://billstack-workers.test"
BUILD_TIMEOUT_S = 600  # a first build installs the frontend packages
START_TIMEOUT_S = 120
STOP_TIMEOUT_S = 30
STARTED_WORKER = re.compile(r"Started worker-(\d+)")
SPAWNED_PID = re.compile(r"Spawning worker-\d+ with PID: (\d+)")


def web_workdir() -> str:
    """A build folder of its own (the other suites build for their own URLs)."""
    return f"{os.environ.get('REFLEX_WEB_WORKDIR') or '.web'}-workers"


def server_env(data_dir: Path, web: str, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("BILLSTACK_", "REFLEX_"))}
    return env | {
        "BILLSTACK_DATA_DIR": str(data_dir),
        "BILLSTACK_SECRET_KEY": TEST_SECRET_KEY,
        "BILLSTACK_PUBLIC_URL": PUBLIC_URL,
        "REFLEX_WEB_WORKDIR": web,
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def build(web: str, log_path: Path) -> str:
    """`billstack build` into `web`; returns its output (fails the test if the build fails)."""
    env = server_env(log_path.parent, web)
    result = subprocess.run(
        [sys.executable, "-m", "billstack", "build", "--public-url", PUBLIC_URL],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@dataclass
class Serving:
    process: subprocess.Popen
    log_path: Path
    url: str

    def log(self) -> str:
        return self.log_path.read_text()

    def answers(self) -> bool:
        try:
            return httpx.get(f"{self.url}/ping", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def started_workers(self) -> set[str]:
        return set(STARTED_WORKER.findall(self.log()))

    def worker_pids(self) -> list[int]:
        return [int(pid) for pid in SPAWNED_PID.findall(self.log())]


def start(command: list[str], env: dict[str, str], log_path: Path, port: int) -> Serving:
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command + ["--port", str(port)], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Serving(process, log_path, f"http://127.0.0.1:{port}")


def wait_for(condition, serving: Serving, timeout_s: float, what: str) -> None:  # noqa: ANN001
    """Poll `condition` until true; fail with the server's log if it exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if serving.process.poll() is not None:
            raise AssertionError(f"server exited with {serving.process.returncode} before {what}:\n{serving.log()[-4000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout_s} s:\n{serving.log()[-4000:]}")
        try:
            serving.process.wait(timeout=0.2)  # doubles as a bounded pause between polls
        except subprocess.TimeoutExpired:
            pass


def stop(serving: Serving) -> int:
    """SIGTERM, as a service manager stops it; returns the exit code."""
    serving.process.send_signal(signal.SIGTERM)
    try:
        return serving.process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(serving.process.pid, signal.SIGKILL)
        serving.process.wait()
        raise AssertionError(f"server ignored SIGTERM for {STOP_TIMEOUT_S} s:\n{serving.log()[-4000:]}") from None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def start_together(args: list[list[str]], env: dict[str, str], log_dir: Path) -> list[Serving]:
    """`billstack ARGS[i] --port <free port>` for each i, released at one instant once all have
    imported BillStack (tests/scale/start_together.py)."""
    go_file = log_dir / "go"
    servers = []
    for index, arg in enumerate(args):
        port = free_port()
        command = [sys.executable, "-m", "tests.scale.start_together", str(go_file), "--", *arg]
        servers.append(start(command, env, log_dir / f"server-{index}.log", port))
    for server in servers:
        wait_for(lambda: server.log().startswith("ready"), server, START_TIMEOUT_S, "imports")  # noqa: B023
    go_file.touch()
    return servers
