"""Portal sessions and their tokens (DESIGN.md §4.1, §4.2).

A portal token is a JWT (HS256, `alg` pinned) signed with BILLSTACK_SECRET_KEY and
carrying the session id (`sid`), project id (`pid`), BillStack customer id (`cid`),
an audience (`aud`, so no other BillStack-signed JWT can pass for one), `iat` and
`exp`. Only its SHA-256 digest is stored.

`validate_portal_token()` is THE check for every REST route and every Reflex event:
signature (current key, then BILLSTACK_SECRET_KEY_PREVIOUS), claims, then the session
row — exists, token digest matches in constant time, not revoked, not expired, its
customer still exists, is not removed and still belongs to the project the token
names. Failures raise `PortalTokenError` (HTTP 401) with one of three codes and a
generic message; nothing about the customer is ever in it.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import jwt
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, select, update

from billstack import ids
from billstack.clock import to_iso_z, utcnow
from billstack.config import get_settings
from billstack.errors import BillStackError, forbidden, invalid, not_found, rate_limited, unauthorized
from billstack.models import ApiKey, Customer, PortalSession, Project
from billstack.secrets_box import digest, digests_match
from billstack.services import audit, ratelimit
from billstack.services.tenants import API_KEY_PREFIX, allowed_return_origins

log = logging.getLogger("billstack.sessions")

TTL_DEFAULT_MS = 3_600_000
TTL_MIN_MS = 60_000
TTL_MAX_MS = 86_400_000

# Languages the portal is offered in. A regional tag maps to its language
# (`de-AT` → `de`); a well-formed tag of another language falls back to DEFAULT_LOCALE
# so that passing the end user's browser language never breaks a portal link.
SUPPORTED_LOCALES = ("en", "de", "fr")
DEFAULT_LOCALE = "en"
_LOCALE_TAG = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")

FLOW_PAYMENT_METHOD_UPDATE = "payment_method_update"
FLOW_SUBSCRIPTION_CANCEL = "subscription_cancel"
FLOW_TYPES = (FLOW_PAYMENT_METHOD_UPDATE, FLOW_SUBSCRIPTION_CANCEL)
_SUBSCRIPTION_ID = re.compile(r"^sub_[A-Za-z0-9_]{1,250}$")

TOKEN_ALGORITHM = "HS256"
TOKEN_AUDIENCE = "billstack:portal"
_TOKEN_CLAIMS = ("sid", "pid", "cid", "aud", "iat", "exp")
_TOKEN_MAX_LENGTH = 2048

# Token error codes (all HTTP 401, type `authentication_error`).
TOKEN_INVALID = "token_invalid"
TOKEN_EXPIRED = "token_expired"
TOKEN_REVOKED = "token_revoked"

AUDIT_CREATED = "portal_session.created"
AUDIT_REVOKED = "portal_session.revoked"

# `api_key.last_used_at` is a hint for operators, not an access log: written at most
# once a minute per key and process, so a busy integration does not turn every
# request into a row update (and hot-row lock contention on PostgreSQL).
LAST_USED_RESOLUTION = timedelta(seconds=60)
_last_used_lock = threading.Lock()
_last_used_written: dict[str, float] = {}

_FRAME_ANCESTORS_SAFE = re.compile(r"^[A-Za-z0-9 :/.*'\-_\[\]]+$")


class PortalTokenError(BillStackError):
    """A portal token did not validate. `code` is token_invalid, token_expired or token_revoked.

    For tokens that carry our valid signature but are expired or revoked, `return_url`
    and `project_id` say where "Return to the app" should go and whose branding to show.
    They are None for invalid tokens, whose contents cannot be trusted.
    """

    def __init__(
        self, code: str, message: str, *, return_url: str | None = None, project_id: str | None = None
    ) -> None:
        super().__init__(message, code=code, type="authentication_error", status=401)
        self.return_url = return_url
        self.project_id = project_id


@dataclass(frozen=True)
class CreatedSession:
    session: PortalSession
    token: str
    portal_url: str
    expires_at: datetime


@dataclass(frozen=True)
class PortalContext:
    """What a validated token grants: one session of one customer of one project."""

    session: PortalSession
    project: Project
    customer: Customer

    @property
    def session_id(self) -> str:
        return self.session.id

    @property
    def locale(self) -> str:
        return self.session.locale

    @property
    def return_url(self) -> str | None:
        return self.session.return_url

    @property
    def expires_at(self) -> datetime:
        return self.session.expires_at

    @property
    def flow(self) -> dict[str, Any] | None:
        return json.loads(self.session.flow) if self.session.flow else None


# --- API keys ----------------------------------------------------------------------------


def authenticate_api_key(
    db: Session, plaintext: str, *, team_id: str, project_id: str, now: datetime | None = None
) -> tuple[ApiKey, Project]:
    """The project API key presented as a Bearer token, checked in one indexed query.

    Unknown or revoked → 401; a valid key of another project or team → 403.
    """
    row = None
    if plaintext.startswith(API_KEY_PREFIX) and len(plaintext) <= 200:
        row = db.exec(
            select(ApiKey, Project)
            .join(Project, Project.id == ApiKey.project_id)
            .where(ApiKey.key_hash == digest(plaintext))
        ).first()
    if row is None:
        raise unauthorized("Invalid API key provided.", code="invalid_api_key")
    api_key, project = row
    if api_key.revoked_at is not None:
        raise unauthorized("This API key has been revoked.", code="api_key_revoked")
    if api_key.project_id != project_id or project.team_id != team_id:
        raise forbidden("This API key does not grant access to this team and project.")
    _touch_last_used(api_key, now or utcnow())
    return api_key, project


def _touch_last_used(api_key: ApiKey, now: datetime) -> None:
    if api_key.last_used_at is not None and now - api_key.last_used_at < LAST_USED_RESOLUTION:
        return
    tick = time.monotonic()
    with _last_used_lock:
        if tick - _last_used_written.get(api_key.id, -1e9) < LAST_USED_RESOLUTION.total_seconds():
            return
        _last_used_written[api_key.id] = tick
    api_key.last_used_at = now  # flushed with the caller's unit of work


# --- creating sessions -------------------------------------------------------------------


def create_portal_session(
    db: Session,
    *,
    team_id: str,
    project_id: str,
    api_key: ApiKey | None,
    customer_id: str,
    ttl_ms: int | None = None,
    return_url: str | None = None,
    locale: str | None = None,
    flow: dict[str, Any] | None = None,
    client_ip: str | None = None,
    now: datetime | None = None,
) -> CreatedSession:
    """Mints a session and its token for a customer of the project.

    `api_key` is the authenticated key (from `authenticate_api_key`), or None for
    operator tooling; with a key, creation is rate limited per key.
    """
    if api_key is not None:
        if api_key.project_id != project_id:
            raise forbidden("This API key does not grant access to this team and project.")
        wait = ratelimit.session_creation.hit(api_key.id)
        if wait:
            raise rate_limited(wait)
    project = db.get(Project, project_id)  # already in the identity map after authentication
    if project is None or project.team_id != team_id:
        raise not_found(f"No such project: {_shown(project_id)}.", param="projectId")

    ttl = check_ttl_ms(ttl_ms)
    return_url = check_return_url(return_url, project)
    locale = resolve_locale(locale)
    flow_json = check_flow(flow, project)

    customer = db.get(Customer, customer_id) if isinstance(customer_id, str) and customer_id else None
    if customer is None or customer.project_id != project.id or customer.removed_at is not None:
        raise not_found(f"No such customer: {_shown(customer_id)}.", param="customerId")

    now = now or utcnow()
    expires_at = (now + timedelta(milliseconds=ttl)).replace(microsecond=0)
    session_id = ids.new_id("portal_sess")
    token = jwt.encode(
        {
            "sid": session_id,
            "pid": project.id,
            "cid": customer.id,
            "aud": TOKEN_AUDIENCE,
            "iat": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
        },
        get_settings().signing_keys()[0],
        algorithm=TOKEN_ALGORITHM,
    )
    session = PortalSession(
        id=session_id,
        project_id=project.id,
        customer_id=customer.id,
        api_key_id=api_key.id if api_key is not None else None,
        token_hash=digest(token),
        return_url=return_url,
        locale=locale,
        flow=flow_json,
        created_at=now,
        expires_at=expires_at,
    )
    db.add(session)
    audit.record(
        db,
        AUDIT_CREATED,
        project_id=project.id,
        customer_id=customer.id,
        session_id=session_id,
        api_key_id=session.api_key_id,
        client_ip=client_ip,
        detail={"ttlMs": ttl, "expiresAt": to_iso_z(expires_at), "locale": locale,
                "flow": json.loads(flow_json)["type"] if flow_json else None},
        now=now,
    )
    db.flush()
    portal_url = f"{get_settings().resolved_public_url}/portal/{token}"
    return CreatedSession(session=session, token=token, portal_url=portal_url, expires_at=expires_at)


def check_ttl_ms(ttl_ms: int | None) -> int:
    if ttl_ms is None:
        return TTL_DEFAULT_MS
    if isinstance(ttl_ms, bool) or not isinstance(ttl_ms, int) or not TTL_MIN_MS <= ttl_ms <= TTL_MAX_MS:
        raise invalid(
            f"ttlMs must be an integer number of milliseconds between {TTL_MIN_MS} (1 minute) "
            f"and {TTL_MAX_MS} (24 hours).",
            param="ttlMs",
        )
    return ttl_ms


def check_return_url(return_url: str | None, project: Project) -> str | None:
    """An http(s) URL without credentials, on an allowed origin when the project lists any."""
    if return_url is None:
        return project.default_return_url
    message = "returnUrl must be an absolute http(s) URL such as https://app.example.com/account."
    if not isinstance(return_url, str) or len(return_url) > 2000 or any(c.isspace() or ord(c) < 32 for c in return_url):
        raise invalid(message, param="returnUrl")
    parts = urlsplit(return_url)
    try:
        port = parts.port
    except ValueError:
        raise invalid(message, param="returnUrl") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        raise invalid(message, param="returnUrl")
    allowed = {_origin(o) for o in allowed_return_origins(project)}
    if allowed and _origin_of(parts.scheme, parts.hostname, port) not in allowed:
        raise invalid(
            "returnUrl is not on one of this project's allowed return origins.",
            param="returnUrl",
            code="return_url_not_allowed",
        )
    return return_url


def _origin(origin: str) -> str:
    parts = urlsplit(origin)
    try:
        port = parts.port
    except ValueError:
        port = None
    return _origin_of(parts.scheme, parts.hostname or "", port)


def _origin_of(scheme: str, hostname: str, port: int | None) -> str:
    scheme = scheme.lower()
    if port == {"http": 80, "https": 443}.get(scheme):
        port = None
    host = hostname.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"{scheme}://{host}" + (f":{port}" if port is not None else "")


def resolve_locale(locale: str | None) -> str:
    """`de`, `de-AT`, `DE_at` → `de`; a well-formed tag of an unsupported language → `en`."""
    if locale is None or locale == "" or locale == "auto":
        return DEFAULT_LOCALE
    if not isinstance(locale, str) or len(locale) > 35 or not _LOCALE_TAG.match(locale):
        raise invalid(
            "locale must be a language tag such as en, de or fr-CA (supported: "
            + ", ".join(SUPPORTED_LOCALES) + ").",
            param="locale",
        )
    language = re.split(r"[-_]", locale, maxsplit=1)[0].lower()
    return language if language in SUPPORTED_LOCALES else DEFAULT_LOCALE


def check_flow(flow: dict[str, Any] | None, project: Project) -> str | None:
    """The deep link as canonical JSON (`{"type": …, "subscriptionId": …}`), or None."""
    if flow is None:
        return None
    if not isinstance(flow, dict) or flow.get("type") not in FLOW_TYPES:
        raise invalid("flow.type must be payment_method_update or subscription_cancel.", param="flow.type")
    kind = flow["type"]
    if kind == FLOW_PAYMENT_METHOD_UPDATE:
        if set(flow) != {"type"}:
            raise invalid("A payment_method_update flow takes no other fields.", param="flow")
        if not project.feature_payment_method_update:
            raise invalid("Payment method updates are turned off for this project.", param="flow.type",
                          code="feature_disabled")
        return json.dumps({"type": kind})
    subscription_id = flow.get("subscriptionId")
    if set(flow) != {"type", "subscriptionId"} or not isinstance(subscription_id, str) \
            or not _SUBSCRIPTION_ID.match(subscription_id):
        raise invalid("A subscription_cancel flow needs subscriptionId (sub_…).", param="flow.subscriptionId")
    if not project.feature_cancel:
        raise invalid("Cancelling subscriptions is turned off for this project.", param="flow.type",
                      code="feature_disabled")
    return json.dumps({"type": kind, "subscriptionId": subscription_id})


def _shown(value: object) -> str:
    text = value if isinstance(value, str) else str(value)
    return repr(text[:64])


# --- validating tokens -------------------------------------------------------------------


def validate_portal_token(
    db: Session,
    token: str,
    *,
    now: datetime | None = None,
    client_ip: str | None = None,
    project_id: str | None = None,
) -> PortalContext:
    """Returns the session, project and customer a token grants, or raises.

    Raises `PortalTokenError` (401: token_invalid / token_expired / token_revoked), or
    429 `rate_limited` when `client_ip` has used up its budget of failed validations.
    `project_id`, when a route knows which project it serves, must match the token's.
    """
    if client_ip:
        wait = ratelimit.token_failures.blocked(client_ip)
        if wait:
            raise rate_limited(wait)
    try:
        return _validate(db, token, now or utcnow(), project_id)
    except PortalTokenError as exc:
        log.info("portal token rejected (%s) from %s", exc.code, client_ip or "-")
        if client_ip:
            ratelimit.token_failures.hit(client_ip)
        raise


def _validate(db: Session, token: str, now: datetime, expected_project_id: str | None) -> PortalContext:
    claims = decode_token(token)
    if claims is None:
        raise _token_invalid()
    row = db.exec(
        select(PortalSession, Customer, Project)
        .join(Customer, Customer.id == PortalSession.customer_id)
        .join(Project, Project.id == PortalSession.project_id)
        .where(PortalSession.id == claims["sid"])
    ).first()
    if row is None:
        raise _token_invalid()
    session, customer, project = row
    if (
        not digests_match(token, session.token_hash)
        or session.project_id != claims["pid"]
        or session.customer_id != claims["cid"]
        or (expected_project_id is not None and expected_project_id != session.project_id)
    ):
        raise _token_invalid()
    if (
        session.revoked_at is not None
        or customer.removed_at is not None
        or customer.project_id != session.project_id
    ):
        raise PortalTokenError(
            TOKEN_REVOKED, "This portal link is no longer valid.",
            return_url=session.return_url, project_id=session.project_id,
        )
    if now >= session.expires_at or now.timestamp() >= claims["exp"]:
        raise PortalTokenError(
            TOKEN_EXPIRED, "This portal link has expired.",
            return_url=session.return_url, project_id=session.project_id,
        )
    return PortalContext(session=session, project=project, customer=customer)


def _token_invalid() -> PortalTokenError:
    return PortalTokenError(TOKEN_INVALID, "This portal link is not valid.")


def decode_token(token: str) -> dict[str, Any] | None:
    """Claims of a token signed by one of our keys (current, then previous), else None.

    Checks signature, the pinned algorithm, audience and claim types — not expiry, which
    the caller checks against its (injectable) clock. No database access.
    """
    if not isinstance(token, str) or not token or len(token) > _TOKEN_MAX_LENGTH or not token.isascii():
        return None
    for key in get_settings().signing_keys():
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[TOKEN_ALGORITHM],
                audience=TOKEN_AUDIENCE,
                options={"require": list(_TOKEN_CLAIMS), "verify_exp": False, "verify_iat": False,
                         "verify_nbf": False},
            )
        except jwt.InvalidSignatureError:
            continue
        except jwt.PyJWTError:
            return None
        if not all(isinstance(claims[c], str) and claims[c] for c in ("sid", "pid", "cid")):
            return None
        if isinstance(claims["exp"], bool) or not isinstance(claims["exp"], int | float):
            return None
        return claims
    return None


def project_id_from_token(token: str) -> str | None:
    """The project a correctly signed token names (even if expired). No database access."""
    claims = decode_token(token)
    return claims["pid"] if claims else None


def frame_ancestors(db: Session, project_id: str) -> str:
    """The project's CSP `frame-ancestors` sources; `'none'` when unset, unknown or unsafe."""
    project = db.get(Project, project_id)
    value = (project.frame_ancestors or "").strip() if project is not None else ""
    if not value or not _FRAME_ANCESTORS_SAFE.match(value):
        return "'none'"
    return value


# --- revoking ----------------------------------------------------------------------------


def revoke_portal_session(
    db: Session,
    session_id: str,
    *,
    project_id: str | None = None,
    api_key_id: str | None = None,
    actor: str = "api",
    client_ip: str | None = None,
    now: datetime | None = None,
) -> PortalSession:
    """Revokes a session at once (idempotent: revoking again changes nothing).

    With `project_id`, a session of another project is reported as missing (404).
    """
    session = db.get(PortalSession, session_id) if isinstance(session_id, str) and session_id else None
    if session is None or (project_id is not None and session.project_id != project_id):
        raise not_found(f"No such portal session: {_shown(session_id)}.", param="sessionId")
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
                detail={"actor": actor},
                now=now,
            )
            db.flush()
        else:
            db.refresh(session)
    return session
