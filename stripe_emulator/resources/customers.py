"""/v1/customers: create, retrieve, update, delete, list, search."""

from __future__ import annotations

import re
from typing import Any

from stripe_emulator.checkout_branding import LOCALES
from stripe_emulator.context import Ctx, changed
from stripe_emulator.errors import StripeError, invalid, missing
from stripe_emulator.ids import new_id, random_text
from stripe_emulator.listing import paginate
from stripe_emulator.countries import is_country
from stripe_emulator.operations.customers import (
    add_tax_id,
    customer_tax_ids,
    live_customer,
    remove_tax_id,
    require_attached,
)
from stripe_emulator.operations.payment_methods import attach, resolve
from stripe_emulator.operations.subscriptions import cancel_now
from stripe_emulator.registry import route
from stripe_emulator.render import copy_json
from stripe_emulator.wire import check_known, merge_metadata, take_dict, take_int, take_list, take_str

_FIELDS = frozenset(
    {
        "email",
        "name",
        "description",
        "phone",
        "metadata",
        "address",
        "shipping",
        "preferred_locales",
        "invoice_settings",
        "invoice_prefix",
        "balance",
        "tax_exempt",
        "test_clock",
    }
)
CREATE_PARAMS = _FIELDS | {"payment_method", "tax_id_data"}
UPDATE_PARAMS = _FIELDS - {"test_clock"}
_ADDRESS_KEYS = ("city", "country", "line1", "line2", "postal_code", "state")


def address(params: dict[str, Any], name: str, label: str | None = None) -> dict[str, Any] | None:
    """`params[name]` as a Stripe address; `label` is its public name in errors (default `name`)."""
    label = label or name
    raw = take_dict(params, name, param=label)
    if raw is None:
        return None
    for key in raw:
        if key not in _ADDRESS_KEYS:
            raise invalid(
                f"{label}[{key}]", f"Received unknown parameter: {label}[{key}]", code="parameter_unknown"
            )
    out = {k: (raw.get(k) or None) for k in _ADDRESS_KEYS}
    for key, value in out.items():
        if value is not None and not isinstance(value, str):
            raise invalid(f"{label}[{key}]", f"Invalid string: {label}[{key}]")
    if out["country"] is not None:
        out["country"] = _country(out["country"], f"{label}[country]")
    return out


def _country(code: str, param: str) -> str:
    """An assigned ISO 3166-1 alpha-2 code, upper-cased (Stripe accepts `de` for `DE`)."""
    upper = code.strip().upper()
    if not is_country(upper):
        raise invalid(
            param,
            f"Country '{code}' is unknown. Try using a 2-character alphanumeric country code instead, "
            "such as 'US', 'EG', or 'GB'. A full list of country codes is available at "
            "https://stripe.com/docs/api#country_codes",
            code="country_code_invalid",
        )
    return upper


# Stripe's length limits on customer strings.
_MAX_LENGTH = {"email": 512, "name": 256, "description": 350, "phone": 20}
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_CUSTOMER_LOCALES = tuple(code for code in LOCALES if code != "auto")


def _bounded(params: dict[str, Any], field: str) -> str | None:
    value = take_str(params, field)
    if value is not None and len(value) > _MAX_LENGTH[field]:
        raise invalid(
            field,
            f"Invalid {field}: must be at most {_MAX_LENGTH[field]} characters",
            code="parameter_invalid_string",
        )
    return value


def _check_email(email: str) -> None:
    if not _EMAIL.fullmatch(email):
        raise invalid("email", f"Invalid email address: {email}", code="email_invalid")


def _locales(params: dict[str, Any]) -> list[str]:
    tags = take_list(params, "preferred_locales") or []
    for i, tag in enumerate(tags):
        if tag not in _CUSTOMER_LOCALES:
            raise invalid(
                f"preferred_locales[{i}]",
                f"Invalid preferred_locales[{i}]: must be one of {', '.join(_CUSTOMER_LOCALES)}",
            )
    return list(tags)


