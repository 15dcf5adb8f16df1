"""/v1/products and /v1/prices (recurring and one-time)."""

from __future__ import annotations

from typing import Any

from stripe_emulator.context import Ctx, changed
from stripe_emulator.errors import StripeError, invalid, missing
from stripe_emulator.ids import new_id
from stripe_emulator.listing import paginate
from stripe_emulator.registry import route
from stripe_emulator.render import copy_json
from stripe_emulator.wire import (
    check_known,
    merge_metadata,
    take_bool,
    take_dict,
    take_int,
    take_list,
    take_str,
)

_PRODUCT_FIELDS = frozenset(
    {
        "name",
        "active",
        "description",
        "metadata",
        "images",
        "url",
        "unit_label",
        "statement_descriptor",
        "tax_code",
        "shippable",
        "marketing_features",
    }
)


def _apply_product(prod: dict[str, Any], params: dict[str, Any]) -> None:
    if "name" in params:
        prod["name"] = take_str(params, "name", required=True)
    for field in ("description", "url", "unit_label", "statement_descriptor", "tax_code"):
        if field in params:
            prod[field] = take_str(params, field)
    if "active" in params:
        prod["active"] = take_bool(params, "active") is not False
    if "shippable" in params:
        prod["shippable"] = take_bool(params, "shippable")
    if "images" in params:
        prod["images"] = take_list(params, "images") or []
    if "marketing_features" in params:
        prod["marketing_features"] = [
            {"name": f.get("name")} for f in take_list(params, "marketing_features") or []
        ]
    prod["metadata"] = merge_metadata(prod["metadata"], params)


