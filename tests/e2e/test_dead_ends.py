"""Dead ends (issue 13, items 7 and 8), in Chromium against the real server.

A link that no longer opens the portal shows the project's brand (name, initial/logo,
accent), the way back ("Return to <app>") and the support contact when the link names its
project (expired, revoked), in the session's language; a neutral page with a way forward
when nothing can be trusted (garbage). An open page notices by itself that its link ended:
at its expiry time, and within seconds of a revocation, without any click.

The expiry test injects the clock: its session is created "45 s ago" with the minimum
lifetime (60 s), so it ends 15 s after the page opens.
"""

from __future__ import annotations

import re
from pathlib import Path
from datetime import timedelta

import httpx
from playwright.sync_api import Page, expect

from billstack.clock import utcnow
from billstack.db import session_scope
from billstack.services import sessions
from billstack.services.sessions.request import TTL_MIN_MS
from devtools.demo_tenant import DEMO_BRANDING
from tests.e2e.conftest import LiveServer
from tests.e2e.seeding import Tenant, new_portal_session
from tests.e2e.test_portal import assert_no_serious_axe_violations

APP = DEMO_BRANDING["display_name"]  # "Acme Cloud"
SUPPORT = f"mailto:{DEMO_BRANDING['support_email']}"
RETURN_URL = "https://app.example.com/account"
FIRST_LOAD_MS = 30_000
# A revocation wakes the open page at once (same process) or within the live poll (2 s).
REVOKED_SWITCH_MS = 8_000
OPEN_FOR_S = 15  # how long the expiry test's page is open before its link expires


def session_ending_in(tenant: Tenant, seconds: int, *, locale: str | None = None) -> tuple[str, str]:
    """(session id, portal token) of a session whose link expires `seconds` from now."""
    with session_scope() as db:
        created = sessions.create_portal_session(
            db,
            team_id=tenant.team_id,
            project_id=tenant.project_id,
            api_key=None,
            customer_id=tenant.customer_id,
            ttl_ms=TTL_MIN_MS,
            locale=locale,
            now=utcnow() - timedelta(milliseconds=TTL_MIN_MS) + timedelta(seconds=seconds),
        )
    return created.session_id, created.token


def revoke(live: LiveServer, tenant: Tenant, session_id: str) -> None:
    response = httpx.delete(
        f"{live.url}/api/billstack/teams/{tenant.team_id}/projects/{tenant.project_id}/portal/{session_id}",
        headers={"Authorization": f"Bearer {tenant.api_key}"},
    )
    assert response.status_code in (200, 204), response.text


def expect_branded_dead_end(page: Page, title: str, *, back: str = f"Return to {APP}") -> None:
    expect(page.get_by_role("heading", name=title, level=1)).to_be_visible(timeout=FIRST_LOAD_MS)
    main = page.get_by_role("main")
    expect(main.get_by_text(APP, exact=True)).to_be_visible()
    expect(main.locator(".brand-mark")).to_have_text("A")  # no logo: the initial on the accent
    expect(main.get_by_role("link", name=back)).to_have_attribute("href", RETURN_URL)
    expect(main.get_by_role("link", name=re.compile("support", re.I))).to_have_attribute("href", SUPPORT)
    assert "jamie@example.com" not in page.content()


def test_an_expired_link_shows_the_projects_brand_way_back_and_support(
    page: Page, live_db: LiveServer, tenant: Tenant, artifacts_dir: Path
) -> None:
    _, token = session_ending_in(tenant, -3600)
    page.goto(f"{live_db.url}/portal/{token}")
    expect_branded_dead_end(page, "This link has expired")
    expect(page.get_by_role("link", name=f"Contact {APP} support")).to_be_visible()
    assert_no_serious_axe_violations(page)
    page.screenshot(path=str(artifacts_dir / "dead-end-expired.png"))
    page.set_viewport_size({"width": 375, "height": 812})
    assert page.evaluate("document.documentElement.scrollWidth") <= 375, "no horizontal scrolling at 375 px"
    page.screenshot(path=str(artifacts_dir / "dead-end-expired-375.png"))


def test_a_revoked_link_shows_the_projects_brand_way_back_and_support(
    page: Page, live_db: LiveServer, tenant: Tenant
) -> None:
    revoked = new_portal_session(live_db.url, tenant)
    revoke(live_db, tenant, revoked["sessionId"])
    page.goto(revoked["portalUrl"])
    expect_branded_dead_end(page, "This link is no longer valid")
    assert_no_serious_axe_violations(page)


def test_a_dead_end_speaks_the_sessions_language(page: Page, live_db: LiveServer, tenant: Tenant) -> None:
    _, token = session_ending_in(tenant, -3600, locale="de")
    page.goto(f"{live_db.url}/portal/{token}")
    expect_branded_dead_end(page, "Dieser Link ist abgelaufen", back=f"Zurück zu {APP}")
    expect(page.get_by_role("link", name=f"Support von {APP} kontaktieren")).to_be_visible()


def test_a_garbage_link_is_neutral_and_has_a_way_forward(page: Page, live_db: LiveServer, tenant: Tenant) -> None:
    # The same tab first shows a branded page: nothing of it may stay on the neutral one.
    _, token = session_ending_in(tenant, -3600)
    page.goto(f"{live_db.url}/portal/{token}")
    expect_branded_dead_end(page, "This link has expired")

    page.goto(f"{live_db.url}/portal/not-a-token")
    expect(page.get_by_role("heading", name="This link isn't valid")).to_be_visible(timeout=FIRST_LOAD_MS)
    expect(page.get_by_text(re.compile(r"^To manage your billing, sign in to the app you came from"))).to_be_visible()
    expect(page.get_by_text(APP)).to_have_count(0)
    expect(page.locator(".brand-mark")).to_have_count(0)
    expect(page.get_by_role("link")).to_have_count(0)  # nothing to trust: no way back, no contact
    assert_no_serious_axe_violations(page)


def test_an_open_page_turns_into_the_expired_page_at_expiry_without_a_click(
    page: Page, live_db: LiveServer, tenant: Tenant
) -> None:
    _, token = session_ending_in(tenant, OPEN_FOR_S)
    page.goto(f"{live_db.url}/portal/{token}")
    expect(page.get_by_role("heading", name="Subscriptions")).to_be_visible(timeout=(OPEN_FOR_S - 3) * 1000)
    page.evaluate("window.__sameDocument = true")  # gone if anything reloads the page

    expect_branded_dead_end(page, "This link has expired")
    expect(page.get_by_role("heading", name="Subscriptions")).to_have_count(0)
    assert page.evaluate("window.__sameDocument") is True


def test_an_open_page_turns_into_the_revoked_page_within_seconds_without_a_click(
    page: Page, live_db: LiveServer, tenant: Tenant
) -> None:
    session = new_portal_session(live_db.url, tenant)
    page.goto(session["portalUrl"])
    expect(page.get_by_role("heading", name="Subscriptions")).to_be_visible(timeout=FIRST_LOAD_MS)
    page.evaluate("window.__sameDocument = true")

    revoke(live_db, tenant, session["sessionId"])

    expect(page.get_by_role("heading", name="This link is no longer valid")).to_be_visible(timeout=REVOKED_SWITCH_MS)
    expect_branded_dead_end(page, "This link is no longer valid")
    expect(page.get_by_role("heading", name="Subscriptions")).to_have_count(0)
    assert page.evaluate("window.__sameDocument") is True
