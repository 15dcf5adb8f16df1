"""Translations and locale-aware formatting (Babel) for the portal.

Catalogues live in billstack/locales/<lang>.json; English is the fallback and the
reference: every other catalogue must have exactly its keys (a test checks).
"""

from __future__ import annotations

import json
import unicodedata
from datetime import date, datetime
from decimal import Decimal, localcontext
from functools import lru_cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_currency, get_currency_precision

LOCALES_DIR = Path(__file__).parent / "locales"
DEFAULT_LOCALE = "en"
SUPPORTED_LOCALES = ("en", "de", "fr")
# Babel locales used for numbers and dates, per portal language.
_BABEL_LOCALE = {"en": "en_US", "de": "de_DE", "fr": "fr_FR"}


def normalise_locale(locale: str | None) -> str:
    """`de-AT`, `de_DE`, `DE` → `de`; anything unsupported → `en`."""
    lang = (locale or "").replace("_", "-").split("-")[0].lower()
    return lang if lang in SUPPORTED_LOCALES else DEFAULT_LOCALE


@lru_cache(maxsize=None)
def catalogue(locale: str) -> dict[str, str]:
    return json.loads((LOCALES_DIR / f"{locale}.json").read_text(encoding="utf-8"))


def t(locale: str, key: str, **values: object) -> str:
    """The message for `key` in `locale` (English when missing), with {placeholders} filled."""
    text = catalogue(normalise_locale(locale)).get(key) or catalogue(DEFAULT_LOCALE).get(key, key)
    return text.format(**values) if values else text


# Display strings are pure functions of their inputs, and a portal shows the same few prices
# and billing days to many customers: Babel's formatting (locale and pattern lookups per call)
# was most of a page's row building, so each distinct (value, currency, locale) is formatted
# once. Bounded: a few thousand short strings.
FORMAT_CACHE_SIZE = 8192


def format_money(amount_minor: int | None, currency: str, locale: str) -> str:
    """Minor units → `$1,234.50`, `1.234,50 €`, `¥1,500` (zero-decimal currencies right)."""
    if amount_minor is None:
        return ""
    return _format_money(amount_minor, currency, locale)


@lru_cache(maxsize=FORMAT_CACHE_SIZE)
def _format_money(amount_minor: int, currency: str, locale: str) -> str:
    code = currency.upper()
    digits = get_currency_precision(code)
    with localcontext() as context:  # exact at any size: the default 28 digits would round or refuse larger sums
        context.prec = max(context.prec, len(str(abs(amount_minor))) + digits + 2)
        amount = Decimal(amount_minor).scaleb(-digits)
        return format_currency(amount, code, locale=_BABEL_LOCALE[normalise_locale(locale)])


def format_day(moment: datetime | None, locale: str) -> str:
    """A calendar date in the locale's long-ish form: `Mar 30, 2026` / `30.03.2026`."""
    if moment is None:
        return ""
    return _format_day(moment.date(), locale)


@lru_cache(maxsize=FORMAT_CACHE_SIZE)
def _format_day(day: date, locale: str) -> str:
    return format_date(day, format="medium", locale=_BABEL_LOCALE[normalise_locale(locale)])


def format_interval(interval: str | None, count: int, locale: str) -> str:
    if not interval:
        return ""
    if count <= 1:
        return t(locale, f"interval.{interval}")
    return t(locale, "interval.every", count=count, unit=t(locale, f"unit.{interval}"))


def format_card_expiry(month: int | None, year: int | None) -> str:
    if not month or not year:
        return ""
    return f"{month:02d}/{year % 100:02d}"


CARD_BRANDS = {
    "visa": "Visa",
    "mastercard": "Mastercard",
    "amex": "American Express",
    "discover": "Discover",
    "diners": "Diners Club",
    "jcb": "JCB",
    "unionpay": "UnionPay",
}


def card_brand_label(brand: str | None) -> str:
    return CARD_BRANDS.get((brand or "").lower(), (brand or "Card").title())


# CLDR's two-letter territories that are not ISO 3166-1 alpha-2 countries (regions, the
# EU, reserved and private-use codes): never offered as a billing address's country.
_NOT_ISO_COUNTRIES = frozenset({"AC", "CP", "CQ", "DG", "EA", "EU", "EZ", "IC", "QO", "TA", "UN", "XA", "XB", "XK", "ZZ"})


@lru_cache(maxsize=None)
def countries(locale: str) -> tuple[tuple[str, str], ...]:
    """Every ISO 3166-1 alpha-2 country as (code, name in `locale`), by name: the one
    country table of the portal (CLDR's names, through Babel)."""
    names = Locale.parse(_BABEL_LOCALE[normalise_locale(locale)]).territories
    pairs = [(code, name) for code, name in names.items() if len(code) == 2 and code.isalpha() and code not in _NOT_ISO_COUNTRIES]
    return tuple(sorted(pairs, key=lambda pair: _sort_key(pair[1])))


def country_name(code: str | None, locale: str) -> str:
    """`DE` → `Germany` / `Deutschland`; an unknown code stays as it is."""
    return dict(countries(locale)).get((code or "").upper(), code or "")


def _sort_key(name: str) -> str:
    """Alphabetical as a reader expects: Österreich beside Oman, Égypte beside Équateur."""
    return "".join(c for c in unicodedata.normalize("NFKD", name.casefold()) if not unicodedata.combining(c))
