"""Request helpers: the Bearer API key, JSON bodies, the client IP.

Header parsing only (no database, no thread hop): the key itself is checked by the
service inside the request's one unit of work — one indexed lookup by SHA-256 digest
(DESIGN.md §4.1): unknown or revoked key → 401, a valid key of another project or
team → 403 (`sessions.create_portal_session`, `sessions.authenticate_api_key`).
"""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ValidationError

from api_routes.errors import validation_error
from billstack.errors import unauthorized

M = TypeVar("M", bound=BaseModel)

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
    """The peer address as the server sees it.

    X-Forwarded-For is not read here: behind a reverse proxy, start the server with
    its proxy-headers option (e.g. uvicorn `--forwarded-allow-ips`), which rewrites the
    peer address only for trusted proxies — so clients cannot spoof rate-limit keys.
    """
    return request.client.host if request.client else None
