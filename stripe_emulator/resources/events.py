"""/v1/events (read-only) and /v1/webhook_endpoints."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import urlsplit

from stripe_emulator.context import Ctx
from stripe_emulator.errors import invalid
from stripe_emulator.ids import new_id
from stripe_emulator.listing import paginate
from stripe_emulator.registry import renderer, route
from stripe_emulator.wire import check_known, merge_metadata, take_bool, take_list, take_str


@route("GET", "/v1/events/{event}")
def retrieve_event(ctx: Ctx, params: dict[str, Any], event: str) -> dict[str, Any]:
    check_known(params, frozenset())
    return ctx.account.require("event", event)


@route("GET", "/v1/events")
def list_events(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    check_known(
        params,
        frozenset(
            {"type", "types", "limit", "starting_after", "ending_before", "created", "delivery_success"}
        ),
    )
    one = take_str(params, "type")
    many = take_list(params, "types")
    patterns = ([one] if one else []) + (many or [])
    rows = (
        e
        for e in ctx.account.all("event")
        if not patterns or any(fnmatchcase(e["type"], p) for p in patterns)
    )
    return paginate(params, rows, "/v1/events")


# --- webhook endpoints ---------------------------------------------------------------------


def _events_param(params: dict[str, Any]) -> list[str]:
    events = take_list(params, "enabled_events")
    if not events:
        raise invalid("enabled_events", "Missing required param: enabled_events.", code="parameter_missing")
    return events


def _url_param(params: dict[str, Any]) -> str:
    url = take_str(params, "url", required=True) or ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise invalid(
            "url", f"Invalid URL: {url}. URLs must begin with http:// or https://.", code="url_invalid"
        )
    return url


@route("POST", "/v1/webhook_endpoints")
def create_endpoint(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    check_known(
        params, frozenset({"url", "enabled_events", "description", "metadata", "api_version", "connect"})
    )
    secret = new_id("whsec")
    endpoint = {
        "id": new_id("we"),
        "object": "webhook_endpoint",
        "api_version": take_str(params, "api_version"),
        "application": None,
        "created": ctx.now(),
        "description": take_str(params, "description"),
        "enabled_events": _events_param(params),
        "livemode": False,
        "metadata": merge_metadata({}, params),
        "status": "enabled",
        "url": _url_param(params),
        "_secret": secret,
    }
    ctx.account.add(endpoint)
    # The secret is returned only at creation, as Stripe does.
    return {**endpoint, "_show_secret": True}


@renderer("webhook_endpoint")
def _render_endpoint(ctx: Ctx, obj: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
    if obj.get("_show_secret"):
        out["secret"] = obj["_secret"]
    return out


@route("GET", "/v1/webhook_endpoints/{endpoint}")
def retrieve_endpoint(ctx: Ctx, params: dict[str, Any], endpoint: str) -> dict[str, Any]:
    check_known(params, frozenset())
    return ctx.account.require("webhook_endpoint", endpoint)


@route("POST", "/v1/webhook_endpoints/{endpoint}")
def update_endpoint(ctx: Ctx, params: dict[str, Any], endpoint: str) -> dict[str, Any]:
    check_known(params, frozenset({"url", "enabled_events", "description", "metadata", "disabled"}))
    obj = ctx.account.require("webhook_endpoint", endpoint)
    if "url" in params:
        obj["url"] = _url_param(params)
    if "enabled_events" in params:
        obj["enabled_events"] = _events_param(params)
    if "description" in params:
        obj["description"] = take_str(params, "description")
    if "disabled" in params:
        obj["status"] = "disabled" if take_bool(params, "disabled") else "enabled"
    obj["metadata"] = merge_metadata(obj["metadata"], params)
    return obj


@route("DELETE", "/v1/webhook_endpoints/{endpoint}")
def delete_endpoint(ctx: Ctx, params: dict[str, Any], endpoint: str) -> dict[str, Any]:
    check_known(params, frozenset())
    obj = ctx.account.require("webhook_endpoint", endpoint)
    ctx.account.remove(obj)
    obj["status"] = "disabled"  # queued deliveries for it stop at their next attempt
    return {"id": obj["id"], "object": "webhook_endpoint", "deleted": True}


@route("GET", "/v1/webhook_endpoints")
def list_endpoints(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    check_known(params, frozenset({"limit", "starting_after", "ending_before"}))
    return paginate(params, ctx.account.all("webhook_endpoint"), "/v1/webhook_endpoints")
