"""Revoking a portal session: at once, idempotent, audited once; open pages of its customer wake."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, update

from billstack.clock import utcnow
from billstack.errors import not_found
from billstack.models import PortalSession
from billstack.services import audit, live
from billstack.services.sessions.request import shown

AUDIT_REVOKED = "portal_session.revoked"


def revoke_portal_session(
    db: Session,
    session_id: str,
    *,
    project_id: str | None = None,
    api_key_id: str | None = None,
    actor: str = "api",
    client_ip: str | None = None,
    user_agent: str | None = None,
    now: datetime | None = None,
) -> PortalSession:
    """Revokes a session at once (idempotent: revoking again changes nothing).

    With `project_id`, a session of another project is reported as missing (404).
    """
    session = db.get(PortalSession, session_id) if isinstance(session_id, str) and session_id else None
    if session is None or (project_id is not None and session.project_id != project_id):
        raise not_found(f"No such portal session: {shown(session_id)}.", param="sessionId")
    if session.revoked_at is None:
        now = now or utcnow()
        # Conditional update: of two concurrent revocations exactly one wins and audits.
        result = db.exec(
            update(PortalSession)
            .where(PortalSession.id == session.id, PortalSession.revoked_at.is_(None))
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:
            set_committed_value(session, "revoked_at", now)
            audit.record(
                db,
                AUDIT_REVOKED,
                project_id=session.project_id,
                customer_id=session.customer_id,
                session_id=session.id,
                api_key_id=api_key_id,
                client_ip=client_ip,
                user_agent=user_agent,
                detail={"actor": actor},
                now=now,
            )
            db.flush()
            # An open page of this customer wakes, re-validates its token and shows the
            # revoked page (on any process: the version is in the database).
            live.bump_after_commit(db, session.customer_id)
        else:
            db.refresh(session)
    return session
