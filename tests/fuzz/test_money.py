"""Property tests of money formatting (`i18n.format_money`, and the rows that show amounts):
any amount in minor units — zero, negative (credits, prorations), far beyond what Stripe
allows — in any currency (zero-decimal JPY, three-decimal KWD, codes Babel does not know)
and any locale the portal may be asked for: no exception, and the shown number reads back
(with the locale's own separators) as exactly the amount.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal, localcontext

from babel import Locale
from babel.numbers import get_currency_precision, list_currencies
from hypothesis import given
from hypothesis import strategies as st

from billstack.billing_rows import due_rows, invoice_line
from billstack.i18n import SUPPORTED_LOCALES, babel_locale, format_money
from billstack.services.views import InvoiceView

CURRENCIES = sorted(list_currencies())
amounts = st.integers(-10**6, 10**6) | st.integers(-2**63, 2**63) | st.integers(-10**40, 10**40) \
    | st.sampled_from([0, -1, 1, 99, 100, 2**63 - 1])
currencies = st.sampled_from(["usd", "eur", "jpy", "krw", "kwd", "bhd", "clp", "USD", "Jpy"]) \
    | st.sampled_from(CURRENCIES).map(str.lower) | st.sampled_from(["xyz", "zzz", "us", ""])
locales = st.sampled_from([*SUPPORTED_LOCALES, "de-AT", "fr_CA", "EN", "zz", "", "pt-BR"])


def _read_back(shown: str, locale: str) -> Decimal:
    """The amount a reader of `locale` sees in `shown` (sign, digits, the decimal separator)."""
    symbols = Locale.parse(babel_locale(locale)).number_symbols["latn"]
    decimal_sign = symbols["decimal"]
    negative = "-" in shown or "\u2212" in shown
    number = "".join(c for c in shown if c.isdigit() or c == decimal_sign)
    number = re.sub(r"^\D+|\D+$", "", number).replace(decimal_sign, ".")
    with localcontext() as context:
        context.prec = len(number) + 2
        return -Decimal(number) if negative else Decimal(number)


@given(amount=amounts, currency=currencies, locale=locales)
def test_any_amount_formats_and_reads_back_exactly(amount: int, currency: str, locale: str) -> None:
    shown = format_money(amount, currency, locale)
    assert isinstance(shown, str) and shown
    # A currency code of letters only: its own letters may stand for the symbol ("KWD"), so
    # only the digits and the separators are read.
    digits = get_currency_precision(currency.upper())
    with localcontext() as context:
        context.prec = len(str(abs(amount))) + digits + 2
        expected = Decimal(amount).scaleb(-digits)
    assert _read_back(shown, locale) == expected, shown
    if digits == 0:
        assert _decimal_sign(locale) not in shown.replace(_group_sign(locale), "") or not amount


def _decimal_sign(locale: str) -> str:
    return Locale.parse(babel_locale(locale)).number_symbols["latn"]["decimal"]


def _group_sign(locale: str) -> str:
    return Locale.parse(babel_locale(locale)).number_symbols["latn"]["group"]


def test_none_is_shown_as_nothing() -> None:
    assert format_money(None, "usd", "en") == ""


invoices = st.builds(
    InvoiceView,
    id=st.just("in_1"),
    number=st.none() | st.text(max_size=12),
    status=st.sampled_from(["draft", "open", "paid", "void", "uncollectible"]) | st.text(max_size=6),
    created=st.just("2026-03-30T12:00:00Z"),
    total=amounts,
    amount_due=amounts,
    currency=currencies,
    invoice_pdf=st.none() | st.just("https://pay.example/pdf"),
    hosted_invoice_url=st.none() | st.just("https://pay.example/i"),
    description=st.none() | st.text(max_size=20),
    due_date=st.none() | st.sampled_from(["2020-01-01T00:00:00Z", "2099-01-01T00:00:00Z"]),
)


@given(invoice=invoices, locale=locales)
def test_invoice_rows_and_the_payment_due_banner_render_any_amount(invoice: InvoiceView, locale: str) -> None:
    now = datetime(2026, 3, 30, tzinfo=UTC)
    line = invoice_line(invoice, locale, now=now)
    assert line.amount == format_money(invoice.total, invoice.currency, locale)
    rows = due_rows([invoice], locale, now=now)
    assert len(rows) == (invoice.status == "open" and invoice.amount_due > 0 and bool(invoice.hosted_invoice_url))
    for row in rows:
        assert row.amount == format_money(invoice.amount_due, invoice.currency, locale)
        assert row.amount in row.pay_text
