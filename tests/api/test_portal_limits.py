"""services/portal_calls.py: how much portal work that may wait on Stripe is let in, per
project, per portal session and in all — and that a refusal is immediate and in the error
shape, while other projects, other sessions and mirror reads carry on."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import httpx
import pytest

from billstack.client_info import NO_CLIENT
from billstack.config import reset_settings
from billstack.db import release_connection
from billstack.errors import BillStackError
from billstack.services import ratelimit
from billstack.services.portal_calls import Work, admission, project_key, run_portal_call
from tests.api.conftest import assert_error
from tests.portal_world import World, build_world, world  # noqa: F401 - fixture

pytestmark = pytest.mark.asyncio

WAIT_S = 10  # bound on every wait below; none is expected to take more than milliseconds


class Gate:
    """Actions that stand in for a slow Stripe call: each holds its slot until `open()`."""

    def __init__(self) -> None:
        self._entered = threading.Condition()
        self._count = 0
        self._open = threading.Event()

    def hold(self, db, ctx) -> str:
        release_connection(db)  # as the services do before a Stripe call
        with self._entered:
            self._count += 1
            self._entered.notify_all()
        assert self._open.wait(WAIT_S), "the gate was never opened"
        return ctx.customer.id

    async def until_held_by(self, count: int) -> None:
        def wait() -> None:
            with self._entered:
                assert self._entered.wait_for(lambda: self._count >= count, WAIT_S), f"{self._count} of {count} held"

        await asyncio.to_thread(wait)

    def open(self) -> None:
        self._open.set()


@pytest.fixture
def gate() -> Iterator[Gate]:
    gate = Gate()
    yield gate
    gate.open()  # never leave a pool thread waiting, whatever the test did


@pytest.fixture
def limits(monkeypatch: pytest.MonkeyPatch):
    def set_limits(**values: int) -> None:
        for name, value in values.items():
            monkeypatch.setenv(f"BILLSTACK_{name.upper()}", str(value))
        reset_settings()

    return set_limits


def _customer_id(db, ctx) -> str:
    return ctx.customer.id


async def _refused(call) -> BillStackError:
    with pytest.raises(BillStackError) as caught:
        await call
    return caught.value


async def test_a_project_at_its_limit_is_told_busy_at_once_and_other_projects_are_not(
    world: World, emulator_url: str, gate: Gate, limits
) -> None:
    limits(stripe_concurrency_per_project=2)
    other = build_world(emulator_url)
    held = [
        asyncio.create_task(run_portal_call(world.alice.token, NO_CLIENT, gate.hold, work=Work.STRIPE_READ)),
        asyncio.create_task(run_portal_call(world.bob.token, NO_CLIENT, gate.hold, work=Work.ACTION)),
    ]
    await gate.until_held_by(2)

    busy = await _refused(run_portal_call(world.bob.token, NO_CLIENT, _customer_id, work=Work.STRIPE_READ))
    assert (busy.status, busy.code, busy.type) == (503, "portal_busy", "api_error")
    assert int(busy.headers["Retry-After"]) >= 1
    # Another project's calls, and this project's mirror reads (which never wait on Stripe), go on.
    assert await run_portal_call(other.alice.token, NO_CLIENT, _customer_id, work=Work.STRIPE_READ) == other.alice.customer_id
    assert await run_portal_call(world.bob.token, NO_CLIENT, _customer_id, work=Work.MIRROR) == world.bob.customer_id

    gate.open()
    assert await asyncio.gather(*held) == [world.alice.customer_id, world.bob.customer_id]
    assert await run_portal_call(world.bob.token, NO_CLIENT, _customer_id, work=Work.STRIPE_READ) == world.bob.customer_id


async def test_all_projects_together_are_held_to_the_threads_and_the_queue(
    world: World, emulator_url: str, gate: Gate, limits
) -> None:
    limits(stripe_threads=1, stripe_queue=1)
    other, third = build_world(emulator_url), build_world(emulator_url)
    held = [
        asyncio.create_task(run_portal_call(person.token, NO_CLIENT, gate.hold, work=Work.STRIPE_READ))
        for person in (world.alice, other.alice)
    ]
    await gate.until_held_by(2)

    busy = await _refused(run_portal_call(third.alice.token, NO_CLIENT, _customer_id, work=Work.STRIPE_READ))
    assert (busy.status, busy.code) == (503, "portal_busy")

    gate.open()
    await asyncio.gather(*held)
    assert await run_portal_call(third.alice.token, NO_CLIENT, _customer_id, work=Work.STRIPE_READ) == third.alice.customer_id


async def test_one_portal_session_gets_a_couple_of_actions_at_once_not_its_projects_every_slot(
    world: World, gate: Gate
) -> None:
    held = [
        asyncio.create_task(run_portal_call(world.alice.token, NO_CLIENT, gate.hold, work=Work.ACTION)) for _ in range(2)
    ]
    await gate.until_held_by(2)

    limited = await _refused(run_portal_call(world.alice.token, NO_CLIENT, _customer_id, work=Work.ACTION))
    assert (limited.status, limited.code) == (429, "rate_limited")
    # Reads of the same session, and another session's actions, still go through.
    assert await run_portal_call(world.alice.token, NO_CLIENT, _customer_id, work=Work.STRIPE_READ) == world.alice.customer_id
    assert await run_portal_call(world.bob.token, NO_CLIENT, _customer_id, work=Work.ACTION) == world.bob.customer_id

    gate.open()
    await asyncio.gather(*held)
    assert admission.in_flight(project_key(world.project_id)) == 0


async def test_actions_are_rate_limited_per_portal_session(world: World, limits) -> None:
    limits(rate_limit_portal_actions_per_minute=2)
    ratelimit.portal_actions.reset()
    for _ in range(2):
        assert await run_portal_call(world.alice.token, NO_CLIENT, _customer_id, work=Work.ACTION) == world.alice.customer_id

    limited = await _refused(run_portal_call(world.alice.token, NO_CLIENT, _customer_id, work=Work.ACTION))
    assert (limited.status, limited.code) == (429, "rate_limited")
    assert 1 <= int(limited.headers["Retry-After"]) <= 30
    # Reads are not actions; another session has its own budget.
    assert await run_portal_call(world.alice.token, NO_CLIENT, _customer_id, work=Work.STRIPE_READ) == world.alice.customer_id
    assert await run_portal_call(world.bob.token, NO_CLIENT, _customer_id, work=Work.ACTION) == world.bob.customer_id


async def test_over_http_a_busy_project_answers_503_in_the_error_shape_with_retry_after(
    client: httpx.AsyncClient, world: World, gate: Gate, limits
) -> None:
    limits(stripe_concurrency_per_project=1)
    held = asyncio.create_task(run_portal_call(world.bob.token, NO_CLIENT, gate.hold, work=Work.STRIPE_READ))
    await gate.until_held_by(1)
    sub_id = world.alice.seeded["subscriptions"][0]

    for response in (
        await client.get(f"/api/portal/{world.alice.token}"),
        await client.patch(f"/api/portal/{world.alice.token}/subscriptions/{sub_id}", json={"cancelAtPeriodEnd": True}),
        await client.post(f"/api/portal/{world.alice.token}/setup-intent"),
    ):
        assert_error(response, 503, "portal_busy")
        assert int(response.headers["retry-after"]) >= 1
    # Invoices come from the mirror: no Stripe, no limit.
    assert (await client.get(f"/api/portal/{world.alice.token}/invoices")).status_code == 200

    gate.open()
    await held
