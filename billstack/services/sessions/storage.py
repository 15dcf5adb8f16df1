"""Session creation's SQL, spoken to the driver directly (the benchmarked hot path).

One SELECT (key + project + customer; one more only for a deep link to a subscription,
to check whose it is, and one for a deep link to a price, to check the project offers it), then the session and audit INSERTs (and, at most
once a minute per key, the key's `last_used_at`): separate statements on SQLite, where
they cost nothing extra, one statement on PostgreSQL (one round trip instead of three).
On PostgreSQL a key this process has seen pass needs no SELECT of its own either
(`insert_if_unchanged`: one round trip in all). No ORM objects on the way; the audit
row's columns are `audit`'s.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from billstack.errors import forbidden, not_found, unauthorized
from billstack.models import ApiKey, PortalSession
from billstack.secrets_box import digest
from billstack.services import audit
from billstack.services.sessions.request import ProjectFacts, shown
from billstack.services.tenants import API_KEY_PREFIX

# The row `by_key` loads, by name: what `load_for_create` checks and, on PostgreSQL, what
# `insert_if_unchanged` compares with the row those checks passed on. `by_project` reads
# the same columns from the project on.
_FOUND = (
    ("key_id", "k.id"),
    ("key_project", "k.project_id"),
    ("revoked", "CASE WHEN k.revoked_at IS NULL THEN 0 ELSE 1 END"),
    ("team_id", "p.team_id"),
    ("default_return_url", "p.default_return_url"),
    ("allowed_return_origins", "p.allowed_return_origins"),
    ("feature_cancel", "p.feature_cancel"),
    ("feature_payment_method_update", "p.feature_payment_method_update"),
    ("feature_plan_change", "p.feature_plan_change"),
    ("c_project", "c.project_id"),
    ("c_removed", "CASE WHEN c.removed_at IS NULL THEN 0 ELSE 1 END"),
)
_KEY_PART = 9  # the key's and its project's columns; the customer's follow
_PROJECT_COLUMNS = ", ".join(expr for _name, expr in _FOUND[3:])
_FROM_KEY = """
        FROM api_key k
        JOIN project p ON p.id = k.project_id
        LEFT JOIN customer c ON c.id = :customer_id
        WHERE k.key_hash = :key_hash"""
_SESSION_COLUMNS = ("id", "project_id", "customer_id", "api_key_id", "token_hash", "return_url",
                    "locale", "flow", "created_at", "expires_at")
_INSERT_SESSION = (
    f"INSERT INTO portal_session ({', '.join(_SESSION_COLUMNS)}) "
    f"VALUES ({', '.join(':' + c for c in _SESSION_COLUMNS)})"
)
_TOUCH_KEY = "UPDATE api_key SET last_used_at = :created_at WHERE id = :touch_key_id"


def _insert_from(table: str, columns: tuple[str, ...], source: str) -> str:
    """An INSERT of one row of parameters per row of `source` (none: nothing is written)."""
    return f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(':' + c for c in columns)} FROM {source}"


# PostgreSQL, a key seen to pass (`insert_if_unchanged`): `by_key`'s row read and the writes
# made only if it is still the row the checks passed on (`expect_…`), in one statement; the
# row comes back either way, with whether the session was written.
_INSERT_CHECKED = f"""
        WITH found AS (SELECT {', '.join(f'{expr} AS {name}' for name, expr in _FOUND)}{_FROM_KEY}),
        unchanged AS (SELECT 1 FROM found WHERE ({', '.join(name for name, _expr in _FOUND)})
                      IS NOT DISTINCT FROM ({', '.join(':expect_' + name for name, _expr in _FOUND)})),
        new_session AS ({_insert_from('portal_session', _SESSION_COLUMNS, 'unchanged')} RETURNING id),
        touched_key AS ({_TOUCH_KEY} AND EXISTS (SELECT 1 FROM new_session)),
        new_audit AS ({_insert_from('audit_event', audit.COLUMNS, 'new_session')})
        SELECT found.*, EXISTS (SELECT 1 FROM new_session) FROM found"""

_CREATE_SQL = {
    "by_key": f"SELECT {', '.join(expr for _name, expr in _FOUND)}{_FROM_KEY}",
    # An `ApiKey` object (or none, for operator tooling): the key's row is read again in
    # the same query, so a key revoked since the object was loaded is refused.
    "by_project": f"""
        SELECT k.id, p.id, CASE WHEN k.revoked_at IS NULL THEN 0 ELSE 1 END,
               {_PROJECT_COLUMNS}
        FROM project p
        LEFT JOIN api_key k ON k.id = :api_key_id AND k.project_id = p.id
        LEFT JOIN customer c ON c.id = :customer_id
        WHERE p.id = :project_id""",
    # Only for a deep link to a subscription: whose it is, as the mirror knows (the unique
    # (project_id, stripe_id) index).
    "subscription_owner": """
        SELECT s.customer_id, s.status FROM subscription s
        WHERE s.project_id = :project_id AND s.stripe_id = :subscription_id""",
    # Only for a deep link to a price (`subscription_update_confirm`): one of the project's
    # plan prices (the unique (project_id, price_id) index).
    "plan_price_offered": """
        SELECT 1 FROM plan_price pp WHERE pp.project_id = :project_id AND pp.price_id = :price_id""",
    "insert_session": _INSERT_SESSION,
    "insert_audit": audit.INSERT_SQL,
    "touch_key": _TOUCH_KEY,
    # PostgreSQL: the same writes in one statement (one round trip instead of three).
    "insert_all": f"""
        WITH new_session AS ({_INSERT_SESSION}), touched_key AS ({_TOUCH_KEY})
        {audit.INSERT_SQL}""",
    "insert_checked": _INSERT_CHECKED,
}
_dialect_sql: dict[tuple[str, str], str] = {}
_datetime_binders: dict[str, Any] = {}
_sqlite_patience: dict[int, int] = {}  # the busy timeout each pooled connection was opened with
# Key digest → the key's and its project's columns as they last passed the checks here
# (`passed_key`); a cache the database confirms on every use, so it may be stale, never wrong.
_passed: dict[str, tuple[Any, ...]] = {}
_PASSED_MAX = 4096
UNREAD = object()  # `load_for_create`: no row read yet


class DatabaseBusy(Exception):
    """SQLite is locked by another writer, or the pool has no free connection, and the
    caller (on an event loop) asked not to wait (see `wait`)."""


def sql(dialect: str, name: str) -> str:
    key = (dialect, name)
    text = _dialect_sql.get(key)
    if text is None:
        text = _CREATE_SQL[name]
        if dialect != "sqlite":  # psycopg: %(name)s; sqlite3 takes :name as written
            text = re.sub(r":(\w+)", r"%(\1)s", text)
        _dialect_sql[key] = text
    return text


def datetime_binder(dialect: Any) -> Any:
    """How SQLAlchemy would bind our UTC datetime columns on this dialect."""
    binder = _datetime_binders.get(dialect.name)
    if binder is None:
        processor = PortalSession.__table__.c.created_at.type.bind_processor(dialect)
        binder = processor or (lambda value: value)
        _datetime_binders[dialect.name] = binder
    return binder


def begin_sqlite_write(raw: Any, cursor: Any, *, wait: bool) -> None:
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


def load_for_create(
    cursor: Any, dialect: str, *, team_id: str, project_id: str, api_key: str | ApiKey | None, customer_id: str,
    found: tuple[Any, ...] | None | object = UNREAD,
) -> tuple[str | None, ProjectFacts, str | None, bool]:
    """The key (its id), the project and the customer, checked: unknown or revoked key →
    401, another project's or team's → 403. Returns (key id, project, customer's project,
    customer removed). `found`: `by_key`'s row already read (`insert_if_unchanged`)."""
    if not isinstance(customer_id, str):
        customer_id = ""
    if isinstance(api_key, str):
        if not api_key.startswith(API_KEY_PREFIX) or len(api_key) > 200:
            raise unauthorized("Invalid API key provided.", code="invalid_api_key")
        if found is UNREAD:
            cursor.execute(sql(dialect, "by_key"), {"key_hash": digest(api_key), "customer_id": customer_id})
            found = cursor.fetchone()
    else:
        if api_key is not None and api_key.project_id != project_id:
            raise forbidden("This API key does not grant access to this team and project.")
        key_id = api_key.id if api_key is not None else None
        cursor.execute(sql(dialect, "by_project"),
                       {"project_id": project_id, "api_key_id": key_id, "customer_id": customer_id})
        found = cursor.fetchone()
    if found is None:
        if isinstance(api_key, str):
            raise unauthorized("Invalid API key provided.", code="invalid_api_key")
        raise not_found(f"No such project: {shown(project_id)}.", param="projectId")
    key_id, key_project, revoked, team = found[:4]
    if api_key is not None and key_id is None:  # an ApiKey object whose row is gone
        raise unauthorized("Invalid API key provided.", code="invalid_api_key")
    if revoked or (isinstance(api_key, ApiKey) and api_key.revoked_at is not None):
        raise unauthorized("This API key has been revoked.", code="api_key_revoked")
    if key_project != project_id or team != team_id:
        if isinstance(api_key, str):
            raise forbidden("This API key does not grant access to this team and project.")
        raise not_found(f"No such project: {shown(project_id)}.", param="projectId")
    if isinstance(api_key, str) and dialect == "postgresql":
        _note_passed(digest(api_key), tuple(found[:_KEY_PART]))
    c_project, c_removed = found[_KEY_PART:]
    return key_id, project_facts(found), c_project, bool(c_removed)


