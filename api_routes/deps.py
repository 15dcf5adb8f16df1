"""Request helpers and the two dependencies every handler starts from.

- `ProjectAuth` (session API): the Bearer API key, checked against the path's team and
  project inside the request's one unit of work — one indexed lookup by SHA-256 digest
  (DESIGN.md §4.1): unknown or revoked key → 401, a valid key of another project or
  team → 403 (`sessions.authenticate_api_key`).
- `PortalCall` (portal API): the path's portal token and the client address, bound to
  `run_portal_call`, which validates the token and runs one unit of work within the
  portal's limits (services/portal_calls.py).

Both only parse here (no database, no thread hop); the work happens when the handler
calls them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ValidationError
from sqlmodel import Session

from api_routes.errors import validation_error
from billstack.client_info import PortalClient
from billstack.db import session_scope
from billstack.errors import unauthorized
from billstack.services import sessions
from billstack.services.sessions import binding
from billstack.services.portal_calls import Action, Work, run_portal_call

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ProjectApiKey",
    description="A project API key (`bsk_…`), created with `billstack apikey create`.",
)


async def bearer_api_key(
    request: Request, _documented: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)]
) -> str:
    """The key from `Authorization: Bearer <key>` (as a dependency; documents the scheme)."""
    return api_key_from_header(request.headers.get("authorization"))


def api_key_from_header(header: str | None) -> str:
    """Missing or malformed `Authorization: Bearer <key>` → 401 with WWW-Authenticate."""
    if not header:
        raise unauthorized(
            "No API key provided. Send it as `Authorization: Bearer <API key>`.", code="api_key_missing"
        )
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key or " " in key:
        raise unauthorized(
            "Malformed Authorization header. Send `Authorization: Bearer <API key>`.", code="api_key_malformed"
        )
    return key


def parse_body(model: type[M], raw: bytes) -> M:
    """A JSON body validated by `model` in one pydantic call; problems → the usual 400s.

    For hot routes that skip FastAPI's body parameter (see portal_sessions): errors get
    FastAPI's locations (`body`, field…) and become the same 400 as on any other route.
    """
    if not raw:
        raise validation_error([{"type": "missing", "loc": ("body",), "msg": "Field required"}])
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise validation_error(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False, include_input=False)]
        ) from None


def client_ip(request: Request) -> str | None:
    """The client's address: the peer's, or behind a BILLSTACK_TRUSTED_PROXIES proxy the
    X-Forwarded-For client, resolved before any route runs (api_routes/proxy_headers.py), so
    clients cannot choose their own rate-limit keys."""
    return request.client.host if request.client else None


# --- the dependencies ----------------------------------------------------------------------


@dataclass(frozen=True)
class ProjectCaller:
    """A request of the session API: its key is checked against its team and project as the
    first step of the unit of work that `run` opens, so the two commit together."""

    team_id: str
    project_id: str
    api_key: str
    client_ip: str | None

    def run(self, action: Callable[[Session, str], T]) -> T:
        """`action(db, api_key_id)` once the key is authenticated, in the same unit of work."""
        with session_scope() as db:
            key, _project = sessions.authenticate_api_key(
                db, self.api_key, team_id=self.team_id, project_id=self.project_id
            )
            return action(db, key.id)


async def authenticated_project(
    teamId: str,  # noqa: N803 - path names as in the public contract
    projectId: str,  # noqa: N803
    request: Request,
    api_key: Annotated[str, Depends(bearer_api_key)],
) -> ProjectCaller:
    return ProjectCaller(teamId, projectId, api_key, client_ip(request))


ProjectAuth = Annotated[ProjectCaller, Depends(authenticated_project)]


def portal_client(request: Request) -> PortalClient:
    """Who sent a portal API request: address, user agent and the link-binding cookie."""
    return PortalClient.of(
        client_ip(request), request.headers.get("user-agent"),
        binding.secret_from_cookie_header(request.headers.get("cookie")), request.headers.get("accept-language"),
    )


@dataclass(frozen=True)
class PortalCaller:
    """A request of the portal API: its token (validated by each call) and its client."""

    token: str
    client: PortalClient

    async def __call__(self, action: Action[T], *, work: Work) -> T:
        """`action(db, ctx)` for the token's customer, in one unit of work, in the right pool."""
        return await run_portal_call(self.token, self.client, action, work=work)


async def portal_caller(token: str, request: Request) -> PortalCaller:
    return PortalCaller(token, portal_client(request))


PortalCall = Annotated[PortalCaller, Depends(portal_caller)]
