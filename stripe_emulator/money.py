"""Minor units → display text for the hosted pages and PDFs (zero-decimal currencies included)."""

from __future__ import annotations

import datetime as dt

ZERO_DECIMAL = frozenset(
    {
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    }
)
_SYMBOLS = {
    "usd": "$",
    "eur": "€",
    "gbp": "£",
    "jpy": "¥",
    "krw": "₩",
    "cad": "CA$",
    "aud": "A$",
    "chf": "CHF ",
}


def format_amount(amount: int, currency: str) -> str:
    cur = currency.lower()
    symbol = _SYMBOLS.get(cur, cur.upper() + " ")
    sign = "-" if amount < 0 else ""
    if cur in ZERO_DECIMAL:
        return f"{sign}{symbol}{abs(amount):,}"
    return f"{sign}{symbol}{abs(amount) / 100:,.2f}"


def format_date(stamp: int | None) -> str:
    if stamp is None:
        return "—"
    return dt.datetime.fromtimestamp(stamp, dt.UTC).strftime("%b %-d, %Y")
