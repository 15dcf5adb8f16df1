"""Stripe's `POST /v1/billing_portal/sessions` on the BillStack host, for Stripe's own SDKs.

Code that calls `stripe.billing_portal.Session.create(...)` works unchanged with only the
API base and the key changed: `Authorization: Bearer bsk_…` (the key names its project),
a form-encoded body in Stripe's bracket notation, a `billing_portal.session` object back,
and errors in Stripe's envelope and statuses, so that the SDKs raise their own classes
(401 → AuthenticationError, 400 → InvalidRequestError, 429 → RateLimitError).

Thin like every route: parse the form, one service call (`sessions.create_async`, the
session API's own), shape the answer. Parameter names in errors are Stripe's
(`customer`, `return_url`, `flow_data[type]`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from api_routes.deps import api_key_from_header, client_ip
from billstack import routes
from billstack.errors import BillStackError, invalid
from billstack.services import sessions

router = APIRouter(tags=["Stripe-compatible"])

MAX_FORM_BYTES = 16 * 1024
OBJECT = "billing_portal.session"
CONFIGURATION_ID = "bpc_billstack"
SESSION_ID_PREFIX = "bps_"
_OUR_SESSION_PREFIX = "portal_sess_"
_CUSTOMER_PREFIXES = ("cus_", "pc_")
_TOP_LEVEL = frozenset({"customer", "return_url", "locale", "flow_data", "configuration", "on_behalf_of"})
_NOT_SUPPORTED = frozenset({"configuration", "on_behalf_of"})
_CONFIRM = sessions.FLOW_SUBSCRIPTION_UPDATE_CONFIRM
# Stripe's fields of each flow type → the session API's (a type without an entry takes none).
# `subscription_update_confirm`'s one item (`items[0][id|price|quantity]`) is read by `_confirm_item`.
_FLOW_FIELDS: dict[str, dict[str, str]] = {
    sessions.FLOW_SUBSCRIPTION_CANCEL: {"subscription": "subscriptionId"},
    sessions.FLOW_SUBSCRIPTION_UPDATE: {"subscription": "subscriptionId"},
    _CONFIRM: {"subscription": "subscriptionId", "items": ""},
}
_ITEM_FIELDS = {"id": "", "price": "priceId", "quantity": "quantity"}
# The session API's error params as Stripe's parameters; `{kind}` is the flow's type.
_STRIPE_PARAMS = {
    "customerId": "customer", "externalId": "customer", "stripeCustomerId": "customer",
    "returnUrl": "return_url", "locale": "locale", "flow": "flow_data", "flow.type": "flow_data[type]",
    "flow.subscriptionId": "flow_data[{kind}][subscription]",
    "flow.priceId": "flow_data[{kind}][items][0][price]",
    "flow.quantity": "flow_data[{kind}][items][0][quantity]",
    "flow.afterCompletion.type": "flow_data[after_completion][type]",
    "flow.afterCompletion.customMessage": "flow_data[after_completion][hosted_confirmation][custom_message]",
    "flow.afterCompletion.returnUrl": "flow_data[after_completion][redirect][return_url]",
}
# Stripe's `after_completion` sub-hashes → the session API's field in `afterCompletion`.
_AFTER_COMPLETION_FIELDS = {"hosted_confirmation": ("custom_message", "customMessage"),
                            "redirect": ("return_url", "returnUrl")}


@router.post(
    routes.STRIPE_PORTAL_SESSIONS_PATH,
    summary="Create a portal session (Stripe-compatible)",
    description="Stripe's `POST /v1/billing_portal/sessions` for Stripe's official SDKs: point the SDK's API "
    "base at BillStack and use a project API key (`bsk_…`) as the secret key. Form-encoded params: `customer` "
    "(`cus_…`, linked on the fly, or `pc_…`), `return_url`, `locale` (Stripe's values, `auto` included), "
    "`flow_data[type]` (`payment_method_update`, `subscription_cancel` with "
    "`flow_data[subscription_cancel][subscription]`, `subscription_update` with "
    "`flow_data[subscription_update][subscription]`, `subscription_update_confirm` with "
    "`flow_data[subscription_update_confirm][subscription]` and `[items][0][id|price|quantity]`), and "
    "`flow_data[after_completion]` (`[type]` portal_homepage, hosted_confirmation with "
    "`[hosted_confirmation][custom_message]`, redirect with `[redirect][return_url]`). "
    "`configuration` and `on_behalf_of` are not supported (400). "
    "Answers a `billing_portal.session` object whose `url` is the portal URL; errors in Stripe's envelope.",
    operation_id="createStripeBillingPortalSession",
    include_in_schema=False,  # Stripe's API, documented by Stripe: not part of BillStack's JSON API
)
async def create_billing_portal_session(request: Request) -> Response:
    params: dict[str, Any] = {}
    try:
        api_key = api_key_from_header(request.headers.get("authorization"))
        params = parse_form(await _read_body(request))
        flow = _flow(params.get("flow_data"))
        created = await sessions.create_async(sessions.SessionRequest(
            team_id=None, project_id=None, api_key=api_key, client_ip=client_ip(request),
            user_agent=request.headers.get("user-agent"),
            return_url=_text(params, "return_url"), locale=_text(params, "locale"), flow=flow,
            **_customer(params),
        ))
    except BillStackError as error:
        return stripe_error(error, _flow_kind(params))
    return JSONResponse(_session_object(created, params, flow))


# --- the form ------------------------------------------------------------------------------


def parse_form(body: bytes) -> dict[str, Any]:
    """`a=1&b[c]=2&b[d][e]=3` → {"a": "1", "b": {"c": "2", "d": {"e": "3"}}}; unknown top-level
    params, arrays and repeated keys → 400 naming the param as sent."""
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError):
        raise invalid("The request body must be form-encoded (application/x-www-form-urlencoded).") from None
    params: dict[str, Any] = {}
    for key, value in pairs:
        head, _, rest = key.partition("[")
        path = [head] + ([part.rstrip("]") for part in rest.split("[")] if rest else [])
        if head not in _TOP_LEVEL or (rest and not rest.endswith("]")) or not all(path):
            raise invalid(f"Received unknown parameter: {key}", param=key, code="parameter_unknown")
        node = params
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise invalid(f"Invalid {key}: {part} is not an object.", param=key)
            node = child
        if path[-1] in node:
            raise invalid(f"Received {key} more than once.", param=key)
        node[path[-1]] = value
    return params


async def _read_body(request: Request) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            raise BillStackError(f"The body is larger than {MAX_FORM_BYTES} bytes.", code="request_too_large",
                                 status=413)
        chunks.append(chunk)
    return b"".join(chunks)


def _text(params: dict[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is not None and not isinstance(value, str):
        raise invalid(f"Invalid {name}: expected a string.", param=name)
    return value or None


def _customer(params: dict[str, Any]) -> dict[str, str | None]:
    for name in _NOT_SUPPORTED:
        if name in params:
            raise invalid(f"{name} is not supported by BillStack: the portal's settings are the project's. "
                          f"Remove the {name} parameter.", param=name, code="parameter_unsupported")
    customer = _text(params, "customer")
    if customer is None:
        raise invalid("Missing required param: customer.", param="customer", code="parameter_missing")
    if customer.startswith("cus_"):
        return {"customer_id": None, "stripe_customer_id": customer}
    if customer.startswith("pc_"):
        return {"customer_id": customer}
    raise BillStackError(f"No such customer: '{customer[:64]}'", code="resource_missing", param="customer")


def _flow(flow_data: Any) -> dict[str, Any] | None:
    if flow_data is None:
        return None
    if not isinstance(flow_data, dict):
        raise invalid("Invalid flow_data: expected an object.", param="flow_data")
    kind = flow_data.get("type")
    if kind not in sessions.FLOW_TYPES:
        raise invalid(f"flow_data[type] must be one of {', '.join(sessions.FLOW_TYPES)} (other flows are not "
                      "supported by BillStack).", param="flow_data[type]")
    fields = _FLOW_FIELDS.get(kind, {})
    for key in flow_data:
        if key not in ("type", kind, "after_completion"):
            raise invalid(f"Received unknown parameter: flow_data[{key}]", param=f"flow_data[{key}]",
                          code="parameter_unknown")
    details = flow_data.get(kind, {})
    if not isinstance(details, dict):
        raise invalid(f"Invalid flow_data[{kind}]: expected an object.", param=f"flow_data[{kind}]")
    flow: dict[str, Any] = {"type": kind}
    for key, value in details.items():
        if key not in fields:
            param = f"flow_data[{kind}][{key}]"
            raise invalid(f"Received unknown parameter: {param}", param=param, code="parameter_unknown")
        if fields[key]:
            flow[fields[key]] = value
    if kind == _CONFIRM:
        flow.update(_confirm_item(details.get("items")))
    if "after_completion" in flow_data:
        flow["afterCompletion"] = _after_completion(flow_data["after_completion"])
    return flow


def _after_completion(after: Any) -> dict[str, Any]:
    """`flow_data[after_completion]` as the session API's `afterCompletion`; the service checks
    the type and its field (a sub-hash of another type is refused there, named as Stripe's)."""
    base = "flow_data[after_completion]"
    if not isinstance(after, dict):
        raise invalid(f"Invalid {base}: expected an object.", param=base)
    found: dict[str, Any] = {"type": after.get("type")}
    for key, value in after.items():
        if key == "type":
            continue
        if key not in _AFTER_COMPLETION_FIELDS:
            raise invalid(f"Received unknown parameter: {base}[{key}]", param=f"{base}[{key}]",
                          code="parameter_unknown")
        stripe_name, our_name = _AFTER_COMPLETION_FIELDS[key]
        if not isinstance(value, dict) or set(value) - {stripe_name}:
            extra = sorted(set(value) - {stripe_name}) if isinstance(value, dict) else []
            param = f"{base}[{key}][{extra[0]}]" if extra else f"{base}[{key}]"
            raise invalid(f"Received unknown parameter: {param}" if extra else f"Invalid {param}: expected an "
                          "object.", param=param, code="parameter_unknown" if extra else "parameter_invalid")
        if stripe_name in value:
            found[our_name] = value[stripe_name]
    return found


def _confirm_item(items: Any) -> dict[str, Any]:
    """`items[0][price]` (and `[quantity]`) of a `subscription_update_confirm`: Stripe's
    portal confirms one item; its `[id]` is Stripe's and only echoed back."""
    base = f"flow_data[{_CONFIRM}][items]"
    if not isinstance(items, dict) or set(items) != {"0"} or not isinstance(items["0"], dict):
        raise invalid(f"{base} must hold exactly one item: {base}[0][price] (and [id], [quantity]).",
                      param=f"{base}[0][price]", code="parameter_missing" if items is None else "parameter_invalid")
    found: dict[str, Any] = {}
    for key, value in items["0"].items():
        if key not in _ITEM_FIELDS:
            raise invalid(f"Received unknown parameter: {base}[0][{key}]", param=f"{base}[0][{key}]",
                          code="parameter_unknown")
        if _ITEM_FIELDS[key]:
            found[_ITEM_FIELDS[key]] = value
    quantity = found.get("quantity")
    if isinstance(quantity, str) and quantity.isascii() and quantity.isdecimal():
        found["quantity"] = int(quantity)  # form values are text; anything else is the service's 400
    return found


def _flow_kind(params: dict[str, Any]) -> str:
    flow_data = params.get("flow_data")
    kind = flow_data.get("type") if isinstance(flow_data, dict) else None
    return kind if kind in sessions.FLOW_TYPES else "flow"


# --- the answer ----------------------------------------------------------------------------


def _session_object(created: sessions.CreatedSession, params: dict[str, Any], flow: dict[str, Any] | None) -> dict:
    return {
        "id": SESSION_ID_PREFIX + created.session_id.removeprefix(_OUR_SESSION_PREFIX),
        "object": OBJECT,
        "configuration": CONFIGURATION_ID,
        "created": int(created.created_at.timestamp()),
        "customer": created.stripe_customer_id,
        "flow": _flow_object(flow, params),
        "livemode": created.livemode,
        "locale": params.get("locale") or None,
        "on_behalf_of": None,
        "return_url": created.session.return_url,
        "url": created.portal_url,
    }


def _flow_object(flow: dict[str, Any] | None, params: dict[str, Any]) -> dict[str, Any] | None:
    """Stripe's `flow` of the session: the type's own hash filled in, the others null."""
    if flow is None:
        return None
    kind = flow["type"]
    details: dict[str, Any] = {sessions.FLOW_SUBSCRIPTION_CANCEL: None, sessions.FLOW_SUBSCRIPTION_UPDATE: None,
                               _CONFIRM: None}
    if kind == sessions.FLOW_SUBSCRIPTION_CANCEL:
        details[kind] = {"retention": None, "subscription": flow["subscriptionId"]}
    elif kind == sessions.FLOW_SUBSCRIPTION_UPDATE:
        details[kind] = {"subscription": flow["subscriptionId"]}
    elif kind == _CONFIRM:
        item = params["flow_data"][_CONFIRM]["items"]["0"]
        details[kind] = {
            "discounts": None,
            "items": [{"id": item.get("id"), "price": flow["priceId"], "quantity": flow.get("quantity")}],
            "subscription": flow["subscriptionId"],
        }
    after = flow.get("afterCompletion") or {"type": sessions.AFTER_PORTAL_HOMEPAGE}
    after_kind = after["type"]
    return {
        "type": kind,
        "after_completion": {
            "type": after_kind,
            "hosted_confirmation": ({"custom_message": after.get("customMessage")}
                                    if after_kind == sessions.AFTER_HOSTED_CONFIRMATION else None),
            "redirect": {"return_url": after["returnUrl"]} if after_kind == sessions.AFTER_REDIRECT else None,
        },
        **details,
    }


def stripe_error(error: BillStackError, flow_kind: str = "flow") -> JSONResponse:
    """Stripe's envelope and statuses: an unknown customer is a 400 naming `customer`, and
    authentication failures are `invalid_request_error`s, as Stripe sends them. `flow_kind`:
    the request's flow type, which Stripe's names of the flow's fields contain."""
    param = _STRIPE_PARAMS.get(error.param or "", error.param)
    if param is not None:
        param = param.replace("{kind}", flow_kind)
    status = 400 if error.status == 404 else error.status
    kind = "invalid_request_error" if error.status == 401 else error.type
    body = {"type": kind, "code": error.code, "message": error.message, "param": param}
    return JSONResponse({"error": body}, status_code=status, headers=error.headers or None)
