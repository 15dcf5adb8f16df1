"""One session creation's checks and writes, inside the caller's transaction.

The hot path of the session API (benchmarked against a bare one-row insert): the
driver's cursor, no ORM objects (see storage.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from billstack import log_context
from billstack.clock import to_iso_z, utcnow
from billstack.config import get_settings
from billstack.errors import invalid, not_found, rate_limited
from billstack.models import PortalSession
from billstack.routes import portal_url
from billstack.secrets_box import digest
from billstack.services import audit, ratelimit
from billstack.services.sessions import flow_owner, storage
from billstack.services.sessions.api_keys import last_used_due, rate_limit_key
from billstack.services.sessions.request import (
    SessionRequest,
    check_flow,
    check_return_url,
    flow_price_id,
    check_ttl_ms,
    resolve_locale,
    shown,
)
from billstack.services.sessions.tokens import encode_token, new_session_id, token_claims

AUDIT_CREATED = "portal_session.created"


class CreatedSession:
    """A new session: its token (shown once), portal URL and expiry.

    `session` is the row as stored, built on first access (the API route never needs it).
    `stripe_customer_id` and `livemode` are filled in only when the customer was resolved
    from another key than its `pc_…` id (customer_keys.py; the Stripe-compatible answer).
    """

    stripe_customer_id: str | None = None
    livemode: bool = False

    def __init__(self, row: dict[str, Any], token: str, portal_url: str) -> None:
        self._row = row
        self.session_id: str = row["id"]
        self.token = token
        self.portal_url = portal_url
        self.expires_at = row["expires_at"]

    @property
    def created_at(self) -> datetime:
        return self._row["created_at"]

    @cached_property
    def session(self) -> PortalSession:
        return PortalSession(**self._row)


def create_on(raw: Any, sa_dialect: Any, request: SessionRequest, *, wait: bool) -> CreatedSession:
    """`create_with` on a driver connection, in a transaction of its own on SQLite
    (BEGIN IMMEDIATE; `wait=False`: `DatabaseBusy` at once if another writer holds it)."""
    cursor = raw.cursor()
    try:
        if sa_dialect.name == "sqlite":
            storage.begin_sqlite_write(raw, cursor, wait=wait)
        return create_with(cursor, sa_dialect, request)
    finally:
        cursor.close()


def create_with(cursor: Any, sa_dialect: Any, request: SessionRequest) -> CreatedSession:
    """Checks and writes of one session creation, inside the caller's transaction."""
    dialect = sa_dialect.name
    customer_id = request.customer_id
    key_id, facts, customer_project, customer_removed = storage.load_for_create(
        cursor, dialect, team_id=request.team_id, project_id=request.project_id, api_key=request.api_key,
        customer_id=customer_id,
    )
    if key_id is not None and not (request.subscription_verified or request.rate_counted):  # counted once
        retry_after = ratelimit.session_creation.hit(rate_limit_key(request.api_key))
        if retry_after:
            raise rate_limited(retry_after)

    ttl = check_ttl_ms(request.ttl_ms)
    return_url = check_return_url(request.return_url, facts)
    locale = resolve_locale(request.locale)
    flow_json = check_flow(request.flow, facts)
    if customer_project != facts.id or customer_removed:
        raise not_found(f"No such customer: {shown(customer_id)}.", param="customerId")
    price_id = flow_price_id(request.flow) if flow_json else None
    if price_id is not None and not storage.plan_price_offered(cursor, dialect, project_id=facts.id,
                                                               price_id=price_id):
        raise invalid(f"flow.priceId {shown(price_id)} is not one of this project's plan-change prices.",
                      param="flow.priceId")
    if flow_json and request.flow and "subscriptionId" in request.flow and not request.subscription_verified:
        flow_owner.check_in_mirror(cursor, dialect, project_id=facts.id, customer_id=customer_id,
                                   subscription_id=request.flow["subscriptionId"])

    now = request.now or utcnow()
    expires_at = (now + timedelta(milliseconds=ttl)).replace(microsecond=0)
    session_id = new_session_id()
    log_context.learn(project=facts.id, customer=customer_id, session=session_id)
    claims = token_claims(session_id, facts.id, customer_id, int(now.timestamp()), int(expires_at.timestamp()))
    token = encode_token(claims, get_settings().signing_keys()[0])
    row = {
        "id": session_id,
        "project_id": facts.id,
        "customer_id": customer_id,
        "api_key_id": key_id,
        "token_hash": digest(token),
        "return_url": return_url,
        "locale": locale,
        "flow": flow_json,
        "created_at": now,
        "expires_at": expires_at,
    }
    stamp = storage.datetime_binder(sa_dialect)
    created_stamp = stamp(now)
    detail = {"ttlMs": ttl, "expiresAt": to_iso_z(expires_at), "locale": locale,
              "flow": request.flow["type"] if flow_json and request.flow else None}
    audit_row = audit.row(AUDIT_CREATED, project_id=facts.id, customer_id=customer_id, session_id=session_id,
                          api_key_id=key_id, client_ip=request.client_ip, user_agent=request.user_agent,
                          detail=detail, now=now)
    audit_row["created_at"] = created_stamp  # bound for the driver, like the session's
    touch = key_id is not None and last_used_due(key_id)
    session_params = {**row, "created_at": created_stamp, "expires_at": stamp(expires_at)}
    storage.insert_session(cursor, dialect, session_params, audit_row, key_id if touch else None)
    return CreatedSession(row, token, portal_url(get_settings().resolved_public_url, token))
