"""The last tests of the browser suite (tests/e2e/conftest.py sorts this file last): after
everything the suite did on the live server, nothing of a customer is on disk outside the
database, and the server's log holds no portal token or secret: the suite runs the server with
BILLSTACK_LOG_FORMAT=json and BILLSTACK_ACCESS_LOG=1, and every line it logged once serving
must be one JSON object.

On the way, the log is made to hold an event error (an unknown event name sent over the
page's websocket), so that the redaction is exercised on a line that carries the page's
URL, and the websocket, headers and 404s are checked on the real build and server.
"""

from __future__ import annotations

import json
import re
import socket
import stat
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, RejectConnection, Request

from bench.reflex_client import Build
from billstack.logs import REDACTED
from billstack.server import ROOT, web_dir
from tests.e2e.conftest import LiveServer
from tests.e2e.portal_tab import STEP_TIMEOUT_S, send_events
from tests.e2e.seeding import Tenant, new_portal_session

JWT = re.compile(r"eyJ[\w-]*\.[\w-]+\.[\w-]+")
# A secret's shape followed by anything but the redaction mark.
SECRET_SHAPES = re.compile(r"\b(?:bsk_|(?:sk|rk)_(?:test|live)_|whsec_)(?!…)[\w+/=-]{4,}")
UNKNOWN_HANDLER = "no_such_handler"
# `billstack serve` prints its start-up (migrations, the frontend build) before the server logs.
SERVING = "BillStack listening on "


def server_log_lines(text: str) -> list[dict]:
    """Every line the server logged once serving, each parsed as the JSON object it must be."""
    lines = text.split(SERVING, 1)[1].splitlines()[1:]
    return [json.loads(line) for line in lines if line.strip()]


def test_an_unknown_event_is_one_short_redacted_log_line(live_db: LiveServer, tenant: Tenant) -> None:
    session = new_portal_session(live_db.url, tenant)
    log_before = live_db.log_path.read_text()
    send_events(live_db, session["portalUrl"], [(UNKNOWN_HANDLER, {})], sub_id=tenant.seeded["subscriptions"][0])

    log = live_db.log_path.read_text()[len(log_before):]
    assert "Traceback" not in log
    (line,) = [json.loads(line) for line in log.splitlines() if UNKNOWN_HANDLER in line]
    assert (line["level"], line["logger"]) == ("WARNING", "billstack.events")
    assert line["message"].startswith(f"websocket event refused on /portal/{REDACTED}: ")
    assert line["message"].endswith(f"no handler is named '{Build.read(web_dir()).portal_state}.{UNKNOWN_HANDLER}'")
    assert line["requestId"]  # the websocket connection's
    assert session["token"] not in log


def websocket_upgrade_status(url: str, origin: str) -> int:
    """The status the page's websocket (/_event) is answered with when opened from `origin`."""
    parts = urlsplit(url)
    ws = WSConnection(ConnectionType.CLIENT)
    with socket.create_connection((parts.hostname, parts.port), timeout=STEP_TIMEOUT_S) as sock:
        sock.sendall(ws.send(Request(host=parts.netloc, target="/_event/?EIO=4&transport=websocket",
                                     extra_headers=[(b"origin", origin.encode())])))
        while data := sock.recv(65536):
            ws.receive_data(data)
            for event in ws.events():
                if isinstance(event, AcceptConnection):
                    return 101
                if isinstance(event, RejectConnection):
                    return event.status_code
    return 0  # closed without an answer


def test_the_websocket_and_the_api_refuse_foreign_origins(live_server: LiveServer) -> None:
    assert websocket_upgrade_status(live_server.url, "https://evil.example") != 101
    assert websocket_upgrade_status(live_server.url, live_server.url) == 101
    foreign = httpx.get(f"{live_server.url}/api/openapi.json", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in foreign.headers
    own = httpx.get(f"{live_server.url}/api/openapi.json", headers={"Origin": live_server.url})
    assert own.headers["access-control-allow-origin"] == live_server.url


def test_real_pages_assets_and_odd_paths_have_the_headers(live_server: LiveServer) -> None:
    asset = next((web_dir() / "build" / "client" / "assets").glob("*.js")).name
    for path, status, cache_control in [("/", 200, "no-store"), (f"/assets/{asset}", 200,
                                        "public, max-age=31536000, immutable"), ("//portal/eyJx.eyJy.z", 404, "no-store"),
                                        ("/Portal/eyJx.eyJy.z", 404, "no-store"), ("/nope", 404, "no-store")]:
        response = httpx.get(httpx.URL(live_server.url + path))
        assert response.status_code == status, path
        assert response.headers["cache-control"] == cache_control, path
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["referrer-policy"] == "no-referrer", path
        assert response.headers["x-frame-options"] == "DENY", path
        if status == 404:
            assert response.json()["error"]["code"] == "not_found", path


def test_nothing_of_a_customer_is_left_on_disk_or_in_the_log(live_server: LiveServer) -> None:
    states = ROOT / ".states"  # Reflex's disk state manager: pickles of whole tabs' state
    assert not states.exists() or not any(states.iterdir()), sorted(states.iterdir())

    data_dir = live_server.log_path.parent
    readable = {str(path.relative_to(data_dir)): oct(_mode(path)) for path in [data_dir, *data_dir.rglob("*")]
                if _mode(path) & 0o077}
    assert readable == {}

    log = live_server.log_path.read_text()
    assert f"/portal/{REDACTED}" in log  # the event error above: a line that did carry a token
    assert JWT.findall(log) == []
    assert "/portal/ey" not in log.lower()


def test_every_log_line_is_json_and_holds_no_secret(live_db: LiveServer, tenant: Tenant) -> None:
    session = new_portal_session(live_db.url, tenant)  # its API key and token are now in flight
    httpx.get(f"{live_db.url}/portal/{session['token']}?utm=1")  # an access-log line with a token in the path
    log = live_db.log_path.read_text()
    records = server_log_lines(log)
    assert records, "the server logged nothing"
    assert all({"time", "level", "logger", "message"} <= set(record) for record in records)
    access = [r for r in records if r["logger"] == "billstack.access"]
    assert any(r["path"] == f"/portal/{REDACTED}" and r["status"] == 200 for r in access)
    assert all({"method", "path", "status", "durationMs", "client", "requestId"} <= set(r) for r in access)
    for secret in (tenant.api_key, tenant.stripe_key, session["token"]):
        assert secret not in log
    assert SECRET_SHAPES.findall(log) == []
    assert JWT.findall(log) == []
    assert "/portal/ey" not in log.lower()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)
