"""A real BillStack server (`billstack serve` in a subprocess) for the tests that need one:
the browser tests (tests/e2e) and the tenant-isolation test (tests/isolation)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from billstack.private_files import private_file
from tests.conftest import TEST_SECRET_KEY

REPO = Path(__file__).resolve().parents[1]
SERVER_START_TIMEOUT_S = 600  # the first build installs the frontend packages


@dataclass(frozen=True)
class LiveServer:
    url: str
    db_url: str
    emulator_url: str
    log_path: Path


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def wait_until_up(url: str, process: subprocess.Popen | None, output: Callable[[], str], timeout_s: float,
                  *, path: str = "/ping") -> None:
    """Poll `url + path` until it answers 200; fail with `output()` if `process` dies or it stalls."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            pytest.fail(f"{url}: process exited with {process.returncode}:\n{output()[-4000:]}")
        try:
            response = httpx.get(f"{url}{path}", timeout=2)
            if response.status_code == 200:
                return
            last = f"{response.status_code} {response.text[:200]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        if process is None:
            time.sleep(0.25)  # a bounded pause between polls, not a wait for the event
        else:
            try:
                process.wait(timeout=0.25)  # doubles as a bounded pause between polls
            except subprocess.TimeoutExpired:
                pass
    pytest.fail(f"{url}{path} did not answer 200 within {timeout_s} s (last: {last}):\n{output()[-4000:]}")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def live_billstack(
    port: int,
    data_dir: Path,
    emulator_url: str,
    *,
    database_url: str | None = None,
    web_workdir: str | None = None,
    **settings: str,
) -> Iterator[LiveServer]:
    """`billstack serve` on `port` (public URL http://localhost:PORT) with `database_url`
    (default: a SQLite database in `data_dir`); `web_workdir` is its own Reflex build
    folder (a bundle is built for one public URL, so servers on different ports keep theirs
    apart); `settings` are extra BILLSTACK_* variables."""
    if not port_is_free(port):
        pytest.fail(f"Port {port} is busy; free it or choose another port.")
    db_url = database_url or f"sqlite:///{data_dir / 'billstack.db'}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("BILLSTACK_")} | {
        "BILLSTACK_DATA_DIR": str(data_dir),
        "BILLSTACK_DATABASE_URL": db_url,
        "BILLSTACK_SECRET_KEY": TEST_SECRET_KEY,
        "BILLSTACK_PORT": str(port),
        "BILLSTACK_HOST": "127.0.0.1",
        "BILLSTACK_PUBLIC_URL": f"http://localhost:{port}",
        **settings,
    }
    if web_workdir is not None:
        env["REFLEX_WEB_WORKDIR"] = web_workdir
    log_path = data_dir / "server.log"
    url = f"http://localhost:{port}"
    with private_file(log_path).open("w") as log:  # the server's log: for its user only
        process = subprocess.Popen(
            [sys.executable, "-m", "billstack", "serve"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_up(url, process, log_path.read_text, SERVER_START_TIMEOUT_S)
        yield LiveServer(url=url, db_url=db_url, emulator_url=emulator_url, log_path=log_path)
    finally:
        stop(process)