def new_product(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    prod_id = take_str(params, "id") or new_id("prod")
    if prod_id in ctx.account.objects:
        raise StripeError("Product already exists.", code="resource_already_exists", param="id")
    now = ctx.now()
    prod: dict[str, Any] = {
        "id": prod_id,
        "object": "product",
        "active": True,
        "created": now,
        "default_price": None,
        "description": None,
        "images": [],
        "livemode": False,
        "marketing_features": [],
        "metadata": {},
        "name": None,
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": None,
        "type": "service",
        "unit_label": None,
        "updated": now,
        "url": None,
    }
    if take_str(params, "name") is None:
        raise missing("name")
    _apply_product(prod, params)
    ctx.account.add(prod)
    ctx.emit("product.created", prod)
    default_price = take_dict(params, "default_price_data")
    if default_price is not None:
        price = new_price(ctx, {**default_price, "product": prod_id}, param_prefix="default_price_data")
        prod["default_price"] = price["id"]
    return prod


@route("POST", "/v1/products")
def create_product(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    check_known(params, _PRODUCT_FIELDS | {"id", "default_price_data", "tax_details"})
    return new_product(ctx, params)


@route("GET", "/v1/products/{product}")
def retrieve_product(ctx: Ctx, params: dict[str, Any], product: str) -> dict[str, Any]:
    check_known(params, frozenset())
    return ctx.account.require("product", product)


@route("POST", "/v1/products/{product}")
def update_product(ctx: Ctx, params: dict[str, Any], product: str) -> dict[str, Any]:
    check_known(params, _PRODUCT_FIELDS | {"default_price"})
    prod = ctx.account.require("product", product)
    before = copy_json(prod)
    _apply_product(prod, params)
    if "default_price" in params:
        price_id = take_str(params, "default_price")
        if price_id is not None:
            price = ctx.account.require("price", price_id, param="default_price")
            if price["product"] != prod["id"]:
                raise invalid("default_price", "The default price must belong to this product.")
        prod["default_price"] = price_id
    diff = changed(before, prod)
    if diff:
        prod["updated"] = ctx.now()
        ctx.emit("product.updated", prod, diff)
    return prod


@route("DELETE", "/v1/products/{product}")
def delete_product(ctx: Ctx, params: dict[str, Any], product: str) -> dict[str, Any]:
    check_known(params, frozenset())
    prod = ctx.account.require("product", product)
    if any(p["product"] == prod["id"] for p in ctx.account.all("price")):
        raise StripeError("This product cannot be deleted because it has one or more user-created prices.")
    ctx.account.remove(prod)
    ctx.emit("product.deleted", prod)
    return {"id": prod["id"], "object": "product", "deleted": True}


@route("GET", "/v1/products")
def list_products(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    check_known(
        params,
        frozenset(
            {"active", "limit", "starting_after", "ending_before", "created", "ids", "shippable", "url"}
        ),
    )
    active = take_bool(params, "active")
    ids = take_list(params, "ids")
    rows = (
        p
        for p in ctx.account.all("product")
        if (active is None or p["active"] == active) and (ids is None or p["id"] in ids)
    )
    return paginate(params, rows, "/v1/products")


# --- prices ---------------------------------------------------------------------------

_INTERVALS = ("day", "week", "month", "year")


def new_price(ctx: Ctx, params: dict[str, Any], param_prefix: str = "") -> dict[str, Any]:
    def p(name: str) -> str:
        return f"{param_prefix}[{name}]" if param_prefix else name

    currency = take_str(params, "currency", param=p("currency"), required=True)
    assert currency is not None
    product_id = take_str(params, "product")
    product_data = take_dict(params, "product_data")
    if product_id is None and product_data is None:
        raise missing(p("product"))
    if product_id is not None:
        ctx.account.require("product", product_id, param=p("product"))
    unit_amount = take_int(params, "unit_amount", param=p("unit_amount"), minimum=0)
    if unit_amount is None:
        decimal = take_str(params, "unit_amount_decimal")
        if decimal is None:
            raise missing(p("unit_amount"))
        try:
            unit_amount = int(float(decimal))
        except ValueError:
            raise invalid(p("unit_amount_decimal"), f"Invalid decimal: {decimal}") from None
    recurring_raw = take_dict(params, "recurring")
    recurring = None
    if recurring_raw is not None:
        interval = take_str(
            recurring_raw, "interval", param=p("recurring[interval]"), required=True, choices=_INTERVALS
        )
        assert interval is not None
        count = (
            take_int(recurring_raw, "interval_count", param=p("recurring[interval_count]"), minimum=1) or 1
        )
        limit = {"day": 1095, "week": 156, "month": 36, "year": 3}[interval]
        if count > limit:
            raise invalid(
                p("recurring[interval_count]"),
                f"The maximum billing period is 3 years ({limit} {interval}s).",
            )
        recurring = {
            "interval": interval,
            "interval_count": count,
            "meter": None,
            "trial_period_days": take_int(
                recurring_raw, "trial_period_days", param=p("recurring[trial_period_days]"), minimum=0
            ),
            "usage_type": take_str(
                recurring_raw, "usage_type", param=p("recurring[usage_type]"), choices=("licensed", "metered")
            )
            or "licensed",
        }
    if product_id is None:
        assert product_data is not None
        product_id = new_product(ctx, product_data)["id"]
    lookup_key = take_str(params, "lookup_key")
    if lookup_key is not None:
        _claim_lookup_key(ctx, lookup_key, take_bool(params, "transfer_lookup_key"))
    price = {
        "id": new_id("price"),
        "object": "price",
        "active": take_bool(params, "active") is not False,
        "billing_scheme": "per_unit",
        "created": ctx.now(),
        "currency": currency.lower(),
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": lookup_key,
        "metadata": merge_metadata({}, params),
        "nickname": take_str(params, "nickname"),
        "product": product_id,
        "recurring": recurring,
        "tax_behavior": take_str(params, "tax_behavior", choices=("inclusive", "exclusive", "unspecified"))
        or "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "recurring" if recurring else "one_time",
        "unit_amount": unit_amount,
        "unit_amount_decimal": str(unit_amount),
    }
    ctx.account.add(price)
    ctx.emit("price.created", price)
    return price


def _claim_lookup_key(ctx: Ctx, key: str, transfer: bool | None) -> None:
    for other in ctx.account.all("price"):
        if other["lookup_key"] == key:
            if not transfer:
                raise StripeError(
                    f"A price (`{other['id']}`) already uses that lookup key.", param="lookup_key"
                )
            other["lookup_key"] = None


_PRICE_CREATE = frozenset(
    {
        "currency",
        "product",
        "product_data",
        "unit_amount",
        "unit_amount_decimal",
        "recurring",
        "nickname",
        "lookup_key",
        "metadata",
        "active",
        "tax_behavior",
        "billing_scheme",
        "transfer_lookup_key",
    }
)


@route("POST", "/v1/prices")
def create_price(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    check_known(params, _PRICE_CREATE)
    take_str(params, "billing_scheme", choices=("per_unit",))
    return new_price(ctx, params)


@route("GET", "/v1/prices/{price}")
def retrieve_price(ctx: Ctx, params: dict[str, Any], price: str) -> dict[str, Any]:
    check_known(params, frozenset())
    return ctx.account.require("price", price)


@route("POST", "/v1/prices/{price}")
def update_price(ctx: Ctx, params: dict[str, Any], price: str) -> dict[str, Any]:
    check_known(
        params,
        frozenset({"active", "nickname", "metadata", "lookup_key", "tax_behavior", "transfer_lookup_key"}),
    )
    obj = ctx.account.require("price", price)
    before = copy_json(obj)
    if "active" in params:
        obj["active"] = take_bool(params, "active") is not False
    if "nickname" in params:
        obj["nickname"] = take_str(params, "nickname")
    if "tax_behavior" in params:
        obj["tax_behavior"] = take_str(
            params, "tax_behavior", choices=("inclusive", "exclusive", "unspecified")
        )
    if "lookup_key" in params:
        key = take_str(params, "lookup_key")
        if key is not None and key != obj["lookup_key"]:
            _claim_lookup_key(ctx, key, take_bool(params, "transfer_lookup_key"))
        obj["lookup_key"] = key
    obj["metadata"] = merge_metadata(obj["metadata"], params)
    diff = changed(before, obj)
    if diff:
        ctx.emit("price.updated", obj, diff)
    return obj


@route("GET", "/v1/prices")
def list_prices(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    check_known(
        params,
        frozenset(
            {
                "active",
                "currency",
                "product",
                "type",
                "lookup_keys",
                "recurring",
                "limit",
                "starting_after",
                "ending_before",
                "created",
            }
        ),
    )
    active = take_bool(params, "active")
    product = take_str(params, "product")
    currency = take_str(params, "currency")
    kind = take_str(params, "type", choices=("recurring", "one_time"))
    keys = take_list(params, "lookup_keys")
    interval = (take_dict(params, "recurring") or {}).get("interval")
    rows = (
        p
        for p in ctx.account.all("price")
        if (active is None or p["active"] == active)
        and (product is None or p["product"] == product)
        and (currency is None or p["currency"] == currency.lower())
        and (kind is None or p["type"] == kind)
        and (keys is None or p["lookup_key"] in keys)
        and (interval is None or (p["recurring"] or {}).get("interval") == interval)
    )
    return paginate(params, rows, "/v1/prices")