def _shipping_address(ship: dict[str, Any]) -> dict[str, Any]:
    """Stripe requires `shipping[address]` (with `line1`) beside `shipping[name]`."""
    out = address(ship, "address", "shipping[address]")
    if out is None:
        raise missing("shipping[address]")
    if out["line1"] is None:
        raise missing("shipping[address][line1]")
    return out


def _apply(ctx: Ctx, cus: dict[str, Any], params: dict[str, Any]) -> None:
    for field in ("email", "name", "description", "phone"):
        if field in params:
            cus[field] = _bounded(params, field)
    if cus["email"] is not None and "email" in params:
        _check_email(cus["email"])
    if "address" in params:
        cus["address"] = address(params, "address")
    if "shipping" in params:
        ship = take_dict(params, "shipping")
        cus["shipping"] = (
            None
            if ship is None
            else {
                "address": _shipping_address(ship),
                "name": take_str(ship, "name", param="shipping[name]", required=True),
                "phone": take_str(ship, "phone", param="shipping[phone]"),
            }
        )
    if "preferred_locales" in params:
        cus["preferred_locales"] = _locales(params)
    if "invoice_prefix" in params:
        prefix = take_str(params, "invoice_prefix")
        if prefix is None or not re.fullmatch(r"[A-Z0-9]{3,12}", prefix):
            raise invalid("invoice_prefix", "Invoice prefix must be 3–12 uppercase letters or digits.")
        cus["invoice_prefix"] = prefix
    if "balance" in params:
        cus["balance"] = take_int(params, "balance") or 0
    if "tax_exempt" in params:
        cus["tax_exempt"] = take_str(params, "tax_exempt", choices=("none", "exempt", "reverse")) or "none"
    cus["metadata"] = merge_metadata(cus["metadata"], params)
    if "invoice_settings" in params:
        settings = take_dict(params, "invoice_settings") or {}
        for key in settings:
            if key not in ("default_payment_method", "footer", "custom_fields", "rendering_options"):
                raise invalid(
                    f"invoice_settings[{key}]",
                    f"Received unknown parameter: invoice_settings[{key}]",
                    code="parameter_unknown",
                )
        out = dict(cus["invoice_settings"])
        if "default_payment_method" in settings:
            pm_id = take_str(settings, "default_payment_method")
            if pm_id is not None:
                require_attached(ctx, cus, pm_id, "invoice_settings[default_payment_method]")
            out["default_payment_method"] = pm_id
        if "footer" in settings:
            out["footer"] = take_str(settings, "footer")
        cus["invoice_settings"] = out


