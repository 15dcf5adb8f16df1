"""Route table and per-type renderers, filled in by the `resources` modules."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Handler = Callable[..., Any]
Renderer = Callable[[Any, dict[str, Any], dict[str, Any]], dict[str, Any]]

_ROUTES: list[tuple[str, re.Pattern[str], Handler]] = []
RENDERERS: dict[str, Renderer] = {}


def route(method: str, template: str) -> Callable[[Handler], Handler]:
    pattern = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$")

    def deco(fn: Handler) -> Handler:
        # Literal routes win over templated ones (`/v1/customers/search` vs `/v1/customers/{id}`).
        if "{" in template:
            _ROUTES.append((method, pattern, fn))
        else:
            _ROUTES.insert(0, (method, pattern, fn))
        return fn

    return deco


def renderer(obj_type: str) -> Callable[[Renderer], Renderer]:
    def deco(fn: Renderer) -> Renderer:
        RENDERERS[obj_type] = fn
        return fn

    return deco


def match(method: str, path: str) -> tuple[Handler, dict[str, str]] | None:
    for m, pattern, fn in _ROUTES:
        if m == method:
            hit = pattern.match(path)
            if hit:
                return fn, hit.groupdict()
    return None
