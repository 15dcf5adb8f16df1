"""Stripe's 46 portal locales (issue 20): each formats money and dates with its own Babel
locale and speaks its own language; plural rules per language; which tag a page speaks
(`auto`: the customer's preferred_locales, then Accept-Language, then English)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from babel import Locale
from babel.dates import format_date
from babel.numbers import format_currency

from billstack import i18n
from billstack.presenters import invoice_row, subscription_row
from billstack.services.mirror_rows import customer_fields
from billstack.services.portal.payment_methods import checkout_locale
from billstack.services.sessions.locales import accepted_languages, page_locale
from billstack.services.views import InvoiceView, SubscriptionView
from stripe_emulator.checkout_branding import LOCALES as STRIPE_CHECKOUT_LOCALES

# Stripe's customer portal locales, as Stripe's docs list them.
STRIPE_PORTAL_LOCALES = (
    "bg", "cs", "da", "de", "el", "en", "en-AU", "en-CA", "en-GB", "en-IE", "en-IN", "en-NZ", "en-SG", "es", "es-419",
    "et", "fi", "fil", "fr", "fr-CA", "hr", "hu", "id", "it", "ja", "ko", "lt", "lv", "ms", "mt", "nb", "nl", "pl",
    "pt", "pt-BR", "ro", "ru", "sk", "sl", "sv", "th", "tr", "vi", "zh", "zh-HK", "zh-TW",
)
RENEWS = date(2026, 12, 1)
ISSUED = date(2026, 3, 30)


def test_the_portal_offers_exactly_stripes_46_locales() -> None:
    assert i18n.SUPPORTED_LOCALES == STRIPE_PORTAL_LOCALES
    assert set(i18n.BABEL_LOCALES) == set(STRIPE_PORTAL_LOCALES)


def _subscription() -> SubscriptionView:
    return SubscriptionView(
        id="sub_1", status="active", product_name="Unternehmenskommunikationsplattform", price_nickname=None,
        unit_amount=123450, currency="eur", interval="month", interval_count=1, quantity=1,
        cancel_at_period_end=False, current_period_end=datetime.combine(RENEWS, datetime.min.time(), timezone.utc),
        cancel_at=None, canceled_at=None,
    )


def _invoice() -> InvoiceView:
    return InvoiceView(id="in_1", number="A-1", status="paid", created=datetime(2026, 3, 30, 12, tzinfo=timezone.utc),
                       total=98765, amount_due=0, currency="usd", invoice_pdf=None, hosted_invoice_url=None)


@pytest.mark.parametrize("locale", STRIPE_PORTAL_LOCALES)
def test_each_locale_renders_rows_with_its_babel_money_dates_and_words(locale: str) -> None:
    babel = i18n.BABEL_LOCALES[locale]
    Locale.parse(babel)  # a real CLDR locale, not Babel's silent fallback
    sub = subscription_row(_subscription(), locale, allow_cancel=True, allow_resume=True)
    inv = invoice_row(_invoice(), locale)

    assert format_currency(Decimal("1234.50"), "EUR", locale=babel) in sub.price
    assert format_date(RENEWS, format="medium", locale=babel) in sub.period_line
    assert inv.amount == format_currency(Decimal("987.65"), "USD", locale=babel)
    assert inv.date == format_date(ISSUED, format="medium", locale=babel)
    english = subscription_row(_subscription(), "en", allow_cancel=True, allow_resume=True)
    if locale.split("-")[0] != "en":
        # Its own words, not English's: the sentence around the date, and the invoice's status.
        assert i18n.t(locale, "subs.renews_on", date="#") != i18n.t("en", "subs.renews_on", date="#"), locale
        assert sub.period_line != english.period_line
        assert inv.status_label != invoice_row(_invoice(), "en").status_label, locale


def _form(locale: str, count: int) -> str:
    """The plural form chosen for `count`, with the number taken out."""
    return i18n.tn(locale, "interval.every.month", count).replace(str(count), "#")


def test_plural_messages_follow_each_languages_rules() -> None:
    # Russian: one (21), few (2-4, 22), many (5-20, 11): three different words for "months".
    assert _form("ru", 21) != _form("ru", 3) != _form("ru", 5) != _form("ru", 21)
    assert _form("ru", 3) == _form("ru", 22) and _form("ru", 5) == _form("ru", 11)
    # Polish the same way; Czech few (2-4) and other.
    assert _form("pl", 3) != _form("pl", 5) and _form("pl", 3) == _form("pl", 24)
    assert _form("cs", 3) != _form("cs", 5)
    # Japanese, Korean, Chinese: one form whatever the number.
    for locale in ("ja", "ko", "zh", "th", "vi"):
        assert len({_form(locale, n) for n in (2, 3, 5, 11, 21)}) == 1, locale
    assert _form("en", 2) == _form("en", 5) == "every # months"


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("pt-br", "pt-BR"), ("PT_BR", "pt-BR"), ("zh_tw", "zh-TW"), ("zh-hk", "zh-HK"), ("EN-gb", "en-GB"),
        ("es-419", "es-419"), ("fil", "fil"), ("de-AT", "de"), ("de_CH", "de"), ("pt-PT", "pt"), ("pt", "pt"),
        ("zh-CN", "zh"), ("zh-Hans", "zh"), ("zh-Hans-HK", "zh"), ("zh-Hant", "zh-TW"), ("zh-Hant-HK", "zh-HK"),
        ("zh-MO", "zh-HK"), ("zh-SG", "zh"), ("es-MX", "es-419"), ("es-AR", "es-419"), ("es-US", "es-419"),
        ("es-ES", "es"), ("no", "nb"), ("nn-NO", "nb"), ("nb-NO", "nb"), ("en-US", "en"), ("en-ZA", "en"),
        ("en-GB-oxendict", "en-GB"), ("fr-CA", "fr-CA"), ("fr-BE", "fr"), ("tl", "fil"), ("fi-FI", "fi"),
        ("ar", None), ("auto", None), ("*", None), ("", None), (None, None), ("<script>", None), ("x" * 40, None),
    ],
)
def test_a_tag_maps_to_the_exact_or_nearest_supported_locale(tag: str | None, expected: str | None) -> None:
    assert i18n.match_locale(tag) == expected
    assert i18n.normalise_locale(tag) == (expected or "en")


def test_accept_language_is_read_by_q_value() -> None:
    assert accepted_languages("fi-FI,fi;q=0.9,en;q=0.8") == ["fi-FI", "fi", "en"]
    assert accepted_languages("en;q=0.2, ja;q=0.9 , *;q=0.1, de") == ["de", "ja", "en"]
    assert accepted_languages("de;q=0, fr;q=bad, it;q=2, sv;Q=0.5") == ["sv"]
    assert accepted_languages(None) == accepted_languages("") == []
    assert len(accepted_languages(",".join(["de"] * 10_000))) <= 32  # whoever opens the link sends it


@pytest.mark.parametrize(
    ("session", "preferred", "accept", "expected"),
    [
        ("de", "fr", "ja", "de"),  # a session's own locale wins
        ("pt-BR", None, None, "pt-BR"),
        ("auto", "fr,de", "ja", "fr"),  # then the Stripe customer's preferred_locales, in order
        ("auto", "ar, sv", "ja", "sv"),  # the first one the portal has
        ("auto", None, "ar, ja;q=0.8, de;q=0.5", "ja"),  # then the browser's
        ("auto", "", "pt-BR,pt;q=0.9", "pt-BR"),
        ("auto", "ar", "he", "en"),  # then English
        ("auto", None, None, "en"),
        (None, None, "fi", "fi"),  # an old row or none: as auto
        ("en", None, "fi", "en"),  # an explicit English stays English
    ],
)
def test_the_page_locale_follows_stripes_order(session, preferred, accept, expected) -> None:
    assert page_locale(session, preferred, accept) == expected


@pytest.mark.parametrize("locale", STRIPE_PORTAL_LOCALES)
def test_checkout_gets_a_locale_it_supports(locale: str) -> None:
    chosen = checkout_locale(locale)
    assert chosen in STRIPE_CHECKOUT_LOCALES and chosen != "auto"
    assert chosen.split("-")[0] == locale.split("-")[0]  # the same language
    if locale in STRIPE_CHECKOUT_LOCALES:
        assert chosen == locale


@pytest.fixture
def only_english(tmp_path, monkeypatch) -> Iterator[None]:
    """A checkout with the English catalogue only (the others not written yet)."""
    (tmp_path / "en").mkdir()
    shutil.copytree(i18n.LOCALES_DIR / "en", tmp_path / "en", dirs_exist_ok=True)
    monkeypatch.setattr(i18n, "LOCALES_DIR", tmp_path)
    caches = (i18n.translations, i18n.catalogue)
    for cache in caches:
        cache.cache_clear()
    yield
    for cache in caches:
        cache.cache_clear()


@pytest.mark.usefixtures("only_english")
def test_a_locale_whose_catalogue_is_missing_speaks_its_parent() -> None:
    for locale in ("ja", "pt-BR", "zh-HK"):
        assert i18n.t(locale, "subs.renews_on", date="1") == i18n.t("en", "subs.renews_on", date="1")
        assert i18n.tn(locale, "interval.every.month", 3) == "every 3 months"
        assert i18n.catalogue(locale) == i18n.catalogue("en")
    # Its money and dates are still its own.
    assert i18n.format_money(150000, "jpy", "ja") == format_currency(150000, "JPY", locale="ja_JP")


def test_the_mirror_keeps_stripes_preferred_locales_in_order() -> None:
    assert customer_fields({"preferred_locales": ["fr-FR", "de"]})["preferred_locales"] == "fr-FR,de"
    assert customer_fields({"preferred_locales": []})["preferred_locales"] is None
    assert customer_fields({})["preferred_locales"] is None
