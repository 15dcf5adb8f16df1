"""The client's real address and scheme behind a trusted reverse proxy.

Behind a TLS proxy every connection comes from the proxy, so rate limits (failed tokens per
client address) and audit events would see one address for everybody. `ProxyHeaders`, the
outermost ASGI layer, rewrites `scope["client"]` and `scope["scheme"]` from
`X-Forwarded-For` / `X-Forwarded-Proto` — but only when the connection's peer is one of
BILLSTACK_TRUSTED_PROXIES: anybody else could write those headers, so theirs are ignored.
Every reader of the client address (the fast path, FastAPI's `request.client`, Reflex's
`router.session.client_ip`, which it takes from the websocket's scope) then sees the real one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

from starlette.types import ASGIApp, Receive, Scope, Send

Network = IPv4Network | IPv6Network
# What X-Forwarded-Proto may say, and the scheme it means for each kind of connection.
FORWARDED_SCHEMES = {"http": {"http": "http", "https": "https"}, "websocket": {"http": "ws", "https": "wss"}}


def parse_address(value: str) -> IPv4Address | IPv6Address | None:
    """One X-Forwarded-For entry as an address (`[v6]` and `v4:port` forms too); None if malformed."""
    value = value.strip()
    if value.startswith("[") and "]" in value:
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]
    try:
        return ip_address(value)
    except ValueError:
        return None


def is_trusted(address: IPv4Address | IPv6Address | None, networks: Sequence[Network]) -> bool:
    if address is None:
        return False
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


def forwarded_client(forwarded_for: Iterable[str], networks: Sequence[Network]) -> str | None:
    """The client in an X-Forwarded-For chain: from the right, the first address that is not a
    trusted proxy (all trusted: the leftmost). A malformed entry ends the walk: nothing left of
    it can be believed, so the answer is None (the peer stays the client)."""
    entries = [entry for value in forwarded_for for entry in value.split(",") if entry.strip()]
    addresses = [parse_address(entry) for entry in entries]
    for address in reversed(addresses):
        if address is None:
            return None
        if not is_trusted(address, networks):
            return str(address)
    return str(addresses[0]) if addresses else None


def forwarded_scheme(kind: str, forwarded_proto: str | None) -> str | None:
    """The scheme X-Forwarded-Proto gives (the last hop's value wins), or None if it is not http/https."""
    if forwarded_proto is None:
        return None
    last = forwarded_proto.split(",")[-1].strip().lower()
    return FORWARDED_SCHEMES.get(kind, {}).get(last)


class ProxyHeaders:
    """Outermost layer: the forwarded client and scheme, when the peer is a trusted proxy."""

    def __init__(self, app: ASGIApp, networks: Sequence[Network]) -> None:
        self.app = app
        self.networks = tuple(networks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.networks and scope["type"] in FORWARDED_SCHEMES and self._from_trusted_peer(scope):
            scope = self._resolved(scope)
        await self.app(scope, receive, send)

    def _from_trusted_peer(self, scope: Scope) -> bool:
        client = scope.get("client")
        return bool(client) and is_trusted(parse_address(str(client[0])), self.networks)

    def _resolved(self, scope: Scope) -> Scope:
        forwarded_for: list[str] = []
        forwarded_proto: str | None = None
        for name, value in scope.get("headers", ()):
            if name == b"x-forwarded-for":
                forwarded_for.append(value.decode("latin-1"))
            elif name == b"x-forwarded-proto":
                forwarded_proto = value.decode("latin-1")
        scope = dict(scope)
        client = forwarded_client(forwarded_for, self.networks)
        if client is not None:
            scope["client"] = (client, 0)
        scheme = forwarded_scheme(scope["type"], forwarded_proto)
        if scheme is not None:
            scope["scheme"] = scheme
        return scope
