"""Receipt: verify a delivery, check it is a Stripe event, and record it once.

The `Stripe-Signature` header is checked with the project's signing secret
(`stripe_gateway.verify_webhook_signature`, 5-minute tolerance); anything unverifiable is
a 400 `webhook_signature_invalid` with no side effect. The verified body is then checked
to be a Stripe event whose every stored value fits its column (`parse_event`); one that
is not is a 400 `webhook_payload_invalid`, also before anything is written. A valid event
becomes one `webhook_event` row (a duplicate delivery hits the unique (project, event id)
and is acknowledged without a second row).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from billstack import stripe_gateway
from billstack.clock import from_unix
from billstack.errors import BillStackError, invalid
from billstack.models import Project, WebhookEvent
from billstack.secrets_box import unseal
from billstack.services.sync import id_of
from billstack.services.webhooks.events import IGNORED_TYPE, kind_of, precise_now

log = logging.getLogger("billstack.webhooks")

SIGNATURE_TOLERANCE_S = 300
_REJECTED_MESSAGE = "Webhook signature verification failed."
EVENT_ID_PREFIX = "evt_"
_EVENT_COLUMNS = WebhookEvent.__table__.c  # their lengths bound what a delivery may carry


def rejected() -> BillStackError:
    """One answer for every unverifiable delivery, so it tells a prober nothing (the log says why)."""
    return invalid(_REJECTED_MESSAGE, code="webhook_signature_invalid")


def malformed(reason: str) -> BillStackError:
    """A verified delivery that is not a usable Stripe event. Its sender holds the signing
    secret, so unlike `rejected()` the answer may say what is wrong."""
    return invalid(f"The webhook body is not a valid Stripe event: {reason}.", code="webhook_payload_invalid")


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
    return _record(db, project, event, now or precise_now())


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
    handled = kind_of(event.type) is not None and event.object_id is not None
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


def _customer_of(event_type: str, obj: Mapping[str, Any], previous: Mapping[str, Any]) -> str | None:
    """The Stripe customer an event is about (a detached card names it only in previous_attributes)."""
    column = _EVENT_COLUMNS.stripe_customer_id
    if kind_of(event_type) == "customer":
        return _optional_stored_text(obj.get("id"), "data.object.id", column)
    found = _optional_stored_text(id_of(obj.get("customer")), "data.object.customer", column)
    if found is None:
        found = _optional_stored_text(
            id_of(previous.get("customer")), "data.previous_attributes.customer", column
        )
    return found

