"""Portal sessions and their tokens (DESIGN.md §4.1, §4.2).

A portal token is a JWT (HS256, `alg` pinned) signed with BILLSTACK_SECRET_KEY and
carrying the session id (`sid`), project id (`pid`), BillStack customer id (`cid`),
an audience (`aud`, so no other BillStack-signed JWT can pass for one), `iat` and
`exp`. Only its SHA-256 digest is stored.

`validate_portal_token()` is THE check for every REST route and every Reflex event:
signature (current key, then BILLSTACK_SECRET_KEY_PREVIOUS), claims, then the session
row — exists, token digest matches in constant time, not revoked, not expired, its
customer still exists, is not removed, has had no sessions revoked since this one was
made (removal revokes them for good), and still belongs to the project the token
names. Failures raise `PortalTokenError` (HTTP 401) with one of three codes and a
generic message; nothing about the customer is ever in it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import re
import secrets
import sqlite3
import string
import threading
import time
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property, partial
from typing import Any
from urllib.parse import urlsplit

import anyio.to_thread
import jwt
from jwt.algorithms import HMACAlgorithm
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, select, update

from billstack.clock import to_iso_z, utcnow
from billstack.config import get_settings
from billstack.db import get_engine, pool_has_room, raw_connection
from billstack.errors import BillStackError, forbidden, invalid, not_found, rate_limited, unauthorized
from billstack.models import ApiKey, Customer, PortalSession, Project
from billstack.secrets_box import digest, digests_match
from billstack.services import audit, ratelimit
from billstack.services.tenants import API_KEY_PREFIX, allowed_return_origins, normalised_origin, origin_of

log = logging.getLogger("billstack.sessions")

TTL_DEFAULT_MS = 3_600_000
TTL_MIN_MS = 60_000
TTL_MAX_MS = 86_400_000

# Languages the portal is offered in. A regional tag maps to its language
# (`de-AT` → `de`); a well-formed tag of another language falls back to DEFAULT_LOCALE
# so that passing the end user's browser language never breaks a portal link.
SUPPORTED_LOCALES = ("en", "de", "fr")
DEFAULT_LOCALE = "en"
# Checked with fullmatch: `$` would also match before a final line break ("de\n").
_LOCALE_TAG = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*")

FLOW_PAYMENT_METHOD_UPDATE = "payment_method_update"
FLOW_SUBSCRIPTION_CANCEL = "subscription_cancel"
FLOW_TYPES = (FLOW_PAYMENT_METHOD_UPDATE, FLOW_SUBSCRIPTION_CANCEL)
# Anchored for pydantic's `pattern=` (pydantic-core's Rust regex searches, and its `$` is
# the end of the text); Python checks use fullmatch, as Python's `$` also matches before
# a final line break.
SUBSCRIPTION_ID_PATTERN = r"^sub_[A-Za-z0-9_]{1,250}$"
_SUBSCRIPTION_ID = re.compile(SUBSCRIPTION_ID_PATTERN)

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

_FRAME_ANCESTORS_SAFE = re.compile(r"[A-Za-z0-9 :/.*'\-_\[\]]+")  # with fullmatch, as _LOCALE_TAG


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
    if _last_used_due(api_key.id):
        api_key.last_used_at = now  # flushed with the caller's unit of work


# --- creating sessions -------------------------------------------------------------------
#
# The hot path of the session API (benchmarked against a bare one-row insert), so it
# speaks SQL to the driver directly: one SELECT (key + project + customer), two
# INSERTs (session, audit), one COMMIT — no ORM objects on the way. Everything else
# in this module uses the ORM.

_CREATE_SQL = {
    "by_key": """
        SELECT k.id, k.project_id, CASE WHEN k.revoked_at IS NULL THEN 0 ELSE 1 END,
               p.team_id, p.default_return_url, p.allowed_return_origins,
               p.feature_cancel, p.feature_payment_method_update,
               c.project_id, CASE WHEN c.removed_at IS NULL THEN 0 ELSE 1 END
        FROM api_key k
        JOIN project p ON p.id = k.project_id
        LEFT JOIN customer c ON c.id = :customer_id
        WHERE k.key_hash = :key_hash""",
    "by_project": """
        SELECT NULL, p.id, 0,
               p.team_id, p.default_return_url, p.allowed_return_origins,
               p.feature_cancel, p.feature_payment_method_update,
               c.project_id, CASE WHEN c.removed_at IS NULL THEN 0 ELSE 1 END
        FROM project p
        LEFT JOIN customer c ON c.id = :customer_id
        WHERE p.id = :project_id""",
    "insert_session": """
        INSERT INTO portal_session (id, project_id, customer_id, api_key_id, token_hash, return_url,
                                    locale, flow, created_at, expires_at)
        VALUES (:id, :project_id, :customer_id, :api_key_id, :token_hash, :return_url,
                :locale, :flow, :created_at, :expires_at)""",
    "insert_audit": """
        INSERT INTO audit_event (project_id, action, customer_id, session_id, api_key_id, client_ip,
                                 detail, created_at)
        VALUES (:project_id, :action, :customer_id, :session_id, :api_key_id, :client_ip,
                :detail, :created_at)""",
    "touch_key": "UPDATE api_key SET last_used_at = :now WHERE id = :id",
    # PostgreSQL: the same writes in one statement (one round trip instead of three).
    "insert_all": """
        WITH new_session AS (
            INSERT INTO portal_session (id, project_id, customer_id, api_key_id, token_hash, return_url,
                                        locale, flow, created_at, expires_at)
            VALUES (:id, :project_id, :customer_id, :api_key_id, :token_hash, :return_url,
                    :locale, :flow, :created_at, :expires_at)
        ), touched_key AS (
            UPDATE api_key SET last_used_at = :created_at WHERE id = :touch_key_id
        )
        INSERT INTO audit_event (project_id, action, customer_id, session_id, api_key_id, client_ip,
                                 detail, created_at)
        VALUES (:project_id, :action, :customer_id, :id, :api_key_id, :client_ip, :detail, :created_at)""",
}
_dialect_sql: dict[tuple[str, str], str] = {}
_datetime_binders: dict[str, Any] = {}
_sqlite_patience: dict[int, int] = {}  # the busy timeout each pooled connection was opened with


class DatabaseBusy(Exception):
    """SQLite is locked by another writer, or the pool has no free connection, and the
    caller (on an event loop) asked not to wait (see `wait`)."""


@dataclass(frozen=True)
class _ProjectFacts:
    """The project settings session creation needs (duck-types `Project` for the checks)."""

    id: str
    team_id: str
    default_return_url: str | None
    allowed_return_origins: str
    feature_cancel: bool
    feature_payment_method_update: bool


class CreatedSession:
    """A new session: its token (shown once), portal URL and expiry.

    `session` is the row as stored, built on first access (the API route never needs it).
    """

    def __init__(self, row: dict[str, Any], token: str, portal_url: str) -> None:
        self._row = row
        self.session_id: str = row["id"]
        self.token = token
        self.portal_url = portal_url
        self.expires_at: datetime = row["expires_at"]

    @cached_property
    def session(self) -> PortalSession:
        return PortalSession(**self._row)


def create_portal_session(
    db: Session,
    *,
    team_id: str,
    project_id: str,
    api_key: str | ApiKey | None,
    customer_id: str,
    ttl_ms: int | None = None,
    return_url: str | None = None,
    locale: str | None = None,
    flow: dict[str, Any] | None = None,
    client_ip: str | None = None,
    now: datetime | None = None,
    wait: bool = True,
) -> CreatedSession:
    """Mints a session and its token for a customer of the project.

    `api_key`: the plaintext key from `Authorization: Bearer …` (authenticated here, in
    the same query that loads the project and the customer: unknown or revoked → 401,
    another project's or team's → 403), an already authenticated `ApiKey`, or None for
    operator tooling. With a key, creation is rate limited per key (429).

    `wait=False` (SQLite only): if another writer holds the database, raise
    `DatabaseBusy` at once instead of waiting — for callers on an event loop, which
    then retry in a worker thread with `wait=True`.
    """
    if db.new or db.dirty or db.deleted:
        db.flush()  # the raw statements below must see the caller's pending work
    conn = db.connection()
    return _create_on(
        conn.connection.driver_connection, conn.dialect, wait=wait, team_id=team_id, project_id=project_id,
        api_key=api_key, customer_id=customer_id, ttl_ms=ttl_ms, return_url=return_url, locale=locale, flow=flow,
        client_ip=client_ip, now=now,
    )


def create_portal_session_committed(*, wait: bool = True, **kwargs: Any) -> CreatedSession:
    """`create_portal_session` as its own unit of work, committed before it returns.

    The session API's fast path: a pooled driver connection without an ORM session
    around it (same arguments as `create_portal_session`, minus `db`).
    """
    engine = get_engine()
    pooled = raw_connection(engine)
    raw = pooled.driver_connection
    # Over the network every statement is a round trip: the writes are one statement
    # (see "insert_all"), so in autocommit mode neither BEGIN nor COMMIT is needed —
    # the SELECT and the write are each atomic, and together no weaker than the READ
    # COMMITTED transaction they replace. SQLite keeps its explicit transaction.
    autocommit = engine.dialect.name == "postgresql" and not raw.autocommit
    try:
        if autocommit:
            raw.autocommit = True
        created = _create_on(raw, engine.dialect, wait=wait, **kwargs)
        pooled.commit()
        return created
    except BaseException:
        with contextlib.suppress(Exception):
            pooled.rollback()
        raise
    finally:
        if autocommit:
            with contextlib.suppress(Exception):
                raw.autocommit = False
        pooled.close()


async def create_portal_session_async(**kwargs: Any) -> CreatedSession:
    """`create_portal_session_committed` for callers on an event loop (the session API).

    SQLite: run on the loop itself — a unit of work is a fraction of a millisecond of
    CPU, less than a hop to a worker thread — and share the transaction with the other
    creations that arrived in the same loop iteration (group commit: the BEGIN and the
    COMMIT are the dearest part of a SQLite write). If another writer holds the lock,
    nothing waits on the loop: the request is redone in a worker thread, which waits.
    A networked database (PostgreSQL) always runs in a worker thread.
    """
    if get_engine().dialect.name != "sqlite":
        return await anyio.to_thread.run_sync(partial(create_portal_session_committed, **kwargs))
    loop = asyncio.get_running_loop()
    group = _group_commits.get(loop)
    if group is None:
        group = _group_commits[loop] = _SqliteGroupCommit(loop)
    try:
        return await group.submit(kwargs)
    except DatabaseBusy:
        return await anyio.to_thread.run_sync(partial(create_portal_session_committed, wait=True, **kwargs))


class _SqliteGroupCommit:
    """Session creations queued on one event loop, written in one SQLite transaction.

    Each creation keeps its own checks, its own savepoint and its own answer; a batch is
    whatever is queued when the loop gets to it (no request waits for others to come).
    """

    MAX_BATCH = 64

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue: list[tuple[dict[str, Any], asyncio.Future[CreatedSession]]] = []
        self._scheduled = False

    def submit(self, kwargs: dict[str, Any]) -> asyncio.Future[CreatedSession]:
        future: asyncio.Future[CreatedSession] = self._loop.create_future()
        self._queue.append((kwargs, future))
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        batch, self._queue = self._queue[: self.MAX_BATCH], self._queue[self.MAX_BATCH :]
        self._scheduled = bool(self._queue)
        if self._queue:
            self._loop.call_soon(self._flush)
        written: list[tuple[asyncio.Future[CreatedSession], CreatedSession]] = []
        try:
            engine = get_engine()
            if not pool_has_room(engine):  # the loop must never wait for the pool: the waiters retry in a thread
                raise DatabaseBusy("no database connection is free")
            pooled = raw_connection(engine)
            cursor = pooled.driver_connection.cursor()
            try:
                _begin_sqlite_write(pooled.driver_connection, cursor, wait=False)
                for kwargs, future in batch:
                    cursor.execute("SAVEPOINT portal_session")
                    try:
                        created = _create_with(cursor, engine.dialect, **kwargs)
                    except Exception as exc:  # noqa: BLE001 - this request's answer (400…500), not the batch's
                        cursor.execute("ROLLBACK TO portal_session")
                        _settle(future, exc=exc)
                    else:
                        written.append((future, created))
                    cursor.execute("RELEASE portal_session")
                pooled.commit()
            except BaseException:
                with contextlib.suppress(Exception):
                    pooled.rollback()
                raise
            finally:
                cursor.close()
                pooled.close()
        except BaseException as exc:  # every waiter gets the batch's failure
            for _kwargs, future in batch:
                _settle(future, exc=exc)
            if not isinstance(exc, Exception):  # KeyboardInterrupt, SystemExit: not ours to keep
                raise
            return
        for future, created in written:
            _settle(future, result=created)


def _settle(future: asyncio.Future[Any], *, result: Any = None, exc: BaseException | None = None) -> None:
    if future.done():  # the client went away; its session (if written) simply expires
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)


_group_commits: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _SqliteGroupCommit] = (
    weakref.WeakKeyDictionary()
)


def _create_on(raw: Any, sa_dialect: Any, *, wait: bool, **kwargs: Any) -> CreatedSession:
    cursor = raw.cursor()
    try:
        if sa_dialect.name == "sqlite":
            _begin_sqlite_write(raw, cursor, wait=wait)
        return _create_with(cursor, sa_dialect, **kwargs)
    finally:
        cursor.close()


def _create_with(
    cursor: Any,
    sa_dialect: Any,
    *,
    team_id: str,
    project_id: str,
    api_key: str | ApiKey | None,
    customer_id: str,
    ttl_ms: int | None = None,
    return_url: str | None = None,
    locale: str | None = None,
    flow: dict[str, Any] | None = None,
    client_ip: str | None = None,
    now: datetime | None = None,
) -> CreatedSession:
    """Checks and writes of one session creation, inside the caller's transaction."""
    dialect = sa_dialect.name
    key_id, facts, customer_project, customer_removed = _load_for_create(
        cursor, dialect, team_id=team_id, project_id=project_id, api_key=api_key, customer_id=customer_id
    )
    if key_id is not None:
        retry_after = ratelimit.session_creation.hit(key_id)
        if retry_after:
            raise rate_limited(retry_after)

    ttl = check_ttl_ms(ttl_ms)
    return_url = check_return_url(return_url, facts)
    locale = resolve_locale(locale)
    flow_json = check_flow(flow, facts)
    if customer_project != facts.id or customer_removed:
        raise not_found(f"No such customer: {_shown(customer_id)}.", param="customerId")

    now = now or utcnow()
    expires_at = (now + timedelta(milliseconds=ttl)).replace(microsecond=0)
    session_id = _new_session_id()
    token = encode_token(
        {
            "sid": session_id,
            "pid": facts.id,
            "cid": customer_id,
            "aud": TOKEN_AUDIENCE,
            "iat": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
        },
        get_settings().signing_keys()[0],
    )
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
    stamp = _datetime_binder(sa_dialect)
    created_stamp = stamp(now)
    session_params = {**row, "created_at": created_stamp, "expires_at": stamp(expires_at)}
    detail = {"ttlMs": ttl, "expiresAt": to_iso_z(expires_at), "locale": locale,
              "flow": flow["type"] if flow_json and flow else None}
    audit_params = {
        "project_id": facts.id, "action": AUDIT_CREATED, "customer_id": customer_id,
        "session_id": session_id, "api_key_id": key_id, "client_ip": (client_ip or None) and client_ip[:64],
        "detail": _JSON_SORTED.encode(detail), "created_at": created_stamp,
    }
    touch = key_id is not None and _last_used_due(key_id)
    if dialect == "sqlite":  # in-process: separate statements cost nothing extra
        cursor.execute(_sql(dialect, "insert_session"), session_params)
        cursor.execute(_sql(dialect, "insert_audit"), audit_params)
        if touch:
            cursor.execute(_sql(dialect, "touch_key"), {"now": created_stamp, "id": key_id})
    else:
        cursor.execute(_sql(dialect, "insert_all"),
                       {**audit_params, **session_params, "touch_key_id": key_id if touch else None})
    portal_url = f"{get_settings().resolved_public_url}/portal/{token}"
    return CreatedSession(row, token, portal_url)


