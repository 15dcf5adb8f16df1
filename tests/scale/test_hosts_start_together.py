"""Two hosts started at the same instant on one empty PostgreSQL database, sharing a build
folder whose bundle is stale: both come up. One migrates while the other waits for the
advisory lock; one builds while the other waits for the build folder's lock, then finds
the bundle current instead of building it a second time."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from billstack.migrate import current_heads
from tests.conftest import throwaway_pg_database
from tests.scale import serving
from tests.scale.serving import REPO, start_together, stop, wait_for
from tests.scale.test_concurrent_upgrade import alembic_versions

HOSTS = 2


def shared_web() -> str:
    return f"{serving.web_workdir()}-shared"


def make_stale(web: str, tmp_path: Path) -> None:
    """A current bundle whose stamp then says it was built for another URL."""
    serving.build(web, tmp_path / "build.log")
    stamp_file = REPO / web / "billstack-build.json"
    stamp_file.write_text(json.dumps(json.loads(stamp_file.read_text()) | {"publicUrl": "http://elsewhere.test"}))


@pytest.mark.pg
def test_two_hosts_starting_together_migrate_and_build_once(tmp_path: Path) -> None:
    web = shared_web()
    make_stale(web, tmp_path)
    with throwaway_pg_database("billstack_hosts") as url:
        env = serving.server_env(tmp_path / "data", web, BILLSTACK_DATABASE_URL=url)
        hosts = start_together([["serve"]] * HOSTS, env, tmp_path)
        try:
            for host in hosts:
                wait_for(host.answers, host, serving.BUILD_TIMEOUT_S, "an answer")
        finally:
            codes = [stop(host) for host in hosts]
        logs = [host.log() for host in hosts]
        assert codes == [0] * HOSTS, logs
        assert alembic_versions(url) == current_heads()
    for log in logs:
        assert "Traceback" not in log and "Error" not in log, log
    built = [log for log in logs if "Building the frontend for" in log]
    assert len(built) == 1, logs
    assert "(the frontend was built for http://elsewhere.test;" in built[0]
    assert sum(f"Frontend bundle is current for {serving.PUBLIC_URL}" in log for log in logs) == HOSTS - 1, logs
