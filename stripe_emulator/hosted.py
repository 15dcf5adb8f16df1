"""Pages the emulator serves to browsers: hosted Checkout (setup mode) and hosted invoices.

    GET/POST /c/pay/{cs_test_…}          card form for a Checkout Session
    GET/POST /invoice/{token}            an invoice; open ones can be paid by card
    GET      /invoice/{token}/pdf        the invoice as a PDF

Card data is validated here the way Stripe.js would (number, expiry, CVC), then goes
through the same setup-intent / payment code the API uses.
"""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from stripe_emulator import cards
from stripe_emulator.api import base_url
from stripe_emulator.context import Ctx
from stripe_emulator.errors import StripeError
from stripe_emulator.money import format_amount, format_date
from stripe_emulator.operations.checkout import complete
from stripe_emulator.operations.invoices import attempt_payment
from stripe_emulator.operations.payment_methods import new_card_pm
from stripe_emulator.pdf import bill_to, discount_rows, invoice_pdf
from stripe_emulator.render import render
from stripe_emulator.store import Account

_CSS = """
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1a1f36;background:#f6f9fc}
main{max-width:440px;margin:40px auto;padding:32px;background:#fff;border-radius:12px;box-shadow:0 2px 12px rgba(50,50,93,.12)}
h1{font-size:1.4rem;margin:0 0 4px}p.sub{margin:0 0 20px;color:#4f566b}
.badge{display:inline-block;background:#ffde92;color:#5c3b00;font-size:.75rem;font-weight:600;padding:2px 8px;border-radius:4px;margin-bottom:12px}
label{display:block;font-weight:600;font-size:.9rem;margin:14px 0 4px}
input{width:100%;padding:10px 12px;font-size:1rem;border:1px solid #a3acb9;border-radius:6px;background:#fff;color:inherit}
input[aria-invalid=true]{border-color:#c0123c}
input:focus-visible,button:focus-visible,a:focus-visible{outline:3px solid #635bff;outline-offset:2px}
.row{display:flex;gap:12px}.row>div{flex:1}
.field-error{color:#c0123c;font-size:.85rem;margin:4px 0 0}
.alert{color:#fff;background:#c0123c;padding:10px 12px;border-radius:6px;margin:0 0 12px}
button{width:100%;margin-top:22px;padding:12px;font-size:1rem;font-weight:600;color:#fff;background:#635bff;border:0;border-radius:6px;cursor:pointer}
button:hover{background:#4b45c6}a{color:#4b45c6}.cancel{display:block;text-align:center;margin-top:16px}
table{width:100%;border-collapse:collapse;margin:16px 0}th,td{text-align:left;padding:6px 4px;border-bottom:1px solid #e3e8ee;font-size:.9rem}
td.num,th.num{text-align:right}.hint{color:#4f566b;font-size:.8rem;margin-top:20px}
"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    doc = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>"
        f'<body><main id="main">{body}</main></body></html>'
    )
    return HTMLResponse(doc, status_code=status, headers={"Cache-Control": "no-store"})


def _ctx(request: Request, account: Account) -> Ctx:
    state = request.app.state
    return Ctx(state.store, account, base_url(request, state.public_url), state.webhooks)


# --- card form ------------------------------------------------------------------------


def _field(name: str, label: str, value: str, error: str | None, focus: bool = False, **attrs: str) -> str:
    err_id = f"{name}-error"
    extra = " ".join(f'{k.replace("_", "-")}="{html.escape(v)}"' for k, v in attrs.items())
    described = f' aria-describedby="{err_id}" aria-invalid="true"' if error else ""
    if focus:
        described += " autofocus"
    out = (
        f'<label for="{name}">{label}</label>'
        f'<input id="{name}" name="{name}" value="{html.escape(value)}" {extra}{described}>'
    )
    if error:
        out += f'<p class="field-error" id="{err_id}">{html.escape(error)}</p>'
    return out


# The card form's fields in page order: label and input attributes.
_CARD_FIELDS: dict[str, tuple[str, dict[str, str]]] = {
    "cardnumber": ("Card number", {"inputmode": "numeric", "autocomplete": "cc-number",
                                   "placeholder": "1234 1234 1234 1234"}),
    "exp": ("Expiry", {"inputmode": "numeric", "autocomplete": "cc-exp", "placeholder": "MM / YY"}),
    "cvc": ("CVC", {"inputmode": "numeric", "autocomplete": "cc-csc", "placeholder": "CVC"}),
    "name": ("Cardholder name", {"autocomplete": "cc-name", "placeholder": "Full name on card"}),
}


def _card_form(
    action: str,
    submit: str,
    values: dict[str, str],
    errors: dict[str, str],
    alert: str | None,
    cancel_url: str | None,
) -> str:
    first = next((name for name in _CARD_FIELDS if name in errors), None)  # focus the first problem

    def field(name: str) -> str:
        label, attrs = _CARD_FIELDS[name]
        return _field(name, label, values.get(name, ""), errors.get(name), first == name, **attrs)

    parts = [f'<form method="post" action="{html.escape(action)}" novalidate>']
    if alert:
        parts.append(f'<p class="alert" role="alert" id="form-error">{html.escape(alert)}</p>')
    parts += [field("cardnumber"), '<div class="row"><div>', field("exp"), "</div><div>", field("cvc"),
              "</div></div>", field("name")]
    parts.append(f'<button type="submit">{html.escape(submit)}</button></form>')
    if cancel_url:
        parts.append(f'<a class="cancel" href="{html.escape(cancel_url)}">Cancel and return</a>')
    parts.append(
        '<p class="hint">Test mode: use 4242 4242 4242 4242 (Visa) or 5555 5555 5555 4444 (Mastercard), '
        "any future expiry and any CVC. 4000 0000 0000 0002 is declined.</p>"
    )
    return "".join(parts)


def parse_card(form: dict[str, str], now: int) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """Stripe.js-style client checks; returns (card, field errors)."""
    errors: dict[str, str] = {}
    number = "".join(ch for ch in form.get("cardnumber", "") if ch.isdigit())
    if len(number) < 13:
        errors["cardnumber"] = "Your card number is incomplete."
    elif not cards.luhn_ok(number):
        errors["cardnumber"] = "Your card number is invalid."
    digits = "".join(ch for ch in form.get("exp", "") if ch.isdigit())
    month = year = 0
    if len(digits) not in (4, 6):
        errors["exp"] = "Your card's expiration date is incomplete."
    else:
        month, year = int(digits[:2]), int(digits[2:])
        year = year + 2000 if year < 100 else year
        today = dt.datetime.fromtimestamp(now, dt.UTC)
        if not 1 <= month <= 12:
            errors["exp"] = "Your card's expiration month is invalid."
        elif year < today.year:
            errors["exp"] = "Your card's expiration year is in the past."
        elif (year, month) < (today.year, today.month):
            errors["exp"] = "Your card's expiration date is in the past."
        elif year > today.year + 50:
            errors["exp"] = "Your card's expiration year is invalid."
    cvc = form.get("cvc", "").strip()
    want = 4 if number[:2] in ("34", "37") else 3
    if not (cvc.isdigit() and len(cvc) == want):
        errors["cvc"] = (
            "Your card's security code is incomplete."
            if len(cvc) < want
            else "Your card's security code is invalid."
        )
    if errors:
        return None, errors
    name = form.get("name", "").strip() or None
    return {"number": number, "exp_month": month, "exp_year": year, "name": name}, {}


def card_payment_method(ctx: Ctx, card: dict[str, Any]) -> dict[str, Any]:
    """The payment method a hosted form's checked card becomes (Checkout and invoice pages alike)."""
    billing_details = {"name": card["name"]} if card["name"] else None
    return new_card_pm(ctx, card["number"], card["exp_month"], card["exp_year"], billing_details=billing_details)


