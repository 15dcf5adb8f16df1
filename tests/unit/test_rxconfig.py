"""rxconfig.py, as Reflex loads it (in `reflex export` and in every server worker): portal
state in memory, or in Redis with REFLEX_REDIS_URL, never on disk; the CORS origins are
BillStack's; the REFLEX_* overrides that would undo either are refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from billstack.server import ROOT

LOAD_CONFIG = (
    "import json; from reflex_base.config import get_config; config = get_config(); "
    "print(json.dumps([config.state_manager_mode.value, list(config.cors_allowed_origins)]))"
)


def reflex_config(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("BILLSTACK_", "REFLEX_"))}
    return subprocess.run([sys.executable, "-c", LOAD_CONFIG], cwd=ROOT, env=clean | env, capture_output=True,
                          text=True, timeout=120, check=False)


def loaded(**env: str) -> list:
    result = reflex_config(**env)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_memory_by_default_and_only_the_public_urls_origin() -> None:
    assert loaded(BILLSTACK_PUBLIC_URL="https://billing.example.com") == ["memory", ["https://billing.example.com"]]


def test_redis_with_a_redis_url_and_the_listed_origins() -> None:
    assert loaded(REFLEX_REDIS_URL="redis://127.0.0.1:1/0", BILLSTACK_PORT="9000",
                  BILLSTACK_CORS_ORIGINS="https://app.example.com") == [
        "redis", ["http://localhost:9000", "https://app.example.com"]]


@pytest.mark.parametrize("override", [{"REFLEX_STATE_MANAGER_MODE": "disk"}, {"REFLEX_CORS_ALLOWED_ORIGINS": "*"}])
def test_overrides_that_would_undo_it_are_refused(override: dict[str, str]) -> None:
    result = reflex_config(**override)
    assert result.returncode != 0
    assert "are refused" in result.stderr
