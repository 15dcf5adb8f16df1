"""A project on its own emulator account with two seeded customers, for the portal tests.

Everything goes through the real stripe SDK against the emulator and through the same
services operators use (create project, link customer, mint a portal session). Alice
is the customer under test; Bob is seeded alongside so every test can show that none
of his data leaks into Alice's portal and none of his ids work with her token.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pytest
import stripe
from sqlmodel import select

from billstack.db import session_scope
from stripe_emulator.seed import seed_demo_customer
from devtools.emulator import new_account_key, stripe_down
from billstack.models import Customer, Invoice, PaymentMethod, Subscription
from billstack.services import customers, sessions, tenants
from billstack.services.sessions import PortalContext

T = TypeVar("T")


@dataclass(frozen=True)
class Person:
    customer_id: str  # pc_…
    stripe_customer_id: str  # cus_…
    seeded: dict[str, Any]  # what the emulator's seed made: subscriptions, invoices, payment_method
    token: str


@dataclass(frozen=True)
class World:
    emulator_url: str
    stripe_key: str
    stripe: stripe.StripeClient
    team_id: str
    project_id: str
    alice: Person
    bob: Person

    def as_customer(self, person: Person, action: Callable[[Any, PortalContext], T]) -> T:
        """One unit of work as a request would run it: validate the token, call, commit."""
        with session_scope() as db:
            return action(db, sessions.validate_portal_token(db, person.token))

    def set_project(self, **options: object) -> None:
        with session_scope() as db:
            tenants.update_project(db, self.project_id, **options)

    @contextmanager
    def stripe_down(self) -> Iterator[None]:
        """Every request to this emulator account answers 500 (the SDK's retries included)."""
        with stripe_down(self.emulator_url, self.stripe_key):
            yield


def build_world(emulator_url: str, **project_options: object) -> World:
    key = new_account_key()
    client = stripe.StripeClient(key, base_addresses={"api": emulator_url})
    alice_seed = seed_demo_customer(client, email="alice@example.com", name="Alice Example")
    bob_seed = seed_demo_customer(client, email="bob@example.com", name="Bob Other")
    with session_scope() as db:
        team = tenants.create_team(db, name="Acme Inc.")
        project = tenants.create_project(
            db, team_id=team.id, name="Acme Cloud", stripe_secret_key=key, stripe_api_base=emulator_url,
            **project_options,
        )
        people = [_person(db, team.id, project.id, seed) for seed in (alice_seed, bob_seed)]
    return World(emulator_url, key, client, team.id, project.id, *people)


def new_token(world: World, person: Person, **options: Any) -> str:
    with session_scope() as db:
        created = sessions.create_portal_session(
            db, team_id=world.team_id, project_id=world.project_id, api_key=None,
            customer_id=person.customer_id, **options,
        )
        return created.token


def _person(db: Any, team_id: str, project_id: str, seed: dict[str, Any]) -> Person:
    customer = customers.link_customer(db, project_id=project_id, stripe_customer_id=seed["customer"])
    created = sessions.create_portal_session(
        db, team_id=team_id, project_id=project_id, api_key=None, customer_id=customer.id
    )
    return Person(customer.id, seed["customer"], seed, created.token)


@pytest.fixture
def world(db_url: str, emulator_url: str) -> World:
    return build_world(emulator_url)


# --- reading the mirror behind the services' back ------------------------------------------


def mirror(model: type, customer_id: str) -> list[Any]:
    with session_scope() as db:
        return list(db.exec(select(model).where(model.customer_id == customer_id).order_by(model.stripe_id)))


def mirror_snapshot(customer_id: str) -> dict[str, Any]:
    """Everything the mirror holds for one customer, comparable with ==."""
    def rows(model: type) -> list[dict[str, Any]]:
        return [row.model_dump(exclude={"id"}) for row in mirror(model, customer_id)]

    with session_scope() as db:
        customer = db.get(Customer, customer_id)
        assert customer is not None
        head = customer.model_dump()
    return {
        "customer": head,
        "subscriptions": rows(Subscription),
        "invoices": rows(Invoice),
        "payment_methods": rows(PaymentMethod),
    }


# --- Stripe Checkout, as the customer's browser would do it --------------------------------


def submit_checkout(url: str, card: str = "4242424242424242", *, exp: str = "12 / 34", cvc: str = "123") -> httpx.Response:
    """POST the emulator's hosted Checkout form (no redirects followed: the Location is the result)."""
    return httpx.post(url, data={"cardnumber": card, "exp": exp, "cvc": cvc, "name": "Alice Example"}, timeout=30)
