"""Portal events that fail or carry bad arguments never leave the page frozen.

An action marks itself pending (every action button is disabled meanwhile); whatever
happens inside it — a BillStack error, a database fault, a bug — the page must end
with the buttons enabled again and a message, and event arguments that are not what
the page sends (they come from the browser, so anyone can forge them) are refused
before they reach any service.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer
from tests.e2e.portal_tab import STEP_TIMEOUT_S, send_events
from tests.e2e.seeding import Tenant, new_portal_session, open_portal, stripe_client

GENERIC_ERROR = "Something went wrong. Nothing was changed; please try again."


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


def test_malformed_event_arguments_are_refused(live_db: LiveServer, tenant: Tenant) -> None:
    session = new_portal_session(live_db.url, tenant)
    sub_id = tenant.seeded["subscriptions"][0]
    log_before = live_db.log_path.read_text()
    malformed = [
        ("resume", {"sub_id": ["a"]}),
        ("resume", {"sub_id": {"id": sub_id}}),
        ("open_cancel", {"sub_id": 42}),
        ("confirm_cancel", {"sub_id": ["a"], "reason": None}),
        ("confirm_cancel", {"sub_id": sub_id, "reason": ["too_expensive"]}),
        ("confirm_cancel", {"sub_id": sub_id, "reason": "not_a_reason"}),
        # Well formed, but none of the page's rows: refused before any service is asked.
        ("confirm_cancel", {"sub_id": "sub_someone_elses", "reason": None}),
        ("set_pm_dialog_open", {"value": "yes"}),
    ]
    state = send_events(live_db, session["portalUrl"], malformed, sub_id=sub_id)

    # A var the server never changed from its default is not in any delta: absent means default.
    assert state.get("pending", "") == ""  # nothing was started, so nothing is stuck
    assert state.get("notice", "") == ""
    assert state.get("pm_dialog_open", False) is False
    assert state["cancel_sub_id"] == sub_id  # the well-formed event that followed still worked
    assert stripe_client(live_db, tenant).v1.subscriptions.retrieve(sub_id).cancel_at_period_end is False
    log = live_db.log_path.read_text()[len(log_before):]
    assert "Traceback" not in log
    assert log.count("malformed subscription id") == 4, log
    assert log.count("a cancel reason the page does not offer") == 2, log
