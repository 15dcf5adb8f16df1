"""Request dependencies: the Bearer API key and the client IP.

`bearer_api_key` only parses the header (async, no database, no thread hop) and
documents the scheme in OpenAPI; the route then checks the key with
`sessions.authenticate_api_key` inside the same unit of work as the rest of the
request — one connection, one transaction, one indexed lookup (DESIGN.md §4.1):
unknown or revoked key → 401, a valid key of another project or team → 403.
"""

from __future__ import annotations

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from billstack.errors import unauthorized

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ProjectApiKey",
    description="A project API key (`bsk_…`), created with `billstack key create`.",
)


async def bearer_api_key(
    request: Request, _documented: HTTPAuthorizationCredentials | None = Security(_bearer)
) -> str:
    """The key from `Authorization: Bearer <key>`; missing or malformed → 401 + WWW-Authenticate."""
    header = request.headers.get("authorization")
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


def client_ip(request: Request) -> str | None:
    """The peer address as the server sees it.

    X-Forwarded-For is not read here: behind a reverse proxy, start the server with
    its proxy-headers option (e.g. uvicorn `--forwarded-allow-ips`), which rewrites the
    peer address only for trusted proxies — so clients cannot spoof rate-limit keys.
    """
    return request.client.host if request.client else None
