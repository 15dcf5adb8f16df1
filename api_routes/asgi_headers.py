"""Reading a request straight from its ASGI scope (the pure ASGI layers have no Request
object): its headers, and whether it asks for the portal page."""

from __future__ import annotations

from starlette.types import Scope

from billstack import routes


def header(scope: Scope, name: bytes) -> str | None:
    """The first header called `name` (lower case), as Starlette's `request.headers.get` reads it."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def portal_page_token(scope: Scope) -> str | None:
    """The token of a GET or HEAD of the portal page, `/portal/<token>` (one path segment,
    as the page's route), else None: the request link binding and the page shell answer."""
    if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
        return None
    path: str = scope["path"]
    if not path.startswith(routes.PORTAL_PREFIX):
        return None
    rest = path[len(routes.PORTAL_PREFIX):].rstrip("/")
    return rest if rest and "/" not in rest else None
