"""BILLSTACK_LOG_FORMAT=json and BILLSTACK_LOG_LEVEL on the server's real logging setup, the
request id and the access log (billstack/logs.py, billstack/log_context.py, api_routes/request_log.py)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from api_routes.fast_paths import FastPaths
from api_routes.request_log import RequestLog
from billstack import log_context
from billstack.logs import granian_log_config, redact
from billstack.services.tenants import _STRIPE_KEY, _WEBHOOK_SECRET, API_KEY_PREFIX

REPO = Path(__file__).resolve().parents[2]
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzaWQiOiJwc18xIn0.c2lnbmF0dXJl"
SECRETS = {"api key": API_KEY_PREFIX + "Zx81kfa0Qw_7Lm2", "stripe key": "sk_test_51Habc0123456789xyz",
           "restricted key": "rk_live_51Habc0123456789xyz", "webhook secret": "whsec_9fK2bq7PzT+/mZ=="}

# What a Granian worker does: Granian's dictConfig (with ours), then asgi_app's install.
WORKER = """
import logging, logging.config, sys
from granian.log import LOGGING_CONFIG, configure_logging, LogLevels
from billstack.config import get_settings
from billstack.logs import granian_log_config, install_log_redaction
from billstack import log_context
settings = get_settings()
configure_logging(LogLevels(settings.log_level.lower()), granian_log_config(settings.log_format))
install_log_redaction(settings.log_level, settings.log_format)
log_context.learn(project="proj_1", customer="pc_1", session="ps_1")
logging.getLogger("billstack.test").debug("a debug line")
logging.getLogger("billstack.test").info("an info line for /portal/%s", sys.argv[1])
logging.getLogger("_granian").info("granian says hello")
try:
    raise RuntimeError("failed with " + sys.argv[2])
except RuntimeError:
    logging.getLogger("reflex.event").exception("an event failed")
"""


def run_worker(level: str, log_format: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLSTACK_")}
    env.update(PYTHONPATH=str(REPO), BILLSTACK_LOG_LEVEL=level, BILLSTACK_LOG_FORMAT=log_format)
    result = subprocess.run([sys.executable, "-c", WORKER, TOKEN, SECRETS["stripe key"]], env=env,
                            capture_output=True, text=True, timeout=60, check=True)
    return (result.stdout + result.stderr).splitlines()


def test_json_lines_carry_time_level_logger_ids_and_the_exception_without_secrets() -> None:
    lines = run_worker("INFO", "json")
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    by_message = {r["message"]: r for r in records}
    info = by_message[f"an info line for /portal/{redact('/portal/' + TOKEN)[len('/portal/'):]}"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", info["time"])
    assert (info["level"], info["logger"]) == ("INFO", "billstack.test")
    assert (info["projectId"], info["customerId"], info["sessionId"]) == ("proj_1", "pc_1", "ps_1")
    assert by_message["granian says hello"]["logger"] == "_granian"  # Granian's lines in the same format
    failed = by_message["an event failed"]
    assert failed["level"] == "ERROR" and "RuntimeError: failed with sk_test_" in failed["exception"]
    assert "a debug line" not in by_message
    text = "\n".join(lines)
    assert TOKEN not in text and SECRETS["stripe key"] not in text


def test_the_log_level_is_applied_info_shown_debug_hidden() -> None:
    info = run_worker("INFO", "text")
    assert "[INFO] billstack.test: an info line for /portal/…redacted…" in info
    assert not any("a debug line" in line for line in info)
    debug = run_worker("DEBUG", "text")
    assert "[DEBUG] billstack.test: a debug line" in debug
    warning = "\n".join(run_worker("WARNING", "text"))
    assert "an info line" not in warning and "an event failed" in warning


@pytest.mark.parametrize("name", list(SECRETS))
def test_every_secret_shape_is_redacted(name: str) -> None:
    secret = SECRETS[name]
    assert secret not in redact(f"leaked {secret}, and again:{secret}\n{secret}")


def test_the_redacted_shapes_are_the_ones_tenants_accepts() -> None:
    assert _STRIPE_KEY.fullmatch(SECRETS["stripe key"]) and _STRIPE_KEY.fullmatch(SECRETS["restricted key"])
    assert _WEBHOOK_SECRET.fullmatch(SECRETS["webhook secret"])


def test_granians_formatters_are_ours() -> None:
    config = granian_log_config("json")["formatters"]
    assert config["generic"]["()"] == config["access"]["()"] == "billstack.logs.line_formatter"


# --- the request id and the access log, through the served stack ------------------------------


async def answer_204(scope, receive, send) -> None:  # noqa: ANN001
    logging.getLogger("billstack.test").warning("inside the request")
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def request(app, path: str, headers: dict[str, str] | None = None) -> httpx.Response:  # noqa: ANN001
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=("198.51.100.8", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://billstack.test") as client:
            return await client.get(path, headers=headers)

    return asyncio.run(go())


def test_a_sane_request_id_is_echoed_and_logged_else_a_new_one(caplog: pytest.LogCaptureFixture) -> None:
    app = RequestLog(answer_204, access_log_on=False)
    seen: list[str | None] = []
    caplog.handler.addFilter(
        lambda record: record.name != "billstack.test" or seen.append(log_context.request_id.get()) or True)
    with caplog.at_level(logging.INFO):
        echoed = request(app, "/x", {"X-Request-ID": "req-42.a:b"})
        replaced = request(app, "/x", {"X-Request-ID": f"/portal/{TOKEN}"})
    assert echoed.headers["x-request-id"] == "req-42.a:b"
    assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["x-request-id"])
    assert seen == ["req-42.a:b", replaced.headers["x-request-id"]]
    assert log_context.request_id.get() is None  # nothing stays behind after the request


def test_the_access_log_is_one_line_per_request_with_the_token_redacted(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from billstack.config import reset_settings

    monkeypatch.setenv("REFLEX_WEB_WORKDIR", str(tmp_path))  # no build: the portal path reaches answer_204
    monkeypatch.setenv("BILLSTACK_ACCESS_LOG", "1")
    monkeypatch.setenv("BILLSTACK_TRUSTED_PROXIES", "198.51.100.0/24")
    reset_settings()
    app = FastPaths(answer_204)
    with caplog.at_level(logging.INFO, logger="billstack.access"):
        request(app, f"/portal/{TOKEN}?x=1", {"X-Forwarded-For": "203.0.113.50"})
    (line,) = [r for r in caplog.records if r.name == "billstack.access"]
    assert (line.method, line.path, line.status, line.client) == ("GET", "/portal/…redacted…", 204, "203.0.113.50")
    assert isinstance(line.durationMs, float)
    assert TOKEN not in caplog.text
    monkeypatch.delenv("BILLSTACK_ACCESS_LOG")
    reset_settings()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="billstack.access"):
        request(FastPaths(answer_204), "/x")
    assert [r for r in caplog.records if r.name == "billstack.access"] == []  # off by default