def _load_for_create(
    cursor: Any, dialect: str, *, team_id: str, project_id: str, api_key: str | ApiKey | None, customer_id: str
) -> tuple[str | None, _ProjectFacts, str | None, bool]:
    if not isinstance(customer_id, str):
        customer_id = ""
    if isinstance(api_key, str):
        if not api_key.startswith(API_KEY_PREFIX) or len(api_key) > 200:
            raise unauthorized("Invalid API key provided.", code="invalid_api_key")
        cursor.execute(_sql(dialect, "by_key"), {"key_hash": digest(api_key), "customer_id": customer_id})
    else:
        if api_key is not None and api_key.project_id != project_id:
            raise forbidden("This API key does not grant access to this team and project.")
        cursor.execute(_sql(dialect, "by_project"), {"project_id": project_id, "customer_id": customer_id})
    found = cursor.fetchone()
    if found is None:
        if isinstance(api_key, str):
            raise unauthorized("Invalid API key provided.", code="invalid_api_key")
        raise not_found(f"No such project: {_shown(project_id)}.", param="projectId")
    key_id, key_project, revoked, team, default_return, origins, cancel, pm_update, c_project, c_removed = found
    if revoked:
        raise unauthorized("This API key has been revoked.", code="api_key_revoked")
    if key_project != project_id or team != team_id:
        if isinstance(api_key, str):
            raise forbidden("This API key does not grant access to this team and project.")
        raise not_found(f"No such project: {_shown(project_id)}.", param="projectId")
    if isinstance(api_key, ApiKey):
        key_id = api_key.id
    facts = _ProjectFacts(key_project, team, default_return, origins or "", bool(cancel), bool(pm_update))
    return key_id, facts, c_project, bool(c_removed)


