"""Reading a request's headers straight from its ASGI scope (the pure ASGI layers have no
Request object)."""

from __future__ import annotations

from starlette.types import Scope


def header(scope: Scope, name: bytes) -> str | None:
    """The first header called `name` (lower case), as Starlette's `request.headers.get` reads it."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None
