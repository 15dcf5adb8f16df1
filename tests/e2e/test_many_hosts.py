"""Many hosts, one service: two `billstack serve` hosts with two workers each, on one
PostgreSQL and one Redis, behind nginx running deploy/nginx.conf (round-robin, no sticky
sessions). Chromium reaches the portal only through nginx.

Which host answered is read from the proxy's X-Upstream header (tests/e2e/many_hosts.py):
on every HTTP response, and on the 101 that opens a tab's websocket (read through the
Chrome DevTools Protocol, as Playwright does not expose a websocket's response headers).
"""

from __future__ import annotations

import re
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from playwright.sync_api import Page, expect

from billstack import routes
from billstack.config import reset_settings
from billstack.db import session_scope
from billstack.services import webhooks
from tests.e2e.many_hosts import (
    SESSIONS_PER_MINUTE,
    TOKEN_FAILURES_PER_MINUTE,
    UPSTREAM_HEADER,
    ManyHosts,
    many_hosts,
)
from tests.e2e.seeding import Tenant, open_portal, seed_tenant, stripe_client
from tests.e2e.test_live_updates import LIVE_TIMEOUT_MS

RELOAD_TRIES = 6  # round-robin: a reload lands on the other host within two; six is slack
HANDSHAKE_TIMEOUT_S = 30


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, emulator_url: str) -> Iterator[ManyHosts]:
    with many_hosts(tmp_path_factory.mktemp("many-hosts"), emulator_url) as deployed:
        yield deployed


@pytest.fixture
def hosts_tenant(deployment: ManyHosts, monkeypatch: pytest.MonkeyPatch) -> Tenant:
    """A fresh emulator account and project, seeded in the hosts' PostgreSQL database."""
    monkeypatch.setenv("BILLSTACK_DATABASE_URL", deployment.db_url)
    reset_settings()
    return seed_tenant(deployment.emulator_url)


