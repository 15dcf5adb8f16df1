"""Pure ASGI middleware: security headers on every portal and API response.

Covers `/portal/…` (the Reflex pages, which pass through this app because Reflex is
mounted under it) and everything under `/api/` (session API, portal API, OpenAPI):

    Referrer-Policy: no-referrer          the token is in the URL; never leak it
    Cache-Control: no-store               nor keep it (or the customer's data) in caches
    X-Content-Type-Options: nosniff
    Content-Security-Policy: frame-ancestors <project setting, default 'none'>
    X-Frame-Options: DENY                 when frame-ancestors is 'none' (older browsers)

For `/portal/<token>` and `/api/portal/<token>/…` the project is read from the token's
signed claims (no database work unless the project's policy is not cached yet); an
invalid token gets `'none'`. Policies are cached per project for POLICY_TTL seconds,
so a changed `frame_ancestors` setting applies within that time.

Pure ASGI rather than BaseHTTPMiddleware, so websockets (Reflex's event channel) and
streaming responses pass through untouched.
"""

from __future__ import annotations

import threading
import time

import anyio.to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from billstack.db import session_scope
from billstack.services import sessions

POLICY_TTL = 30.0
NONE = "'none'"
_REPLACED = frozenset({b"referrer-policy", b"cache-control", b"x-content-type-options", b"x-frame-options"})
_PORTAL_PREFIXES = ("/portal/", "/api/portal/")


class PolicyCache:
    def __init__(self, ttl: float = POLICY_TTL, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[str, float]] = {}

    def get(self, project_id: str) -> str | None:
        entry = self._entries.get(project_id)
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def put(self, project_id: str, policy: str) -> None:
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[project_id] = (policy, time.monotonic() + self.ttl)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


policy_cache = PolicyCache()


def _load_policy(project_id: str) -> str:
    with session_scope() as db:
        return sessions.frame_ancestors(db, project_id)


async def frame_ancestors_for_path(path: str) -> str:
    for prefix in _PORTAL_PREFIXES:
        if path.startswith(prefix):
            token = path[len(prefix):].split("/", 1)[0]
            project_id = sessions.project_id_from_token(token) if token else None
            if project_id is None:
                return NONE
            policy = policy_cache.get(project_id)
            if policy is None:
                policy = await anyio.to_thread.run_sync(_load_policy, project_id)
                policy_cache.put(project_id, policy)
            return policy
    return NONE


def security_headers(policy: str) -> list[tuple[bytes, bytes]]:
    """The headers above for a frame-ancestors `policy` (a fresh list: callers may extend it)."""
    if policy == NONE:
        return list(_HEADERS_FRAMING_NONE)
    return [*_COMMON_HEADERS, (b"content-security-policy", f"frame-ancestors {policy}".encode("latin-1"))]


_COMMON_HEADERS = (
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
)
_HEADERS_FRAMING_NONE = (
    *_COMMON_HEADERS,
    (b"content-security-policy", f"frame-ancestors {NONE}".encode("latin-1")),
    (b"x-frame-options", b"DENY"),
)


def is_covered(path: str) -> bool:
    return path.startswith(("/api/", "/portal/")) or path == "/portal"


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_covered(scope["path"]):
            await self.app(scope, receive, send)
            return
        policy_holder: list[str] = []

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                if not policy_holder:
                    try:
                        policy_holder.append(await frame_ancestors_for_path(scope["path"]))
                    except Exception:  # noqa: BLE001 - a header lookup must never break a response
                        policy_holder.append(NONE)
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _REPLACED]
                message = {**message, "headers": headers + security_headers(policy_holder[0])}
            await send(message)

        await self.app(scope, receive, send_with_headers)
