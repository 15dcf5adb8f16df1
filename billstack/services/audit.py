"""Audit trail: who did what to which project, customer and session, from where.

The one owner of the audit row's shape: `row()` gives its column values, `record()`
adds it to the caller's unit of work through the ORM (so an action and its audit row
commit or roll back together), and `INSERT_SQL` writes the same row on the raw-SQL fast
path of session creation. A new column is added here, in `COLUMNS` and `row()`.
Never put secrets (API keys, tokens) in `detail`.

Portal actions: each writes one row through `record_portal` in its own unit of work when
it succeeds. One that fails writes one row too, with outcome `failed` (Stripe refused or
an error) or `denied` (our own rules: a feature off, another customer's object, a card in
use): the service names what it tries first (`attempt`), and `failures_recorded` (around
every portal call, services/portal_calls.py) writes it in a unit of work of its own after
the action's has rolled back.

Reading and forgetting: `list_events` pages a project's events (the CLI's `billstack audit
list`, the API's audit-events route); `prune` deletes those older than
BILLSTACK_AUDIT_RETENTION_DAYS (the webhook worker's hourly pass, `billstack audit prune`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlmodel import Session, select

from billstack.clock import to_iso_z, utcnow
from billstack.config import get_settings
from billstack.db import session_scope
from billstack.errors import BillStackError, invalid, not_found
from billstack.models import AuditEvent, Project

if TYPE_CHECKING:  # sessions imports this module: the context is only a type here
    from billstack.services.sessions import PortalContext

_DETAIL_MAX = 4000
_CLIENT_IP_MAX = 64
_USER_AGENT_MAX = 512
_STRIPE_ID_MAX = 255
OUTCOME_OK = "ok"
OUTCOME_FAILED = "failed"  # the action was tried and did not happen (Stripe refused, an error)
OUTCOME_DENIED = "denied"  # the action was not allowed (a feature off, another customer's object)
OUTCOMES = (OUTCOME_OK, OUTCOME_FAILED, OUTCOME_DENIED)
# A refusal by BillStack's own rules: a feature turned off (403), an object that is not the
# customer's (404), a state that forbids it, such as the card a subscription is charged to (409).
DENIED_STATUSES = (403, 404, 409)

# Every action a customer can take in the portal, each with the Stripe object it touched.
PORTAL_ACTIONS = (
    "subscription.cancel_scheduled",  # sub_…
    "subscription.resumed",  # sub_…
    "subscription.plan_changed",  # sub_…
    "subscription.plan_change_scheduled",  # sub_… (applies at the period end)
    "subscription.scheduled_change_dropped",  # sub_… ("Keep current plan")
    "subscription.canceled",  # sub_… (ended now: the project's cancel mode is immediately)
    "subscription.retention_accepted",  # sub_… (detail: the coupon applied instead of cancelling)
    "subscription.paused",  # sub_… (payments paused: Stripe's pause_collection)
    "subscription.unpaused",  # sub_… (payments resumed)
    "subscription.promotion_code_applied",  # sub_… (detail: the promo_… redeemed)
    "payment_method.checkout_started",  # cs_… (the Checkout that collects a card)
    "payment_method.added",  # pm_… (back from Checkout: the new card, made the default)
    "payment_method.default_changed",  # pm_…
    "payment_method.removed",  # pm_…
    "customer.details_updated",  # cus_…
    "customer.tax_id_added",  # txi_… (cus_… when it failed)
    "customer.tax_id_removed",  # txi_…
)

LIST_LIMIT_DEFAULT = 25
LIST_LIMIT_MAX = 100
PRUNE_BATCH = 1000
ACTION_MAX = 64
ID_TEXT_MAX = 40  # BillStack ids (pc_…): the customer_id column's size
ID_MAX = 2**31 - 1  # the id column is a 32-bit INTEGER on PostgreSQL
log = logging.getLogger("billstack.audit")
# Ids that have their own column; any other keyword of `record_action` goes to `detail`.
_ID_COLUMNS = ("customer_id", "session_id", "api_key_id")
COLUMNS = ("project_id", "action", *_ID_COLUMNS, "client_ip", "user_agent", "stripe_object_id", "outcome",
           "detail", "created_at")
# sqlite3 takes :name as written; the caller rewrites it for psycopg.
INSERT_SQL = f"INSERT INTO audit_event ({', '.join(COLUMNS)}) VALUES ({', '.join(':' + c for c in COLUMNS)})"
# json.dumps builds a new encoder for every call with options; this one is built once.
_DETAIL_JSON = json.JSONEncoder(separators=(",", ":"), sort_keys=True, default=str)


def row(
    action: str,
    *,
    project_id: str | None,
    customer_id: str | None = None,
    session_id: str | None = None,
    api_key_id: str | None = None,
    client_ip: str | None = None,
    user_agent: str | None = None,
    stripe_object_id: str | None = None,
    outcome: str = OUTCOME_OK,
    detail: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The audit row's column values, keyed by `COLUMNS` (also the SQL parameter names)."""
    return {
        "project_id": project_id,
        "action": action,
        "customer_id": customer_id,
        "session_id": session_id,
        "api_key_id": api_key_id,
        "client_ip": (client_ip or None) and client_ip[:_CLIENT_IP_MAX],
        "user_agent": (user_agent or None) and user_agent[:_USER_AGENT_MAX],
        "stripe_object_id": (stripe_object_id or None) and stripe_object_id[:_STRIPE_ID_MAX],
        "outcome": outcome,
        "detail": detail_text(detail),
        "created_at": now or utcnow(),
    }


