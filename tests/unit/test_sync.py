"""services/sync.py: the mirror equals Stripe's state for one customer, and only theirs."""

from __future__ import annotations

import pytest

from billstack.clock import from_unix
from billstack.db import session_scope
from billstack.errors import StripeUnavailable
from billstack.models import Customer, Invoice, PaymentMethod, Project, Subscription, TaxId
from billstack.services import sync
from tests.portal_world import World, mirror, mirror_snapshot, world  # noqa: F401 - fixture

pytestmark = pytest.mark.usefixtures("db_url")


def _sync(world: World, customer_id: str) -> None:
    with session_scope() as db:
        customer = db.get(Customer, customer_id)
        sync.sync_customer(db, db.get(Project, world.project_id), customer)


def _stripe_invoices(world: World, stripe_customer_id: str) -> list:
    return list(world.stripe.v1.invoices.list({"customer": stripe_customer_id, "limit": 100}).auto_paging_iter())


def test_sync_copies_the_customers_subscriptions_invoices_and_cards(world: World) -> None:
    _sync(world, world.alice.customer_id)

    subs = {row.stripe_id: row for row in mirror(Subscription, world.alice.customer_id)}
    assert set(subs) == set(world.alice.seeded["subscriptions"])
    for sub_id, row in subs.items():
        stripe_sub = world.stripe.v1.subscriptions.retrieve(sub_id, {"expand": ["items.data.price.product"]})
        item = stripe_sub["items"].data[0]
        assert row.status == "active"
        assert row.product_name == item.price.product.name
        assert (row.unit_amount, row.currency, row.interval) == (item.price.unit_amount, "usd", "month")
        # At this API version the period lives on the item, not on the subscription.
        assert row.current_period_end == from_unix(item.current_period_end)
        assert row.default_payment_method_id == world.alice.seeded["payment_method"]

    invoices = {row.stripe_id: row for row in mirror(Invoice, world.alice.customer_id)}
    stripe_invoices = _stripe_invoices(world, world.alice.stripe_customer_id)
    assert len(stripe_invoices) > 10  # the seed's year of monthly invoices: enough to page
    assert set(invoices) == {inv.id for inv in stripe_invoices}
    open_invoice = invoices[world.alice.seeded["open_invoice"]]
    assert (open_invoice.status, open_invoice.total, open_invoice.amount_due) == ("open", 15000, 15000)
    assert open_invoice.invoice_pdf and open_invoice.hosted_invoice_url
    stripe_open = next(inv for inv in stripe_invoices if inv.id == open_invoice.stripe_id)
    assert open_invoice.description == stripe_open.lines.data[0].description == "Onboarding workshop"
    assert open_invoice.due_date == from_unix(stripe_open.due_date)  # sent to be paid: it has a due date
    assert all(row.description for row in invoices.values())
    renewal = next(row for row in invoices.values() if row.subscription_stripe_id)
    assert renewal.subscription_stripe_id in subs

    [card] = mirror(PaymentMethod, world.alice.customer_id)
    assert (card.stripe_id, card.brand, card.last4) == (world.alice.seeded["payment_method"], "visa", "4242")
    with session_scope() as db:
        alice = db.get(Customer, world.alice.customer_id)
        assert alice.default_payment_method_id == card.stripe_id
        assert alice.synced_at is not None


def test_sync_touches_nothing_of_another_customer(world: World) -> None:
    _sync(world, world.alice.customer_id)

    for model in (Subscription, Invoice, PaymentMethod):
        assert mirror(model, world.bob.customer_id) == []
    with session_scope() as db:
        assert db.get(Customer, world.bob.customer_id).synced_at is None
    alice_ids = {row.stripe_id for row in mirror(Invoice, world.alice.customer_id)}
    assert alice_ids.isdisjoint(world.bob.seeded["invoices"])