async def _form(request: Request) -> dict[str, str]:
    data = await request.form()
    return {k: str(v) for k, v in data.items()}


# --- checkout -------------------------------------------------------------------------


def _checkout_intro(account: Account, session: dict[str, Any]) -> str:
    cus = account.get("customer", session["customer"]) if session["customer"] else None
    who = (cus or {}).get("email") or session.get("customer_email")
    sub = f"for {html.escape(who)}" if who else "for future payments"
    branding = session.get("branding_settings") or {}
    business = branding.get("display_name") or "BillStack Emulator"
    logo = (branding.get("logo") or {}).get("url")
    locale = session.get("locale")
    return (
        (f'<img class="logo" src="{html.escape(logo)}" alt="{html.escape(business)}" height="32">' if logo else "")
        + '<span class="badge">TEST MODE</span><h1>Save your card</h1>'
        f'<p class="sub">{html.escape(business)} will save this card {sub}.</p>'
        + (f'<p class="hint" data-checkout-locale="{html.escape(locale)}">Checkout locale: {html.escape(locale)} '
           "(Stripe shows this page in that language; the emulator's is in English).</p>" if locale else "")
        + _button_style(branding.get("button_color"))
    )


def _button_style(color: str | None) -> str:
    """The session's `button_color` on its buttons (validated as a hex colour on create)."""
    return f"<style>button{{background:{html.escape(color)}}}</style>" if color else ""


