"""`billstack serve` starts cleanly, every time: the parent uses the bundle `billstack build`
made (and says so), the workers never compile (they used to, racing each other into
`FileNotFoundError: '.web/app/routes'`), and a host without bun serves a current build."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.redis_support import TEST_REDIS_URL, require_redis
from tests.scale import serving
from tests.scale.serving import REPO, free_port, start, stop, wait_for

STARTS = 10
WORKERS = 4
SERVE = [sys.executable, "-m", "billstack", "serve"]
SERVE_WITHOUT_BUN = [sys.executable, "-m", "tests.scale.without_bun", "serve"]
# A PATH with Python and the system's tools but no bun (the project's own bun is hidden too).
PATH_WITHOUT_BUN = f"{Path(sys.executable).parent}:/usr/bin:/bin"


@pytest.fixture(scope="module")
def built_web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A current bundle in this suite's build folder, built once by `billstack build`."""
    web = serving.web_workdir()
    serving.build(web, tmp_path_factory.mktemp("build") / "build.log")
    yield web


def files_and_times(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def test_serve_with_four_workers_starts_cleanly_ten_times(built_web: str, tmp_path: Path) -> None:
    redis_url = require_redis(TEST_REDIS_URL)
    pages = REPO / built_web / "app"
    pages_before = files_and_times(pages)
    env = serving.server_env(tmp_path / "data", built_web, REFLEX_REDIS_URL=redis_url)
    for attempt in range(STARTS):
        server = start(SERVE + ["--workers", str(WORKERS)], env, tmp_path / f"serve-{attempt}.log", free_port())
        try:
            wait_for(lambda: server.answers() and len(server.started_workers()) == WORKERS, server,  # noqa: B023
                     serving.START_TIMEOUT_S, f"answer and {WORKERS} started workers")
        finally:
            code = stop(server)
        log = server.log()
        assert code == 0, f"start {attempt}: exit {code}\n{log[-4000:]}"
        assert f"Frontend bundle is current for {serving.PUBLIC_URL}" in log, log
        assert "Traceback" not in log and "Error" not in log, f"start {attempt}:\n{log[-4000:]}"
        assert server.started_workers() == {str(n) for n in range(1, WORKERS + 1)}, log
        assert not [pid for pid in server.worker_pids() if serving.pid_alive(pid)], f"workers left running:\n{log}"
    assert files_and_times(pages) == pages_before, "a worker rewrote the compiled pages"


def test_a_host_without_bun_serves_a_current_build(built_web: str, tmp_path: Path) -> None:
    env = serving.server_env(tmp_path / "data", built_web, PATH=PATH_WITHOUT_BUN)
    server = start(SERVE_WITHOUT_BUN, env, tmp_path / "serve.log", free_port())
    try:
        wait_for(lambda: server.answers() and server.started_workers(), server, serving.START_TIMEOUT_S, "answer")
    finally:
        code = stop(server)
    assert code == 0, server.log()
    assert f"Frontend bundle is current for {serving.PUBLIC_URL}" in server.log()


def test_a_host_without_bun_or_build_says_how_to_build(tmp_path: Path) -> None:
    env = serving.server_env(tmp_path / "data", str(tmp_path / "empty-web"), PATH=PATH_WITHOUT_BUN)
    server = start(SERVE_WITHOUT_BUN, env, tmp_path / "serve.log", free_port())
    code = server.process.wait(timeout=serving.START_TIMEOUT_S)
    log = server.log()
    assert code == 1, log
    assert "Traceback" not in log, log
    assert "error: The frontend must be built (no frontend build in" in log, log
    assert "`billstack build --public-url http://billstack-workers.test`" in log and "`make setup`" in log, log
