"""Invoices, invoice items, the hosted invoice page and the PDF."""

from __future__ import annotations

import re

import httpx
import pytest
import stripe

from tests.emulator.helpers import customer_with_card, make_catalog


def _open_invoice(client: stripe.StripeClient, cus_id: str, amount: int = 4200) -> stripe.Invoice:
    client.v1.invoice_items.create(
        {"customer": cus_id, "amount": amount, "currency": "usd", "description": "Consulting"}
    )
    draft = client.v1.invoices.create(
        {
            "customer": cus_id,
            "collection_method": "send_invoice",
            "days_until_due": 14,
            "pending_invoice_items_behavior": "include",
        }
    )
    assert (
        draft.status == "draft"
        and draft.number is None
        and draft.invoice_pdf is None
        and draft.amount_due == amount
    )
    return client.v1.invoices.finalize_invoice(draft.id)


def test_manual_invoice_lifecycle(client: stripe.StripeClient) -> None:
    cus = customer_with_card(client)
    inv = _open_invoice(client, cus.id)
    assert inv.status == "open" and re.fullmatch(r"[A-Z0-9]+-0001", inv.number)
    assert inv.hosted_invoice_url.startswith("http://127.0.0.1:") and inv.invoice_pdf.endswith("/pdf")
    assert inv.lines.data[0].description == "Consulting"
    assert client.v1.invoices.retrieve(inv.id).amount_remaining == 4200
    updated = client.v1.invoices.update(inv.id, {"metadata": {"po": "77"}})
    assert updated.metadata.to_dict() == {"po": "77"}
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.finalize_invoice(inv.id)
    paid = client.v1.invoices.pay(inv.id)
    assert (paid.status, paid.amount_paid, paid.amount_remaining) == ("paid", 4200, 0)
    assert paid.status_transitions.paid_at is not None
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.pay(inv.id)
    assert [line.amount for line in client.v1.invoices.line_items.list(inv.id).data] == [4200]


def test_void_uncollectible_and_delete(client: stripe.StripeClient) -> None:
    cus = client.v1.customers.create({})
    inv = _open_invoice(client, cus.id)
    assert client.v1.invoices.mark_uncollectible(inv.id).status == "uncollectible"
    assert client.v1.invoices.void_invoice(inv.id).status == "void"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.void_invoice(inv.id)
    draft = client.v1.invoices.create({"customer": cus.id})
    assert client.v1.invoices.delete(draft.id).deleted is True
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.delete(inv.id)
    with pytest.raises(stripe.InvalidRequestError) as no_card:
        client.v1.invoices.pay(_open_invoice(client, cus.id).id)
    assert "no attached payment source" in str(no_card.value.user_message)


def test_paying_with_a_declining_card_is_a_card_error(client: stripe.StripeClient) -> None:
    cus = customer_with_card(client, pm="pm_card_chargeCustomerFail")
    inv = _open_invoice(client, cus.id)
    with pytest.raises(stripe.CardError) as exc:
        client.v1.invoices.pay(inv.id)
    assert exc.value.http_status == 402
    after = client.v1.invoices.retrieve(inv.id)
    assert (after.status, after.attempt_count, after.attempted) == ("open", 1, True)


def test_list_by_customer_pages_newest_first(client: stripe.StripeClient) -> None:
    catalog = make_catalog(client)
    cus = customer_with_card(client)
    other = customer_with_card(client, email="o@example.com")
    client.v1.subscriptions.create({"customer": other.id, "items": [{"price": catalog.basic.id}]})
    ids = [
        client.v1.subscriptions.create({"customer": cus.id, "items": [{"price": p.id}]}).latest_invoice
        for p in (catalog.basic, catalog.seats, catalog.yearly)
    ]
    page = client.v1.invoices.list({"customer": cus.id, "limit": 2})
    assert [i.id for i in page.data] == ids[::-1][:2] and page.has_more
    rest = client.v1.invoices.list({"customer": cus.id, "limit": 2, "starting_after": page.data[-1].id})
    assert [i.id for i in rest.data] == [ids[0]] and not rest.has_more
    assert [
        i.id for i in client.v1.invoices.list({"customer": cus.id, "status": "paid"}).auto_paging_iter()
    ] == ids[::-1]
    assert client.v1.invoices.list({"customer": cus.id, "status": "open"}).data == []
    with pytest.raises(stripe.InvalidRequestError) as bad:
        client.v1.invoices.list({"customer": cus.id, "status": "bogus"})  # type: ignore[typeddict-item]
    assert bad.value.param == "status"


