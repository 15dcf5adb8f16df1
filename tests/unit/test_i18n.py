"""Locale handling: complete catalogues and Babel formatting, incl. zero-decimal currencies."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from billstack import i18n
from billstack.presenters import address_lines, invoice_row, readable_text_on, subscription_row, tax_id_row
from billstack.services import sessions
from billstack.services.views import (
    TAX_ID_TYPES,
    AddressView,
    InvoiceView,
    NextInvoiceView,
    SubscriptionView,
    TaxIdVerification,
    TaxIdView,
)
from stripe_emulator.countries import ISO_3166_ALPHA2  # what Stripe (the emulator) accepts


def test_every_catalogue_has_exactly_the_english_keys() -> None:
    english = i18n.catalogue("en")
    for locale in i18n.SUPPORTED_LOCALES:
        assert set(i18n.catalogue(locale)) == set(english), locale


def test_every_translation_keeps_the_placeholders_of_english() -> None:
    placeholders = lambda text: sorted(re.findall(r"{(\w+)}", text))  # noqa: E731
    english = i18n.catalogue("en")
    for locale in i18n.SUPPORTED_LOCALES:
        for key, text in i18n.catalogue(locale).items():
            assert placeholders(text) == placeholders(english[key]), (locale, key)


@pytest.mark.parametrize(
    ("locale", "expected"),
    [("en", "en"), ("de", "de"), ("de-AT", "de"), ("DE_de", "de"), ("fr-CA", "fr-CA"), ("fr-BE", "fr"),
     ("es", "es"), ("ar", "en"), ("auto", "en"), (None, "en"), ("", "en")],
)
def test_locale_normalisation_falls_back_to_english(locale: str | None, expected: str) -> None:
    assert i18n.normalise_locale(locale) == expected


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "expected"),
    [
        (123450, "usd", "en", "$1,234.50"),
        (123450, "eur", "de", "1.234,50\xa0€"),
        (1500, "jpy", "en", "¥1,500"),  # zero-decimal: 1500 minor units are ¥1,500
        (1500, "krw", "de", "1.500\xa0₩"),
        (999, "usd", "de", "9,99\xa0$"),
    ],
)
def test_money_uses_the_currency_exponent_and_locale(amount: int, currency: str, locale: str, expected: str) -> None:
    assert i18n.format_money(amount, currency, locale) == expected


def test_each_amount_and_day_is_formatted_by_babel_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages show the same prices and days to many customers: Babel runs once for each."""
    calls = []
    real_currency, real_date = i18n.format_currency, i18n.format_date
    monkeypatch.setattr(i18n, "format_currency", lambda *a, **k: calls.append("money") or real_currency(*a, **k))
    monkeypatch.setattr(i18n, "format_date", lambda *a, **k: calls.append("day") or real_date(*a, **k))
    i18n._format_money.cache_clear()
    i18n._format_day.cache_clear()
    moment = datetime(2026, 3, 30, 12, tzinfo=timezone.utc)
    for _ in range(3):
        assert i18n.format_money(123450, "eur", "de") == "1.234,50\xa0€"
        assert i18n.format_day(moment, "de") == "30.03.2026"
    assert i18n.format_money(123450, "eur", "fr") != i18n.format_money(123450, "eur", "de")
    assert calls == ["money", "day", "money"]


def test_dates_follow_the_locale() -> None:
    day = datetime(2026, 3, 30, 13, 0, tzinfo=timezone.utc)
    assert i18n.format_day(day, "en") == "Mar 30, 2026"
    assert i18n.format_day(day, "de") == "30.03.2026"


def test_intervals_and_missing_keys() -> None:
    assert i18n.format_interval("month", 1, "de") == "pro Monat"
    assert i18n.format_interval("month", 3, "en") == "every 3 months"
    assert i18n.t("de", "no.such.key") == "no.such.key"


def _subscription(**changes) -> SubscriptionView:
    base = dict(
        id="sub_1", status="active", product_name="Pro", price_nickname=None, unit_amount=1200, currency="eur",
        interval="month", interval_count=1, quantity=1, cancel_at_period_end=False,
        current_period_end=datetime(2026, 12, 1, tzinfo=timezone.utc), cancel_at=None, canceled_at=None,
    )
    return SubscriptionView(**(base | changes))


def test_subscription_row_says_renews_or_cancels_and_offers_the_right_action() -> None:
    renewing = subscription_row(_subscription(), "en", allow_cancel=True, allow_resume=True)
    assert (renewing.period_line, renewing.can_cancel, renewing.can_resume) == ("Renews on Dec 1, 2026", True, False)
    assert renewing.price == "€12.00 per month"
    canceling = subscription_row(_subscription(cancel_at_period_end=True), "de", allow_cancel=True, allow_resume=True)
    assert (canceling.period_line, canceling.can_cancel, canceling.can_resume) == ("Endet am 01.12.2026", False, True)
    assert canceling.price == "12,00\xa0€ pro Monat"


