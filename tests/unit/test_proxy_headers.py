"""BILLSTACK_TRUSTED_PROXIES: X-Forwarded-For / -Proto count only from a trusted peer
(api_routes/proxy_headers.py), for http and websocket scopes alike."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from ipaddress import ip_network
from pathlib import Path

import pytest

from api_routes.proxy_headers import ProxyHeaders, forwarded_client, forwarded_scheme

REPO = Path(__file__).resolve().parents[2]
PROXIES = (ip_network("10.0.0.0/8"), ip_network("127.0.0.1/32"), ip_network("::1/128"))


@pytest.mark.parametrize(("chain", "client"), [
    (["198.51.100.7"], "198.51.100.7"),
    (["198.51.100.7, 10.1.2.3"], "198.51.100.7"),  # a second trusted hop is skipped
    (["203.0.113.9, 198.51.100.7, 10.1.2.3"], "198.51.100.7"),  # what the client wrote itself is not believed
    (["203.0.113.9", "198.51.100.7"], "198.51.100.7"),  # two header lines read as one list
    (["10.9.9.9, 10.1.2.3"], "10.9.9.9"),  # all trusted: the leftmost
    (["198.51.100.7:5123"], "198.51.100.7"),
    (["[2001:db8::7]:443"], "2001:db8::7"),
    (["2001:db8::7"], "2001:db8::7"),
    (["not-an-ip"], None),
    (["198.51.100.7, garbage"], None),  # malformed nearest hop: nothing left of it is believed
    (["", " "], None),
    ([], None),
])
def test_the_client_is_the_first_untrusted_address_from_the_right(chain: list[str], client: str | None) -> None:
    assert forwarded_client(chain, PROXIES) == client


@pytest.mark.parametrize(("kind", "proto", "scheme"), [
    ("http", "https", "https"), ("http", "HTTP", "http"), ("websocket", "https", "wss"),
    ("websocket", "http", "ws"), ("http", "http, https", "https"), ("http", "gopher", None), ("http", None, None),
])
def test_the_forwarded_scheme(kind: str, proto: str | None, scheme: str | None) -> None:
    assert forwarded_scheme(kind, proto) == scheme


def seen_scope(peer: str, headers: dict[str, str], *, kind: str = "http",
               networks: tuple = PROXIES) -> dict:
    """The scope the app behind ProxyHeaders receives."""
    seen: dict = {}

    async def app(scope, receive, send) -> None:  # noqa: ANN001
        seen.update(scope)

    scope = {"type": kind, "scheme": "ws" if kind == "websocket" else "http", "path": "/", "client": (peer, 5000),
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}
    if kind == "http":
        scope["method"] = "GET"
    asyncio.run(ProxyHeaders(app, networks)(scope, None, None))
    return seen


FORWARDED = {"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https"}


def test_a_trusted_peers_headers_give_client_and_scheme() -> None:
    scope = seen_scope("10.0.0.5", FORWARDED)
    assert (scope["client"][0], scope["scheme"]) == ("198.51.100.7", "https")
    websocket = seen_scope("127.0.0.1", FORWARDED, kind="websocket")  # Reflex reads the websocket's client
    assert (websocket["client"][0], websocket["scheme"]) == ("198.51.100.7", "wss")
    mapped = seen_scope("::ffff:10.0.0.5", FORWARDED)  # IPv4 proxy on a dual-stack socket
    assert mapped["client"][0] == "198.51.100.7"


def test_an_untrusted_peers_headers_change_nothing() -> None:
    for peer, kind, networks in (("198.51.100.99", "http", PROXIES), ("198.51.100.99", "websocket", PROXIES),
                                 ("10.0.0.5", "http", ())):  # the default: no proxy is trusted
        scope = seen_scope(peer, FORWARDED, kind=kind, networks=networks)
        assert scope["client"] == (peer, 5000)
        assert scope["scheme"] == ("ws" if kind == "websocket" else "http")


def test_malformed_headers_from_a_trusted_peer_are_ignored() -> None:
    scope = seen_scope("10.0.0.5", {"X-Forwarded-For": "198.51.100.7, <script>", "X-Forwarded-Proto": "ftp"})
    assert (scope["client"], scope["scheme"]) == (("10.0.0.5", 5000), "http")


def test_a_bad_trusted_proxies_value_stops_serve(isolated_settings: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLSTACK_")}
    env.update(PYTHONPATH=str(REPO), BILLSTACK_DATA_DIR=str(isolated_settings),
               BILLSTACK_SECRET_KEY=os.environ["BILLSTACK_SECRET_KEY"], BILLSTACK_TRUSTED_PROXIES="10.0.0.0/8, proxy.lan")
    result = subprocess.run([sys.executable, "-m", "billstack", "serve", "--port", "18849"], env=env,
                            capture_output=True, text=True, timeout=120, cwd=isolated_settings.parent)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.startswith("error: BILLSTACK_TRUSTED_PROXIES: 'proxy.lan' is not an IP address or CIDR")
    assert "Traceback" not in result.stderr
    assert not (isolated_settings / "billstack.db").exists()  # stopped before migrating or building