def encode_token(claims: dict[str, Any], key: str) -> str:
    """`jwt.encode(claims, key, algorithm="HS256")`, byte for byte, at a fraction of the cost.

    PyJWT re-serialises the constant header and re-prepares the key on every call; on
    the hot path we keep both and sign with PyJWT's own HMAC-SHA256. Decoding — the
    security check — always goes through `jwt.decode` (see `decode_token`).
    """
    prepared = _prepared_keys.get(key)
    if prepared is None:
        prepared = _HS256.prepare_key(key)
        if len(_prepared_keys) > 8:
            _prepared_keys.clear()
        _prepared_keys[key] = prepared
    payload = base64.urlsafe_b64encode(_JSON.encode(claims).encode()).rstrip(b"=")
    signing_input = _JWT_HEADER + b"." + payload
    signature = base64.urlsafe_b64encode(_HS256.sign(signing_input, prepared)).rstrip(b"=")
    return (signing_input + b"." + signature).decode()


_HS256 = HMACAlgorithm(HMACAlgorithm.SHA256)
_JWT_HEADER = base64.urlsafe_b64encode(
    json.dumps({"alg": TOKEN_ALGORITHM, "typ": "JWT"}, separators=(",", ":"), sort_keys=True).encode()
).rstrip(b"=")
_prepared_keys: dict[str, bytes] = {}
# json.dumps builds a new encoder for every call with options; these are built once.
_JSON = json.JSONEncoder(separators=(",", ":"))
_JSON_SORTED = json.JSONEncoder(separators=(",", ":"), sort_keys=True)
_BASE36 = (string.digits + string.ascii_lowercase).encode()  # sorts the same in every collation
_BASE62 = (string.digits + string.ascii_uppercase + string.ascii_lowercase).encode()
# Random byte b → base62 character b % 62; bytes ≥ 248 are deleted (4 × 62 = 248), so
# every character is equally likely (no modulo bias).
_BASE62_OF_BYTE = bytes(_BASE62[b % 62] for b in range(256))
_BIASED_BYTES = bytes(range(248, 256))
SESSION_ID_TIME_CHARS = 9  # milliseconds since 1970 in base36: good until the year 5188
SESSION_ID_RANDOM_CHARS = 11  # 65 random bits: unique even among sessions of the same millisecond


