"""Translations and locale-aware formatting (Babel) for the portal.

Catalogues are gettext `.po` files, billstack/locales/<locale>/LC_MESSAGES/messages.po
(`pt-BR` → `pt_BR`), keyed by message id (`subs.cancels_on`), compiled with Babel when
first used. English is the fallback and the reference: every other catalogue has exactly
its keys, or, for a regional variant, only the ones that differ from its parent (a test
checks). Plural messages (`interval.every.month`) follow each language's plural rules.
"""

from __future__ import annotations

import gettext
import logging
import re
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

log = logging.getLogger("billstack.i18n")

LOCALES_DIR = Path(__file__).parent / "locales"
DEFAULT_LOCALE = "en"
# The portal's languages: exactly the 46 tags of Stripe's customer portal, each with the Babel
# locale its money and dates are formatted in (a language's main country, as Stripe shows it;
# `zh` is Simplified Chinese, `zh-TW`/`zh-HK` Traditional). The one table: SUPPORTED_LOCALES
# is its keys.
BABEL_LOCALES: dict[str, str] = {
    "bg": "bg_BG", "cs": "cs_CZ", "da": "da_DK", "de": "de_DE", "el": "el_GR",
    "en": "en_US", "en-AU": "en_AU", "en-CA": "en_CA", "en-GB": "en_GB", "en-IE": "en_IE",
    "en-IN": "en_IN", "en-NZ": "en_NZ", "en-SG": "en_SG",
    "es": "es_ES", "es-419": "es_419", "et": "et_EE", "fi": "fi_FI", "fil": "fil", "fr": "fr_FR",
    "fr-CA": "fr_CA", "hr": "hr_HR", "hu": "hu_HU", "id": "id_ID", "it": "it_IT", "ja": "ja_JP",
    "ko": "ko_KR", "lt": "lt_LT", "lv": "lv_LV", "ms": "ms_MY", "mt": "mt_MT", "nb": "nb",
    "nl": "nl_NL", "pl": "pl_PL", "pt": "pt_PT", "pt-BR": "pt_BR", "ro": "ro_RO", "ru": "ru_RU",
    "sk": "sk_SK", "sl": "sl_SI", "sv": "sv_SE", "th": "th_TH", "tr": "tr_TR", "vi": "vi_VN",
    "zh": "zh_Hans_CN", "zh-HK": "zh_Hant_HK", "zh-TW": "zh_Hant_TW",
}
SUPPORTED_LOCALES: tuple[str, ...] = tuple(BABEL_LOCALES)
# A session's "pick for me" value (Stripe's `auto`): resolved per page load (services/sessions/locales.py).
AUTO_LOCALE = "auto"
_EXACT = {tag.lower(): tag for tag in SUPPORTED_LOCALES}
# Other codes for a supported language (old, or macro-language codes).
_LANGUAGE_ALIASES = {"no": "nb", "nn": "nb", "in": "id", "tl": "fil"}
# Spanish as spoken in the Americas (CLDR's es_419 children, and the UN region codes).
_LATIN_AMERICA = frozenset({
    "419", "005", "013", "029", "ar", "bo", "bz", "cl", "co", "cr", "cu", "do", "ec", "gt", "hn", "mx", "ni",
    "pa", "pe", "pr", "py", "sv", "us", "uy", "ve",
})
_TAG = re.compile(r"[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8})*")


