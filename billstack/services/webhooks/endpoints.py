"""Operator setup and health: register the project's endpoint in Stripe, and its status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlmodel import Session

from billstack import routes, stripe_gateway
from billstack.config import get_settings
from billstack.errors import BillStackError, invalid
from billstack.models import WebhookEvent
from billstack.secrets_box import seal
from billstack.services.tenants import get_project, record_audit
from billstack.services.webhooks.events import (
    APPLIED,
    HANDLED_EVENTS,
    IGNORED_CUSTOMER,
    IGNORED_TYPE,
    UNCHANGED,
)


def default_url(project_id: str) -> str:
    return get_settings().resolved_public_url + routes.stripe_webhook_path(project_id)


@dataclass(frozen=True)
class Registration:
    endpoint_id: str
    url: str
    events: tuple[str, ...]
    replaced: str | None  # the previous endpoint BillStack had registered (deleted in Stripe)
    replace_error: str | None  # why deleting it failed, if it did


def register_endpoint(db: Session, project_id: str, url: str | None = None) -> Registration:
    """Create the project's webhook endpoint in Stripe and keep its signing secret (sealed).

    Registering again replaces the endpoint BillStack created before (a new secret
    means the old endpoint's deliveries would no longer verify).
    """
    project = get_project(db, project_id)
    url = _check_endpoint_url((url or default_url(project.id)).strip())
    created = stripe_gateway.create_webhook_endpoint(
        project, url=url, events=list(HANDLED_EVENTS), key=stripe_gateway.idempotency_key()
    )
    secret = created.get("secret")
    if not isinstance(secret, str) or not secret.startswith("whsec_"):
        raise BillStackError("Stripe did not return the endpoint's signing secret.", code="stripe_invalid_response",
                             type="api_error", status=502)
    previous = project.webhook_endpoint_id
    project.webhook_secret_sealed = seal(secret)
    project.webhook_endpoint_id = created["id"]
    db.add(project)
    record_audit(db, "webhook.registered", project_id=project.id, endpoint=created["id"], url=url)
    replace_error = None
    if previous and previous != created["id"]:
        try:
            stripe_gateway.delete_webhook_endpoint(project, previous)
        except BillStackError as exc:
            if exc.status != 404:  # already gone is what we wanted
                replace_error = exc.message
    db.flush()
    return Registration(created["id"], url, HANDLED_EVENTS, previous, replace_error)


def _check_endpoint_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 2000:
        raise invalid(f"url must be an http(s) URL, got {url!r}.", param="url")
    return url


@dataclass(frozen=True)
class Failure:
    stripe_event_id: str
    type: str
    attempts: int
    error: str
    received_at: datetime
    next_attempt_at: datetime | None  # None: given up


@dataclass(frozen=True)
class WebhookStatus:
    project_id: str
    secret_set: bool
    endpoint_id: str | None
    received: int
    applied: int
    unchanged: int
    ignored: int
    pending: int  # waiting for their first attempt (or being processed)
    retrying: int
    failed: int  # given up
    last_received_at: datetime | None
    last_type: str | None
    lag_avg_s: float | None  # received → processed, over the last LAG_SAMPLE processed events
    lag_max_s: float | None
    oldest_unprocessed_at: datetime | None
    failures: list[Failure]


LAG_SAMPLE = 100
FAILURES_SHOWN = 10


def webhook_status(db: Session, project_id: str) -> WebhookStatus:
    project = get_project(db, project_id)
    table = WebhookEvent.__table__
    mine = table.c.project_id == project.id
    outcomes = dict(
        db.execute(sa.select(table.c.outcome, sa.func.count()).where(mine, table.c.processed_at.is_not(None))
                   .group_by(table.c.outcome)).all()
    )
    unprocessed = table.c.processed_at.is_(None)
    pending = _count(db, mine, unprocessed, table.c.error.is_(None))
    retrying = _count(db, mine, unprocessed, table.c.error.is_not(None), table.c.next_attempt_at.is_not(None))
    failed = _count(db, mine, unprocessed, table.c.next_attempt_at.is_(None))
    last = db.execute(sa.select(table.c.received_at, table.c.type).where(mine)
                      .order_by(table.c.received_at.desc(), table.c.id.desc()).limit(1)).first()
    lags = [
        (row.processed_at - row.received_at).total_seconds()
        for row in db.execute(
            sa.select(table.c.received_at, table.c.processed_at)
            .where(mine, table.c.processed_at.is_not(None), table.c.outcome != IGNORED_TYPE)
            .order_by(table.c.processed_at.desc()).limit(LAG_SAMPLE)
        )
    ]
    oldest = db.execute(sa.select(sa.func.min(table.c.received_at)).where(mine, unprocessed)).scalar()
    failures = [
        Failure(row.stripe_event_id, row.type, row.attempts, row.error, row.received_at, row.next_attempt_at)
        for row in db.execute(
            sa.select(table).where(mine, unprocessed, table.c.error.is_not(None))
            .order_by(table.c.received_at.desc()).limit(FAILURES_SHOWN)
        )
    ]
    return WebhookStatus(
        project_id=project.id,
        secret_set=bool(project.webhook_secret_sealed),
        endpoint_id=project.webhook_endpoint_id,
        received=sum(outcomes.values()) + pending + retrying + failed,
        applied=outcomes.get(APPLIED, 0),
        unchanged=outcomes.get(UNCHANGED, 0),
        ignored=outcomes.get(IGNORED_CUSTOMER, 0) + outcomes.get(IGNORED_TYPE, 0),
        pending=pending,
        retrying=retrying,
        failed=failed,
        last_received_at=last.received_at if last else None,
        last_type=last.type if last else None,
        lag_avg_s=round(sum(lags) / len(lags), 3) if lags else None,
        lag_max_s=max(lags) if lags else None,
        oldest_unprocessed_at=oldest,
        failures=failures,
    )


def _count(db: Session, *conditions: Any) -> int:
    return db.execute(sa.select(sa.func.count()).select_from(WebhookEvent.__table__).where(*conditions)).scalar_one()