def _new_session_id(now_ms: int | None = None) -> str:
    """`portal_sess_` + 20 characters: the time in milliseconds (base36), then 11 random (base62).

    Time first so that each new id lands at the end of the primary-key index instead of
    at a random page of it: a session creation then dirties the same few index pages
    as the ones before it, rather than one more page of a growing index each (fewer
    pages to write per commit). Nothing relies on ids being unguessable: a portal is
    opened by its signed token, and a session is revoked with the project's API key.
    """
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    stamp = bytearray(SESSION_ID_TIME_CHARS)
    for index in range(SESSION_ID_TIME_CHARS - 1, -1, -1):
        ms, digit = divmod(ms, 36)
        stamp[index] = _BASE36[digit]
    randoms = b""
    while len(randoms) < SESSION_ID_RANDOM_CHARS:  # 16 random bytes leave fewer than 11 about once in 175,000 calls
        randoms += secrets.token_bytes(16).translate(_BASE62_OF_BYTE, _BIASED_BYTES)
    return "portal_sess_" + stamp.decode() + randoms[:SESSION_ID_RANDOM_CHARS].decode()


def _begin_sqlite_write(raw: Any, cursor: Any, *, wait: bool) -> None:
    """Take SQLite's write lock up front (BEGIN IMMEDIATE), so the unit of work never has
    to upgrade a read to a write mid-way; with wait=False, fail at once if it is taken."""
    if raw.in_transaction:  # the caller's transaction is already open: join it
        return
    if wait:
        cursor.execute("BEGIN IMMEDIATE")
        return
    patience = _sqlite_patience.get(id(raw))
    if patience is None:
        cursor.execute("PRAGMA busy_timeout")
        patience = int(cursor.fetchone()[0])
        if len(_sqlite_patience) > 256:
            _sqlite_patience.clear()
        _sqlite_patience[id(raw)] = patience
    cursor.execute("PRAGMA busy_timeout = 0")
    try:
        cursor.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        raise DatabaseBusy(str(exc)) from exc
    finally:
        cursor.execute(f"PRAGMA busy_timeout = {patience}")