def match_locale(tag: str | None) -> str | None:
    """The supported locale a language tag means, or None: the exact tag in any case or with
    `_` (`pt-br` → `pt-BR`, `zh_tw` → `zh-TW`), else the nearest one (`de-AT` → `de`,
    `pt-PT` → `pt`, `zh-Hans-CN` → `zh`, `zh-Hant` → `zh-TW`, `es-MX` → `es-419`,
    `nn` → `nb`, `en-US` → `en`)."""
    if not isinstance(tag, str) or len(tag) > 35 or not _TAG.fullmatch(tag.strip()):
        return None
    parts = tag.strip().replace("_", "-").lower().split("-")
    parts[0] = _LANGUAGE_ALIASES.get(parts[0], parts[0])
    language, rest = parts[0], parts[1:]
    if "-".join(parts) in _EXACT:
        return _EXACT["-".join(parts)]
    if language == "es":
        return "es-419" if any(part in _LATIN_AMERICA for part in rest) else "es"
    if language == "zh":  # the script decides, else the region: Hong Kong and Macau, Taiwan
        if "hans" in rest:
            return "zh"
        if "hk" in rest or "mo" in rest:
            return "zh-HK"
        return "zh-TW" if "hant" in rest or "tw" in rest else "zh"
    # `en-GB-oxendict` → `en-GB`, `fr-CA-u-…` → `fr-CA`; else the language's own tag.
    return _EXACT.get("-".join(parts[:2])) or _EXACT.get(language)


def normalise_locale(locale: str | None) -> str:
    """`de-AT`, `de_DE`, `DE` → `de`; `pt-br` → `pt-BR`; anything else (`auto` too) → `en`."""
    if locale in BABEL_LOCALES:  # already a portal locale (every t() on a page): no parsing
        return locale
    return match_locale(locale) or DEFAULT_LOCALE


def babel_locale(locale: str) -> str:
    """The Babel locale that formats money and dates for a portal locale."""
    return BABEL_LOCALES[normalise_locale(locale)]


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
    """`locale`'s catalogue compiled by Babel, falling back along its parents to English.

    A supported locale whose catalogue is missing or unreadable (not shipped yet, or being
    written) speaks its parent's language rather than failing the page."""
    parent = parent_locale(locale)
    try:
        with catalogue_path(locale).open("rb") as source:
            compiled = BytesIO()
            write_mo(compiled, read_po(source))
    except (OSError, ValueError) as exc:
        if parent is None:
            raise  # English is the reference: the app cannot run without it
        log.warning("catalogue for %s unavailable (%s); using %s", locale, exc, parent)
        return translations(parent)
    compiled.seek(0)
    found = gettext.GNUTranslations(compiled)
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
        return format_currency(amount, code, locale=babel_locale(locale))


def format_day(moment: datetime | None, locale: str) -> str:
    """A calendar date in the locale's long-ish form: `Mar 30, 2026` / `30.03.2026`."""
    if moment is None:
        return ""
    return _format_day(moment.date(), locale)


@lru_cache(maxsize=FORMAT_CACHE_SIZE)
def _format_day(day: date, locale: str) -> str:
    return format_date(day, format="medium", locale=babel_locale(locale))


def format_percent(percent: float, locale: str) -> str:
    """20 → `20%` (en), `20 %` (de, fr: the locale's spacing and sign); 12.5 → `12.5%`."""
    return _format_percent(float(percent), locale)


@lru_cache(maxsize=FORMAT_CACHE_SIZE)
def _format_percent(percent: float, locale: str) -> str:
    # The locale's own pattern (spacing, where the sign goes), keeping a coupon's decimals.
    return format_percent_babel(Decimal(str(percent)) / 100, locale=babel_locale(locale), decimal_quantization=False)


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
    names = Locale.parse(babel_locale(locale)).territories
    pairs = [(code, name) for code, name in names.items() if len(code) == 2 and code.isalpha() and code not in _NOT_ISO_COUNTRIES]
    return tuple(sorted(pairs, key=lambda pair: _sort_key(pair[1])))


def country_name(code: str | None, locale: str) -> str:
    """`DE` → `Germany` / `Deutschland`; an unknown code stays as it is."""
    return dict(countries(locale)).get((code or "").upper(), code or "")


def _sort_key(name: str) -> str:
    """Alphabetical as a reader expects: Österreich beside Oman, Égypte beside Équateur."""
    return "".join(c for c in unicodedata.normalize("NFKD", name.casefold()) if not unicodedata.combining(c))