def detail_text(detail: dict[str, Any] | None) -> str | None:
    """`detail` as compact, sorted JSON; only its keys when it would not fit the column."""
    if not detail:
        return None
    text = _DETAIL_JSON.encode(detail)
    if len(text) > _DETAIL_MAX:
        text = json.dumps({"truncated": True, "keys": sorted(detail)})[:_DETAIL_MAX]
    return text


def record(
    db: Session,
    action: str,
    *,
    project_id: str | None,
    customer_id: str | None = None,
    session_id: str | None = None,
    api_key_id: str | None = None,
    client_ip: str | None = None,
    user_agent: str | None = None,
    stripe_object_id: str | None = None,
    outcome: str = OUTCOME_OK,
    detail: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> AuditEvent:
    event = AuditEvent(
        **row(
            action,
            project_id=project_id,
            customer_id=customer_id,
            session_id=session_id,
            api_key_id=api_key_id,
            client_ip=client_ip,
            user_agent=user_agent,
            stripe_object_id=stripe_object_id,
            outcome=outcome,
            detail=detail,
            now=now,
        )
    )
    db.add(event)
    return event


def record_portal(
    db: Session,
    ctx: PortalContext,
    action: str,
    *,
    stripe_object_id: str | None = None,
    outcome: str = OUTCOME_OK,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """A customer's action in the portal: project, customer, session, address and user agent
    come from the validated context."""
    return record(
        db, action, project_id=ctx.project.id, customer_id=ctx.customer.id, session_id=ctx.session.id,
        client_ip=ctx.client.ip, user_agent=ctx.client.user_agent, stripe_object_id=stripe_object_id,
        outcome=outcome, detail=detail,
    )


def record_action(db: Session, action: str, *, project_id: str | None = None, **detail: object) -> AuditEvent:
    """An operator's action: ids given by keyword (`customer_id=…`) fill their columns, any
    other keyword goes to `detail` (ids and field names, never secrets)."""
    ids = {name: detail.pop(name) for name in _ID_COLUMNS if name in detail}
    return record(db, action, project_id=project_id, detail=detail or None, **ids)  # type: ignore[arg-type]


# --- failed portal actions ----------------------------------------------------------------


@dataclass(frozen=True)
class _Attempt:
    """What a portal action tries, in plain values: the action's ORM objects are gone by the
    time its failure is written."""

    action: str
    project_id: str
    customer_id: str
    session_id: str
    client_ip: str | None
    user_agent: str | None
    stripe_object_id: str | None
    detail: dict[str, Any] | None


_ATTEMPT: ContextVar[list[_Attempt] | None] = ContextVar("billstack_audit_attempt", default=None)


def attempt(
    ctx: PortalContext, action: str, *, stripe_object_id: str | None = None, detail: dict[str, Any] | None = None
) -> None:
    """Name the portal action about to be tried (called again, the later name wins). If it
    then fails, `failures_recorded` writes it as `failed` or `denied`; if it succeeds, the
    service writes its `ok` row itself (`record_portal`). Outside `failures_recorded`: nothing."""
    tried = _ATTEMPT.get()
    if tried is None:
        return
    stripe_object_id = stripe_object_id if isinstance(stripe_object_id, str) else None
    tried[:] = [_Attempt(action, ctx.project.id, ctx.customer.id, ctx.session.id, ctx.client.ip,
                         ctx.client.user_agent, stripe_object_id, detail)]


@contextmanager
def failures_recorded() -> Iterator[None]:
    """Around one portal call's unit of work: an action that fails after `attempt` leaves one
    row (its own unit of work, once the action's has rolled back), then the error goes on."""
    tried: list[_Attempt] = []
    token = _ATTEMPT.set(tried)
    try:
        yield
    except Exception as exc:
        if tried:
            _record_failure(tried[0], exc)
        raise
    finally:
        _ATTEMPT.reset(token)


def outcome_of(exc: BaseException) -> str:
    if isinstance(exc, BillStackError) and exc.status in DENIED_STATUSES:
        return OUTCOME_DENIED
    return OUTCOME_FAILED


def _record_failure(tried: _Attempt, exc: Exception) -> None:
    error = {"code": exc.code, "status": exc.status} if isinstance(exc, BillStackError) else {
        "code": "internal_error", "exception": type(exc).__name__}
    try:
        with session_scope() as db:
            record(db, tried.action, project_id=tried.project_id, customer_id=tried.customer_id,
                   session_id=tried.session_id, client_ip=tried.client_ip, user_agent=tried.user_agent,
                   stripe_object_id=tried.stripe_object_id, outcome=outcome_of(exc),
                   detail={**(tried.detail or {}), "error": error})
    except Exception:  # noqa: BLE001 - the action's own error is the one to report
        log.exception("could not record the failed portal action %s", tried.action)


# --- reading --------------------------------------------------------------------------------

_RELATIVE = re.compile(r"(\d{1,6})([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_moment(text: str, param: str, *, now: datetime | None = None) -> datetime:
    """`2026-03-30`, `2026-03-30T12:00:00Z` (no offset: UTC), or a time ago: `30m`, `24h`, `7d`, `2w`."""
    value = text.strip() if isinstance(text, str) else ""
    relative = _RELATIVE.fullmatch(value)
    try:
        if relative:
            return (now or utcnow()) - timedelta(**{_UNITS[relative[2]]: int(relative[1])})
        moment = datetime.fromisoformat(value)
        return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise invalid(f"{param} must be an ISO 8601 date or time (2026-03-30, 2026-03-30T12:00:00Z) "
                      "or a time ago such as 30m, 24h, 7d or 2w.", param=param) from None


def list_events(
    db: Session,
    project_id: str,
    *,
    customer_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    action: str | None = None,
    limit: int = LIST_LIMIT_DEFAULT,
    starting_after: int | None = None,
) -> tuple[list[AuditEvent], bool]:
    """One page of the project's events, newest first, and whether more follow.
    `since` inclusive, `until` exclusive; `starting_after`: the last id of the page before."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= LIST_LIMIT_MAX:
        raise invalid(f"limit must be between 1 and {LIST_LIMIT_MAX}.", param="limit")
    if action is not None and not (0 < len(action) <= ACTION_MAX and action.isprintable()):
        raise invalid(f"action must be 1 to {ACTION_MAX} printable characters.", param="action")
    if customer_id is not None and not (0 < len(customer_id) <= ID_TEXT_MAX and customer_id.isprintable()):
        raise invalid("customerId must be a customer id (pc_…).", param="customerId")
    if starting_after is not None and (isinstance(starting_after, bool) or not isinstance(starting_after, int)
                                       or not 1 <= starting_after <= ID_MAX):
        raise invalid(f"startingAfter must be an event id, 1 to {ID_MAX}.", param="startingAfter")
    if since is not None and until is not None and until <= since:
        raise invalid("until must be later than since.", param="until")
    if db.get(Project, project_id) is None:
        raise not_found(f"No such project: {project_id[:64]!r}.", param="projectId")
    query = select(AuditEvent).where(AuditEvent.project_id == project_id)
    if customer_id is not None:
        query = query.where(AuditEvent.customer_id == customer_id)
    if since is not None:
        query = query.where(AuditEvent.created_at >= since)
    if until is not None:
        query = query.where(AuditEvent.created_at < until)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    if starting_after is not None:
        query = query.where(AuditEvent.id < starting_after)
    rows = list(db.exec(query.order_by(AuditEvent.id.desc()).limit(limit + 1)))
    return rows[:limit], len(rows) > limit


def event_fields(event: AuditEvent) -> dict[str, Any]:
    """One event as the API and `billstack audit list --json` show it (camelCase)."""
    try:
        detail = json.loads(event.detail) if event.detail else None
    except ValueError:
        detail = {"text": event.detail}
    return {
        "id": event.id, "action": event.action, "outcome": event.outcome, "projectId": event.project_id,
        "customerId": event.customer_id, "sessionId": event.session_id, "apiKeyId": event.api_key_id,
        "stripeObjectId": event.stripe_object_id, "clientIp": event.client_ip, "userAgent": event.user_agent,
        "createdAt": to_iso_z(event.created_at), "detail": detail if detail is None or isinstance(detail, dict) else {"value": detail},
    }


# --- retention ------------------------------------------------------------------------------


def prune(db: Session, now: datetime, *, batch: int = PRUNE_BATCH) -> int:
    """Delete events older than BILLSTACK_AUDIT_RETENTION_DAYS, `batch` rows per transaction
    (short write locks); how many went."""
    cutoff = now - timedelta(days=get_settings().audit_retention_days)
    table = AuditEvent.__table__
    deleted = 0
    while True:
        ids = [row[0] for row in db.execute(
            sa.select(table.c.id).where(table.c.created_at < cutoff).order_by(table.c.id).limit(batch))]
        if not ids:
            return deleted
        db.execute(sa.delete(table).where(table.c.id.in_(ids)))
        db.commit()
        deleted += len(ids)


def prune_expired(now: datetime | None = None) -> int:
    """`prune` in a unit of work of its own (the webhook worker's hourly pass)."""
    with session_scope() as db:
        return prune(db, now or utcnow())
