"""services/live.py: a waiting page wakes when its customer's mirror version moves, and only then."""

from __future__ import annotations

import asyncio
import threading

import pytest
from sqlmodel import Session

from billstack.db import engine_for, session_scope
from billstack.models import Customer
from billstack.services import live, sync
from tests.api.conftest import make_tenant

pytestmark = pytest.mark.asyncio


@pytest.fixture
def customer_id(db_url: str) -> str:
    with Session(engine_for(db_url), expire_on_commit=False) as db:
        return make_tenant(db).customer_id


def bump(customer_id: str) -> int:
    """What any writer does when it changes the mirror (here: another process, as far as the watch knows)."""
    with session_scope() as db:
        customer = db.get(Customer, customer_id)
        sync.bump_mirror_version(db, customer)
        return customer.mirror_version


async def test_publish_from_another_thread_wakes_the_page_at_once(customer_id: str) -> None:
    watch = live.MirrorWatch(poll_interval=60)  # only the in-process signal can wake it in time
    waiting = asyncio.create_task(watch.wait_for_change(customer_id, 0, timeout=10))
    while watch.watched() == 0:
        await asyncio.sleep(0)
    threading.Thread(target=watch.publish, args=(customer_id, 1)).start()

    assert await asyncio.wait_for(waiting, 5) == 1
    assert watch.watched() == 0


async def test_the_poller_sees_a_change_made_by_another_process(customer_id: str) -> None:
    watch = live.MirrorWatch(poll_interval=0.05)
    waiting = asyncio.create_task(watch.wait_for_change(customer_id, 0, timeout=10))

    version = await asyncio.to_thread(bump, customer_id)

    assert await asyncio.wait_for(waiting, 5) == version == 1


async def test_the_same_version_or_another_customer_does_not_wake_it(customer_id: str) -> None:
    watch = live.MirrorWatch(poll_interval=0.05)  # polls several times within the wait, finding 0
    waiting = asyncio.create_task(watch.wait_for_change(customer_id, 0, timeout=0.5))
    while watch.watched() == 0:
        await asyncio.sleep(0)

    watch.publish(customer_id, 0)
    watch.publish("pc_someoneElse", 7)

    assert await waiting is None  # timed out
    assert watch.watched() == 0
