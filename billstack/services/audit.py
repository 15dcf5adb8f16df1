"""Audit trail: who did what to which project, customer and session, from where.

The one owner of the audit row's shape: `row()` gives its column values, `record()`
adds it to the caller's unit of work through the ORM (so an action and its audit row
commit or roll back together), and `INSERT_SQL` writes the same row on the raw-SQL fast
path of session creation. A new column is added here, in `COLUMNS` and `row()`.
Never put secrets (API keys, tokens) in `detail`.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from billstack.clock import utcnow
from billstack.models import AuditEvent

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
