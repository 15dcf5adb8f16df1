"""Shape fidelity: every object type the emulator returns, checked two ways.

1. Every key is declared on stripe-python's typed class (recursively, nested classes too),
   and a null only where the class says Optional.
2. Where `../shared/stripe/fixtures3.json` exists: the same key set and nesting as Stripe's
   own example object of that type, with the documented exceptions below.

The scenario touches every object type; the test fails if one appears that is not
enumerated here (drift) or an enumerated one is never produced.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe

from tests.emulator.shapes import check_annotations, check_list, compare_to_fixture, object_class

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "stripe" / "fixtures3.json"

OBJECT_TYPES = {
    "customer",
    "product",
    "price",
    "plan",
    "subscription",
    "subscription_item",
    "subscription_schedule",
    "invoice",
    "line_item",
    "invoiceitem",
    "payment_method",
    "setup_intent",
    "checkout.session",
    "event",
    "webhook_endpoint",
    "tax_id",
    "coupon",
    "promotion_code",
    "discount",
}
DELETED_TYPES = {
    "customer", "product", "invoiceitem", "webhook_endpoint", "invoice", "tax_id", "coupon", "discount"
}
# Deleted objects Stripe returns with their fields (fixtures3.json's deleted_discount): checked
# against that example below, not as a bare {id, object, deleted}.
DELETED_WITH_FIELDS = {"discount"}

# Where the emulator knowingly differs from Stripe's example object, and why.
EXCEPTIONS = {
    # Returned only in the response that creates the endpoint, exactly as Stripe does;
    # the fixture shows a retrieved endpoint.
    "webhook_endpoint.secret": "secret is shown once, at creation",
    # An event's payload is whatever object changed; it is checked as that object type.
    "event.data.object": "checked as its own object type",
    # Stripe adds previous_attributes only to *.updated events; the fixture is a plan.created.
    "event.data.previous_attributes": "present on update events only",
    # The fixture still carries the pre-2025 top-level `invoice.subscription` (null there);
    # stripe-python 16 does not declare it. At this API version the subscription is at
    # `invoice.parent.subscription_details.subscription`, which the emulator fills.
    "invoice.subscription": "moved to parent.subscription_details in this API version",
    # Newer than the fixture: stripe-python 16 declares it (checkout.Session.BrandingSettings),
    # and the annotation check above holds the emulator's to that declaration.
    "checkout.session.branding_settings": "newer than fixtures3.json; declared by stripe-python 16",
    # A proration's invoice item names the subscription item it prorates; stripe-python 16
    # declares it (InvoiceItem.Parent.SubscriptionDetails.subscription_item), the fixture predates it.
    "invoiceitem.parent.subscription_details.subscription_item": (
        "newer than fixtures3.json; declared by stripe-python 16"
    ),
}


def _raw(obj: Any) -> Any:
    return json.loads(obj.last_response.body)


def _scenario(client: stripe.StripeClient, base: str, key: str) -> list[Any]:
    """Exercise every resource; return the raw JSON bodies the emulator sent."""
    out: list[Any] = []

    def keep(obj: Any) -> Any:
        out.append(_raw(obj))
        return obj

    product = keep(client.v1.products.create({"name": "Pro", "metadata": {"k": "v"}}))
    price = keep(
        client.v1.prices.create(
            {
                "product": product.id,
                "currency": "usd",
                "unit_amount": 1500,
                "recurring": {"interval": "month"},
            }
        )
    )
    keep(client.v1.prices.list({"product": product.id}))
    cus = keep(
        client.v1.customers.create(
            {"email": "shape@example.com", "name": "Shape", "address": {"city": "Berlin", "country": "DE"}}
        )
    )
    vat = keep(client.v1.customers.tax_ids.create(cus.id, {"type": "eu_vat", "value": "DE123456789"}))
    keep(client.v1.customers.tax_ids.list(cus.id))
    keep(client.v1.customers.tax_ids.delete(cus.id, vat.id))
    keep(client.v1.customers.tax_ids.create(cus.id, {"type": "eu_vat", "value": "DE000000000"}))
    pm = keep(client.v1.payment_methods.attach("pm_card_visa", {"customer": cus.id}))
    keep(client.v1.customers.update(cus.id, {"invoice_settings": {"default_payment_method": pm.id}}))
    keep(client.v1.customers.retrieve(cus.id, {"expand": ["invoice_settings.default_payment_method"]}))
    sub = keep(
        client.v1.subscriptions.create({"customer": cus.id, "items": [{"price": price.id, "quantity": 2}]})
    )
    keep(
        client.v1.subscriptions.retrieve(
            sub.id,
            {"expand": ["latest_invoice", "items.data.price.product", "default_payment_method", "customer"]},
        )
    )
    keep(client.v1.subscriptions.update(sub.id, {"cancel_at_period_end": True}))
    item_id = sub["items"].data[0].id
    keep(
        client.v1.subscriptions.update(
            sub.id, {"items": [{"id": item_id, "quantity": 3}], "proration_behavior": "always_invoice"}
        )
    )
    keep(client.v1.subscriptions.update(sub.id, {"items": [{"id": item_id, "quantity": 4}]}))
    keep(
        client.v1.invoices.create_preview(
            {
                "customer": cus.id,
                "subscription": sub.id,
                "subscription_details": {"items": [{"id": item_id, "quantity": 5}]},
            }
        )
    )
    keep(client.v1.invoice_items.list({"customer": cus.id, "pending": True}))
    schedule = keep(client.v1.subscription_schedules.create({"from_subscription": sub.id}))
    keep(
        client.v1.subscription_schedules.update(
            schedule.id,
            {
                "phases": [
                    {"items": [{"price": price.id, "quantity": 4}], "end_date": schedule.phases[0].end_date},
                    {"items": [{"price": price.id, "quantity": 1}], "iterations": 1},
                ]
            },
        )
    )
    keep(client.v1.subscriptions.retrieve(sub.id, {"expand": ["schedule"]}))
    keep(client.v1.subscription_schedules.release(schedule.id))
    # A declined change under pending_if_incomplete: the subscription's `pending_update`.
    bigger = client.v1.prices.create(
        {"product": product.id, "currency": "usd", "unit_amount": 2500, "recurring": {"interval": "month"}}
    )
    waiting = client.v1.subscriptions.create({"customer": cus.id, "items": [{"price": price.id}]})
    failing = client.v1.payment_methods.attach("pm_card_chargeCustomerFail", {"customer": cus.id})
    client.v1.subscriptions.update(waiting.id, {"default_payment_method": failing.id})
    changed = keep(
        client.v1.subscriptions.update(
            waiting.id,
            {
                "items": [{"id": waiting["items"].data[0].id, "price": bigger.id}],
                "proration_behavior": "always_invoice",
                "payment_behavior": "pending_if_incomplete",
            },
        )
    )
    assert changed.pending_update is not None
    keep(client.v1.subscription_items.list({"subscription": sub.id}))
    keep(client.v1.invoices.list({"customer": cus.id}))
    keep(client.v1.invoices.retrieve(sub.latest_invoice))
    keep(client.v1.payment_methods.list({"customer": cus.id, "type": "card"}))
    ii = keep(client.v1.invoice_items.create({"customer": cus.id, "amount": 500, "currency": "usd"}))
    draft = keep(client.v1.invoices.create({"customer": cus.id, "pending_invoice_items_behavior": "include"}))
    keep(client.v1.invoices.finalize_invoice(draft.id))
    ii2 = keep(client.v1.invoice_items.create({"customer": cus.id, "amount": 700, "currency": "usd"}))
    keep(client.v1.invoice_items.delete(ii2.id))
    draft2 = keep(client.v1.invoices.create({"customer": cus.id}))
    keep(client.v1.invoices.delete(draft2.id))
    assert ii.id
    si = keep(
        client.v1.setup_intents.create(
            {"customer": cus.id, "payment_method": "pm_card_mastercard", "confirm": True}
        )
    )
    keep(client.v1.setup_intents.retrieve(si.id, {"expand": ["payment_method"]}))
    cs = keep(
        client.v1.checkout.sessions.create(
            {
                "mode": "setup",
                "customer": cus.id,
                "currency": "usd",
                "success_url": "https://example.com/ok",
                "cancel_url": "https://example.com/no",
                "locale": "de",
                "branding_settings": {"display_name": "Shop", "button_color": "#0a7d33",
                                      "logo": {"type": "url", "url": "https://example.com/logo.png"}},
            }
        )
    )
    resp = httpx.post(
        cs.url, data={"cardnumber": "4242424242424242", "exp": "12/40", "cvc": "123", "name": "S"}
    )
    assert resp.status_code == 303
    keep(client.v1.checkout.sessions.retrieve(cs.id, {"expand": ["setup_intent"]}))
    we = keep(
        client.v1.webhook_endpoints.create({"url": "https://example.com/hook", "enabled_events": ["*"]})
    )
    keep(client.v1.webhook_endpoints.retrieve(we.id))
    keep(client.v1.webhook_endpoints.delete(we.id))
    keep(client.v1.events.list({"limit": 100}))
    coupon = keep(
        client.v1.coupons.create({"percent_off": 20, "duration": "repeating", "duration_in_months": 3})
    )
    promo = keep(
        client.v1.promotion_codes.create(
            {"promotion": {"type": "coupon", "coupon": coupon.id}, "code": "SHAPE20", "max_redemptions": 5}
        )
    )
    keep(client.v1.promotion_codes.list({"code": "SHAPE20"}))
    keep(client.v1.coupons.list())
    discounted = keep(
        client.v1.subscriptions.create(
            {"customer": cus.id, "items": [{"price": price.id}], "discounts": [{"promotion_code": promo.id}]}
        )
    )
    keep(client.v1.subscriptions.retrieve(discounted.id, {"expand": ["discounts", "latest_invoice"]}))
    keep(client.v1.subscriptions.delete_discount(discounted.id))
    keep(client.v1.coupons.delete(client.v1.coupons.create({"amount_off": 100, "currency": "usd"}).id))
    throwaway = client.v1.customers.create({})
    keep(client.v1.customers.delete(throwaway.id))
    temp_product = client.v1.products.create({"name": "Temp"})
    keep(client.v1.products.delete(temp_product.id))
    return out


def _walk(value: Any, found: dict[str, list[dict[str, Any]]]) -> None:
    if isinstance(value, dict):
        kind = value.get("object")
        if isinstance(kind, str) and kind not in ("list", "search_result"):
            found.setdefault(("deleted_" if value.get("deleted") else "") + kind, []).append(value)
        for child in value.values():
            _walk(child, found)
    elif isinstance(value, list):
        for child in value:
            _walk(child, found)


@pytest.fixture(scope="module")
def bodies(emulator_url: str) -> dict[str, list[dict[str, Any]]]:
    from devtools.emulator import new_account_key

    key = new_account_key()
    client = stripe.StripeClient(key, base_addresses={"api": emulator_url}, max_network_retries=0)
    found: dict[str, list[dict[str, Any]]] = {}
    for body in _scenario(client, emulator_url, key):
        if body.get("object") in ("list", "search_result"):
            problems: list[str] = []
            check_list(body, body["url"], problems)
            assert not problems, problems
        _walk(body, found)
    # Event payloads: every data.object is an object of its own type too.
    return found


def test_every_object_type_is_enumerated(bodies: dict[str, list[dict[str, Any]]]) -> None:
    seen = set(bodies)
    expected = OBJECT_TYPES | {f"deleted_{t}" for t in DELETED_TYPES}
    assert seen - expected == set(), f"new object types appeared; enumerate and check them: {seen - expected}"
    assert expected - seen == set(), f"the scenario no longer produces: {expected - seen}"


@pytest.mark.parametrize("obj_type", sorted(OBJECT_TYPES))
def test_keys_are_declared_by_stripe_python(bodies: dict[str, list[dict[str, Any]]], obj_type: str) -> None:
    cls = object_class(obj_type)
    assert cls is not None, f"stripe-python has no class for {obj_type}"
    problems: list[str] = []
    for obj in bodies[obj_type]:
        check_annotations(obj, cls, obj_type, problems)
    assert not sorted(set(problems)), "\n".join(sorted(set(problems)))


@pytest.mark.parametrize("obj_type", sorted(DELETED_TYPES))
def test_deleted_objects_are_declared(bodies: dict[str, list[dict[str, Any]]], obj_type: str) -> None:
    for obj in bodies[f"deleted_{obj_type}"]:
        if obj_type in DELETED_WITH_FIELDS:
            assert obj["deleted"] is True and obj["object"] == obj_type
            continue
        assert set(obj) == {"id", "object", "deleted"} and obj["deleted"] is True


@pytest.fixture(scope="module")
def stripe_examples() -> dict[str, Any]:
    if not FIXTURES.exists():
        reason = f"Stripe's fixtures3.json not found at {FIXTURES.resolve()}; comparison with Stripe's examples skipped"
        print(reason)
        pytest.skip(reason)
    return json.loads(FIXTURES.read_text())["resources"]


@pytest.mark.parametrize("obj_type", sorted(OBJECT_TYPES | {f"deleted_{t}" for t in DELETED_TYPES}))
def test_same_keys_and_nesting_as_stripes_example(
    bodies: dict[str, list[dict[str, Any]]], stripe_examples: dict[str, Any], obj_type: str
) -> None:
    example = stripe_examples.get(obj_type)
    assert example is not None, f"fixtures3.json has no example for {obj_type}"
    cls = object_class(obj_type.removeprefix("deleted_"))
    problems: list[str] = []
    for obj in bodies[obj_type]:
        compare_to_fixture(obj, example, cls, obj_type, problems, EXCEPTIONS)
    assert not sorted(set(problems)), "\n".join(sorted(set(problems)))


def test_the_checkers_catch_drift() -> None:
    """The checks above can fail: an undeclared key, a missing key and a wrong nesting are reported."""
    problems: list[str] = []
    check_annotations(
        {"id": "cus_1", "object": "customer", "favourite_colour": "red"},
        stripe.Customer,
        "customer",
        problems,
    )
    check_annotations(
        {"id": "cus_1", "object": "customer", "invoice_settings": {"bogus": 1}},
        stripe.Customer,
        "customer",
        problems,
    )
    check_annotations(
        {"id": "cus_1", "object": "customer", "created": None}, stripe.Customer, "customer", problems
    )
    assert problems == [
        "customer.favourite_colour: not declared on Customer",
        "customer.invoice_settings.bogus: not declared on Customer.InvoiceSettings",
        "customer.created: null, but Customer.created is not Optional",
    ]
    drift: list[str] = []
    compare_to_fixture({"a": 1, "n": {"x": 1}}, {"a": 1, "b": 2, "n": {"x": 1, "y": 2}}, None, "t", drift, {})
    compare_to_fixture({"a": "1"}, {"a": 1}, None, "u", drift, {})
    assert drift == [
        "t.b: in Stripe's example, missing from the emulator",
        "t.n.y: in Stripe's example, missing from the emulator",
        "u.a: emulator sends str, Stripe's example has number",
    ]