def _load_session(request: Request) -> tuple[Account, dict[str, Any]] | None:
    hit = request.app.state.store.lookup_public(request.path_params["session_id"])
    if hit is None or hit[1]["object"] != "checkout.session":
        return None
    return hit


async def checkout_page(request: Request) -> Response:
    store = request.app.state.store
    with store.lock:
        hit = _load_session(request)
        if hit is None:
            return _page(
                "Checkout session not found",
                "<h1>Something went wrong</h1><p>This Checkout Session does not exist.</p>",
                404,
            )
        account, session = hit
        ctx = _ctx(request, account)
        state = render(ctx, session)["status"]
        if request.method == "GET" or state != "open":
            return _checkout_state_page(account, session, state)
    form = await _form(request)  # read outside the lock: it awaits the request body
    with store.lock:
        account, session = hit
        if session["status"] != "open":
            return _checkout_state_page(account, session, session["status"])
        ctx = _ctx(request, account)
        card, errors = parse_card(form, ctx.now())
        alert = None
        if card is not None:
            pm = card_payment_method(ctx, card)
            try:
                complete(ctx, session, pm, card["name"])
            except StripeError as err:
                alert = err.message
            else:
                target = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])
                return RedirectResponse(target, status_code=303)
        values = {k: form.get(k, "") for k in ("cardnumber", "exp", "cvc", "name")}
        body = _checkout_intro(account, session) + _card_form(
            request.url.path,
            "Save card",
            values,
            errors,
            alert or ("Please correct the highlighted fields." if errors else None),
            session["cancel_url"],
        )
        return _page("Save your card – Checkout (test mode)", body, 402 if alert else 422)


def _checkout_state_page(account: Account, session: dict[str, Any], state: str) -> Response:
    if state == "open":
        body = _checkout_intro(account, session) + _card_form(
            f"/c/pay/{session['id']}", "Save card", {}, {}, None, session["cancel_url"]
        )
        return _page("Save your card – Checkout (test mode)", body)
    if state == "complete":
        target = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])
        return _page(
            "Card saved",
            f'<h1>Your card has been saved</h1><p><a href="{html.escape(target)}">Continue</a></p>',
        )
    back = (
        f'<p><a href="{html.escape(session["cancel_url"])}">Return</a></p>' if session["cancel_url"] else ""
    )
    return _page("Checkout session expired", f"<h1>This Checkout Session is no longer active</h1>{back}", 410)


# --- invoices -------------------------------------------------------------------------


def _load_invoice(request: Request) -> tuple[Account, dict[str, Any]] | None:
    hit = request.app.state.store.lookup_public(request.path_params["token"])
    if hit is None or hit[1]["object"] != "invoice" or hit[1]["status"] == "draft":
        return None
    return hit


def _bill_to_html(inv: dict[str, Any]) -> str:
    lines = "<br>".join(html.escape(line) for line in bill_to(inv))
    return f'<h2>Bill to</h2><address class="sub">{lines}</address>' if lines else ""


