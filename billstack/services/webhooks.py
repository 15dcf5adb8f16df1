"""Stripe webhooks: verify and record on receipt, bring the mirror up to date off the request path.

Receipt (`receive_event`, called by api_routes/webhooks.py): the `Stripe-Signature`
header is checked with the project's signing secret (`stripe_gateway.verify_webhook_signature`,
5-minute tolerance); anything unverifiable is a 400 `webhook_signature_invalid` with no
side effect. The verified body is then checked to be a Stripe event whose every stored
value fits its column (`parse_event`); one that is not is a 400 `webhook_payload_invalid`,
also before anything is written. A valid event becomes one `webhook_event` row (a
duplicate delivery hits the unique (project, event id) and is acknowledged without a
second row), and the answer goes back at once.

Processing (`process_due_events`, run by `WebhookWorker`, one daemon thread per server
process): an event is only a signal. Its object is re-fetched from Stripe and the
mirror written from that, so the mirror always converges on Stripe's current state
whatever order deliveries arrive in, and a duplicate or stale event changes nothing.
Only customers linked to the project (`pc_…`) are mirrored; other events are marked
ignored without a Stripe call. Events are claimed with a compare-and-set on
`attempts` and a lease on `next_attempt_at`, so several workers can share the queue,
and an event whose worker died is picked up again once its lease ends (also after a
restart: the worker drains due events when it starts). A failure is recorded in
`error` and retried with back-off; after the last attempt the event stays failed
(shown by `billstack webhooks status`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from billstack import routes, stripe_gateway
from billstack.clock import from_unix
from billstack.config import get_settings
from billstack.db import session_scope
from billstack.errors import BillStackError, invalid
from billstack.models import Customer, Invoice, PaymentMethod, Project, Subscription, WebhookEvent
from billstack.secrets_box import seal, unseal
from billstack.services import live, sync
from billstack.services.sync import id_of
from billstack.services.tenants import get_project, record_audit

log = logging.getLogger("billstack.webhooks")

SIGNATURE_TOLERANCE_S = 300
# The events `billstack webhooks register` subscribes to: every one that can change what
# the portal shows. (`invoice.upcoming` has no invoice id, the reminders change nothing.)
HANDLED_EVENTS = (
    "customer.updated",
    "customer.deleted",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.paused",
    "customer.subscription.resumed",
    "customer.subscription.pending_update_applied",
    "customer.subscription.pending_update_expired",
    "invoice.created",
    "invoice.deleted",
    "invoice.finalized",
    "invoice.finalization_failed",
    "invoice.marked_uncollectible",
    "invoice.paid",
    "invoice.payment_action_required",
    "invoice.payment_failed",
    "invoice.payment_succeeded",
    "invoice.sent",
    "invoice.updated",
    "invoice.voided",
    "payment_method.attached",
    "payment_method.detached",
    "payment_method.updated",
    "payment_method.automatically_updated",
    "checkout.session.completed",
)
# While a worker processes an event nobody else takes it; after this it is due again.
LEASE = timedelta(minutes=2)
# Waits after the 1st, 2nd, … failed attempt; after the last one the event is given up.
RETRY_BACKOFF = tuple(timedelta(seconds=s) for s in (5, 30, 120, 600, 1800, 3600, 3600, 3600))
RETENTION = timedelta(days=30)  # processed events older than this are pruned (Stripe retries ≤ 3 days)

APPLIED, UNCHANGED = "applied", "unchanged"
IGNORED_CUSTOMER, IGNORED_TYPE = "ignored_customer", "ignored_type"

_REJECTED_MESSAGE = "Webhook signature verification failed."
EVENT_ID_PREFIX = "evt_"
_EVENT_COLUMNS = WebhookEvent.__table__.c  # their lengths bound what a delivery may carry


def _now() -> datetime:
    """Sub-second precision (unlike clock.utcnow): lag is measured in these, and a just-received
    event must be due at once."""
    return datetime.now(UTC)


def rejected() -> BillStackError:
    """One answer for every unverifiable delivery, so it tells a prober nothing (the log says why)."""
    return invalid(_REJECTED_MESSAGE, code="webhook_signature_invalid")


def malformed(reason: str) -> BillStackError:
    """A verified delivery that is not a usable Stripe event. Its sender holds the signing
    secret, so unlike `rejected()` the answer may say what is wrong."""
    return invalid(f"The webhook body is not a valid Stripe event: {reason}.", code="webhook_payload_invalid")


# --- receipt -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    event_id: str
    type: str
    duplicate: bool


@dataclass(frozen=True)
class ParsedEvent:
    """What is stored of a delivery, each value already checked to fit its column."""

    id: str
    type: str
    created: datetime
    object_id: str | None
    customer_id: str | None


def receive_event(
    db: Session, project_id: str, payload: bytes, signature: str | None, *, now: datetime | None = None
) -> Received:
    """Verify a delivery, check it is a Stripe event, and record it (once).

    Raises the 400 of `rejected()` when unverifiable and of `malformed()` when verified but
    not a usable event; either way before anything is written.
    """
    project = _project_with_secret(db, project_id)
    try:
        stripe_gateway.verify_webhook_signature(
            payload, signature, unseal(project.webhook_secret_sealed), tolerance_s=SIGNATURE_TOLERANCE_S
        )
    except stripe_gateway.WebhookSignatureInvalid as exc:
        log.warning("webhook for %s refused: %s", project.id, exc)
        raise rejected() from None
    try:
        event = parse_event(payload)
    except BillStackError as exc:
        log.warning("webhook for %s refused: %s", project.id, exc.message)
        raise
    return _record(db, project, event, now or _now())


def _project_with_secret(db: Session, project_id: str) -> Project:
    # An id no project could have is not looked up (PostgreSQL would refuse a NUL in the query).
    storable = len(project_id) <= _max_length(Project.__table__.c.id) and _printable_ascii(project_id)
    project = db.get(Project, project_id) if storable else None
    if project is None or not project.webhook_secret_sealed:
        log.warning("webhook for %r refused: unknown project or no webhook secret configured",
                    project_id[:40])
        raise rejected()
    return project


def parse_event(payload: bytes) -> ParsedEvent:
    """The verified body as the event to record; raises the 400 of `malformed()` otherwise.

    Every value that is stored is checked here against its column, so the database never
    has to refuse one (PostgreSQL would, with a 500, where SQLite would store it).
    """
    body = _json_object(payload)
    if body.get("object") != "event":
        raise malformed('"object" is not "event"')
    event_id = _stored_text(body.get("id"), "id", _EVENT_COLUMNS.stripe_event_id)
    if not event_id.startswith(EVENT_ID_PREFIX):
        raise malformed(f'"id" does not start with {EVENT_ID_PREFIX}')
    event_type = _stored_text(body.get("type"), "type", _EVENT_COLUMNS.type)
    data = _object_at(body.get("data"), "data")
    obj = _object_at(data.get("object"), "data.object")
    previous = data.get("previous_attributes")  # update events only
    previous_attributes = {} if previous is None else _object_at(previous, "data.previous_attributes")
    return ParsedEvent(
        id=event_id,
        type=event_type,
        created=_created(body.get("created")),
        object_id=_optional_stored_text(obj.get("id"), "data.object.id", _EVENT_COLUMNS.object_id),
        customer_id=_customer_of(event_type, obj, previous_attributes),
    )


def _json_object(payload: bytes) -> Mapping[str, Any]:
    try:
        body = json.loads(payload)
    except RecursionError:  # deeper than Python's parser goes (Stripe nests a few levels)
        raise malformed("it is nested too deeply") from None
    except ValueError:  # not JSON, or a number with more digits than Python converts
        raise malformed("it is not readable JSON") from None
    if not isinstance(body, dict):
        raise malformed("it is not a JSON object")
    return body


def _object_at(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise malformed(f'"{path}" is not an object')
    return value


def _max_length(column: sa.Column[Any]) -> int:
    """A string column's declared length: the one source of each limit checked here."""
    length = getattr(column.type, "length", None)
    if not isinstance(length, int):
        raise TypeError(f"{column} has no length")
    return length


