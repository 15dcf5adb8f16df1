"""A small, valid PDF invoice written by hand (one A4 page, Helvetica, WinAnsi text)."""

from __future__ import annotations

from typing import Any

from stripe_emulator.money import format_amount, format_date

_PAGE_W, _PAGE_H = 595, 842
# The "Bill to" block prints at most this many lines (name, email, address, tax ids).
MAX_BILL_TO = 12


def _text(value: str) -> bytes:
    raw = value.replace("×", "x").encode("cp1252", "replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def render_pdf(lines: list[tuple[int, int, int, str]]) -> bytes:
    """`lines`: (x, y_from_top, font_size, text). Returns the whole PDF file."""
    ops = [b"BT"]
    for x, y, size, text in lines:
        font = b"/F2" if size >= 14 else b"/F1"
        ops.append(b"%s %d Tf 1 0 0 1 %d %d Tm (%s) Tj" % (font, size, x, _PAGE_H - y, _text(text)))
    ops.append(b"ET")
    stream = b"\n".join(ops)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Resources << /Font << /F1 4 0 R /F2 5 0 R >> >> "
        b"/Contents 6 0 R >>" % (_PAGE_W, _PAGE_H),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def address_lines(address: dict[str, Any] | None) -> list[str]:
    """A postal address as printed: street lines, "postal code city", state, country code."""
    if not address:
        return []
    town = " ".join(part for part in (address.get("postal_code"), address.get("city")) if part)
    parts = (address.get("line1"), address.get("line2"), town, address.get("state"), address.get("country"))
    return [part for part in parts if part]


def tax_id_label(tax_id: dict[str, Any]) -> str:
    """`eu_vat` DE123456789 → "EU VAT DE123456789", as Stripe's invoices print it."""
    return f"{tax_id['type'].replace('_', ' ').upper()} {tax_id['value']}"


def discount_rows(inv: dict[str, Any]) -> list[tuple[str, int]]:
    """(label, −amount) per discount on the invoice, for the hosted page and the PDF:
    "SAVE20 (20% off)", "Welcome ($5.00 off)"."""
    coupons = dict(inv.get("_coupons", []))
    out = []
    for entry in inv["total_discount_amounts"]:
        coupon = coupons.get(entry["discount"])
        if coupon is None:
            continue
        pct = coupon["percent_off"]
        off = f"{pct:g}%" if pct is not None else format_amount(coupon["amount_off"], inv["currency"])
        off += " off"
        out.append((f"{coupon['name'] or coupon['id']} ({off})", -entry["amount"]))
    return out


def bill_to(inv: dict[str, Any]) -> list[str]:
    """The "Bill to" block of an invoice: name, email, address and tax ids as finalized."""
    head = [inv["customer_name"] or "", inv["customer_email"] or ""]
    return (
        [line for line in head if line]
        + address_lines(inv["customer_address"])
        + [tax_id_label(t) for t in inv["customer_tax_ids"] or []]
    )


def invoice_pdf(inv: dict[str, Any]) -> bytes:
    cur = inv["currency"]
    customer = bill_to(inv)[:MAX_BILL_TO]
    # The amount sits below the longer of the two header blocks (ours ends at y=165).
    amount_y = max(240, 180 + 13 * len(customer) + 30)
    rows: list[tuple[int, int, int, str]] = [
        (50, 60, 20, "Invoice"),
        (50, 90, 10, f"Invoice number  {inv['number'] or 'DRAFT'}"),
        (
            50,
            105,
            10,
            f"Date of issue  {format_date(inv['status_transitions']['finalized_at'] or inv['created'])}",
        ),
        (
            50,
            120,
            10,
            f"Date due  {format_date(inv['due_date'] or inv['status_transitions']['finalized_at'])}",
        ),
        (50, 135, 10, f"Status  {inv['status'].upper()}"),
        (50, 165, 10, f"{inv['account_name']}"),
        (320, 165, 10, "Bill to"),
        *[(320, 180 + 13 * i, 10, text[:45]) for i, text in enumerate(customer)],
        (
            50,
            amount_y,
            14,
            f"{format_amount(inv['amount_due'], cur)} {'paid' if inv['status'] == 'paid' else 'due'}",
        ),
        (50, amount_y + 40, 10, "Description"),
        (330, amount_y + 40, 10, "Qty"),
        (470, amount_y + 40, 10, "Amount"),
    ]
    y = amount_y + 60
    for line in inv["_lines"]:
        rows.append((50, y, 9, (line["description"] or "")[:60]))
        rows.append((330, y, 9, str(line["quantity"])))
        rows.append((470, y, 9, format_amount(line["amount"], cur)))
        rows.append(
            (50, y + 12, 8, f"{format_date(line['period']['start'])} - {format_date(line['period']['end'])}")
        )
        y += 30
    y += 10
    rows += [
        (330, y, 10, "Subtotal"),
        (470, y, 10, format_amount(inv["subtotal"], cur)),
    ]
    for label, amount in discount_rows(inv):
        y += 15
        rows += [(330, y, 10, label[:24]), (470, y, 10, format_amount(amount, cur))]
    rows += [
        (330, y + 15, 10, "Total"),
        (470, y + 15, 10, format_amount(inv["total"], cur)),
        (330, y + 30, 10, "Amount paid"),
        (470, y + 30, 10, format_amount(inv["amount_paid"], cur)),
        (330, y + 45, 10, "Amount remaining"),
        (470, y + 45, 10, format_amount(inv["amount_remaining"], cur)),
        (50, 800, 8, "Generated by the BillStack Stripe emulator (test mode)."),
    ]
    return render_pdf(rows)