def project_facts(found: tuple[Any, ...]) -> ProjectFacts:
    """The project's settings in a `by_key`/`by_project` row."""
    _key_id, key_project, _revoked, team, default_return, origins, cancel, pm_update, plan_change = found[:_KEY_PART]
    return ProjectFacts(key_project, team, default_return, origins or "", bool(cancel), bool(pm_update),
                        bool(plan_change))


def _note_passed(key_hash: str, passed: tuple[Any, ...]) -> None:
    if len(_passed) >= _PASSED_MAX and key_hash not in _passed:
        _passed.clear()  # keys are few; a flood of them only costs their next SELECT
    _passed[key_hash] = passed


def usable_customer(project_id: str) -> tuple[str, int]:
    """A row's (customer's project, removed) when the customer may have a session: the
    creation's check and the one-statement creation's expectation."""
    return (project_id, 0)


def passed_key(key_hash: str) -> tuple[Any, ...] | None:
    """The key's and its project's columns as they last passed `load_for_create` in this
    process (PostgreSQL only), or None."""
    return _passed.get(key_hash)


def insert_if_unchanged(
    cursor: Any, *, key_hash: str, customer_id: str, passed: tuple[Any, ...], session: dict[str, Any],
    audit_row: dict[str, Any], touch_key_id: str | None,
) -> tuple[tuple[Any, ...] | None, bool]:
    """PostgreSQL, one round trip: `insert_session`'s writes, made only if `by_key`'s row is
    still `passed` with a usable customer, so that checks run on `passed` hold for the row
    as it is. Returns the row as it is (None: no such key) and whether the writes were made."""
    expected = (*passed, *usable_customer(passed[1]))
    params = {**audit_row, **session, "touch_key_id": touch_key_id, "key_hash": key_hash, "customer_id": customer_id,
              **{"expect_" + name: value for (name, _expr), value in zip(_FOUND, expected, strict=True)}}
    cursor.execute(sql("postgresql", "insert_checked"), params)
    found = cursor.fetchone()
    if found is None or not found[-1]:
        _passed.pop(key_hash, None)  # `load_for_create` notes the row again if it passes
        return (tuple(found[:-1]) if found is not None else None), False
    return tuple(found[:-1]), True