def _printable_ascii(value: str) -> bool:
    """What every Stripe id and event type is; it also keeps out the NUL and lone surrogates
    the databases refuse."""
    return value.isascii() and value.isprintable()


def _stored_text(value: Any, path: str, column: sa.Column[Any]) -> str:
    if not isinstance(value, str) or not value:
        raise malformed(f'"{path}" is not a non-empty string')
    if len(value) > _max_length(column):
        raise malformed(f'"{path}" is longer than {_max_length(column)} characters')
    if not _printable_ascii(value):
        raise malformed(f'"{path}" is not printable ASCII')
    return value


def _optional_stored_text(value: Any, path: str, column: sa.Column[Any]) -> str | None:
    return None if value is None else _stored_text(value, path, column)


def _created(value: Any) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int):  # bool is an int to Python, not to Stripe
        raise malformed('"created" is not an integer')
    try:
        return from_unix(value)
    except ValueError as exc:
        raise malformed(f'"created" is out of range: {exc}') from None


def _record(db: Session, project: Project, event: ParsedEvent, now: datetime) -> Received:
    handled = _kind(event.type) is not None and event.object_id is not None
    values = {
        "project_id": project.id,
        "stripe_event_id": event.id,
        "type": event.type,
        "stripe_created": event.created,
        "object_id": event.object_id if handled else None,
        "stripe_customer_id": event.customer_id if handled else None,
        "received_at": now,
        "attempts": 0,
        # An event about something the portal doesn't show is done on arrival.
        "next_attempt_at": now if handled else None,
        "processed_at": None if handled else now,
        "outcome": None if handled else IGNORED_TYPE,
    }
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    table = WebhookEvent.__table__
    stmt = (
        insert(table).values(values)
        .on_conflict_do_nothing(index_elements=["project_id", "stripe_event_id"])
        .returning(table.c.id)
    )
    duplicate = db.execute(stmt).first() is None  # race-safe: the unique key decides
    return Received(event_id=event.id, type=event.type, duplicate=duplicate)


