"""One-time links (issue 18, item 1), in Chromium against `billstack serve`.

A portal link works in the browser that opened it first (reloads and actions included) and
nowhere else: another browser (a fresh context: no cookies) gets the "already used" page,
with no customer data in its DOM, its HTTP responses or its websocket frames. Two browsers
racing for a fresh link: one wins. A project with `link_binding="none"` shares links again.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from playwright.sync_api import Browser, Page, Response, WebSocket, expect
from sqlmodel import select

from billstack.db import session_scope
from billstack.models import AuditEvent, PortalSession
from billstack.services import sessions
from billstack.services.sessions import binding
from tests.e2e.conftest import LiveServer
from tests.e2e.seeding import Tenant, new_portal_session, open_portal, seed_tenant

APP = "Acme Cloud"
RETURN_URL = "https://app.example.com/account"
USED_TITLE = "This link was already used"
LOAD_MS = 30_000


@dataclass
class Recorder:
    """Everything a page received: HTTP responses (read once it settled) and websocket frames."""

    responses: list[Response] = field(default_factory=list)
    frames: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("response", lambda response: self.responses.append(response))
        page.on("websocket", self._socket)

    def _socket(self, socket: WebSocket) -> None:
        socket.on("framereceived", lambda payload: self.frames.append(
            payload if isinstance(payload, str) else payload.decode("utf-8", "replace")))

    def received(self) -> str:
        bodies = []
        for response in self.responses:
            try:
                bodies.append(response.body().decode("utf-8", "replace"))
            except Exception:  # noqa: BLE001 - redirects and aborted loads have no body
                continue
        return "\n".join(bodies + self.frames)

    def set_cookies(self) -> list[str]:
        return [value for response in self.responses for name, value in response.headers_array()
                if name.lower() == "set-cookie"]


@contextmanager
def browser_page(browser: Browser, recorder: Recorder | None = None) -> Iterator[Page]:
    """A page in a browser context of its own: another browser, as far as the server can tell."""
    context = browser.new_context()
    try:
        page = context.new_page()
        if recorder is not None:
            recorder.attach(page)
        yield page
    finally:
        context.close()


def customer_secrets(tenant: Tenant) -> list[str]:
    seeded = tenant.seeded
    return ["jamie@example.com", "Jamie Rivera", tenant.customer_id, tenant.stripe_customer_id,
            *seeded["subscriptions"], seeded["payment_method"], *seeded["invoices"], seeded["open_invoice"]]


def audit_actions(session_id: str) -> list[tuple[str, str]]:
    with session_scope() as db:
        rows = db.exec(select(AuditEvent).where(AuditEvent.session_id == session_id).order_by(AuditEvent.id))
        return [(row.action, row.outcome) for row in rows]


def session_of(token: str) -> PortalSession:
    with session_scope() as db:
        return db.get(PortalSession, sessions.decode_token(token)["sid"])


def expect_used_page(page: Page) -> None:
    expect(page.get_by_role("heading", name=USED_TITLE, level=1)).to_be_visible(timeout=LOAD_MS)
    main = page.get_by_role("main")
    expect(main.get_by_text("already opened in another browser")).to_be_visible()
    expect(main.get_by_role("link", name=f"Return to {APP}")).to_have_attribute("href", RETURN_URL)


def test_a_link_works_only_in_the_browser_that_opened_it(browser: Browser, live_db: LiveServer, tenant: Tenant) -> None:
    session = new_portal_session(live_db.url, tenant)
    url, token = session["portalUrl"], session["token"]
    sub_id = tenant.seeded["subscriptions"][0]
    b_saw = Recorder()

    with browser_page(browser) as a:
        open_portal(a, url)
        cookies = a.context.cookies(url)
        bound = [c for c in cookies if c["name"] == binding.COOKIE_NAME]
        assert len(bound) == 1 and bound[0]["httpOnly"] and bound[0]["sameSite"] == "Strict"
        a.reload()
        expect(a.get_by_role("heading", name="Subscriptions")).to_be_visible(timeout=LOAD_MS)
        expect(a.locator(f'[data-subscription-id="{sub_id}"]')).to_be_visible()

        with browser_page(browser, b_saw) as b:
            b.goto(url)
            expect_used_page(b)
            expect(b.get_by_role("heading", name="Subscriptions")).to_have_count(0)
            dom = b.content()
            assert b.context.cookies(url) == []  # no cookie, hence no token, handed to B
            b.reload()  # the second load too
            expect_used_page(b)
            received, b_cookies = b_saw.received(), b_saw.set_cookies()

        assert USED_TITLE in received  # the recording holds what B was sent (its page's words)
        for secret in customer_secrets(tenant):
            assert secret not in dom, secret
            assert secret not in received, secret
        assert b_cookies == []

        # A still works after B's attempts: an action, then a reload.
        card = a.locator(f'[data-subscription-id="{sub_id}"]')
        card.get_by_role("button", name=re.compile("^Cancel subscription")).click()
        a.get_by_role("alertdialog").get_by_role("button", name="Cancel at period end").click()
        expect(card.get_by_text(re.compile(r"^Cancels on "))).to_be_visible(timeout=LOAD_MS)
        a.reload()
        expect(a.locator(f'[data-subscription-id="{sub_id}"]').get_by_text(re.compile(r"^Cancels on "))).to_be_visible(
            timeout=LOAD_MS)

    session_id = session_of(token).id
    actions = audit_actions(session_id)
    assert actions.count((binding.AUDIT_BOUND, "ok")) == 1
    assert actions.count((binding.AUDIT_LINK_REUSED, "denied")) == 2  # once per refused page load


def test_two_browsers_racing_for_a_fresh_link_one_wins(browser: Browser, live_db: LiveServer, tenant: Tenant) -> None:
    url, token = (lambda s: (s["portalUrl"], s["token"]))(new_portal_session(live_db.url, tenant))
    with browser_page(browser) as first, browser_page(browser) as second:
        # Both navigations start before either answer arrives (assigning location returns at once).
        for page in (first, second):
            page.evaluate("url => { window.location.href = url; }", url)
        outcomes = []
        for page in (first, second):
            portal_or_used = page.get_by_role("heading", name="Subscriptions").or_(
                page.get_by_role("heading", name=USED_TITLE))
            expect(portal_or_used).to_be_visible(timeout=LOAD_MS)
            outcomes.append("portal" if page.get_by_role("heading", name="Subscriptions").is_visible() else "used")
        assert sorted(outcomes) == ["portal", "used"], outcomes
        winner = (first, second)[outcomes.index("portal")]
        assert [c["name"] for c in winner.context.cookies(url)] == [binding.COOKIE_NAME]
    assert audit_actions(session_of(token).id).count((binding.AUDIT_BOUND, "ok")) == 1


def test_a_project_without_binding_shares_its_links(browser: Browser, live_db: LiveServer) -> None:
    shared = seed_tenant(live_db.emulator_url, link_binding="none")
    session = new_portal_session(live_db.url, shared)
    with browser_page(browser) as a, browser_page(browser) as b:
        open_portal(a, session["portalUrl"])
        open_portal(b, session["portalUrl"])
        expect(b.get_by_text("jamie@example.com").first).to_be_visible()
        assert a.context.cookies(session["portalUrl"]) == b.context.cookies(session["portalUrl"]) == []
        a.reload()
        expect(a.get_by_role("heading", name="Subscriptions")).to_be_visible(timeout=LOAD_MS)
    assert session_of(session["token"]).bound_secret_hash is None
