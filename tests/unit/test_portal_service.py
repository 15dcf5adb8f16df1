"""services/portal/: what the token's customer sees and can do — and nothing else."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlmodel import select

from billstack.config import reset_settings
from billstack.db import session_scope
from billstack.errors import BillStackError, StripeUnavailable
from billstack.models import AuditEvent, Subscription
from billstack.i18n import catalogue
from billstack.services import customers, portal
from billstack.services.sessions import SUPPORTED_LOCALES
from tests.portal_world import (  # noqa: F401 - world is a fixture
    Person,
    World,
    mirror,
    mirror_snapshot,
    new_token,
    submit_checkout,
    world,
)

RETURN = "https://app.example.com/portal-return"
SUCCESS_URL = RETURN + "?setup=success&session_id={CHECKOUT_SESSION_ID}"
CANCEL_URL = RETURN + "?setup=canceled"


def _view(world: World, person=None, **options) -> portal.PortalView:
    return world.as_customer(person or world.alice, lambda db, ctx: portal.load_portal_view(db, ctx, **options))


def _set_cancel(world: World, sub_id: str, cancel: bool, person=None, **options) -> portal.SubscriptionView:
    return world.as_customer(
        person or world.alice, lambda db, ctx: portal.set_cancel_at_period_end(db, ctx, sub_id, cancel, **options)
    )


def _error(call) -> BillStackError:
    with pytest.raises(BillStackError) as caught:
        call()
    return caught.value


def _mirrored(world: World, sub_id: str) -> Subscription:
    [row] = [row for row in mirror(Subscription, world.alice.customer_id) if row.stripe_id == sub_id]
    return row


def _audit(action: str) -> list[AuditEvent]:
    with session_scope() as db:
        return list(db.exec(select(AuditEvent).where(AuditEvent.action == action)))


# --- the view ------------------------------------------------------------------------------


def test_view_shows_the_customers_data_and_nothing_of_the_other_customer(world: World) -> None:
    view = _view(world)

    assert (view.customer_id, view.customer_email) == (world.alice.customer_id, "alice@example.com")
    assert {s.id for s in view.subscriptions} == set(world.alice.seeded["subscriptions"])
    assert {s.product_name for s in view.subscriptions} == {"Team plan", "Priority support"}
    assert len(view.invoices.invoices) == 10 and view.invoices.has_more
    assert {i.id for i in view.invoices.invoices} <= set(world.alice.seeded["invoices"])
    [card] = view.payment_methods
    assert (card.id, card.brand, card.last4, card.is_default) == (world.alice.seeded["payment_method"], "visa", "4242", True)

    text = view.model_dump_json()
    bob = world.bob.seeded
    for foreign in [world.bob.stripe_customer_id, bob["payment_method"], *bob["subscriptions"], *bob["invoices"],
                    "bob@example.com", world.bob.customer_id]:
        assert foreign not in text
    assert not view.stale and view.synced_at is not None


def test_invoices_come_newest_first_and_page_beyond_ten(world: World) -> None:
    first = _view(world).invoices
    seen, page = list(first.invoices), first
    while page.has_more:
        cursor = page.invoices[-1].id
        page = world.as_customer(world.alice, lambda db, ctx: portal.list_invoices(db, ctx, starting_after=cursor))
        seen += page.invoices

    ids = [invoice.id for invoice in seen]
    assert len(ids) == len(set(ids)) == len(world.alice.seeded["invoices"]) > 10
    assert set(ids) == set(world.alice.seeded["invoices"])
    created = [invoice.created for invoice in seen]
    assert created == sorted(created, reverse=True)
    # The open invoice is among the newest (the seed makes it in the same second as the
    # latest renewal) and carries both of Stripe's links.
    [open_invoice] = [i for i in seen if i.created == created[0] and i.id == world.alice.seeded["open_invoice"]]
    assert open_invoice.status == "open" and open_invoice.invoice_pdf and open_invoice.hosted_invoice_url


def test_an_invoice_cursor_of_another_customer_is_a_404(world: World) -> None:
    _view(world)
    foreign = world.bob.seeded["invoices"][0]
    error = _error(lambda: world.as_customer(
        world.alice, lambda db, ctx: portal.list_invoices(db, ctx, starting_after=foreign)))
    assert (error.status, error.code, error.param) == (404, "resource_missing", "startingAfter")
    for bad in (0, 101):
        error = _error(lambda: world.as_customer(
            world.alice, lambda db, ctx: portal.list_invoices(db, ctx, starting_after=None, limit=bad)))
        assert (error.status, error.param) == (400, "limit")


def test_draft_invoices_are_not_shown(world: World) -> None:
    world.stripe.v1.invoice_items.create(
        {"customer": world.alice.stripe_customer_id, "amount": 500, "currency": "usd", "description": "Draft only"})
    draft = world.stripe.v1.invoices.create(
        {"customer": world.alice.stripe_customer_id, "pending_invoice_items_behavior": "include"})

    view = _view(world, refresh="always")

    page = world.as_customer(world.alice, lambda db, ctx: portal.list_invoices(db, ctx, starting_after=None, limit=100))
    assert draft.id not in {i.id for i in page.invoices} | {i.id for i in view.invoices.invoices}


def test_branding_uses_the_display_name_and_falls_back_to_the_project_name(world: World) -> None:
    assert _view(world).branding.display_name == "Acme Cloud"
    world.set_project(display_name="Acme", accent_color="#0a7d33", support_email="help@acme.example")
    branding = _view(world).branding
    assert (branding.display_name, branding.accent_color, branding.support_email) == (
        "Acme", "#0a7d33", "help@acme.example")


def test_the_first_open_syncs_and_later_opens_read_the_saved_mirror(world: World) -> None:
    never = _view(world, refresh="never")
    assert never.subscriptions == [] and never.synced_at is None

    first = _view(world)
    assert len(first.subscriptions) == 2
    with world.stripe_down():
        # `if_stale` does not call Stripe for a customer synced before: no staleness to report.
        again = _view(world)
    assert again.subscriptions == first.subscriptions and not again.stale


# --- cancel at period end / resume -----------------------------------------------------------


def test_cancel_then_resume_goes_to_stripe_and_the_mirror_agrees(world: World) -> None:
    sub_id = world.alice.seeded["subscriptions"][0]
    _view(world)

    canceled = _set_cancel(world, sub_id, True, reason="too_expensive", comment="Budget cuts")

    stripe_sub = world.stripe.v1.subscriptions.retrieve(sub_id)
    assert stripe_sub.cancel_at_period_end is True
    assert stripe_sub.cancellation_details.feedback == "too_expensive"
    assert stripe_sub.cancellation_details.comment == "Budget cuts"
    assert canceled.cancel_at_period_end and canceled.status == "active"
    assert _mirrored(world, sub_id).cancel_at_period_end is True
    assert next(s for s in _view(world).subscriptions if s.id == sub_id).cancel_at_period_end

    resumed = _set_cancel(world, sub_id, False)

    assert world.stripe.v1.subscriptions.retrieve(sub_id).cancel_at_period_end is False
    assert resumed.cancel_at_period_end is False and resumed.cancel_at is None
    assert _mirrored(world, sub_id).cancel_at_period_end is False
    [scheduled] = _audit("subscription.cancel_scheduled")
    assert scheduled.customer_id == world.alice.customer_id
    assert (scheduled.stripe_object_id, json.loads(scheduled.detail)) == (sub_id, {"reason": "too_expensive"})
    assert len(_audit("subscription.resumed")) == 1


def test_an_action_before_any_view_syncs_first(world: World) -> None:
    """A headless API caller may PATCH without a GET first: ownership is still checked."""
    sub_id = world.alice.seeded["subscriptions"][1]
    assert _set_cancel(world, sub_id, True).cancel_at_period_end


def test_a_retried_cancel_with_the_same_key_acts_once_and_never_reports_stale_state(world: World) -> None:
    sub_id = world.alice.seeded["subscriptions"][0]
    _view(world)

    first = _set_cancel(world, sub_id, True, idempotency_key="click-1")
    retry = _set_cancel(world, sub_id, True, idempotency_key="click-1")
    assert first == retry and retry.cancel_at_period_end

    _set_cancel(world, sub_id, False)
    # A late retry of the first click replays Stripe's old answer; the service reports
    # (and mirrors) the current state instead of resurrecting the cancellation.
    late = _set_cancel(world, sub_id, True, idempotency_key="click-1")
    assert late.cancel_at_period_end is False
    assert world.stripe.v1.subscriptions.retrieve(sub_id).cancel_at_period_end is False
    assert _mirrored(world, sub_id).cancel_at_period_end is False

    # Without a key, repeating the action is simply harmless.
    assert _set_cancel(world, sub_id, True).cancel_at_period_end
    assert _set_cancel(world, sub_id, True).cancel_at_period_end


def test_another_customers_subscription_is_a_404_and_stays_untouched(world: World) -> None:
    _view(world)
    _view(world, world.bob)
    foreign = world.bob.seeded["subscriptions"][0]

    for sub_id in (foreign, "sub_doesNotExist", "not-an-id"):
        error = _error(lambda: _set_cancel(world, sub_id, True))
        assert (error.status, error.code, error.param) == (404, "resource_missing", "subscriptionId")
    assert world.stripe.v1.subscriptions.retrieve(foreign).cancel_at_period_end is False


def test_only_live_subscriptions_can_be_canceled_or_resumed(world: World) -> None:
    sub_id = world.alice.seeded["subscriptions"][0]
    world.stripe.v1.subscriptions.cancel(sub_id)
    _view(world)

    for cancel in (True, False):
        error = _error(lambda: _set_cancel(world, sub_id, cancel))
        assert (error.status, error.code) == (400, "subscription_not_live")
    error = _error(lambda: _set_cancel(world, world.alice.seeded["subscriptions"][1], True, reason="because"))
    assert (error.status, error.param) == (400, "reason")


# --- feature toggles -------------------------------------------------------------------------


def test_turned_off_features_are_refused_with_403_and_flagged_off_in_the_view(world: World) -> None:
    world.set_project(feature_cancel=False, feature_resume=False, feature_invoice_history=False,
                      feature_payment_method_update=False)
    sub_id = world.alice.seeded["subscriptions"][0]

    view = _view(world)
    assert view.features == portal.Features(cancel=False, resume=False, invoice_history=False,
                                            payment_method_update=False,
                                            customer_update=["name", "email", "address", "phone", "tax_id"],
                                            payment_method_remove=True)
    assert view.invoices == portal.InvoicePage(invoices=[], has_more=False)
    assert len(view.subscriptions) == 2 and len(view.payment_methods) == 1  # still shown, just not actionable

    refused = [
        lambda: _set_cancel(world, sub_id, True),
        lambda: _set_cancel(world, sub_id, False),
        lambda: world.as_customer(world.alice, lambda db, ctx: portal.list_invoices(db, ctx, starting_after=None)),
        lambda: world.as_customer(world.alice, lambda db, ctx: portal.start_payment_method_update(
            db, ctx, success_url=SUCCESS_URL, cancel_url=CANCEL_URL)),
        lambda: world.as_customer(world.alice, lambda db, ctx: portal.complete_payment_method_update(
            db, ctx, "cs_test_whatever")),
    ]
    for call in refused:
        error = _error(call)
        assert (error.status, error.code) == (403, "feature_disabled")
    assert world.stripe.v1.subscriptions.retrieve(sub_id).cancel_at_period_end is False


def test_cancel_off_still_allows_resume(world: World) -> None:
    sub_id = world.alice.seeded["subscriptions"][0]
    _view(world)
    _set_cancel(world, sub_id, True)
    world.set_project(feature_cancel=False)

    assert _set_cancel(world, sub_id, False).cancel_at_period_end is False
    assert _error(lambda: _set_cancel(world, sub_id, True)).status == 403


# --- Stripe outage ------------------------------------------------------------------------------


def test_when_stripe_is_down_reads_show_saved_data_and_actions_change_nothing(world: World) -> None:
    sub_id = world.alice.seeded["subscriptions"][0]
    fresh = _view(world)
    before = mirror_snapshot(world.alice.customer_id)

    with world.stripe_down():
        stale = _view(world, refresh="always")
        error = _error(lambda: _set_cancel(world, sub_id, True))

    assert stale.stale and stale.notices == [portal.NOTICE_STRIPE_UNAVAILABLE]
    assert (stale.subscriptions, stale.invoices, stale.payment_methods) == (
        fresh.subscriptions, fresh.invoices, fresh.payment_methods)
    assert isinstance(error, StripeUnavailable) and (error.status, error.code) == (503, "stripe_unavailable")
    assert mirror_snapshot(world.alice.customer_id) == before
    assert world.stripe.v1.subscriptions.retrieve(sub_id).cancel_at_period_end is False
    assert _audit("subscription.cancel_scheduled") == []


def test_a_first_open_while_stripe_is_down_is_a_503_not_an_empty_portal(world: World) -> None:
    with world.stripe_down():
        error = _error(lambda: _view(world))
    assert error.status == 503


# --- payment method update -----------------------------------------------------------------


def _start_checkout(world: World, person=None) -> str:
    return world.as_customer(person or world.alice, lambda db, ctx: portal.start_payment_method_update(
        db, ctx, success_url=SUCCESS_URL, cancel_url=CANCEL_URL))


def _complete(world: World, session_id: str, person=None) -> portal.PaymentMethodView:
    return world.as_customer(
        person or world.alice, lambda db, ctx: portal.complete_payment_method_update(db, ctx, session_id))


def _session_id_from(response) -> str:
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(RETURN + "?setup=success&session_id=cs_")
    return parse_qs(urlsplit(location).query)["session_id"][0]


def test_a_completed_setup_checkout_becomes_the_default_everywhere(world: World) -> None:
    old_card = world.alice.seeded["payment_method"]
    _view(world)
    url = _start_checkout(world)
    session_id = _session_id_from(submit_checkout(url, "5555555555554444"))
    checkout = world.stripe.v1.checkout.sessions.retrieve(session_id, {"expand": ["setup_intent"]})
    assert (checkout.mode, checkout.currency, checkout.customer) == ("setup", "usd", world.alice.stripe_customer_id)

    card = _complete(world, session_id)

    new_pm = checkout.setup_intent.payment_method
    assert (card.id, card.brand, card.last4, card.is_default) == (new_pm, "mastercard", "4444", True)
    customer = world.stripe.v1.customers.retrieve(world.alice.stripe_customer_id)
    assert customer.invoice_settings.default_payment_method == new_pm
    for sub_id in world.alice.seeded["subscriptions"]:
        assert world.stripe.v1.subscriptions.retrieve(sub_id).default_payment_method == new_pm
        assert _mirrored(world, sub_id).default_payment_method_id == new_pm
    methods = {m.id: m.is_default for m in _view(world, refresh="never").payment_methods}
    assert methods == {new_pm: True, old_card: False}

    # A reload of the return URL completes again: same answer, nothing new happens.
    assert _complete(world, session_id) == card
    assert len(_audit("payment_method.added")) == 1


def test_the_other_customers_subscriptions_keep_their_card(world: World) -> None:
    session_id = _session_id_from(submit_checkout(_start_checkout(world)))
    _complete(world, session_id)
    for sub_id in world.bob.seeded["subscriptions"]:
        stripe_sub = world.stripe.v1.subscriptions.retrieve(sub_id)
        assert stripe_sub.default_payment_method == world.bob.seeded["payment_method"]


def test_an_unfinished_canceled_or_declined_checkout_changes_nothing(world: World) -> None:
    _view(world)
    before = mirror_snapshot(world.alice.customer_id)

    open_url = _start_checkout(world)
    declined_url = _start_checkout(world)
    assert submit_checkout(declined_url, "4000000000000002").status_code == 402
    expired_url = _start_checkout(world)
    sessions = {url: url.rsplit("/", 1)[1] for url in (open_url, declined_url, expired_url)}
    world.stripe.v1.checkout.sessions.expire(sessions[expired_url])

    for session_id in sessions.values():
        error = _error(lambda: _complete(world, session_id))
        assert (error.status, error.code) == (400, "checkout_session_incomplete")

    customer = world.stripe.v1.customers.retrieve(world.alice.stripe_customer_id)
    assert customer.invoice_settings.default_payment_method == world.alice.seeded["payment_method"]
    assert mirror_snapshot(world.alice.customer_id) == before


def test_another_customers_checkout_session_is_a_404(world: World) -> None:
    bobs = _session_id_from(submit_checkout(_start_checkout(world, world.bob)))
    for session_id in (bobs, "cs_test_doesNotExist", "pm_notACheckout"):
        error = _error(lambda: _complete(world, session_id))
        assert (error.status, error.code, error.param) == (404, "resource_missing", "checkoutSessionId")
    bob = world.stripe.v1.customers.retrieve(world.bob.stripe_customer_id)
    assert bob.invoice_settings.default_payment_method == world.bob.seeded["payment_method"]


def test_a_success_url_without_the_session_placeholder_is_refused(world: World) -> None:
    error = _error(lambda: world.as_customer(world.alice, lambda db, ctx: portal.start_payment_method_update(
        db, ctx, success_url=RETURN + "?setup=success", cancel_url=CANCEL_URL)))
    assert (error.status, error.param) == (400, "successUrl")


def test_checkout_returns_to_the_portal_or_an_allowed_return_url(world: World) -> None:
    portal_url = "http://localhost:8000/portal/tok"
    redirect = world.as_customer(world.alice, lambda db, ctx: portal.start_payment_method_checkout(
        db, ctx, portal_url=portal_url))
    session = world.stripe.v1.checkout.sessions.retrieve(redirect.id)
    assert session.success_url == portal_url + "?setup=success&session_id={CHECKOUT_SESSION_ID}"
    assert session.cancel_url == portal_url + "?setup=canceled"
    assert redirect.url == session.url

    world.set_project(allowed_return_origins="https://app.example.com")
    redirect = world.as_customer(world.alice, lambda db, ctx: portal.start_payment_method_checkout(
        db, ctx, portal_url=portal_url, return_url="https://app.example.com/billing?tab=card"))
    session = world.stripe.v1.checkout.sessions.retrieve(redirect.id)
    assert session.cancel_url == "https://app.example.com/billing?tab=card&setup=canceled"
    error = _error(lambda: world.as_customer(world.alice, lambda db, ctx: portal.start_payment_method_checkout(
        db, ctx, portal_url=portal_url, return_url="https://evil.example/steal")))
    assert (error.status, error.param) == (400, "returnUrl")


def test_a_session_deep_link_and_return_url_reach_the_view(world: World) -> None:
    sub_id = world.alice.seeded["subscriptions"][0]
    token = new_token(world, world.alice, return_url=RETURN, locale="de",
                      flow={"type": "subscription_cancel", "subscriptionId": sub_id})
    person = type(world.alice)(world.alice.customer_id, world.alice.stripe_customer_id, world.alice.seeded, token)
    view = _view(world, person)
    assert (view.return_url, view.locale) == (RETURN, "de")
    assert view.flow == {"type": "subscription_cancel", "subscriptionId": sub_id}


def test_the_mirror_counts_as_old_after_sync_max_age(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLSTACK_SYNC_MAX_AGE", "60")
    reset_settings()
    assert world.as_customer(world.alice, lambda db, ctx: portal.mirror_is_old(ctx))  # never synced
    synced_at = _view(world).synced_at
    assert synced_at is not None

    def old_at(seconds: int) -> bool:
        return world.as_customer(
            world.alice, lambda db, ctx: portal.mirror_is_old(ctx, now=synced_at + timedelta(seconds=seconds)))

    assert (old_at(60), old_at(61)) == (False, True)


def _customer_billed_only_in_euros(world: World) -> Person:
    """A customer whose one subscription, in EUR, has ended: nothing live to take a currency from."""
    stripe = world.stripe
    carol = stripe.v1.customers.create({"email": "carol@example.com", "payment_method": "pm_card_visa",
                                        "invoice_settings": {"default_payment_method": "pm_card_visa"}})
    price = stripe.v1.prices.create({"currency": "eur", "unit_amount": 900, "recurring": {"interval": "month"},
                                     "product_data": {"name": "Abo"}})
    subscription = stripe.v1.subscriptions.create({"customer": carol.id, "items": [{"price": price.id}]})
    stripe.v1.subscriptions.cancel(subscription.id)
    with session_scope() as db:
        linked = customers.link_customer(db, project_id=world.project_id, stripe_customer_id=carol.id)
        person = Person(linked.id, carol.id, {}, "")
    return Person(person.customer_id, carol.id, {}, new_token(world, person))


def test_a_card_update_checkout_is_in_the_currency_the_customer_is_billed_in(world: World) -> None:
    carol = _customer_billed_only_in_euros(world)
    view = _view(world, carol)
    assert [(s.currency, s.status) for s in view.subscriptions] == [("eur", "canceled")]

    redirect = world.as_customer(carol, lambda db, ctx: portal.start_payment_method_checkout(
        db, ctx, portal_url="http://localhost:8000/portal/tok"))

    # Not the "usd" a customer with no live subscription used to get.
    assert world.stripe.v1.checkout.sessions.retrieve(redirect.id).currency == "eur"
    alice = world.as_customer(world.alice, lambda db, ctx: portal.start_payment_method_checkout(
        db, ctx, portal_url="http://localhost:8000/portal/tok"))
    assert world.stripe.v1.checkout.sessions.retrieve(alice.id).currency == "usd"


def test_every_cancel_reason_offered_has_a_label_in_every_locale() -> None:
    for locale in SUPPORTED_LOCALES:
        labels = catalogue(locale)
        missing = [reason for reason in portal.CANCEL_REASONS if f"subs.reason.{reason}" not in labels]
        assert missing == [], (locale, missing)
