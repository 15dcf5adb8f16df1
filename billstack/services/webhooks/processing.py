"""Processing: claim due events, run their handler, record the outcome or the failure.

Events are claimed with a compare-and-set on `attempts` and a lease on `next_attempt_at`,
so several workers can share the queue, and an event whose worker died is picked up
again once its lease ends (also after a restart: the worker drains due events when it
starts). A failure is recorded in `error` and retried with back-off; after the last
attempt the event stays failed (shown by `billstack webhooks status`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import select

from billstack import log_context
from billstack.db import session_scope
from billstack.errors import BillStackError
from billstack.models import Customer, WebhookEvent
from billstack.services import live
from billstack.services.webhooks.events import precise_now
from billstack.services.webhooks.handlers import process_event

log = logging.getLogger("billstack.webhooks")

# While a worker processes an event nobody else takes it; after this it is due again.
LEASE = timedelta(minutes=2)
# Waits after the 1st, 2nd, … failed attempt; after the last one the event is given up.
RETRY_BACKOFF = tuple(timedelta(seconds=s) for s in (5, 30, 120, 600, 1800, 3600, 3600, 3600))
RETENTION = timedelta(days=30)  # processed events older than this are pruned (Stripe retries ≤ 3 days)


def process_due_events(*, now: datetime | None = None, limit: int | None = None) -> int:
    """Process every due event, oldest first, each in its own transaction; returns how many.

    Safe to run in several processes at once. `now` (tests) fixes the clock for the
    whole run, so an event that fails again is not retried within the same call.
    """
    done = 0
    while limit is None or done < limit:
        event_id = _claim_next(now or precise_now())
        if event_id is None:
            break
        _process_claimed(event_id)
        done += 1
    return done


def _claim_next(now: datetime) -> int | None:
    with session_scope() as db:
        for _ in range(10):  # another worker may win the race for a row: try the next one
            row = db.exec(
                select(WebhookEvent.id, WebhookEvent.attempts)
                .where(WebhookEvent.processed_at.is_(None), WebhookEvent.next_attempt_at <= now)
                .order_by(WebhookEvent.next_attempt_at, WebhookEvent.id)
                .limit(1)
            ).first()
            if row is None:
                return None
            claimed = db.execute(
                sa.update(WebhookEvent.__table__)
                .where(
                    WebhookEvent.__table__.c.id == row.id,
                    WebhookEvent.__table__.c.attempts == row.attempts,
                    WebhookEvent.__table__.c.processed_at.is_(None),
                )
                .values(attempts=row.attempts + 1, next_attempt_at=now + LEASE)
            )
            db.commit()
            if claimed.rowcount == 1:
                return row.id
    return None


def _process_claimed(event_id: int) -> None:
    with log_context.fresh():  # this worker thread's next event is another project's
        _process_claimed_event(event_id)


def _process_claimed_event(event_id: int) -> None:
    try:
        with session_scope() as db:
            event = db.get(WebhookEvent, event_id)
            if event is None or event.processed_at is not None:
                return
            log_context.learn(project=event.project_id)
            result = process_event(db, event)
            event.processed_at, event.outcome = precise_now(), result.outcome
            event.error, event.next_attempt_at = None, None
            db.add(event)
            db.flush()
            versions = {cid: db.get(Customer, cid).mirror_version for cid in result.changed}
    except Exception as exc:  # every failure is recorded and retried
        _record_failure(event_id, exc)
        return
    for customer_id, version in versions.items():
        live.watch.publish(customer_id, version)


def _record_failure(event_id: int, exc: Exception) -> None:
    if isinstance(exc, BillStackError):
        message = f"{exc.code}: {exc.message}"
        log.warning("webhook event %s failed: %s", event_id, message)
    else:
        message = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        log.exception("webhook event %s failed", event_id)
    try:
        with session_scope() as db:
            event = db.get(WebhookEvent, event_id)
            if event is None:
                return
            given_up = event.attempts > len(RETRY_BACKOFF)
            event.error = message[:2000]
            event.next_attempt_at = None if given_up else precise_now() + RETRY_BACKOFF[event.attempts - 1]
            db.add(event)
    except Exception:  # the lease runs out and the event is retried anyway
        log.exception("could not record the failure of webhook event %s", event_id)


def prune_processed(*, now: datetime | None = None) -> int:
    """Drop processed events older than RETENTION (long past Stripe's retry window)."""
    cutoff = (now or precise_now()) - RETENTION
    table = WebhookEvent.__table__
    with session_scope() as db:
        result = db.execute(sa.delete(table).where(table.c.processed_at.is_not(None), table.c.processed_at < cutoff))
        return result.rowcount or 0