def _sql(dialect: str, name: str) -> str:
    key = (dialect, name)
    text = _dialect_sql.get(key)
    if text is None:
        text = _CREATE_SQL[name]
        if dialect != "sqlite":  # psycopg: %(name)s; sqlite3 takes :name as written
            text = re.sub(r":(\w+)", r"%(\1)s", text)
        _dialect_sql[key] = text
    return text


def _datetime_binder(dialect: Any) -> Any:
    """How SQLAlchemy would bind our UTC datetime columns on this dialect."""
    binder = _datetime_binders.get(dialect.name)
    if binder is None:
        processor = PortalSession.__table__.c.created_at.type.bind_processor(dialect)
        binder = processor or (lambda value: value)
        _datetime_binders[dialect.name] = binder
    return binder


def _last_used_due(key_id: str) -> bool:
    tick = time.monotonic()
    with _last_used_lock:
        if tick - _last_used_written.get(key_id, -1e9) < LAST_USED_RESOLUTION.total_seconds():
            return False
        _last_used_written[key_id] = tick
        return True


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


def check_return_url(return_url: str | None, project: Project | _ProjectFacts) -> str | None:
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
    allowed = {normalised_origin(o) for o in allowed_return_origins(project)}
    if allowed and origin_of(parts.scheme, parts.hostname, port) not in allowed:
        raise invalid(
            "returnUrl is not on one of this project's allowed return origins.",
            param="returnUrl",
            code="return_url_not_allowed",
        )
    return return_url


