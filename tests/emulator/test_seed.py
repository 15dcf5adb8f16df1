"""The demo seed builds a realistic customer over the wire."""

from __future__ import annotations

import stripe

from stripe_emulator.seed import seed_demo_customer

DAY = 86400


def test_seed_demo_customer(client: stripe.StripeClient) -> None:
    ids = seed_demo_customer(client, email="demo@example.com", name="Dana Demo")
    cus = client.v1.customers.retrieve(
        ids["customer"], {"expand": ["invoice_settings.default_payment_method"]}
    )
    assert (cus.email, cus.name) == ("demo@example.com", "Dana Demo")
    card = cus.invoice_settings.default_payment_method
    assert card.id == ids["payment_method"] and card.card.brand == "visa" and card.card.last4 == "4242"

    subs = [
        client.v1.subscriptions.retrieve(s, {"expand": ["items.data.price.product"]})
        for s in ids["subscriptions"]
    ]
    assert len(subs) == 2 and all(s.status == "active" for s in subs)
    products = {s["items"].data[0].price.product.id for s in subs}
    prices = {s["items"].data[0].price.id for s in subs}
    assert len(products) == 2 and len(prices) == 2
    assert max(cus.created - s.start_date for s in subs) >= 364 * DAY

    invoices = list(client.v1.invoices.list({"customer": cus.id, "limit": 100}).auto_paging_iter())
    assert [i.id for i in invoices] == ids["invoices"]
    paid = [i for i in invoices if i.status == "paid"]
    open_ = [i for i in invoices if i.status == "open"]
    assert [i.id for i in open_] == [ids["open_invoice"]]
    assert len(paid) >= 12
    assert min(i.created for i in paid) <= cus.created - 364 * DAY
    assert all(i.hosted_invoice_url and i.invoice_pdf and i.number for i in invoices)

    # Seeding a second customer reuses the demo prices instead of duplicating them.
    again = seed_demo_customer(client, email="demo2@example.com", name="Second Demo")
    again_prices = {
        client.v1.subscriptions.retrieve(s)["items"].data[0].price.id for s in again["subscriptions"]
    }
    assert again_prices == prices