def test_feature_toggles_and_dead_subscriptions_offer_no_actions() -> None:
    off = subscription_row(_subscription(), "en", allow_cancel=False, allow_resume=False)
    assert not off.can_cancel and not off.can_resume
    ended = subscription_row(
        _subscription(status="canceled", canceled_at=datetime(2026, 1, 2, tzinfo=timezone.utc)),
        "en", allow_cancel=True, allow_resume=True,
    )
    assert (ended.period_line, ended.can_cancel, ended.status_label) == ("Canceled on Jan 2, 2026", False, "Canceled")


def test_only_open_invoices_get_a_pay_link() -> None:
    made = dict(id="in_1", number="A-1", created=datetime(2026, 1, 1, tzinfo=timezone.utc), total=1500,
                amount_due=1500, currency="jpy", invoice_pdf="https://x/pdf", hosted_invoice_url="https://x/pay")
    assert invoice_row(InvoiceView(status="open", **made), "en").pay_url == "https://x/pay"
    paid = invoice_row(InvoiceView(status="paid", **made), "en")
    assert (paid.pay_url, paid.amount, paid.pdf_url) == ("", "¥1,500", "https://x/pdf")


def test_accent_text_stays_readable() -> None:
    assert readable_text_on("#4f46e5") == "#ffffff"
    assert readable_text_on("#ffd400") == "#000000"


def test_the_session_api_offers_exactly_the_portals_languages() -> None:
    """One list, i18n's: a session's locale is always one the portal has a catalogue for."""
    assert sessions.SUPPORTED_LOCALES is i18n.SUPPORTED_LOCALES
    assert sessions.DEFAULT_LOCALE is i18n.DEFAULT_LOCALE
    for tag in ("en", "de", "de-AT", "DE_at", "fr-CA", "es", "pt-BR", "zh-Hant-TW"):
        assert sessions.resolve_locale(tag) == i18n.normalise_locale(tag), tag
    for tag in ("auto", "AUTO", "", None, "ar", "he-IL"):  # picked at each page load
        assert sessions.resolve_locale(tag) == i18n.AUTO_LOCALE, tag


# --- plan changes (issue 15) -------------------------------------------------------------------

from billstack.presenters import cycle_choices, plan_rows, preview_lines, preview_summary  # noqa: E402
from billstack.services.views import (  # noqa: E402
    PlanChangePreview,
    PlanList,
    PlanView,
    PreviewLine,
    QuantityRule,
    ScheduledChangeView,
)

_NEXT = datetime(2027, 1, 3, tzinfo=timezone.utc)


def _plan(price_id: str, name: str, amount: int, interval: str = "month", *, current: bool = False, count: int = 1) -> PlanView:
    return PlanView(price_id=price_id, product_id=f"prod_{price_id}", product_name=name, description=None,
                    unit_amount=amount, currency="eur", interval=interval, interval_count=count, current=current)


def _preview(**changes) -> PlanChangePreview:
    base = dict(amount_due=1633, currency="eur", proration_date=1_796_000_000,
                lines=[PreviewLine(description="Unused time", amount=-600), PreviewLine(description="Remaining", amount=2233)],
                next_amount=4900, next_date=_NEXT, applies_at="now", price_id="price_pro", quantity=1)
    return PlanChangePreview(**(base | changes))


def test_every_plan_string_is_translated_not_copied_from_english() -> None:
    english = i18n.catalogue("en")
    for locale in ("de", "fr"):
        for key in [k for k in english if k.startswith("plans.") or k in ("subs.update_plan", "subs.keep_plan", "subs.changes_to")]:
            assert i18n.catalogue(locale)[key] != english[key], (locale, key)


def test_plans_are_rows_per_billing_period_monthly_first() -> None:
    plans = PlanList(data=[_plan("price_y", "Pro", 49000, "year"), _plan("price_m", "Pro", 4900, current=True),
                           _plan("price_q", "Pro", 13000, count=3)],
                     quantity=QuantityRule(enabled=False, min=1, max=None))
    assert [(c.key, c.label) for c in cycle_choices(plans, "en")] == [("month", "Monthly"), ("3-month", "Every 3 months"), ("year", "Yearly")]
    assert [c.label for c in cycle_choices(plans, "de")] == ["Monatlich", "Alle 3 Monate", "Jährlich"]
    rows = plan_rows(plans, "de")
    assert [(r.price, r.cycle, r.current) for r in rows] == [
        ("490,00\xa0€ pro Jahr", "year", False), ("49,00\xa0€ pro Monat", "month", True), ("130,00\xa0€ alle 3 Monate", "3-month", False)]