def test_invoice_items(client: stripe.StripeClient) -> None:
    cus = client.v1.customers.create({})
    price = client.v1.prices.create(
        {"product_data": {"name": "Setup"}, "currency": "usd", "unit_amount": 2500}
    )
    ii = client.v1.invoice_items.create({"customer": cus.id, "pricing": {"price": price.id}, "quantity": 2})
    assert (ii.amount, ii.description, ii.invoice) == (5000, "Setup", None)
    assert [i.id for i in client.v1.invoice_items.list({"customer": cus.id, "pending": True}).data] == [ii.id]
    assert client.v1.invoice_items.retrieve(ii.id).quantity == 2
    inv = client.v1.invoices.create({"customer": cus.id, "pending_invoice_items_behavior": "include"})
    assert inv.amount_due == 5000 and client.v1.invoice_items.retrieve(ii.id).invoice == inv.id
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.invoice_items.create({"customer": cus.id, "currency": "usd"})
    assert missing.value.param == "amount"


def _pdf_is_well_formed(data: bytes) -> None:
    assert data.startswith(b"%PDF-1.") and data.rstrip().endswith(b"%%EOF")
    startxref = int(data[data.rindex(b"startxref") + 9 :].split()[0])
    assert data[startxref : startxref + 4] == b"xref"
    header = data[startxref:].split(b"\n")
    count = int(header[1].split()[1])
    for number in range(1, count):
        offset = int(header[2 + number][:10])
        assert data[offset:].startswith(b"%d 0 obj" % number), f"object {number} not at its xref offset"


def test_hosted_invoice_page_and_pdf(client: stripe.StripeClient) -> None:
    cus = client.v1.customers.create({"name": "Ada Lovelace", "email": "ada@example.com"})
    inv = _open_invoice(client, cus.id, amount=123456)
    page = httpx.get(inv.hosted_invoice_url)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert inv.number in page.text and "$1,234.56" in page.text and '<html lang="en">' in page.text
    pdf = httpx.get(inv.invoice_pdf)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    _pdf_is_well_formed(pdf.content)
    assert (
        inv.number.encode() in pdf.content and b"Ada Lovelace" in pdf.content and b"$1,234.56" in pdf.content
    )
    assert httpx.get(inv.invoice_pdf.replace("/invoice/test_", "/invoice/test_x")).status_code == 404

    # Paying on the hosted page: a declined card shows Stripe's message; a good card pays.
    declined = httpx.post(
        inv.hosted_invoice_url, data={"cardnumber": "4000000000000002", "exp": "12/40", "cvc": "123"}
    )
    assert declined.status_code == 402 and "Your card was declined." in declined.text
    ok = httpx.post(
        inv.hosted_invoice_url,
        data={"cardnumber": "4242 4242 4242 4242", "exp": "12/40", "cvc": "123"},
        follow_redirects=True,
    )
    assert ok.status_code == 200 and "Paid" in ok.text
    assert client.v1.invoices.retrieve(inv.id).status == "paid"


def test_zero_decimal_currency_formatting(client: stripe.StripeClient) -> None:
    cus = client.v1.customers.create({})
    client.v1.invoice_items.create({"customer": cus.id, "amount": 5000, "currency": "jpy"})
    draft = client.v1.invoices.create(
        {
            "customer": cus.id,
            "currency": "jpy",
            "collection_method": "send_invoice",
            "days_until_due": 3,
            "pending_invoice_items_behavior": "include",
        }
    )
    inv = client.v1.invoices.finalize_invoice(draft.id)
    assert "¥5,000" in httpx.get(inv.hosted_invoice_url).text


