"""Live updates over Redis: a change committed in one process wakes a page waiting in
another at once, long before the database poll would (set to a minute here)."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlmodel import Session

from billstack.config import reset_settings
from billstack.db import engine_for
from billstack.services import live
from billstack.shared_redis import KEY_PREFIX, new_client, reset_shared_redis
from devtools.ports import free_port
from tests.api.conftest import make_tenant
from tests.unit.test_live import bump
from tests.redis_support import require_redis, unique_prefix

pytestmark = pytest.mark.asyncio

REPO = Path(__file__).resolve().parents[2]

# Another process (as `billstack sync` from a shell, or a webhook on another host): bumps the
# customer's mirror version as services/sync.py does; the commit publishes it.
BUMPER = textwrap.dedent("""
    import sys, time
    from billstack.db import session_scope
    from billstack.models import Customer
    from billstack.services import sync

    with session_scope() as db:
        customer = db.get(Customer, sys.argv[1])
        sync.bump_mirror_version(db, customer)
        print(time.time(), flush=True)
""")


@pytest.fixture
def redis_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = require_redis()
    monkeypatch.setenv("REFLEX_REDIS_URL", url)
    reset_settings()
    reset_shared_redis()
    yield url
    monkeypatch.delenv("REFLEX_REDIS_URL")
    reset_settings()
    reset_shared_redis()


@pytest.fixture
def customer_id(db_url: str) -> str:
    with Session(engine_for(db_url), expire_on_commit=False) as db:
        return make_tenant(db).customer_id


async def waiting_page(watch: live.MirrorWatch, customer_id: str, known: int, timeout: float) -> asyncio.Task:
    """A page waiting for `customer_id`'s next version, once the watch hears Redis."""
    task = asyncio.create_task(watch.wait_for_change(customer_id, known, timeout=timeout))
    deadline = time.monotonic() + 10
    while not (watch.watched() and watch.listening()):
        assert time.monotonic() < deadline, "the watch never subscribed"
        await asyncio.sleep(0.01)
    return task


async def test_a_commit_in_another_process_wakes_the_page_at_once(redis_url: str, customer_id: str) -> None:
    watch = live.MirrorWatch(poll_interval=60)  # only Redis can wake it within the test
    try:
        waiting = await waiting_page(watch, customer_id, 0, timeout=60)
        bumper = await asyncio.create_subprocess_exec(
            sys.executable, "-c", BUMPER, customer_id, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = await asyncio.wait_for(bumper.communicate(), 60)
        assert bumper.returncode == 0, err.decode()
        assert await asyncio.wait_for(waiting, 5) == 1
        woken_at = time.time()
        assert woken_at - float(out) < 1.0  # from the commit to the wake: Redis, not a 60 s poll
    finally:
        watch.close()


async def test_two_watches_on_separate_connections_hear_each_other(redis_url: str) -> None:
    channel = unique_prefix("live") + "channel"
    here = live.MirrorWatch(poll_interval=60, redis_client=lambda: new_client(redis_url), channel=channel)
    there_client = new_client(redis_url)
    there = live.MirrorWatch(poll_interval=60, redis_client=lambda: there_client, channel=channel)
    try:
        waiting = await waiting_page(here, "pc_liveTest", 4, timeout=60)
        await asyncio.to_thread(there.publish, "pc_liveTest", 4)  # the version the page shows: no wake
        await asyncio.to_thread(there.publish, "pc_other", 9)  # another customer: no wake
        await asyncio.to_thread(there.publish, "pc_liveTest", 5)
        assert await asyncio.wait_for(waiting, 5) == 5
    finally:
        here.close()
        there.close()


async def test_publish_on_an_event_loop_sends_from_the_executor(redis_url: str) -> None:
    channel = unique_prefix("live") + "channel"
    client = new_client(redis_url)
    listener = client.pubsub(ignore_subscribe_messages=True)
    listener.subscribe(channel)
    watch = live.MirrorWatch(redis_client=lambda: client, channel=channel)
    watch.publish("pc_fromLoop", 2)  # returns at once; the round trip happens off the loop
    watch.publish("pc_fromLoop", 2)  # one commit reported twice (sync, then webhook processing) sends once
    messages = [await next_message(listener)]
    await asyncio.to_thread(watch.publish, "pc_fromLoop", 3)  # from a thread: sent before it returns
    messages.append(await next_message(listener))
    listener.close()
    assert messages == [b"pc_fromLoop 2", b"pc_fromLoop 3"]


async def next_message(listener: redis.client.PubSub) -> bytes:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        message = await asyncio.to_thread(listener.get_message, timeout=0.2)
        if message:
            return message["data"]
    raise AssertionError("no message within 5 s")


async def test_without_redis_the_poll_still_delivers_and_one_warning_is_logged(
    customer_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    down = new_client(f"redis://127.0.0.1:{free_port()}")
    watch = live.MirrorWatch(poll_interval=0.05, redis_client=lambda: down)
    try:
        with caplog.at_level(logging.WARNING, logger="billstack.live"):
            waiting = asyncio.create_task(watch.wait_for_change(customer_id, 0, timeout=10))
            version = await asyncio.to_thread(bump_and_publish, watch, customer_id)
            assert await asyncio.wait_for(waiting, 5) == version
        warnings = [r for r in caplog.records if r.name == "billstack.live"]
        assert len(warnings) == 1 and "database poll" in warnings[0].getMessage()
    finally:
        watch.close()


def bump_and_publish(watch: live.MirrorWatch, customer_id: str) -> int:
    version = bump(customer_id)
    watch.publish("pc_elsewhere", 1)  # a publish that cannot reach Redis must not raise
    return version


async def test_the_channel_is_under_the_prefix_and_names_the_database() -> None:
    assert live.channel_for(redis.Redis.from_url("redis://127.0.0.1:6379/5")) == f"{KEY_PREFIX}live:5"
    assert live.channel_for(redis.Redis.from_url("redis://127.0.0.1:6379")) == f"{KEY_PREFIX}live:0"