def resolve_locale(locale: str | None) -> str:
    """`de`, `de-AT`, `DE_at` → `de`; a well-formed tag of an unsupported language → `en`."""
    if locale is None or locale == "" or locale == "auto":
        return DEFAULT_LOCALE
    if not isinstance(locale, str) or len(locale) > 35 or not _LOCALE_TAG.fullmatch(locale):
        raise invalid(
            "locale must be a language tag such as en, de or fr-CA (supported: "
            + ", ".join(SUPPORTED_LOCALES) + ").",
            param="locale",
        )
    language = re.split(r"[-_]", locale, maxsplit=1)[0].lower()
    return language if language in SUPPORTED_LOCALES else DEFAULT_LOCALE


def check_flow(flow: dict[str, Any] | None, project: Project | _ProjectFacts) -> str | None:
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
    if set(flow) != {"type", "subscriptionId"} or not is_subscription_id(subscription_id):
        raise invalid("A subscription_cancel flow needs subscriptionId (sub_…).", param="flow.subscriptionId")
    if not project.feature_cancel:
        raise invalid("Cancelling subscriptions is turned off for this project.", param="flow.type",
                      code="feature_disabled")
    return json.dumps({"type": kind, "subscriptionId": subscription_id})


def is_subscription_id(value: object) -> bool:
    """A Stripe subscription id (`sub_…`) in shape; says nothing of whose it is."""
    return isinstance(value, str) and _SUBSCRIPTION_ID.fullmatch(value) is not None


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
    429 `rate_limited` for a failure from a `client_ip` that has used up its budget of
    failed validations (a valid token from that address still validates).
    `project_id`, when a route knows which project it serves, must match the token's.
    """
    # A valid token always gets through: many customers can share one address (an
    # office behind NAT), and one visitor's failures must not lock the others out.
    blocked_for = ratelimit.token_failures.blocked(client_ip) if client_ip else 0
    try:
        return _validate(db, token, now or utcnow(), project_id)
    except PortalTokenError as exc:
        log.info("portal token rejected (%s) from %s", exc.code, client_ip or "-")
        if client_ip:
            ratelimit.token_failures.hit(client_ip)
        if blocked_for:
            raise rate_limited(blocked_for) from None
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
        # created_at is rounded down to the second: a session of the very second of a
        # removal counts as revoked, never the other way round.
        or (customer.sessions_revoked_at is not None and session.created_at < customer.sessions_revoked_at)
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
    if not value or not _FRAME_ANCESTORS_SAFE.fullmatch(value):
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
