"""The specification's "Generate a Portal Session" example, literally, against the real server."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import httpx

from tests.e2e.conftest import LiveServer
from tests.e2e.seeding import seed_tenant


def test_spec_example_returns_the_four_keys_against_the_served_app(live_db: LiveServer) -> None:
    tenant = seed_tenant(live_db.emulator_url)
    BILLSTACK_URL, TEAM_ID, PROJECT_ID, API_KEY = live_db.url, tenant.team_id, tenant.project_id, tenant.api_key

    response = httpx.post(
        f"{BILLSTACK_URL}/api/billstack/teams/{TEAM_ID}/projects/{PROJECT_ID}/portal",
        headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
        json={"customerId": tenant.customer_id, "ttlMs": 3600000},
    )
    asked_at = datetime.now(timezone.utc)

    assert response.status_code == 200, response.text
    body = response.json()
    assert {"sessionId", "token", "portalUrl", "expiresAt"} <= set(body)
    assert re.fullmatch(r"portal_sess_[A-Za-z0-9]+", body["sessionId"])
    assert body["portalUrl"] == f"{BILLSTACK_URL}/portal/{body['token']}"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["expiresAt"])
    expires = datetime.strptime(body["expiresAt"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert abs(expires - (asked_at + timedelta(milliseconds=3600000))) < timedelta(seconds=5)
    # Security headers come through the Reflex-mounted API as well.
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_portal_page_is_served_with_security_headers(live_db: LiveServer) -> None:
    tenant = seed_tenant(live_db.emulator_url)
    session = httpx.post(
        f"{live_db.url}/api/billstack/teams/{tenant.team_id}/projects/{tenant.project_id}/portal",
        headers={"Authorization": f"Bearer {tenant.api_key}"},
        json={"customerId": tenant.customer_id},
    ).json()
    page = httpx.get(session["portalUrl"])
    assert page.status_code == 200
    assert "<html" in page.text.lower()
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    # The HTML shell carries no customer data: it arrives over the websocket after validation.
    assert "jamie@example.com" not in page.text