def test_preview_says_the_credit_the_charge_and_what_comes_next() -> None:
    plan = _plan("price_pro", "Pro", 4900)
    lines = preview_lines(_preview(), current_product="Starter", new_plan="Pro", locale="en")
    assert [(l.label, l.amount, l.credit) for l in lines] == [
        ("Unused time on Starter", "-€6.00", True), ("Pro from today", "€22.33", False)]
    summary = preview_summary(_preview(), plan, "en")
    assert (summary.due_today, summary.next_line, summary.scheduled_line) == (
        "€16.33", "Then €49.00 per month from Jan 3, 2027", "")
    # Prorations left for the next invoice (create_prorations): say that invoice's amount.
    pending = preview_summary(_preview(amount_due=0, next_amount=6533), plan, "fr")
    assert (pending.due_today, pending.next_line) == ("0,00\xa0€", "Prochaine facture le 3 janv. 2027 : 65,33\xa0€")


def test_a_change_at_the_period_end_charges_nothing_today() -> None:
    plan = _plan("price_pro", "Pro", 900)
    summary = preview_summary(_preview(amount_due=0, lines=[], next_amount=2700, quantity=3, applies_at="period_end"), plan, "en")
    assert summary.plan == "Pro · Qty 3"
    assert summary.scheduled_line == "Changes to Pro · Qty 3 on Jan 3, 2027; nothing is charged today."
    assert summary.next_line == "Then €27.00 per month from Jan 3, 2027"


def test_subscription_row_offers_plan_changes_or_keeping_the_plan() -> None:
    sub = _subscription(price_id="price_1")
    assert subscription_row(sub, "en", allow_cancel=True, allow_resume=True, allow_plan_change=True).can_change_plan
    assert not subscription_row(sub, "en", allow_cancel=True, allow_resume=True).can_change_plan
    canceling = _subscription(cancel_at_period_end=True)
    assert not subscription_row(canceling, "en", allow_cancel=True, allow_resume=True, allow_plan_change=True).can_change_plan
    waiting = _subscription(scheduled_change=ScheduledChangeView(price_id="price_2", product_name="Starter", quantity=1, at=_NEXT))
    row = subscription_row(waiting, "de", allow_cancel=True, allow_resume=True, allow_plan_change=True)
    assert (row.scheduled_line, row.can_keep_plan, row.can_change_plan) == ("Wechselt am 03.01.2027 zu Starter", True, False)


# --- billing details (issue 16) ------------------------------------------------------------


def test_the_country_table_is_iso_3166_alpha2_named_in_each_language_and_sorted_as_read() -> None:
    for locale in i18n.SUPPORTED_LOCALES:
        table = i18n.countries(locale)
        assert {code for code, _ in table} == set(ISO_3166_ALPHA2), locale
    names = [name for _, name in i18n.countries("de")]
    assert names.index("Oman") < names.index("Österreich") < names.index("Pakistan")
    assert (i18n.country_name("DE", "de"), i18n.country_name("de", "fr"), i18n.country_name("DE", "en")) == (
        "Deutschland", "Allemagne", "Germany")
    assert i18n.country_name("EU", "en") == "EU"  # not a country: shown as given, never offered


@pytest.mark.parametrize("locale", i18n.SUPPORTED_LOCALES)
def test_every_tax_id_type_and_verification_status_has_words_in_every_language(locale: str) -> None:
    for tax_type in TAX_ID_TYPES:
        for status in ("pending", "verified", "unverified", "unavailable"):
            row = tax_id_row(TaxIdView(id="txi_1", type=tax_type, value="X1", verification=TaxIdVerification(status=status)), locale)
            assert not row.type_label.startswith("taxid.") and not row.status_label.startswith("taxid."), (tax_type, status)
            assert row.value in row.remove_label and row.type_label in row.remove_label


def test_an_address_reads_as_lines_with_the_country_in_the_customers_language() -> None:
    address = AddressView(line1="Hauptstraße 1", line2=None, city="Berlin", state="", postal_code="10115", country="DE")
    assert address_lines(address, "fr") == ["Hauptstraße 1", "10115 Berlin", "Allemagne"]
    assert address_lines(None, "en") == []


def test_a_live_subscription_says_its_next_payment_from_the_preview_and_an_ended_one_does_not() -> None:
    upcoming = NextInvoiceView(amount_due=4900, currency="eur", date=datetime(2027, 1, 3, tzinfo=timezone.utc))
    assert subscription_row(_subscription(next_invoice=upcoming), "en", allow_cancel=True,
                            allow_resume=True).next_payment == "Next payment: €49.00 on Jan 3, 2027"
    assert subscription_row(_subscription(next_invoice=upcoming), "de", allow_cancel=True,
                            allow_resume=True).next_payment == "Nächste Zahlung: 49,00\xa0€ am 03.01.2027"
    ended = _subscription(status="canceled", next_invoice=upcoming)
    assert subscription_row(ended, "en", allow_cancel=True, allow_resume=True).next_payment == ""
    assert subscription_row(_subscription(), "en", allow_cancel=True, allow_resume=True).next_payment == ""