def new_customer(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    """The customer, then its `tax_id_data` tax ids (a bad one fails the whole request)."""
    cus = _customer(ctx, params)
    for i, entry in enumerate(take_list(params, "tax_id_data") or []):
        prefix = f"tax_id_data[{i}]"
        if not isinstance(entry, dict):
            raise invalid(prefix, f"Invalid object: {prefix} must be a hash")
        check_known({f"{prefix}[{k}]": v for k, v in entry.items()}, {f"{prefix}[type]", f"{prefix}[value]"})
        tax_type = take_str(entry, "type", param=f"{prefix}[type]", required=True) or ""
        value = take_str(entry, "value", param=f"{prefix}[value]", required=True) or ""
        add_tax_id(ctx, cus, tax_type, value, prefix)
    return cus


def _customer(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    cus: dict[str, Any] = {
        "id": new_id("cus"),
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": ctx.now(),
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "discount": None,
        "email": None,
        "invoice_prefix": random_text(8).upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": {},
        "name": None,
        "next_invoice_sequence": 1,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }
    pm_id = take_str(params, "payment_method")
    settings_pm = (take_dict(params, "invoice_settings") or {}).get("default_payment_method")
    if settings_pm and settings_pm != pm_id:
        raise StripeError(
            f"The customer does not have a payment method with the ID {settings_pm}. "
            "The payment method must be attached to the customer.",
            code="resource_missing",
            param="invoice_settings[default_payment_method]",
        )
    if pm_id is not None:
        # Validate/attach before the customer exists so a declined card creates nothing.
        pm = resolve(ctx, pm_id, "payment_method")
        ctx.account.add(cus)
        try:
            attach(ctx, pm, cus, emit_first=lambda: ctx.emit("customer.created", cus))
        except StripeError:
            ctx.account.remove(cus)
            raise
        _apply(ctx, cus, {k: v for k, v in params.items() if k != "invoice_settings"})
        if settings_pm:
            cus["invoice_settings"] = {**cus["invoice_settings"], "default_payment_method": pm["id"]}
        return cus
    _apply(ctx, cus, params)
    ctx.account.add(cus)
    ctx.emit("customer.created", cus)
    return cus


@route("POST", "/v1/customers")
def create(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    check_known(params, CREATE_PARAMS)
    return new_customer(ctx, params)


@route("GET", "/v1/customers/{customer}")
def retrieve(ctx: Ctx, params: dict[str, Any], customer: str) -> dict[str, Any]:
    check_known(params, frozenset())
    obj = ctx.account.objects.get(customer)
    if obj is None or obj["object"] != "customer":
        ctx.account.require("customer", customer)
    return obj  # type: ignore[return-value]  # may be a deleted tombstone, as in Stripe


def update_customer(ctx: Ctx, cus: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    before = copy_json(cus)
    _apply(ctx, cus, params)
    diff = changed(before, cus)
    if diff:
        ctx.emit("customer.updated", cus, diff)
    return cus


@route("POST", "/v1/customers/{customer}")
def update(ctx: Ctx, params: dict[str, Any], customer: str) -> dict[str, Any]:
    check_known(params, UPDATE_PARAMS)
    return update_customer(ctx, live_customer(ctx, customer), params)


@route("DELETE", "/v1/customers/{customer}")
def delete(ctx: Ctx, params: dict[str, Any], customer: str) -> dict[str, Any]:
    check_known(params, frozenset())
    cus = live_customer(ctx, customer)
    live_subs = [
        s
        for s in ctx.account.all("subscription")
        if s["customer"] == cus["id"] and s["status"] not in ("canceled", "incomplete_expired")
    ]
    if live_subs:
        for sub in live_subs:
            cancel_now(ctx, sub)
    for txi in customer_tax_ids(ctx, cus["id"]):
        remove_tax_id(ctx, txi)
    ctx.emit("customer.deleted", cus)
    ctx.account.remove(cus)
    tombstone = {"id": cus["id"], "object": "customer", "deleted": True}
    ctx.account.objects[cus["id"]] = tombstone
    return tombstone


@route("GET", "/v1/customers")
def list_(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    check_known(
        params, frozenset({"limit", "starting_after", "ending_before", "email", "created", "test_clock"})
    )
    email = take_str(params, "email")
    rows = (c for c in ctx.account.all("customer") if email is None or c["email"] == email)
    return paginate(params, rows, "/v1/customers")


_CLAUSE = re.compile(
    r"""\s*(email|name|phone|description|metadata\[['"]([^'"]+)['"]\])\s*:\s*['"]([^'"]*)['"]\s*"""
)


@route("GET", "/v1/customers/search")
def search(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    """Stripe's search query language, the subset `field:'value' AND …` (exact match)."""
    check_known(params, frozenset({"query", "limit", "page"}))
    query = take_str(params, "query", required=True) or ""
    clauses = []
    for part in re.split(r"\s+AND\s+", query.strip()):
        m = _CLAUSE.fullmatch(part)
        if not m:
            raise invalid(
                "query", f"Invalid query: {query!r} (the emulator supports field:'value' joined by AND)"
            )
        clauses.append(m.groups())
    limit = take_int(params, "limit") or 10

    def hit(c: dict[str, Any]) -> bool:
        for field, meta_key, value in clauses:
            actual = c["metadata"].get(meta_key) if meta_key else c.get(field)
            if actual != value:
                return False
        return True

    rows = [c for c in ctx.account.all("customer") if hit(c)][::-1]
    return {
        "object": "search_result",
        "data": rows[:limit],
        "has_more": len(rows) > limit,
        "next_page": None,
        "url": "/v1/customers/search",
    }