def test_invoice_carries_the_address_and_tax_ids_as_finalized(client: stripe.StripeClient) -> None:
    cus = client.v1.customers.create(
        {
            "name": "Muster GmbH",
            "email": "billing@muster.example",
            "address": {"line1": "Hauptstr. 1", "postal_code": "10115", "city": "Berlin", "country": "DE"},
        }
    )
    vat = client.v1.customers.tax_ids.create(cus.id, {"type": "eu_vat", "value": "DE123456789"})
    client.v1.customers.tax_ids.create(cus.id, {"type": "ch_vat", "value": "CHE-123.456.789 MWST"})
    inv = _open_invoice(client, cus.id)
    assert inv.customer_address.to_dict() == {
        "line1": "Hauptstr. 1", "line2": None, "city": "Berlin", "state": None, "postal_code": "10115",
        "country": "DE",
    }
    assert [t.to_dict() for t in inv.customer_tax_ids] == [
        {"type": "eu_vat", "value": "DE123456789"},
        {"type": "ch_vat", "value": "CHE-123.456.789 MWST"},
    ]

    # Later changes to the customer leave the finalized invoice as it was.
    moved = {"line1": "Neue Str. 9", "city": "Hamburg", "country": "DE"}
    client.v1.customers.update(cus.id, {"address": moved})
    client.v1.customers.tax_ids.delete(cus.id, vat.id)
    again = client.v1.invoices.retrieve(inv.id)
    assert again.customer_address.line1 == "Hauptstr. 1" and len(again.customer_tax_ids) == 2

    page = httpx.get(inv.hosted_invoice_url).text
    printed = (
        "Muster GmbH", "Hauptstr. 1", "10115 Berlin", "EU VAT DE123456789", "CH VAT CHE-123.456.789 MWST"
    )
    for text in printed:
        assert text in page
    assert "Neue Str. 9" not in page
    pdf = httpx.get(inv.invoice_pdf).content
    _pdf_is_well_formed(pdf)
    for text in printed[1:]:
        assert text.encode() in pdf
    assert b"Neue Str. 9" not in pdf


def test_a_draft_follows_the_customer_until_finalized(client: stripe.StripeClient) -> None:
    cus = client.v1.customers.create({"name": "Late VAT"})
    client.v1.invoice_items.create({"customer": cus.id, "amount": 1000, "currency": "usd"})
    draft = client.v1.invoices.create({"customer": cus.id, "pending_invoice_items_behavior": "include"})
    assert draft.customer_tax_ids == [] and draft.customer_address is None
    client.v1.customers.tax_ids.create(cus.id, {"type": "gb_vat", "value": "GB123456789"})
    client.v1.customers.update(cus.id, {"address": {"country": "GB", "line1": "1 High St"}})
    # Until finalized, a draft shows the customer's details as they are now.
    live = client.v1.invoices.retrieve(draft.id)
    assert [t.value for t in live.customer_tax_ids] == ["GB123456789"]
    assert live.customer_address.country == "GB"
    final = client.v1.invoices.finalize_invoice(draft.id)
    assert [t.value for t in final.customer_tax_ids] == ["GB123456789"]
    assert final.customer_address.line1 == "1 High St"


def test_preview_of_the_next_renewal_without_changes(client: stripe.StripeClient) -> None:
    """`create_preview` with only customer + subscription: the invoice the next renewal bills."""
    cus = customer_with_card(client)
    catalog = make_catalog(client)
    sub = client.v1.subscriptions.create(
        {
            "customer": cus.id,
            "items": [{"price": catalog.basic.id}, {"price": catalog.seats.id, "quantity": 3}],
        }
    )
    preview = client.v1.invoices.create_preview({"customer": cus.id, "subscription": sub.id})
    period_end = sub["items"].data[0].current_period_end
    assert preview.parent.subscription_details.subscription == sub.id
    assert preview.customer == cus.id and preview.number is None
    assert (preview.amount_due, preview.currency, preview.billing_reason) == (2500, "usd", "upcoming")
    assert (preview.period_end, preview.next_payment_attempt, preview.created) == (period_end,) * 3
    assert [(line.amount, line.quantity, line.period.start) for line in preview.lines.data] == [
        (1000, 1, period_end),
        (1500, 3, period_end),
    ]
    # Nothing was stored: the subscription's invoices are still only the first one.
    assert [i.id for i in client.v1.invoices.list({"subscription": sub.id}).data] == [sub.latest_invoice]