def _kind(event_type: str) -> str | None:
    if event_type.startswith("customer.subscription."):
        return "subscription"
    if event_type.startswith("invoice.") and event_type != "invoice.upcoming":
        return "invoice"
    if event_type.startswith("payment_method."):
        return "payment_method"
    if event_type in ("customer.created", "customer.updated", "customer.deleted"):
        return "customer"
    if event_type == "checkout.session.completed":
        return "checkout_session"
    return None


def _customer_of(event_type: str, obj: Mapping[str, Any], previous: Mapping[str, Any]) -> str | None:
    """The Stripe customer an event is about (a detached card names it only in previous_attributes)."""
    column = _EVENT_COLUMNS.stripe_customer_id
    if _kind(event_type) == "customer":
        return _optional_stored_text(obj.get("id"), "data.object.id", column)
    found = _optional_stored_text(id_of(obj.get("customer")), "data.object.customer", column)
    if found is None:
        found = _optional_stored_text(
            id_of(previous.get("customer")), "data.previous_attributes.customer", column
        )
    return found


# --- processing ------------------------------------------------------------------------------


@dataclass
class _Result:
    outcome: str
    changed: set[str] = field(default_factory=set)  # customer ids whose mirror changed


def process_due_events(*, now: datetime | None = None, limit: int | None = None) -> int:
    """Process every due event, oldest first, each in its own transaction; returns how many.

    Safe to run in several processes at once. `now` (tests) fixes the clock for the
    whole run, so an event that fails again is not retried within the same call.
    """
    done = 0
    while limit is None or done < limit:
        event_id = _claim_next(now or _now())
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
    try:
        with session_scope() as db:
            event = db.get(WebhookEvent, event_id)
            if event is None or event.processed_at is not None:
                return
            result = process_event(db, event)
            event.processed_at, event.outcome = _now(), result.outcome
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
            event.next_attempt_at = None if given_up else _now() + RETRY_BACKOFF[event.attempts - 1]
            db.add(event)
    except Exception:  # the lease runs out and the event is retried anyway
        log.exception("could not record the failure of webhook event %s", event_id)


def process_event(db: Session, event: WebhookEvent) -> _Result:
    """Bring the mirror up to date for what `event` is about, from Stripe's current state."""
    project = db.get(Project, event.project_id)
    kind = _kind(event.type)
    if project is None or kind is None or not event.object_id:
        return _Result(IGNORED_TYPE)
    return _HANDLERS[kind](db, project, event)


def _known_customer(db: Session, project: Project, stripe_customer_id: str | None) -> Customer | None:
    if not stripe_customer_id:
        return None
    return db.exec(
        select(Customer).where(
            Customer.project_id == project.id,
            Customer.stripe_customer_id == stripe_customer_id,
            Customer.removed_at.is_(None),
        )
    ).first()


def _result(changed: bool, customer: Customer) -> _Result:
    return _Result(APPLIED, {customer.id}) if changed else _Result(UNCHANGED)


def _on_subscription(db: Session, project: Project, event: WebhookEvent) -> _Result:
    return _refetch_one(
        db, project, event, Subscription, stripe_gateway.retrieve_subscription, sync.apply_subscription
    )


def _on_invoice(db: Session, project: Project, event: WebhookEvent) -> _Result:
    return _refetch_one(db, project, event, Invoice, stripe_gateway.retrieve_invoice, sync.apply_invoice)


def _refetch_one(
    db: Session,
    project: Project,
    event: WebhookEvent,
    model: type,
    retrieve: Callable[[Project, str], dict[str, Any]],
    apply: Callable[..., bool],
) -> _Result:
    customer = _known_customer(db, project, event.stripe_customer_id)
    if customer is None:
        return _Result(IGNORED_CUSTOMER)
    sync.lock_customer(db, customer)  # before the read, so no older read can be written after ours
    try:
        obj = retrieve(project, event.object_id)
    except BillStackError as exc:
        if exc.status != 404:
            raise
        return _result(sync.forget(db, project, customer, model, event.object_id), customer)
    if id_of(obj.get("customer")) != customer.stripe_customer_id:
        return _Result(IGNORED_CUSTOMER)
    return _result(apply(db, project, customer, obj), customer)


