"""The session API's hot route served in front of the framework stack.

`POST /api/billstack/teams/{teamId}/projects/{projectId}/portal` is what every SaaS
backend calls, and it is held to half the throughput of a bare Starlette insert
(bench/session_api.py). Through Reflex's and FastAPI's layers (two Starlette apps, their
error and CORS middlewares, our three, routing, dependency solving) a request cost
about four times the bare insert, most of it in the layers, so `billstack serve` puts
`FastPaths` outermost: that one request is answered here, everything else (other
methods, other paths, websockets, lifespan) passes on through the two layers that must
wrap the whole app, Reflex's own answers included: the security headers
(api_routes/security.py) and JSON 404s (api_routes/errors.py `JsonNotFound`).

Nothing is served differently, because nothing is written twice: the path is the route's
own (`routes.PORTAL_SESSIONS_PATH`), the body checks the middleware's (`read_json_body`,
`reject`: 413/415), the operation the route's (`portal_sessions.create_session_json`:
401/400/403/404/429), errors rendered by the framework's renderer (`error_response`), and
the fast route runs inside the same `SecurityHeaders` and `UnexpectedErrors` (generic 500)
middlewares as the framework's. tests/api runs every API test through this front, and
test_fast_path.py holds its answers equal to the framework's.

The page `GET /portal/<token>` passes LinkBinding (api_routes/link_binding.py), whose
first load binds the link to the browser (a cookie), and is answered from memory by
PortalShell (api_routes/page_shell.py) instead of Reflex's static files.

Around all of it, outermost first: ProxyHeaders (the client's address and scheme behind a
trusted proxy, api_routes/proxy_headers.py), RequestLog (request id, access log), Metrics
(when BILLSTACK_METRICS=1); and /healthz, /readyz, /metrics are answered here too
(api_routes/health.py), inside SecurityHeaders but before the framework.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

from api_routes.asgi_headers import header
from api_routes.csp import served_client_dir
from api_routes.errors import JsonNotFound, UnexpectedErrors, error_response
from api_routes.health import OpsEndpoints, is_ops_request
from api_routes.link_binding import LinkBinding
from api_routes.limits import MAX_JSON_BODY_BYTES, BodyRejected, ClientGone, read_json_body, reject
from api_routes.metrics import ROUTE_TEMPLATE, Metrics
from api_routes.page_shell import PortalShell
from api_routes.portal_sessions import create_session_json
from api_routes.proxy_headers import ProxyHeaders
from api_routes.request_log import RequestLog
from api_routes.security import SecurityHeaders
from billstack import routes
from billstack.config import Settings, get_settings
from billstack.errors import BillStackError


def path_pattern(template: str) -> re.Pattern[str]:
    """A route template (`/teams/{teamId}/…`) as a regex with one named group per
    parameter, matching one non-empty path segment as Starlette's `{name}` does."""
    parts = re.split(r"\{(\w+)\}", template)
    return re.compile("".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+)"
                              for i, part in enumerate(parts)))


SESSION_CREATE_PATH = path_pattern(routes.PORTAL_SESSIONS_PATH)


class FastPaths:
    def __init__(self, app: ASGIApp, settings: Settings | None = None) -> None:
        settings = settings or get_settings()
        self.app = SecurityHeaders(
            # The build folder as this process was started with it (REFLEX_WEB_WORKDIR), not as
            # the environment says at each request.
            LinkBinding(PortalShell(JsonNotFound(app), served_client_dir()),
                        public_url_is_https=settings.public_url_is_https)
        )
        self.session_create = SecurityHeaders(UnexpectedErrors(serve_session_create))
        self.metrics = Metrics(self._route) if settings.metrics else None
        self.ops = SecurityHeaders(OpsEndpoints(self.metrics))
        self.front = ProxyHeaders(RequestLog(self.metrics or self._route, access_log_on=settings.access_log),
                                  settings.trusted_proxy_networks())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.front(scope, receive, send)

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            match = SESSION_CREATE_PATH.fullmatch(scope["path"])
            if match is not None:
                scope["path_params"] = match.groupdict()
                scope[ROUTE_TEMPLATE] = routes.PORTAL_SESSIONS_PATH
                await self.session_create(scope, receive, send)
                return
        if is_ops_request(scope, self.metrics is not None):
            await self.ops(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def serve_session_create(scope: Scope, receive: Receive, send: Send) -> None:
    try:
        body = await read_json_body(scope, receive, MAX_JSON_BODY_BYTES)
    except BodyRejected as rejected:
        await reject(send, rejected)
        return
    except ClientGone:
        return
    params = scope["path_params"]
    try:
        payload = await create_session_json(
            params["teamId"], params["projectId"], header(scope, b"authorization"), body,
            (scope.get("client") or (None,))[0], header(scope, b"user-agent"),
        )
    except BillStackError as error:
        await error_response(error)(scope, receive, send)
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(payload)).encode()), (b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": payload})