def _invoice_body(inv: dict[str, Any], form_html: str = "") -> str:
    cur = inv["currency"]
    rows = "".join(
        f'<tr><td>{html.escape(line["description"] or "")}</td><td class="num">{line["quantity"]}</td>'
        f'<td class="num">{format_amount(line["amount"], cur)}</td></tr>'
        for line in inv["_lines"]
    )
    discounts = "".join(
        f'<tr><th scope="row" colspan="2">{html.escape(label)}</th>'
        f'<td class="num">{format_amount(amount, cur)}</td></tr>'
        for label, amount in discount_rows(inv)
    )
    status = {"paid": "Paid", "open": "Due", "void": "Void", "uncollectible": "Uncollectible"}.get(
        inv["status"], inv["status"]
    )
    when = inv["status_transitions"]["paid_at"] if inv["status"] == "paid" else inv["due_date"]
    return (
        f'<span class="badge">TEST MODE</span><h1>Invoice {html.escape(inv["number"] or "")}</h1>'
        f'<p class="sub">{html.escape(inv["account_name"] or "")} · {status}'
        f"{' ' + format_date(when) if when else ''}</p>"
        f"<p><strong>{format_amount(inv['amount_remaining'] if inv['status'] == 'open' else inv['total'], cur)}</strong>"
        f"{' due' if inv['status'] == 'open' else ''}</p>"
        f"{_bill_to_html(inv)}"
        f'<table><thead><tr><th scope="col">Description</th><th scope="col" class="num">Qty</th>'
        f'<th scope="col" class="num">Amount</th></tr></thead><tbody>{rows}</tbody>'
        f'<tfoot>{discounts}<tr><th scope="row" colspan="2">Total</th><td class="num">{format_amount(inv["total"], cur)}</td></tr></tfoot></table>'
        f'<p><a href="/invoice/{inv["_token"]}/pdf">Download invoice (PDF)</a></p>{form_html}'
    )


async def invoice_page(request: Request) -> Response:
    store = request.app.state.store
    with store.lock:
        hit = _load_invoice(request)
        if hit is None:
            return _page("Invoice not found", "<h1>Invoice not found</h1>", 404)
        account, inv = hit
        payable = inv["status"] == "open" and inv["amount_remaining"] > 0
        if request.method == "GET" or not payable:
            form = (
                _card_form(
                    request.url.path,
                    f"Pay {format_amount(inv['amount_remaining'], inv['currency'])}",
                    {},
                    {},
                    None,
                    None,
                )
                if payable
                else ""
            )
            return _page(f"Invoice {inv['number']}", _invoice_body(inv, form))
    form_data = await _form(request)
    with store.lock:
        ctx = _ctx(request, account)
        if inv["status"] != "open":
            return _page(f"Invoice {inv['number']}", _invoice_body(inv))
        card, errors = parse_card(form_data, ctx.now())
        alert = None
        if card is not None:
            pm = card_payment_method(ctx, card)
            error = attempt_payment(ctx, inv, pm)
            if error is None:
                return RedirectResponse(request.url.path, status_code=303)
            alert = error.message
        values = {k: form_data.get(k, "") for k in ("cardnumber", "exp", "cvc", "name")}
        pay = _card_form(
            request.url.path,
            f"Pay {format_amount(inv['amount_remaining'], inv['currency'])}",
            values,
            errors,
            alert or "Please correct the highlighted fields.",
            None,
        )
        return _page(f"Invoice {inv['number']}", _invoice_body(inv, pay), 402 if alert else 422)


async def invoice_pdf_file(request: Request) -> Response:
    with request.app.state.store.lock:
        hit = _load_invoice(request)
        if hit is None:
            return Response(b"Not found", status_code=404, media_type="text/plain")
        inv = hit[1]
        body = invoice_pdf(inv)
        name = f"Invoice-{inv['number']}.pdf"
    return Response(
        body, media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="{name}"'}
    )


routes = [
    Route("/c/pay/{session_id}", checkout_page, methods=["GET", "POST"]),
    Route("/invoice/{token}", invoice_page, methods=["GET", "POST"]),
    Route("/invoice/{token}/pdf", invoice_pdf_file, methods=["GET"]),
]