def _on_payment_method(db: Session, project: Project, event: WebhookEvent) -> _Result:
    """A card event re-reads the whole card list (and default) of whoever had or has the card."""
    customers = {c.id: c for c in [_known_customer(db, project, event.stripe_customer_id), _card_owner(db, project, event.object_id)] if c}
    if not customers:
        return _Result(IGNORED_CUSTOMER)
    changed = {c.id for c in customers.values() if _refresh_cards(db, project, c)}
    return _Result(APPLIED, changed) if changed else _Result(UNCHANGED)


def _card_owner(db: Session, project: Project, payment_method_id: str | None) -> Customer | None:
    row = db.exec(
        select(PaymentMethod).where(
            PaymentMethod.project_id == project.id, PaymentMethod.stripe_id == payment_method_id
        )
    ).first()
    return db.get(Customer, row.customer_id) if row is not None else None


def _refresh_cards(db: Session, project: Project, customer: Customer) -> bool:
    sync.lock_customer(db, customer)
    stripe_customer = stripe_gateway.retrieve_customer_data(project, customer.stripe_customer_id)
    if stripe_customer.get("deleted"):
        methods: list[dict[str, Any]] = []
    else:
        methods = stripe_gateway.list_card_payment_methods(project, customer.stripe_customer_id)
    return sync.replace_payment_methods(db, project, customer, stripe_customer, methods) > 0


def _on_customer(db: Session, project: Project, event: WebhookEvent) -> _Result:
    customer = _known_customer(db, project, event.object_id)
    if customer is None:
        return _Result(IGNORED_CUSTOMER)
    sync.lock_customer(db, customer)
    stripe_customer = stripe_gateway.retrieve_customer_data(project, customer.stripe_customer_id)
    if stripe_customer.get("deleted"):  # nothing of theirs is billable any more: empty the mirror
        written = sync.sync_customer(db, project, customer, stripe_customer=stripe_customer) > 0
        return _result(written, customer)
    return _result(sync.apply_customer(db, customer, stripe_customer), customer)


def _on_checkout_session(db: Session, project: Project, event: WebhookEvent) -> _Result:
    """A completed setup-mode Checkout added a card: refresh the customer's cards and default."""
    session = stripe_gateway.retrieve_checkout_session(project, event.object_id)
    if session.get("mode") != "setup":
        return _Result(IGNORED_TYPE)
    customer = _known_customer(db, project, id_of(session.get("customer")))
    if customer is None:
        return _Result(IGNORED_CUSTOMER)
    return _result(_refresh_cards(db, project, customer), customer)


_HANDLERS: dict[str, Callable[[Session, Project, WebhookEvent], _Result]] = {
    "subscription": _on_subscription,
    "invoice": _on_invoice,
    "payment_method": _on_payment_method,
    "customer": _on_customer,
    "checkout_session": _on_checkout_session,
}


def prune_processed(*, now: datetime | None = None) -> int:
    """Drop processed events older than RETENTION (long past Stripe's retry window)."""
    cutoff = (now or _now()) - RETENTION
    table = WebhookEvent.__table__
    with session_scope() as db:
        result = db.execute(sa.delete(table).where(table.c.processed_at.is_not(None), table.c.processed_at < cutoff))
        return result.rowcount or 0


# --- the worker thread ---------------------------------------------------------------------


class WebhookWorker:
    """One daemon thread per process draining due events.

    Woken at once by each receipt (`notify`); otherwise it looks every `poll_interval`
    seconds, which picks up retries that fell due and events another process left
    behind, and drains the backlog when the server starts.
    """

    def __init__(self, poll_interval: float = 5.0, prune_every: timedelta = timedelta(hours=1)) -> None:
        self.poll_interval = poll_interval
        self.prune_every = prune_every
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="billstack-webhooks", daemon=True)
            self._thread.start()
        log.info("webhook worker started")

    def notify(self) -> None:
        self.start()
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        self._stopping.set()
        self._wake.set()
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        next_prune = _now()
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                process_due_events()
                if _now() >= next_prune:
                    prune_processed()
                    next_prune = _now() + self.prune_every
            except Exception:  # e.g. the database is briefly away: try again on the next pass
                log.exception("webhook worker: processing pass failed")
            self._wake.wait(self.poll_interval)


worker = WebhookWorker()


@asynccontextmanager
async def worker_lifespan() -> AsyncIterator[None]:
    """Server lifespan (registered in billstack.py): run the worker, so a backlog left by a
    restart is processed even if no new webhook arrives."""
    worker.start()
    try:
        yield
    finally:
        await asyncio.to_thread(worker.stop)


# --- operator setup and health -------------------------------------------------------------


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
