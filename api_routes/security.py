"""Pure ASGI middleware: security headers on every HTTP response.

Every one: pages, APIs, static files, 404s, CORS preflights, odd paths. `billstack serve`
runs it outermost (api_routes/fast_paths.py), so even what Reflex's own layers answer
(its CORS preflights, its static frontend) gets them; `create_api()` has it too, for the
API on its own (`reflex run`, tests), and an instance that finds the scope marked by an
outer one passes the request through.

    Referrer-Policy: no-referrer          the token is in the URL; never leak it
    Cache-Control: no-store               nor keep it (or the customer's data) in caches;
                                          but Vite's content-hashed build files under
                                          /assets/ (no data, a new name for every change)
                                          are cached for a year, `immutable`
    X-Content-Type-Options: nosniff
    Content-Security-Policy: frame-ancestors <project setting, default 'none'>
    X-Frame-Options: DENY                 when frame-ancestors is 'none' (older browsers)

For `/portal/<token>` and `/api/portal/<token>/…` the project is read from the token's
signed claims (no database work unless the project's policy is not cached yet); an
invalid token, and every other path, gets `'none'`. Policies are cached per project for
POLICY_TTL seconds, so a changed `frame_ancestors` setting applies within that time.

Pure ASGI rather than BaseHTTPMiddleware, so websockets (Reflex's event channel) and
streaming responses pass through untouched.
"""

from __future__ import annotations

import re
import threading
import time

import anyio.to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from billstack import routes
from billstack.db import session_scope
from billstack.services import sessions, tenants

POLICY_TTL = 30.0
NONE = "'none'"
# What may reach the header from a project's setting (checked again on the way out, with
# fullmatch: tenants checks it on the way in, but a value stored before that check, or by
# hand, must not be able to add a directive (`;`) or a header line).
_FRAME_ANCESTORS_SAFE = re.compile(r"[A-Za-z0-9 :/.*'\-_\[\]]+")
_REPLACED = frozenset({b"referrer-policy", b"cache-control", b"x-content-type-options", b"x-frame-options"})
_PORTAL_PREFIXES = (routes.PORTAL_PREFIX, routes.PORTAL_API_PREFIX + "/")
NO_STORE = b"no-store"
HASHED_ASSETS_PREFIX = "/assets/"
CACHED_FOR_GOOD = b"public, max-age=31536000, immutable"
# Set in the scope by the instance that adds the headers; an inner one then passes through.
APPLIED = "billstack.security_headers"


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


def frame_ancestors_policy(setting: str | None) -> str:
    """The CSP `frame-ancestors` sources for a project's setting; `'none'` when unset or unsafe."""
    value = (setting or "").strip()
    if not value or not _FRAME_ANCESTORS_SAFE.fullmatch(value):
        return NONE
    return value


def _load_policy(project_id: str) -> str:
    with session_scope() as db:
        return frame_ancestors_policy(tenants.frame_ancestors_setting(db, project_id))


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


def security_headers(policy: str, cache_control: bytes = NO_STORE) -> list[tuple[bytes, bytes]]:
    """The headers above for a frame-ancestors `policy` (a fresh list: callers may extend it)."""
    headers = [*_COMMON_HEADERS, (b"cache-control", cache_control)]
    if policy == NONE:
        headers += _FRAMING_NONE
    else:
        headers.append((b"content-security-policy", f"frame-ancestors {policy}".encode("latin-1")))
    return headers


_COMMON_HEADERS = (
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
)
_FRAMING_NONE = (
    (b"content-security-policy", f"frame-ancestors {NONE}".encode("latin-1")),
    (b"x-frame-options", b"DENY"),
)


def cache_control_for(path: str, status: int) -> bytes:
    if path.startswith(HASHED_ASSETS_PREFIX) and status in (200, 304):
        return CACHED_FOR_GOOD
    return NO_STORE


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get(APPLIED):
            await self.app(scope, receive, send)
            return
        scope[APPLIED] = True
        policy_holder: list[str] = []

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                if not policy_holder:
                    try:
                        policy_holder.append(await frame_ancestors_for_path(scope["path"]))
                    except Exception:  # noqa: BLE001 - a header lookup must never break a response
                        policy_holder.append(NONE)
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _REPLACED]
                cache_control = cache_control_for(scope["path"], message["status"])
                message = {**message, "headers": headers + security_headers(policy_holder[0], cache_control)}
            await send(message)

        await self.app(scope, receive, send_with_headers)
