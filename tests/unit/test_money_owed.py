"""What the customer owes (issue 13, item 4): open invoices with an amount due, oldest due
first, in every view — also when the invoice history is turned off — and every invoice
with what it is for (its first line's description) and, when sent to be paid, its due date."""

from __future__ import annotations

from billstack.clock import from_unix
from billstack.services import portal
from tests.portal_world import World, world  # noqa: F401 - world is a fixture


def _view(world: World, **options) -> portal.PortalView:
    return world.as_customer(world.alice, lambda db, ctx: portal.load_portal_view(db, ctx, **options))


def _open_invoice(world: World, *, days_until_due: int, amount: int, description: str) -> str:
    stripe, customer = world.stripe, world.alice.stripe_customer_id
    stripe.v1.invoice_items.create({"customer": customer, "amount": amount, "currency": "usd",
                                    "description": description})
    draft = stripe.v1.invoices.create({"customer": customer, "collection_method": "send_invoice",
                                       "days_until_due": days_until_due, "pending_invoice_items_behavior": "include"})
    return stripe.v1.invoices.finalize_invoice(draft.id).id


def test_the_open_invoice_is_owed_with_its_description_and_due_date(world: World) -> None:
    seeded = world.stripe.v1.invoices.retrieve(world.alice.seeded["open_invoice"])

    view = _view(world)

    [owed] = view.amount_due
    assert (owed.id, owed.status, owed.amount_due, owed.currency) == (seeded.id, "open", 15000, "usd")
    assert owed.description == "Onboarding workshop" == seeded.lines.data[0].description
    assert seeded.due_date is not None and owed.due_date == from_unix(seeded.due_date)
    listed = {invoice.id: invoice for invoice in view.invoices.invoices}
    assert listed[seeded.id] == owed  # the same invoice, described the same in the list
    paid = [invoice for invoice in listed.values() if invoice.status == "paid"]
    assert paid and all(invoice.due_date is None for invoice in paid)  # charged automatically: no due date
    assert all(invoice.description for invoice in paid)  # "1 × <product> (at …)", as Stripe words it
    assert all(invoice.id not in {o.id for o in view.amount_due} for invoice in paid)
    body = view.model_dump(mode="json")
    assert body["amountDue"][0]["dueDate"].endswith("Z") and body["amountDue"][0]["description"]


def test_oldest_due_comes_first_and_nothing_of_another_customer(world: World) -> None:
    sooner = _open_invoice(world, days_until_due=5, amount=4200, description="Extra seats")

    view = _view(world, refresh="always")

    assert [invoice.id for invoice in view.amount_due] == [sooner, world.alice.seeded["open_invoice"]]
    assert view.amount_due[0].description == "Extra seats"
    assert not {invoice.id for invoice in view.amount_due} & set(world.bob.seeded.get("invoices", []))
    assert world.bob.seeded["open_invoice"] not in {invoice.id for invoice in view.amount_due}


def test_money_owed_shows_even_with_the_invoice_history_off(world: World) -> None:
    world.set_project(feature_invoice_history=False)

    view = _view(world)

    assert view.invoices == portal.InvoicePage(invoices=[], has_more=False)
    assert [invoice.id for invoice in view.amount_due] == [world.alice.seeded["open_invoice"]]


def test_a_paid_invoice_is_no_longer_owed(world: World) -> None:
    world.stripe.v1.invoices.pay(world.alice.seeded["open_invoice"], {"paid_out_of_band": True})

    assert _view(world, refresh="always").amount_due == []
