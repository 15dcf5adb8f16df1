"""/metrics (BILLSTACK_METRICS=1): Prometheus text whose series move with what the service
does, labelled by route template (no token or id ever a label); off → 404."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import Session

from api_routes import create_api
from api_routes.fast_paths import FastPaths
from billstack import routes
from billstack.config import reset_settings
from billstack.db import engine_for
from billstack.models import WebhookEvent
from billstack.services import live
from billstack.services.webhooks.events import precise_now
from tests.api.conftest import Tenant

pytestmark = pytest.mark.asyncio


@asynccontextmanager
async def served(**env: str) -> AsyncIterator[httpx.AsyncClient]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        reset_settings()
        app = FastPaths(create_api())
    reset_settings()
    transport = httpx.ASGITransport(app=app, client=("198.51.100.1", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://billstack.test") as client:
        yield client


async def scrape(client: httpx.AsyncClient) -> tuple[str, dict[tuple[str, tuple], float]]:
    response = await client.get(routes.METRICS_PATH)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["cache-control"] == "no-store"
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(response.text) for s in family.samples}
    return response.text, samples


def requests_of(samples: dict, route: str, status: str) -> float:
    return sum(v for (name, labels), v in samples.items()
               if name == "billstack_http_requests_total" and ("route", route) in labels and ("status", status) in labels)


async def test_metrics_are_off_by_default(db_url: str) -> None:
    async with served() as client:
        response = await client.get(routes.METRICS_PATH)
    assert response.status_code == 404


async def test_requests_and_sessions_are_counted_by_route_template(db_url: str, tenant: Tenant) -> None:
    async with served(BILLSTACK_METRICS="1") as client:
        _, before = await scrape(client)
        created = await client.post(tenant.portal_path, headers=tenant.auth, json={"customerId": tenant.customer_id})
        assert created.status_code == 200, created.text
        token = created.json()["token"]
        assert (await client.get(f"{routes.PORTAL_API_PREFIX}/{token}")).status_code in (200, 503)
        assert (await client.get(f"{routes.PORTAL_API_PREFIX}/not-a-token")).status_code == 401
        text, after = await scrape(client)
    assert requests_of(after, routes.PORTAL_SESSIONS_PATH, "200") == requests_of(before, routes.PORTAL_SESSIONS_PATH,
                                                                                  "200") + 1
    assert after[("billstack_portal_sessions_created_total", ())] == before.get(
        ("billstack_portal_sessions_created_total", ()), 0) + 1
    portal_api = routes.PORTAL_API_PREFIX + "/{token}"
    assert requests_of(after, portal_api, "401") == 1
    latency = [v for (name, labels), v in after.items() if name == "billstack_http_request_duration_seconds_count"
               and ("route", routes.PORTAL_SESSIONS_PATH) in labels]
    assert latency == [1.0]
    for secret in (token, "not-a-token", tenant.team_id, tenant.project_id, tenant.customer_id):
        assert secret not in text  # templates only: no token or id is a label


async def test_webhook_queue_depth_lag_and_live_pages_move(db_url: str, tenant: Tenant,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    async with served(BILLSTACK_METRICS="1") as client:
        _, empty = await scrape(client)
        assert empty[("billstack_webhook_queue_depth", ())] == 0
        assert empty[("billstack_webhook_queue_lag_seconds", ())] == 0
        now = precise_now()
        with Session(engine_for(db_url)) as db:
            for n, age in enumerate((90, 30)):
                db.add(WebhookEvent(project_id=tenant.project_id, stripe_event_id=f"evt_{n}", type="invoice.paid",
                                    received_at=now - timedelta(seconds=age), next_attempt_at=now))
            db.add(WebhookEvent(project_id=tenant.project_id, stripe_event_id="evt_done", type="invoice.paid",
                                received_at=now - timedelta(hours=1), processed_at=now, outcome="applied"))
            db.commit()
        monkeypatch.setattr(live.watch, "watched", lambda: 3)
        _, queued = await scrape(client)
    assert queued[("billstack_webhook_queue_depth", ())] == 2  # the processed one is not waiting
    assert 90 <= queued[("billstack_webhook_queue_lag_seconds", ())] < 120
    assert queued[("billstack_live_pages", ())] == 3
