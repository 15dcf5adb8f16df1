"""Products and prices through the real SDK."""

from __future__ import annotations

import pytest
import stripe


def test_product_lifecycle(client: stripe.StripeClient) -> None:
    prod = client.v1.products.create(
        {"name": "Pro", "description": "The pro plan", "metadata": {"tier": "2"}}
    )
    assert prod.id.startswith("prod_") and prod.active and prod.name == "Pro"
    assert client.v1.products.retrieve(prod.id).description == "The pro plan"
    updated = client.v1.products.update(prod.id, {"name": "Pro+", "active": False})
    assert (updated.name, updated.active) == ("Pro+", False)
    assert [p.id for p in client.v1.products.list({"active": False}).data] == [prod.id]
    assert client.v1.products.list({"active": True}).data == []
    again = client.v1.products.create({"name": "Pro"}, {"idempotency_key": "p1"})
    assert client.v1.products.create({"name": "Pro"}, {"idempotency_key": "p1"}).id == again.id
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.products.create({})  # type: ignore[typeddict-item]
    assert (exc.value.code, exc.value.param) == ("parameter_missing", "name")
    assert client.v1.products.delete(again.id).deleted is True


def test_price_lifecycle(client: stripe.StripeClient) -> None:
    prod = client.v1.products.create({"name": "Seats"})
    price = client.v1.prices.create(
        {
            "product": prod.id,
            "currency": "EUR",
            "unit_amount": 900,
            "recurring": {"interval": "month", "interval_count": 3},
            "lookup_key": "seats_q",
        }
    )
    assert price.type == "recurring" and price.currency == "eur"
    assert (price.recurring.interval, price.recurring.interval_count) == ("month", 3)
    assert str(price.unit_amount_decimal) == "900"
    one_time = client.v1.prices.create(
        {"product_data": {"name": "Setup fee"}, "currency": "usd", "unit_amount": 5000}
    )
    assert one_time.type == "one_time" and one_time.recurring is None
    assert client.v1.products.retrieve(one_time.product).name == "Setup fee"
    assert client.v1.prices.retrieve(price.id, {"expand": ["product"]}).product.name == "Seats"
    assert [p.id for p in client.v1.prices.list({"lookup_keys": ["seats_q"]}).data] == [price.id]
    assert [p.id for p in client.v1.prices.list({"type": "one_time"}).data] == [one_time.id]
    assert (
        client.v1.prices.update(price.id, {"nickname": "Quarterly", "active": False}).nickname == "Quarterly"
    )
    assert client.v1.prices.list({"active": True, "product": prod.id}).data == []
    key = {"idempotency_key": "price-1"}
    params = {"product": prod.id, "currency": "usd", "unit_amount": 1}
    assert client.v1.prices.create(params, key).id == client.v1.prices.create(params, key).id
    with pytest.raises(stripe.InvalidRequestError) as dup:
        client.v1.prices.create(
            {"product": prod.id, "currency": "usd", "unit_amount": 1, "lookup_key": "seats_q"}
        )
    assert dup.value.param == "lookup_key"
    with pytest.raises(stripe.InvalidRequestError) as bad:
        client.v1.prices.create(
            {"product": prod.id, "currency": "usd", "unit_amount": 1, "recurring": {"interval": "fortnight"}}
        )  # type: ignore[typeddict-item]
    assert bad.value.param == "recurring[interval]"
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.prices.create({"product": "prod_nope", "currency": "usd", "unit_amount": 1})
    assert (missing.value.http_status, missing.value.param) == (404, "product")
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.products.delete(prod.id)  # it has prices
