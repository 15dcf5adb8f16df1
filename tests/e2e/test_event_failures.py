"""Portal events that fail or carry bad arguments never leave the page frozen.

An action marks itself pending (every action button is disabled meanwhile); whatever
happens inside it — a BillStack error, a database fault, a bug — the page must end
with the buttons enabled again and a message, and event arguments that are not what
the page sends (they come from the browser, so anyone can forge them) are refused
before they reach any service.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from bench.reflex_client import Build, PortalClient
from billstack.server import web_dir
from tests.e2e.conftest import LiveServer
from tests.e2e.seeding import Tenant, new_portal_session, seed_tenant
from tests.e2e.test_portal import open_portal, stripe_client

GENERIC_ERROR = "Something went wrong. Nothing was changed; please try again."
STEP_TIMEOUT_S = 30


@pytest.fixture
def tenant(live_db: LiveServer) -> Tenant:
    return seed_tenant(live_db.emulator_url)


@contextmanager
def subscription_table_gone(live: LiveServer) -> Iterator[None]:
    """The server's next read of subscriptions fails with a database error (not a BillStackError)."""
    path = urlsplit(live.db_url.replace("sqlite:///", "sqlite://x/")).path
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE subscription RENAME TO subscription_away")
    try:
        yield
    finally:
        with sqlite3.connect(path) as db:
            db.execute("ALTER TABLE subscription_away RENAME TO subscription")


def test_an_unexpected_failure_re_enables_the_buttons_and_shows_the_notice(
    page: Page, live_db: LiveServer, tenant: Tenant
) -> None:
    session = new_portal_session(live_db.url, tenant)
    open_portal(page, session["portalUrl"])
    sub_id = tenant.seeded["subscriptions"][0]
    card = page.locator(f'[data-subscription-id="{sub_id}"]')
    card.get_by_role("button", name=re.compile("^Cancel subscription")).click()
    dialog = page.get_by_role("alertdialog")
    confirm = dialog.get_by_role("button", name="Cancel at period end")

    with subscription_table_gone(live_db):
        confirm.click()
        expect(dialog.get_by_role("alert")).to_have_text(GENERIC_ERROR, timeout=STEP_TIMEOUT_S * 1000)
        expect(confirm).to_be_enabled()
        expect(dialog.get_by_role("button", name="Keep subscription")).to_be_enabled()

    assert stripe_client(live_db, tenant).v1.subscriptions.retrieve(sub_id).cancel_at_period_end is False
    confirm.click()  # the same page, without a reload, works again once the database does
    expect(card.get_by_text(re.compile(r"^Cancels on "))).to_be_visible(timeout=STEP_TIMEOUT_S * 1000)
    assert stripe_client(live_db, tenant).v1.subscriptions.retrieve(sub_id).cancel_at_period_end is True


async def _send_malformed_events(live: LiveServer, portal_url: str, sub_id: str) -> dict:
    """Over Reflex's own websocket protocol, as a forged page would send them."""
    parts = urlsplit(live.url)
    client = PortalClient(parts.hostname or "localhost", parts.port or 80, urlsplit(portal_url).path,
                          Build.read(web_dir()))
    await client.connect()
    try:
        await client.wait_until(lambda state: state.get("page_status") == "ready", STEP_TIMEOUT_S)
        client.emit("resume", {"sub_id": ["a"]})
        client.emit("resume", {"sub_id": {"id": sub_id}})
        client.emit("open_cancel", {"sub_id": 42})
        client.emit("set_cancel_reason", {"value": ["too_expensive"]})
        client.emit("set_pm_dialog_open", {"value": "yes"})
        # Events of one tab are handled in order: once this one is answered, the ones above were too.
        client.emit("open_cancel", {"sub_id": sub_id})
        await client.wait_until(lambda state: state.get("cancel_dialog_open") is True, STEP_TIMEOUT_S)
        return dict(client.state)
    finally:
        await client.close()


def test_malformed_event_arguments_are_refused(live_db: LiveServer, tenant: Tenant) -> None:
    session = new_portal_session(live_db.url, tenant)
    sub_id = tenant.seeded["subscriptions"][0]
    log_before = live_db.log_path.read_text()
    # Its own thread: this process may have Playwright's event loop.
    with ThreadPoolExecutor(1) as thread:
        state = thread.submit(asyncio.run, _send_malformed_events(live_db, session["portalUrl"], sub_id)).result()

    assert state["pending"] == ""  # nothing was started, so nothing is stuck
    assert state["notice"] == ""
    assert state["pm_dialog_open"] is False
    assert state["cancel_reason"] == ""
    assert state["cancel_sub_id"] == sub_id  # the well-formed event that followed still worked
    assert stripe_client(live_db, tenant).v1.subscriptions.retrieve(sub_id).cancel_at_period_end is False
    log = live_db.log_path.read_text()[len(log_before):]
    assert "Traceback" not in log
    assert log.count("malformed subscription id") == 3, log
