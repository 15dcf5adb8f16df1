"""Audit trail: who did what to which project, customer and session, from where.

Rows are added to the caller's unit of work, so an action and its audit row commit
(or roll back) together. Never put secrets (API keys, tokens) in `detail`.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlmodel import Session

from billstack.clock import utcnow
from billstack.models import AuditEvent

_DETAIL_MAX = 4000


def record(
    db: Session,
    action: str,
    *,
    project_id: str | None,
    customer_id: str | None = None,
    session_id: str | None = None,
    api_key_id: str | None = None,
    client_ip: str | None = None,
    detail: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> AuditEvent:
    text = None
    if detail:
        text = json.dumps(detail, separators=(",", ":"), sort_keys=True, default=str)
        if len(text) > _DETAIL_MAX:
            text = json.dumps({"truncated": True, "keys": sorted(detail)})[:_DETAIL_MAX]
    event = AuditEvent(
        project_id=project_id,
        action=action,
        customer_id=customer_id,
        session_id=session_id,
        api_key_id=api_key_id,
        client_ip=(client_ip or None) and client_ip[:64],
        detail=text,
        created_at=now or utcnow(),
    )
    db.add(event)
    return event