def test_a_second_sync_follows_changes_and_drops_what_stripe_no_longer_has(world: World) -> None:
    _sync(world, world.alice.customer_id)
    first, second = world.alice.seeded["subscriptions"]
    # Changes made in Stripe directly (the dashboard, another integration):
    world.stripe.v1.subscriptions.cancel(first)
    world.stripe.v1.invoices.void_invoice(world.alice.seeded["open_invoice"])
    new_card = world.stripe.v1.payment_methods.attach("pm_card_mastercard", {"customer": world.alice.stripe_customer_id})
    world.stripe.v1.payment_methods.detach(world.alice.seeded["payment_method"])

    _sync(world, world.alice.customer_id)

    subs = {row.stripe_id: row.status for row in mirror(Subscription, world.alice.customer_id)}
    assert subs == {first: "canceled", second: "active"}
    statuses = {row.stripe_id: row.status for row in mirror(Invoice, world.alice.customer_id)}
    assert statuses[world.alice.seeded["open_invoice"]] == "void"
    cards = {row.stripe_id: row.brand for row in mirror(PaymentMethod, world.alice.customer_id)}
    assert cards == {new_card.id: "mastercard"}
    with session_scope() as db:
        # The detached card was the default; Stripe clears it and so does the mirror.
        assert db.get(Customer, world.alice.customer_id).default_payment_method_id is None


def test_syncing_twice_without_changes_leaves_the_same_rows(world: World) -> None:
    _sync(world, world.alice.customer_id)
    before = mirror_snapshot(world.alice.customer_id)
    _sync(world, world.alice.customer_id)
    after = mirror_snapshot(world.alice.customer_id)

    def without_times(snapshot: dict) -> dict:
        strip = {"synced_at", "stripe_updated_at"}
        return {
            key: ({k: v for k, v in value.items() if k not in strip} if isinstance(value, dict)
                  else [{k: v for k, v in row.items() if k not in strip} for row in value])
            for key, value in snapshot.items()
        }

    assert without_times(after) == without_times(before)


def test_a_failed_sync_leaves_the_mirror_as_it_was(world: World) -> None:
    _sync(world, world.alice.customer_id)
    before = mirror_snapshot(world.alice.customer_id)
    world.stripe.v1.subscriptions.cancel(world.alice.seeded["subscriptions"][0])

    with world.stripe_down(), pytest.raises(StripeUnavailable):
        _sync(world, world.alice.customer_id)

    assert mirror_snapshot(world.alice.customer_id) == before


def test_apply_subscription_from_an_unexpanded_payload_keeps_the_product_name(world: World) -> None:
    """Webhook payloads carry product ids, not names; a status change must not blank the name."""
    _sync(world, world.alice.customer_id)
    sub_id = world.alice.seeded["subscriptions"][0]
    [before] = [row for row in mirror(Subscription, world.alice.customer_id) if row.stripe_id == sub_id]
    payload = world.stripe.v1.subscriptions.update(sub_id, {"cancel_at_period_end": True}).to_dict()
    assert isinstance(payload["items"]["data"][0]["price"]["product"], str)

    with session_scope() as db:
        project, customer = db.get(Project, world.project_id), db.get(Customer, world.alice.customer_id)
        sync.apply_subscription(db, project, customer, payload)

    [after] = [row for row in mirror(Subscription, world.alice.customer_id) if row.stripe_id == sub_id]
    assert after.cancel_at_period_end is True
    assert after.product_name == before.product_name != ""


def test_apply_payment_method_drops_a_detached_card(world: World) -> None:
    _sync(world, world.alice.customer_id)
    detached = world.stripe.v1.payment_methods.detach(world.alice.seeded["payment_method"]).to_dict()

    with session_scope() as db:
        project, customer = db.get(Project, world.project_id), db.get(Customer, world.alice.customer_id)
        sync.apply_payment_method(db, project, customer, detached)

    assert mirror(PaymentMethod, world.alice.customer_id) == []


def _customer(customer_id: str) -> Customer:
    with session_scope() as db:
        return db.get(Customer, customer_id)


