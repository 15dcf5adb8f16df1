"""/v1/checkout/sessions in `mode=setup`, completed on the emulator's hosted page (`hosted.py`)
through `operations.checkout`."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from stripe_emulator.checkout_branding import take_branding, take_locale
from stripe_emulator.context import Ctx
from stripe_emulator.errors import invalid
from stripe_emulator.ids import new_id
from stripe_emulator.listing import paginate
from stripe_emulator.operations.checkout import customer_details, expire
from stripe_emulator.operations.customers import live_customer
from stripe_emulator.operations.setup_intents import new_setup_intent
from stripe_emulator.registry import renderer, route
from stripe_emulator.wire import check_known, merge_metadata, take_dict, take_int, take_list, take_str

DAY = 86400
# The business name Checkout shows when the request names none (hosted.py says the same).
ACCOUNT_NAME = "BillStack Emulator"
CREATE_PARAMS = frozenset(
    {
        "mode",
        "customer",
        "success_url",
        "cancel_url",
        "currency",
        "payment_method_types",
        "metadata",
        "client_reference_id",
        "customer_email",
        "setup_intent_data",
        "locale",
        "branding_settings",
        "expires_at",
        "ui_mode",
        "billing_address_collection",
        "payment_method_configuration",
    }
)


def _url(params: dict[str, Any], name: str, required: bool) -> str | None:
    url = take_str(params, name, required=required)
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise invalid(name, f"Not a valid URL: {url}", code="url_invalid")
    return url


@route("POST", "/v1/checkout/sessions")
def create(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    check_known(params, CREATE_PARAMS)
    mode = take_str(params, "mode", required=True, choices=("payment", "setup", "subscription"))
    if mode != "setup":
        raise invalid("mode", f"The emulator supports Checkout only in mode=setup (got mode={mode}).")
    ui_mode = take_str(params, "ui_mode", choices=("hosted", "hosted_page", "embedded", "custom")) or "hosted"
    if ui_mode not in ("hosted", "hosted_page"):
        raise invalid("ui_mode", "The emulator serves only hosted Checkout pages.")
    cus_id = take_str(params, "customer")
    cus = None
    if cus_id is not None:
        cus = live_customer(ctx, cus_id, "customer")
    success_url = _url(params, "success_url", required=True)
    cancel_url = _url(params, "cancel_url", required=False)
    now = ctx.now()
    expires_at = take_int(params, "expires_at") or now + DAY
    if not now + 1800 <= expires_at <= now + DAY:
        raise invalid("expires_at", "expires_at must be between 30 minutes and 24 hours from now.")
    locale, branding = take_locale(params), take_branding(params, ACCOUNT_NAME)
    si_data = take_dict(params, "setup_intent_data") or {}
    si = new_setup_intent(
        ctx,
        customer=cus_id,
        metadata=merge_metadata({}, si_data),
        description=take_str(si_data, "description"),
        payment_method_types=take_list(params, "payment_method_types"),
    )
    cs_id = new_id("cs_test")
    session = {
        "id": cs_id,
        "object": "checkout.session",
        "adaptive_pricing": None,
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": None,
        "amount_total": None,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "billing_address_collection": take_str(
            params, "billing_address_collection", choices=("auto", "required")
        ),
        "branding_settings": branding,
        "cancel_url": cancel_url,
        "client_reference_id": take_str(params, "client_reference_id"),
        "client_secret": None,
        "collected_information": None,
        "consent": None,
        "consent_collection": None,
        "created": now,
        "currency": (take_str(params, "currency") or "").lower() or None,
        "currency_conversion": None,
        "custom_fields": [],
        "custom_text": {
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        "customer": cus_id,
        "customer_account": None,
        "customer_creation": None,
        "customer_details": None if cus is None else customer_details(cus, None),
        "customer_email": take_str(params, "customer_email"),
        "discounts": None,
        "expires_at": expires_at,
        "integration_identifier": None,
        "invoice": None,
        "invoice_creation": None,
        "livemode": False,
        "locale": locale,
        "managed_payments": None,
        "metadata": merge_metadata({}, params),
        "mode": "setup",
        "origin_context": None,
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": "always",
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "payment_method_types": si["payment_method_types"],
        "payment_status": "no_payment_required",
        "permissions": None,
        "phone_number_collection": {"enabled": False},
        "recovered_from": None,
        "saved_payment_method_options": None,
        "setup_intent": si["id"],
        "shipping_address_collection": None,
        "shipping_cost": None,
        "shipping_options": [],
        "status": "open",
        "submit_type": None,
        "subscription": None,
        "success_url": success_url,
        "total_details": None,
        "ui_mode": "hosted",
        "url": None,  # rendered while open
        "wallet_options": None,
    }
    ctx.account.add(session)
    ctx.store.publish(cs_id, ctx.account, cs_id)
    return session


@renderer("checkout.session")
def _render(ctx: Ctx, obj: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
    if obj["status"] == "open" and obj["expires_at"] <= ctx.now():
        expire(ctx, obj)
        out["status"] = "expired"
    out["url"] = ctx.url(f"/c/pay/{obj['id']}") if out["status"] == "open" else None
    return out


@route("GET", "/v1/checkout/sessions/{session}")
def retrieve(ctx: Ctx, params: dict[str, Any], session: str) -> dict[str, Any]:
    check_known(params, frozenset())
    return ctx.account.require("checkout.session", session, kind="checkout.session")


@route("POST", "/v1/checkout/sessions/{session}/expire")
def expire_route(ctx: Ctx, params: dict[str, Any], session: str) -> dict[str, Any]:
    check_known(params, frozenset())
    return expire(ctx, ctx.account.require("checkout.session", session, kind="checkout.session"))


@route("POST", "/v1/checkout/sessions/{session}")
def update(ctx: Ctx, params: dict[str, Any], session: str) -> dict[str, Any]:
    check_known(params, frozenset({"metadata"}))
    obj = ctx.account.require("checkout.session", session, kind="checkout.session")
    obj["metadata"] = merge_metadata(obj["metadata"], params)
    return obj


@route("GET", "/v1/checkout/sessions")
def list_(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    check_known(
        params,
        frozenset(
            {
                "customer",
                "status",
                "setup_intent",
                "limit",
                "starting_after",
                "ending_before",
                "created",
                "payment_intent",
                "subscription",
                "payment_link",
                "customer_details",
            }
        ),
    )
    customer = take_str(params, "customer")
    status = take_str(params, "status", choices=("open", "complete", "expired"))
    si = take_str(params, "setup_intent")
    rows = (
        s
        for s in ctx.account.all("checkout.session")
        if (customer is None or s["customer"] == customer)
        and (status is None or s["status"] == status)
        and (si is None or s["setup_intent"] == si)
    )
    return paginate(params, rows, "/v1/checkout/sessions")