def subscription_owner(cursor: Any, dialect: str, *, project_id: str, subscription_id: str) -> tuple[str, str] | None:
    """(customer id, status) of a mirrored subscription of the project, or None."""
    cursor.execute(sql(dialect, "subscription_owner"), {"project_id": project_id, "subscription_id": subscription_id})
    found = cursor.fetchone()
    return (found[0], found[1]) if found is not None else None


def plan_price_offered(cursor: Any, dialect: str, *, project_id: str, price_id: str) -> bool:
    """Whether `price_id` is one of the project's plan prices."""
    cursor.execute(sql(dialect, "plan_price_offered"), {"project_id": project_id, "price_id": price_id})
    return cursor.fetchone() is not None


def insert_session(
    cursor: Any, dialect: str, session: dict[str, Any], audit_row: dict[str, Any], touch_key_id: str | None
) -> None:
    """The session row, its audit row and (when `touch_key_id`) the key's last use, with
    the datetimes already bound for the driver."""
    if dialect == "sqlite":  # in-process: separate statements cost nothing extra
        cursor.execute(sql(dialect, "insert_session"), session)
        cursor.execute(sql(dialect, "insert_audit"), audit_row)
        if touch_key_id is not None:
            touched = {"created_at": session["created_at"], "touch_key_id": touch_key_id}
            cursor.execute(sql(dialect, "touch_key"), touched)
    else:
        cursor.execute(sql(dialect, "insert_all"), {**audit_row, **session, "touch_key_id": touch_key_id})
