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

Nothing is served differently: the same body checks (`read_json_body`: 413/415), the
same operation (`portal_sessions.create_session_json`: 401/400/403/404/429), the same
error shape and generic 500, the same security headers. tests/api runs every API test
through this front, and test_fast_path.py holds its answers equal to the framework's.
"""

from __future__ import annotations

import logging
import re

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from api_routes.errors import INTERNAL_ERROR_BODY, JsonNotFound
from api_routes.limits import MAX_JSON_BODY_BYTES, BodyRejected, ClientGone, read_json_body, reject
from api_routes.portal_sessions import create_session_json
from api_routes.security import NONE, SecurityHeaders, security_headers
from billstack.errors import BillStackError

log = logging.getLogger("billstack.api")

# Starlette's `{name}` matches one non-empty path segment; so does this.
SESSION_CREATE_PATH = re.compile(r"/api/billstack/teams/([^/]+)/projects/([^/]+)/portal")


class FastPaths:
    def __init__(self, app: ASGIApp) -> None:
        self.app = SecurityHeaders(JsonNotFound(app))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            match = SESSION_CREATE_PATH.fullmatch(scope["path"])
            if match is not None:
                await serve_session_create(scope, receive, send, match[1], match[2])
                return
        await self.app(scope, receive, send)


async def serve_session_create(scope: Scope, receive: Receive, send: Send, team_id: str, project_id: str) -> None:
    headers = security_headers(NONE)  # not a portal URL: framing is always refused
    try:
        body = await read_json_body(scope, receive, MAX_JSON_BODY_BYTES)
    except BodyRejected as rejected:
        await reject(send, rejected, headers)
        return
    except ClientGone:
        return
    try:
        payload = await create_session_json(
            team_id, project_id, _header(scope, b"authorization"), body, (scope.get("client") or (None,))[0]
        )
        status = 200
    except BillStackError as error:
        status, payload = error.status, JSONResponse(error.to_dict()).body  # as the framework's handler
        headers += [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in error.headers.items()]
    except Exception as exc:  # logged; the client gets the generic 500 (as from UnexpectedErrors)
        log.error("unhandled error on %s %s", scope["method"], scope["path"], exc_info=exc)
        status, payload = 500, INTERNAL_ERROR_BODY
    headers += [(b"content-length", str(len(payload)).encode()), (b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def _header(scope: Scope, name: bytes) -> str | None:
    """The first header called `name` (lower case), as Starlette's `request.headers.get` reads it."""
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None

