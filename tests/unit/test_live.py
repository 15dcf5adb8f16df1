"""services/live.py: a waiting page wakes when its customer's mirror version moves, and only then."""

from __future__ import annotations

import asyncio
import threading

import pytest
from sqlmodel import Session

from billstack.db import engine_for, session_scope
from billstack.models import Customer
from billstack.services import live, sessions, sync
from billstack.services.customers import remove_customer
from tests.api.conftest import Tenant, make_tenant

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


# --- a revoked session wakes its customer's open pages (issue 13, item 8) ------------------


def _new_session(tenant: Tenant) -> tuple[str, str]:
    """A session id and its token."""
    with session_scope() as db:
        created = sessions.create_portal_session(
            db, team_id=tenant.team_id, project_id=tenant.project_id, api_key=None, customer_id=tenant.customer_id
        )
        return created.session_id, created.token


def _revoke(session_id: str) -> None:
    with session_scope() as db:
        sessions.revoke_portal_session(db, session_id, actor="cli")


def _version(customer_id: str) -> int:
    return live.read_versions([customer_id])[customer_id]


@pytest.fixture
def tenant(db_url: str) -> Tenant:
    with Session(engine_for(db_url), expire_on_commit=False) as db:
        return make_tenant(db)


async def test_a_revocation_wakes_a_page_of_this_process_at_once(tenant: Tenant) -> None:
    session_id, token = await asyncio.to_thread(_new_session, tenant)
    before = _version(tenant.customer_id)
    # The process's own watch, whose poller reads every 2 s: only the publish after the commit wakes it sooner.
    waiting = asyncio.create_task(live.watch.wait_for_change(tenant.customer_id, before, timeout=10))
    while live.watch.watched() == 0:
        await asyncio.sleep(0)
    started = asyncio.get_running_loop().time()

    await asyncio.to_thread(_revoke, session_id)

    assert await asyncio.wait_for(waiting, 5) == before + 1 == _version(tenant.customer_id)
    assert asyncio.get_running_loop().time() - started < live.POLL_INTERVAL
    with session_scope() as db, pytest.raises(sessions.PortalTokenError) as error:
        sessions.validate_portal_token(db, token)  # what the woken page finds when it re-validates
    assert error.value.code == sessions.TOKEN_REVOKED


async def test_removing_the_customer_wakes_its_open_pages(tenant: Tenant) -> None:
    _, token = await asyncio.to_thread(_new_session, tenant)
    before = _version(tenant.customer_id)
    waiting = asyncio.create_task(live.watch.wait_for_change(tenant.customer_id, before, timeout=10))
    while live.watch.watched() == 0:
        await asyncio.sleep(0)

    def remove() -> None:
        with session_scope() as db:
            remove_customer(db, project_id=tenant.project_id, customer_id=tenant.customer_id)

    await asyncio.to_thread(remove)

    assert await asyncio.wait_for(waiting, 5) == before + 1
    with session_scope() as db, pytest.raises(sessions.PortalTokenError):
        sessions.validate_portal_token(db, token)


async def test_a_revocation_in_another_process_reaches_the_page_through_the_poller(tenant: Tenant) -> None:
    session_id, _ = await asyncio.to_thread(_new_session, tenant)
    before = _version(tenant.customer_id)
    watch = live.MirrorWatch(poll_interval=0.05)  # not the watch the revocation publishes to
    waiting = asyncio.create_task(watch.wait_for_change(tenant.customer_id, before, timeout=10))

    await asyncio.to_thread(_revoke, session_id)

    assert await asyncio.wait_for(waiting, 5) == before + 1


async def test_revoking_again_or_rolling_back_wakes_nobody(tenant: Tenant) -> None:
    session_id, _ = await asyncio.to_thread(_new_session, tenant)
    await asyncio.to_thread(_revoke, session_id)
    after_first = _version(tenant.customer_id)

    await asyncio.to_thread(_revoke, session_id)  # idempotent: nothing changes
    other, _ = await asyncio.to_thread(_new_session, tenant)

    def revoke_then_fail() -> None:
        with session_scope() as db:
            sessions.revoke_portal_session(db, other, actor="cli")
            raise RuntimeError("the unit of work fails after the revocation")

    published: list[tuple[str, int]] = []
    original = live.watch.publish
    live.watch.publish = lambda customer_id, version: published.append((customer_id, version))  # type: ignore[method-assign]
    try:
        with pytest.raises(RuntimeError):
            await asyncio.to_thread(revoke_then_fail)
    finally:
        live.watch.publish = original  # type: ignore[method-assign]

    assert published == []
    assert _version(tenant.customer_id) == after_first