def test_sync_copies_the_billing_details_and_tax_ids(world: World) -> None:
    alice = world.alice
    world.stripe.v1.customers.update(alice.stripe_customer_id, {
        "phone": "+33 1 23 45 67 89",
        "address": {"line1": "1 rue de Rivoli", "line2": "Bât. B", "city": "Paris", "state": "IDF",
                    "postal_code": "75001", "country": "FR"},
    })
    vat = world.stripe.v1.customers.tax_ids.create(alice.stripe_customer_id, {"type": "eu_vat", "value": "FR12345678901"})
    ein = world.stripe.v1.customers.tax_ids.create(alice.stripe_customer_id, {"type": "us_ein", "value": "12-3456789"})

    _sync(world, alice.customer_id)

    row = _customer(alice.customer_id)
    assert (row.phone, row.address_line1, row.address_line2, row.address_city, row.address_state,
            row.address_postal_code, row.address_country) == (
        "+33 1 23 45 67 89", "1 rue de Rivoli", "Bât. B", "Paris", "IDF", "75001", "FR")
    tax_ids = {t.stripe_id: (t.type, t.value, t.verification_status) for t in mirror(TaxId, alice.customer_id)}
    assert tax_ids == {
        vat.id: ("eu_vat", "FR12345678901", vat.verification.status),
        ein.id: ("us_ein", "12-3456789", ein.verification.status),
    }
    assert mirror(TaxId, world.bob.customer_id) == []

    # Removed in Stripe (the address cleared, a tax id deleted): the next sync follows.
    world.stripe.v1.customers.update(alice.stripe_customer_id, {"address": "", "phone": ""})
    world.stripe.v1.customers.tax_ids.delete(alice.stripe_customer_id, vat.id)
    _sync(world, alice.customer_id)

    row = _customer(alice.customer_id)
    assert (row.phone, row.address_line1, row.address_city, row.address_country) == (None, None, None, None)
    assert [t.stripe_id for t in mirror(TaxId, alice.customer_id)] == [ein.id]


def test_sync_keeps_each_subscriptions_next_invoice_from_stripes_preview(world: World) -> None:
    alice = world.alice
    first, second = alice.seeded["subscriptions"]
    world.stripe.v1.subscriptions.update(second, {"cancel_at_period_end": True})

    _sync(world, alice.customer_id)

    rows = {row.stripe_id: row for row in mirror(Subscription, alice.customer_id)}
    preview = world.stripe.v1.invoices.create_preview({"customer": alice.stripe_customer_id, "subscription": first})
    assert preview.amount_due > 0
    assert rows[first].next_invoice_amount == preview.amount_due
    # A renewal is collected when the current period ends.
    assert rows[first].next_invoice_date == rows[first].current_period_end == from_unix(preview.period_end)
    assert (rows[second].next_invoice_amount, rows[second].next_invoice_date) == (None, None)  # it ends instead

    world.stripe.v1.subscriptions.update(second, {"cancel_at_period_end": False})
    world.stripe.v1.subscriptions.cancel(first)
    _sync(world, alice.customer_id)

    rows = {row.stripe_id: row for row in mirror(Subscription, alice.customer_id)}
    assert rows[first].next_invoice_amount is None  # canceled: nothing more to bill
    assert rows[second].next_invoice_amount == world.stripe.v1.invoices.create_preview(
        {"customer": alice.stripe_customer_id, "subscription": second}).amount_due


def test_apply_tax_id_adds_one_and_a_deleted_one_leaves(world: World) -> None:
    """The writer the portal calls after its own Stripe writes (no full sync needed)."""
    _sync(world, world.alice.customer_id)
    created = world.stripe.v1.customers.tax_ids.create(
        world.alice.stripe_customer_id, {"type": "gb_vat", "value": "GB123456789"}).to_dict()
    version = _customer(world.alice.customer_id).mirror_version

    with session_scope() as db:
        project, customer = db.get(Project, world.project_id), db.get(Customer, world.alice.customer_id)
        assert sync.apply_tax_id(db, project, customer, created) is True
        assert sync.apply_tax_id(db, project, customer, created) is False  # already mirrored

    assert [(t.stripe_id, t.value) for t in mirror(TaxId, world.alice.customer_id)] == [(created["id"], "GB123456789")]
    assert _customer(world.alice.customer_id).mirror_version == version + 1  # open pages refresh
    deleted = world.stripe.v1.customers.tax_ids.delete(world.alice.stripe_customer_id, created["id"]).to_dict()

    with session_scope() as db:
        project, customer = db.get(Project, world.project_id), db.get(Customer, world.alice.customer_id)
        assert sync.apply_tax_id(db, project, customer, deleted) is True

    assert mirror(TaxId, world.alice.customer_id) == []
