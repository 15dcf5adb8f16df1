"""Stripe list objects: newest first, `limit`, `starting_after`, `ending_before`, `created` filters."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from stripe_emulator.errors import StripeError, invalid
from stripe_emulator.wire import take_int, take_str


def paginate(params: dict[str, Any], oldest_first: Iterable[dict[str, Any]], url: str) -> dict[str, Any]:
    limit = take_int(params, "limit")
    if limit is None:
        limit = 10
    if not 1 <= limit <= 100:
        raise invalid(
            "limit", "This value must be between 1 and 100 (inclusive).", code="parameter_invalid_integer"
        )
    items = [o for o in oldest_first if _created_ok(params, o)]
    # Newest first by `created`; ties keep creation order (the sort is stable).
    items.sort(key=lambda o: o.get("created", 0))
    items.reverse()
    after = take_str(params, "starting_after")
    before = take_str(params, "ending_before")
    if after and before:
        raise StripeError(
            "You may only specify one of these parameters: ending_before, starting_after.",
            param="ending_before",
        )
    if after:
        rest = items[_index(items, after, "starting_after") + 1 :]
        page, has_more = rest[:limit], len(rest) > limit
    elif before:
        rest = items[: _index(items, before, "ending_before")]
        page, has_more = rest[-limit:], len(rest) > limit
    else:
        page, has_more = items[:limit], len(items) > limit
    return {"object": "list", "data": page, "has_more": has_more, "url": url}


def _index(items: list[dict[str, Any]], cursor: str, param: str) -> int:
    for i, obj in enumerate(items):
        if obj["id"] == cursor:
            return i
    raise StripeError(f"No such object: '{cursor}'", status=404, code="resource_missing", param=param)


def _created_ok(params: dict[str, Any], obj: dict[str, Any]) -> bool:
    created = params.get("created")
    if created is None:
        return True
    stamp = obj.get("created", 0)
    if isinstance(created, str):
        return stamp == take_int(params, "created")
    ops = {"gt": stamp.__gt__, "gte": stamp.__ge__, "lt": stamp.__lt__, "lte": stamp.__le__}
    for op in created:
        if op not in ops:
            raise invalid(
                f"created[{op}]", f"Received unknown parameter: created[{op}]", code="parameter_unknown"
            )
        if not ops[op](take_int(created, op, param=f"created[{op}]")):
            return False
    return True
