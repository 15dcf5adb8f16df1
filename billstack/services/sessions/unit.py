"""One session creation's checks and writes, inside the caller's transaction.

The hot path of the session API (benchmarked against a bare one-row insert): the
driver's cursor, no ORM objects (see storage.py). The checks are defined once, here and
in `storage.load_for_create`; on PostgreSQL they run first on the key's row as this
process last saw it pass, and the one statement that writes confirms that row is
unchanged (`_in_one_statement`); when it is not, the same checks run on the row it read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from billstack import log_context
from billstack.clock import to_iso_z, utcnow
from billstack.config import get_settings
from billstack.errors import BillStackError, invalid, not_found, rate_limited
from billstack.models import PortalSession
from billstack.routes import portal_url
from billstack.secrets_box import digest
from billstack.services import audit, ratelimit
from billstack.services.sessions import flow_owner, storage
from billstack.services.sessions.api_keys import last_used_due, last_used_undo, rate_limit_key
from billstack.services.sessions.request import (
    ProjectFacts,
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
    counted = request.subscription_verified or request.rate_counted  # the key's bucket is spent once
    found: Any = storage.UNREAD
    if dialect == "postgresql":
        attempt = _in_one_statement(cursor, sa_dialect, request, counted=counted)
        if attempt is not None:
            created, found = attempt
            if created is not None:
                return created
            counted = True
    customer_id = request.customer_id
    key_id, facts, customer_project, customer_removed = storage.load_for_create(
        cursor, dialect, team_id=request.team_id, project_id=request.project_id, api_key=request.api_key,
        customer_id=customer_id, found=found,
    )
    if key_id is not None and not counted:
        retry_after = ratelimit.session_creation.hit(rate_limit_key(request.api_key))
        if retry_after:
            raise rate_limited(retry_after)

    fields = _checked_fields(request, facts)
    if (customer_project, customer_removed) != storage.usable_customer(facts.id):
        raise not_found(f"No such customer: {shown(customer_id)}.", param="customerId")
    if fields.price_id is not None and not storage.plan_price_offered(cursor, dialect, project_id=facts.id,
                                                                      price_id=fields.price_id):
        raise invalid(f"flow.priceId {shown(fields.price_id)} is not one of this project's plan-change prices.",
                      param="flow.priceId")
    if _owner_to_check(request, fields):
        flow_owner.check_in_mirror(cursor, dialect, project_id=facts.id, customer_id=customer_id,
                                   subscription_id=request.flow["subscriptionId"])
    prepared = _prepared(sa_dialect, request, key_id, facts, fields)
    storage.insert_session(cursor, dialect, prepared.session, prepared.audit_row, prepared.touch_key_id)
    return prepared.created


def _in_one_statement(
    cursor: Any, sa_dialect: Any, request: SessionRequest, *, counted: bool
) -> tuple[CreatedSession | None, Any] | None:
    """PostgreSQL, a key string this process has seen pass: the checks run on its row as it
    passed, and one statement writes the session only if the row is still that one (one
    round trip). None: not tried, the full path answers. Otherwise (created, row as read):
    not created, the full path goes on from the row (its checks answer, as ever), the
    key's bucket spent."""
    api_key = request.api_key
    if not isinstance(api_key, str) or not isinstance(request.customer_id, str):
        return None
    key_hash = rate_limit_key(api_key)
    passed = storage.passed_key(key_hash)
    if passed is None:
        return None
    facts = storage.project_facts(passed)
    if facts.id != request.project_id or facts.team_id != request.team_id:
        return None  # the full path's 403
    try:
        fields = _checked_fields(request, facts)
    except BillStackError:
        return None  # answered by the full path, in its order (a bad key's 401 comes first)
    if fields.price_id is not None or _owner_to_check(request, fields):
        return None  # a deep link's own SELECT
    if not counted and ratelimit.session_creation.hit(key_hash):
        return None  # the full path's 429 (or 401, if the key is gone since); a refusal spends nothing
    prepared = _prepared(sa_dialect, request, passed[0], facts, fields)
    found, written = storage.insert_if_unchanged(
        cursor, key_hash=key_hash, customer_id=request.customer_id, passed=passed, session=prepared.session,
        audit_row=prepared.audit_row, touch_key_id=prepared.touch_key_id)
    if written:
        return prepared.created, found
    if prepared.touch_key_id is not None:
        last_used_undo(prepared.touch_key_id)  # not written: the full path's write will
    return None, found


@dataclass(frozen=True, slots=True)
class _Fields:
    """The request's fields, checked against the project."""

    ttl: int
    return_url: str | None
    locale: str
    flow_json: str | None
    price_id: str | None


def _checked_fields(request: SessionRequest, facts: ProjectFacts) -> _Fields:
    ttl = check_ttl_ms(request.ttl_ms)
    return_url = check_return_url(request.return_url, facts)
    locale = resolve_locale(request.locale)
    flow_json = check_flow(request.flow, facts)
    price_id = flow_price_id(request.flow) if flow_json else None
    return _Fields(ttl, return_url, locale, flow_json, price_id)


def _owner_to_check(request: SessionRequest, fields: _Fields) -> bool:
    """A deep link to a subscription whose owner Stripe has not confirmed yet (flow_owner.py)."""
    return bool(fields.flow_json and request.flow and "subscriptionId" in request.flow
                and not request.subscription_verified)


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A checked creation's rows, bound for the driver, and the answer once they are written."""

    created: CreatedSession
    session: dict[str, Any]
    audit_row: dict[str, Any]
    touch_key_id: str | None


def _prepared(
    sa_dialect: Any, request: SessionRequest, key_id: str | None, facts: ProjectFacts, fields: _Fields
) -> _Prepared:
    customer_id = request.customer_id
    now = request.now or utcnow()
    expires_at = (now + timedelta(milliseconds=fields.ttl)).replace(microsecond=0)
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
        "return_url": fields.return_url,
        "locale": fields.locale,
        "flow": fields.flow_json,
        "created_at": now,
        "expires_at": expires_at,
    }
    stamp = storage.datetime_binder(sa_dialect)
    created_stamp = stamp(now)
    detail = {"ttlMs": fields.ttl, "expiresAt": to_iso_z(expires_at), "locale": fields.locale,
              "flow": request.flow["type"] if fields.flow_json and request.flow else None}
    audit_row = audit.row(AUDIT_CREATED, project_id=facts.id, customer_id=customer_id, session_id=session_id,
                          api_key_id=key_id, client_ip=request.client_ip, user_agent=request.user_agent,
                          detail=detail, now=now)
    audit_row["created_at"] = created_stamp  # bound for the driver, like the session's
    touch = key_id is not None and last_used_due(key_id)
    session_params = {**row, "created_at": created_stamp, "expires_at": stamp(expires_at)}
    created = CreatedSession(row, token, portal_url(get_settings().resolved_public_url, token))
    return _Prepared(created, session_params, audit_row, key_id if touch else None)
