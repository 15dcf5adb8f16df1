"""Translations and locale-aware formatting (Babel) for the portal.

Catalogues are gettext `.po` files, billstack/locales/<locale>/LC_MESSAGES/messages.po
(`pt-BR` → `pt_BR`), keyed by message id (`subs.cancels_on`), compiled with Babel when
first used. English is the fallback and the reference: every other catalogue has exactly
its keys, or, for a regional variant, only the ones that differ from its parent (a test
checks). Plural messages (`interval.every.month`) follow each language's plural rules.
"""

from __future__ import annotations

import gettext
import unicodedata
from datetime import date, datetime
from decimal import Decimal, localcontext
from functools import lru_cache
from io import BytesIO
from pathlib import Path

from babel import Locale
from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, get_currency_precision
from babel.numbers import format_percent as format_percent_babel

LOCALES_DIR = Path(__file__).parent / "locales"
DEFAULT_LOCALE = "en"
SUPPORTED_LOCALES = ("en", "de", "fr")
# Babel locales used for numbers and dates, per portal language.
_BABEL_LOCALE = {"en": "en_US", "de": "de_DE", "fr": "fr_FR"}


def normalise_locale(locale: str | None) -> str:
    """`de-AT`, `de_DE`, `DE` → `de`; anything unsupported → `en`."""
    lang = (locale or "").replace("_", "-").split("-")[0].lower()
    return lang if lang in SUPPORTED_LOCALES else DEFAULT_LOCALE


def catalogue_path(locale: str) -> Path:
    return LOCALES_DIR / locale.replace("-", "_") / "LC_MESSAGES" / "messages.po"


# Regional variants: their catalogue holds only what differs from the parent's (CLDR's
# parents; zh-HK's is Traditional Chinese, zh-TW). Every other locale's parent is English.
REGIONAL_PARENTS = {
    "en-AU": "en", "en-CA": "en", "en-GB": "en", "en-IE": "en", "en-IN": "en", "en-NZ": "en", "en-SG": "en",
    "es-419": "es", "fr-CA": "fr", "pt-BR": "pt", "zh-HK": "zh-TW",
}


def parent_locale(locale: str) -> str | None:
    """Where a message missing from `locale` comes from (English's has none)."""
    return None if locale == DEFAULT_LOCALE else REGIONAL_PARENTS.get(locale, DEFAULT_LOCALE)


@lru_cache(maxsize=None)
def translations(locale: str) -> gettext.GNUTranslations:
    """`locale`'s catalogue compiled by Babel, falling back along its parents to English."""
    with catalogue_path(locale).open("rb") as source:
        compiled = BytesIO()
        write_mo(compiled, read_po(source))
    compiled.seek(0)
    found = gettext.GNUTranslations(compiled)
    parent = parent_locale(locale)
    if parent is not None:
        found.add_fallback(translations(parent))
    return found


@lru_cache(maxsize=1)
def _english_messages() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(singular keys, plural keys) in English's order: the reference key set."""
    with catalogue_path(DEFAULT_LOCALE).open("rb") as source:
        messages = [message for message in read_po(source) if message.id]
    singular = tuple(m.id for m in messages if not m.pluralizable)
    plural = tuple(m.id[0] for m in messages if m.pluralizable)
    return singular, plural


@lru_cache(maxsize=None)
def catalogue(locale: str) -> dict[str, str]:
    """Every singular message in `locale` (English where it has none): the page's labels."""
    found = translations(locale)
    return {key: found.gettext(key) for key in _english_messages()[0]}


def t(locale: str, key: str, **values: object) -> str:
    """The message for `key` in `locale` (English when missing), with {placeholders} filled."""
    text = catalogue(normalise_locale(locale)).get(key) or catalogue(DEFAULT_LOCALE).get(key, key)
    return text.format(**values) if values else text


def tn(locale: str, key: str, count: int, **values: object) -> str:
    """The plural message `key` for `count` by the language's plural rules, {count} filled."""
    return translations(normalise_locale(locale)).ngettext(key, key, count).format(count=count, **values)


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


def format_percent(percent: float, locale: str) -> str:
    """20 → `20%` (en), `20 %` (de, fr: the locale's spacing and sign); 12.5 → `12.5%`."""
    return _format_percent(float(percent), locale)


@lru_cache(maxsize=FORMAT_CACHE_SIZE)
def _format_percent(percent: float, locale: str) -> str:
    # The locale's own pattern (spacing, where the sign goes), keeping a coupon's decimals.
    return format_percent_babel(Decimal(str(percent)) / 100, locale=_BABEL_LOCALE[normalise_locale(locale)],
                                decimal_quantization=False)


def format_interval(interval: str | None, count: int, locale: str) -> str:
    if not interval:
        return ""
    if count <= 1:
        return t(locale, f"interval.{interval}")
    return tn(locale, f"interval.every.{interval}", count)


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
