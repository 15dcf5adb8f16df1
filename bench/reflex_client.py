"""A lightweight portal client: Reflex's websocket protocol, without a browser.

It does what the compiled frontend (.web/utils/state.js, context.jsx) does on a page:
opens Socket.IO (Engine.IO v4, websocket transport) at `/_event/?token=<tab token>`,
namespace `/_event`,
sends the `hydrate_and_load` boot event in the CONNECT packet's auth (with the state
schema and the initial-state hashes of the build), then emits handler events and
applies the `event` deltas the backend sends back.

Why not python-socketio's AsyncClient: its transports need aiohttp, which the project
does not install; this needs only wsproto (already pinned) and asyncio.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from http.cookies import SimpleCookie
from typing import Any

from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Ping, RejectConnection, Request, TextMessage

from billstack.services.sessions import binding

ROOT_STATE = "reflex___state____state"
# socket.io-client takes the URL's path as the namespace: the page opens ws://…/_event.
NAMESPACE = "/_event"
HYDRATE_AND_LOAD = f"{ROOT_STATE}.hydrate_and_load"


@dataclass(frozen=True)
class Build:
    """What the compiled frontend sends on connect, read from the build folder."""

    state_schema: str
    initial_hashes: list[str]
    portal_state: str  # the full name of PortalState's substate
    reflex_version: str

    @classmethod
    def read(cls, web_dir: Path) -> Build:
        context = (web_dir / "utils" / "context.jsx").read_text()
        schema = re.search(r'export const stateSchema = "([0-9a-f]+)"', context)
        hashes = re.search(r"export const initialStateHashes = (\[[^\]]*\])", context)
        portal = re.search(r'"(reflex___state____state\.[\w.]*portal____portal_state)"', context)
        version = json.loads((web_dir / "reflex.json").read_text())["version"]
        if not (schema and hashes and portal):
            raise RuntimeError(f"cannot read the state schema from {web_dir / 'utils' / 'context.jsx'}")
        return cls(schema.group(1), json.loads(hashes.group(1)), portal.group(1), version)


# The fetch metadata a browser sends when it navigates to a page: what makes a page load bind
# its link (services/sessions/binding.py); a load without it (a script, a scanner) never does.
BROWSER_NAVIGATION = {"sec-fetch-dest": binding.BINDING_FETCH_DEST, "sec-fetch-mode": "navigate"}


def binding_cookie(set_cookies: list[str], jar: Any = None) -> str:
    """The Cookie header a browser sends after a page load: the link-binding cookie that load
    set (`set_cookies`: its Set-Cookie values), else the one it already held (`jar`, e.g. an
    httpx client's cookies). "" when there is none."""
    names = (binding.SECURE_COOKIE_NAME, binding.COOKIE_NAME)
    for header in set_cookies:
        morsel = next((m for name, m in SimpleCookie(header).items() if name in names), None)
        if morsel is not None:
            return f"{morsel.key}={morsel.value}"
    for name in names:
        value = jar.get(name) if jar is not None else None
        if value:
            return f"{name}={value}"
    return ""


@dataclass
class PortalClient:
    """One browser tab's worth of portal: its own socket, token and state."""

    host: str
    port: int
    page_path: str  # /portal/<portal token>
    build: Build
    tab_token: str = field(default_factory=lambda: str(uuid.uuid4()))
    # The link-binding cookie a browser would send with the websocket (`binding_cookie`): a
    # link opened with a page load is bound to it (issue 18); "" for a link never opened.
    cookie: str = ""
    state: dict[str, Any] = field(default_factory=dict)  # PortalState vars, suffix stripped
    _reader: asyncio.StreamReader | None = None
    _writer: asyncio.StreamWriter | None = None
    _ws: WSConnection | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _pump: asyncio.Task | None = None
    _text: list[str] = field(default_factory=list)
    _opened: asyncio.Future | None = None
    last_packets: list[str] = field(default_factory=list)  # the latest few, for error messages

    # --- connection ------------------------------------------------------------------

    async def connect(self) -> None:
        """WebSocket upgrade, Engine.IO open, Socket.IO CONNECT carrying the boot event."""
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        self._ws = WSConnection(ConnectionType.CLIENT)
        self._opened = asyncio.get_running_loop().create_future()
        target = f"/_event/?token={self.tab_token}&EIO=4&transport=websocket"
        headers = [(b"cookie", self.cookie.encode("latin-1"))] if self.cookie else []
        self._send(Request(host=f"localhost:{self.port}", target=target, subprotocols=[self.build.reflex_version],
                           extra_headers=headers))
        self._pump = asyncio.create_task(self._receive_loop())
        await self._opened  # the Engine.IO open packet arrived
        auth = {
            "event": self._event(HYDRATE_AND_LOAD, {"hashes": self.build.initial_hashes}),
            "state_schema": self.build.state_schema,
        }
        self._send_text(f"40{NAMESPACE}," + json.dumps(auth))

    async def close(self) -> None:
        if self._ws is not None and self._writer is not None and not self._writer.is_closing():
            try:
                self._send_text(f"41{NAMESPACE},")
                self._send(CloseConnection(code=1000))
                await self._writer.drain()
            except (OSError, RuntimeError):
                pass
            self._writer.close()
        if self._pump is not None:
            self._pump.cancel()

    # --- events ------------------------------------------------------------------------

    def emit(self, handler: str, payload: dict[str, Any] | None = None) -> None:
        """Send a PortalState event, as a click in the page would."""
        name = f"{self.build.portal_state}.{handler}"
        self._send_text(f"42{NAMESPACE}," + json.dumps(["event", self._event(name, payload or {})]))

    async def wait_until(self, condition: Callable[[dict[str, Any]], bool], timeout_s: float) -> None:
        """Until the state (as the page would hold it) satisfies `condition`."""
        try:
            async with asyncio.timeout(timeout_s):
                while not condition(self.state):
                    if self._pump is not None and self._pump.done():
                        raise ConnectionError(f"the websocket closed; last packets: {self.last_packets}")
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise TimeoutError(
                f"{self.page_path[:20]}…: no such state within {timeout_s:.0f} s; page_status="
                f"{self.state.get('page_status')!r}, last packets: {self.last_packets}"
            ) from None

    def _event(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        token = self.page_path.rsplit("/", 1)[1]
        return {
            "name": name,
            "payload": payload,
            "router_data": {"pathname": self.page_path, "asPath": self.page_path, "query": {"token": token}},
        }

    # --- wire --------------------------------------------------------------------------

    def _send(self, event: Any) -> None:
        assert self._writer is not None and self._ws is not None
        self._writer.write(self._ws.send(event))

    def _send_text(self, text: str) -> None:
        self._send(TextMessage(data=text))

    async def _receive_loop(self) -> None:
        assert self._reader is not None and self._ws is not None
        try:
            while True:
                data = await self._reader.read(65536)
                if not data:
                    break
                self._ws.receive_data(data)
                for event in self._ws.events():
                    self._on_ws_event(event)
        except Exception as exc:  # noqa: BLE001 - surfaced to whoever waits
            if self._opened is not None and not self._opened.done():
                self._opened.set_exception(exc)
        finally:
            if self._opened is not None and not self._opened.done():
                self._opened.set_exception(ConnectionError("websocket closed before Engine.IO opened"))
            self._changed.set()

    def _on_ws_event(self, event: Any) -> None:
        if isinstance(event, RejectConnection):
            raise ConnectionError(f"websocket upgrade refused: {event.status_code}")
        if isinstance(event, Ping):
            self._send(event.response())
        elif isinstance(event, TextMessage):
            self._text.append(event.data)
            if event.message_finished:
                self._on_packet("".join(self._text))
                self._text.clear()
        elif isinstance(event, AcceptConnection | CloseConnection):
            pass

    def _on_packet(self, packet: str) -> None:
        self.last_packets = [*self.last_packets[-3:], packet[:300]]
        kind = packet[:1]
        if kind == "0" and self._opened is not None and not self._opened.done():  # Engine.IO open
            self._opened.set_result(json.loads(packet[1:]))
        elif kind == "2":  # Engine.IO ping → pong
            self._send_text("3")
        elif packet.startswith(f"42{NAMESPACE},"):  # Socket.IO event
            name, *args = json.loads(packet[len(NAMESPACE) + 3 :])
            if name == "event" and args:
                self._apply(args[0])

    def _apply(self, update: dict[str, Any]) -> None:
        delta = (update.get("delta") or {}).get(self.build.portal_state) or {}
        for key, value in delta.items():
            self.state[key.removesuffix("_rx_state_")] = value
        self._changed.set()