class TabConnections:
    """The hosts a page's websockets were opened on, in order (X-Upstream of each 101)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.upstreams: list[str] = []
        self._event_sockets: set[str] = set()
        cdp = page.context.new_cdp_session(page)
        cdp.on("Network.webSocketCreated", self._created)
        cdp.on("Network.webSocketHandshakeResponseReceived", self._handshake)
        cdp.send("Network.enable")

    def _created(self, event: dict) -> None:
        if "/_event" in event["url"]:
            self._event_sockets.add(event["requestId"])

    def _handshake(self, event: dict) -> None:
        if event["requestId"] in self._event_sockets:
            headers = {name.lower(): value for name, value in event["response"]["headers"].items()}
            self.upstreams.append(headers.get(UPSTREAM_HEADER, "?"))

    def next_upstream(self, count_before: int) -> str:
        """The host of the websocket opened after `count_before` were (polled, with a deadline)."""
        deadline = time.monotonic() + HANDSHAKE_TIMEOUT_S
        while len(self.upstreams) <= count_before:
            assert time.monotonic() < deadline, "no websocket was opened through the proxy"
            self.page.wait_for_timeout(50)  # lets Playwright deliver the CDP events
        return self.upstreams[count_before]


def http_upstreams(page: Page) -> list[str]:
    """Collects X-Upstream of every HTTP response the page gets from the proxy."""
    seen: list[str] = []
    page.on("response", lambda response: seen.append(response.headers.get(UPSTREAM_HEADER, "")))
    return seen


def portal_through_proxy(deployment: ManyHosts, tenant: Tenant) -> str:
    response = create_session(deployment, tenant)
    assert response.status_code == 200, response.text
    url = response.json()["portalUrl"]
    assert url.startswith(deployment.proxy.url + "/portal/"), url
    return url


def create_session(deployment: ManyHosts, tenant: Tenant, client: httpx.Client | None = None) -> httpx.Response:
    return (client or httpx).post(
        deployment.proxy.url + routes.portal_sessions_path(tenant.team_id, tenant.project_id),
        headers={"Authorization": f"Bearer {tenant.api_key}"},
        json={"customerId": tenant.customer_id},
        timeout=30,
    )


def reload_onto_other_host(page: Page, tab: TabConnections, deployment: ManyHosts, current: str) -> str:
    """Reload until the tab's websocket is on the host other than `current`. Round-robin
    over a fixed number of requests per load could keep landing on one host, so a reload
    that did is followed by one extra request to the proxy, which shifts the rotation."""
    for _ in range(RELOAD_TRIES):
        before = len(tab.upstreams)
        page.reload()
        landed = tab.next_upstream(before)
        expect(page.get_by_role("heading", name="Subscriptions")).to_be_visible(timeout=30_000)
        if landed != current:
            return landed
        httpx.get(f"{deployment.proxy.url}/ping", timeout=10)
    pytest.fail(f"{RELOAD_TRIES} reloads all kept the websocket on {current}")


def test_cancel_reload_on_the_other_host_then_resume(page: Page, deployment: ManyHosts, hosts_tenant: Tenant) -> None:
    tenant = hosts_tenant
    every_host = {deployment.upstream(host) for host in deployment.hosts}
    tab = TabConnections(page)
    responses = http_upstreams(page)
    open_portal(page, portal_through_proxy(deployment, tenant))
    first_host = tab.next_upstream(0)
    sub_id = tenant.seeded["subscriptions"][0]
    card = page.locator(f'[data-subscription-id="{sub_id}"]')

    card.get_by_role("button", name=re.compile("^Cancel subscription")).click()
    page.get_by_role("alertdialog").get_by_role("button", name="Cancel at period end").click()
    expect(card.get_by_text(re.compile(r"^Cancels on "))).to_be_visible(timeout=30_000)
    assert stripe_client(deployment.proxy, tenant).v1.subscriptions.retrieve(sub_id).cancel_at_period_end is True

    second_host = reload_onto_other_host(page, tab, deployment, first_host)
    expect(card.get_by_text(re.compile(r"^Cancels on "))).to_be_visible(timeout=30_000)
    card.get_by_role("button", name=re.compile("^Resume subscription")).click()
    expect(card.get_by_text(re.compile(r"^Renews on "))).to_be_visible(timeout=30_000)

    reload_onto_other_host(page, tab, deployment, second_host)
    expect(card.get_by_text(re.compile(r"^Renews on "))).to_be_visible(timeout=30_000)
    assert stripe_client(deployment.proxy, tenant).v1.subscriptions.retrieve(sub_id).cancel_at_period_end is False
    # The cancel ran on one host's websocket, the resume on the other's; pages and
    # assets came from both.
    assert {first_host, second_host} == every_host, tab.upstreams
    assert every_host <= set(responses), Counter(responses)


def test_a_webhook_delivered_to_one_host_updates_a_page_on_the_other(
    page: Page, deployment: ManyHosts, hosts_tenant: Tenant
) -> None:
    tenant = hosts_tenant
    tab = TabConnections(page)
    open_portal(page, portal_through_proxy(deployment, tenant))
    page_host = tab.next_upstream(0)
    other = deployment.other_than(page_host)
    with session_scope() as db:  # Stripe delivers this project's events to the other host only
        webhooks.register_endpoint(db, tenant.project_id,
                                   other.url + routes.stripe_webhook_path(tenant.project_id))
    page.evaluate("window.__sameDocument = true")  # gone if anything reloads the page
    canceled = tenant.seeded["subscriptions"][0]

    stripe_client(deployment.proxy, tenant).v1.subscriptions.cancel(canceled)

    card = page.locator(f'[data-subscription-id="{canceled}"]')
    expect(card.get_by_text(re.compile(r"^Canceled on "))).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    assert page.evaluate("window.__sameDocument") is True
    assert tab.upstreams == [page_host], "the page reconnected: it must stay on its first host"
    webhook_path = routes.stripe_webhook_path(tenant.project_id)
    assert webhook_path in other.log_path.read_text()  # the access log of the host it went to
    assert webhook_path not in deployment.other_than(deployment.upstream(other)).log_path.read_text()
    with session_scope() as db:
        status = webhooks.webhook_status(db, tenant.project_id)
    assert status.applied >= 1 and (status.failed, status.retrying) == (0, 0), status


def test_sixty_session_creations_over_both_hosts_share_one_limit(deployment: ManyHosts, hosts_tenant: Tenant) -> None:
    # At once, so the bucket's refill (one token per 3 s at 20/min) cannot add one.
    with httpx.Client() as client, ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda _: create_session(deployment, hosts_tenant, client), range(60)))

    assert Counter(r.status_code for r in answers) == {200: SESSIONS_PER_MINUTE, 429: 60 - SESSIONS_PER_MINUTE}
    assert all(int(r.headers["retry-after"]) >= 1 for r in answers if r.status_code == 429)
    every_host = {deployment.upstream(host) for host in deployment.hosts}
    assert {r.headers[UPSTREAM_HEADER] for r in answers if r.status_code == 200} == every_host
    assert {r.headers[UPSTREAM_HEADER] for r in answers if r.status_code == 429} == every_host


def test_flooding_bad_links_from_one_forwarded_address_limits_that_address_only(deployment: ManyHosts) -> None:
    def bad_link(forwarded_for: str | None) -> httpx.Response:
        headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
        token = "eyJ" + secrets.token_urlsafe(24)  # shaped like a portal token, signed by nobody
        return httpx.get(f"{deployment.proxy.url}{routes.PORTAL_API_PREFIX}/{token}", headers=headers, timeout=30)

    # One after another: a failure is counted after the check that lets it through, so
    # requests in flight together could all pass the last free check.
    flood = 2 * TOKEN_FAILURES_PER_MINUTE
    answers = [bad_link("203.0.113.7") for _ in range(flood)]

    statuses = Counter(r.status_code for r in answers)
    assert statuses[429] == flood - TOKEN_FAILURES_PER_MINUTE and len(statuses) == 2, statuses
    (not_found,) = set(statuses) - {429}
    assert not_found in (401, 404), statuses
    assert {r.headers[UPSTREAM_HEADER] for r in answers} == {deployment.upstream(h) for h in deployment.hosts}
    # Another customer behind the same proxy, and the proxy's own address, are not limited.
    assert bad_link("198.51.100.23").status_code == not_found
    assert bad_link(None).status_code == not_found
