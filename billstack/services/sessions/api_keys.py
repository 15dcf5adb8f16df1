"""Project API keys as the session API sees them: authenticating one, and noting its use."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

from sqlmodel import Session, select

from billstack.clock import utcnow
from billstack.errors import forbidden, unauthorized
from billstack.models import ApiKey, Project
from billstack.secrets_box import digest
from billstack.services.tenants import API_KEY_PREFIX

# `api_key.last_used_at` is a hint for operators, not an access log: written at most
# once a minute per key and process, so a busy integration does not turn every
# request into a row update (and hot-row lock contention on PostgreSQL).
LAST_USED_RESOLUTION = timedelta(seconds=60)
_last_used_lock = threading.Lock()
_last_used_written: dict[str, float] = {}


def rate_limit_key(api_key: str | ApiKey) -> str:
    """The key's session-creation bucket: the digest it is stored under, so the plaintext a
    request presents and the authenticated row name the same bucket — and a bucket can be
    spent before the database is asked (session API's hot path with shared limits)."""
    return api_key.key_hash if isinstance(api_key, ApiKey) else digest(api_key)


def authenticate_api_key(
    db: Session, plaintext: str, *, team_id: str, project_id: str, now: datetime | None = None
) -> tuple[ApiKey, Project]:
    """The project API key presented as a Bearer token, checked in one indexed query.

    Keys are high-entropy, so the SHA-256 digest needs no per-request KDF, and the lookup
    is on the digest, so timing reveals nothing about the key.
    Unknown or revoked → 401; a valid key of another project or team → 403.
    """
    api_key, project = _key_and_project(db, plaintext)
    if api_key.project_id != project_id or project.team_id != team_id:
        raise forbidden("This API key does not grant access to this team and project.")
    _touch_last_used(api_key, now or utcnow())
    return api_key, project


def authenticate_project_key(db: Session, plaintext: str, *, now: datetime | None = None) -> tuple[ApiKey, Project]:
    """The key names its own project (Stripe's SDKs send only the key): unknown or revoked → 401."""
    api_key, project = _key_and_project(db, plaintext)
    _touch_last_used(api_key, now or utcnow())
    return api_key, project


def _key_and_project(db: Session, plaintext: str) -> tuple[ApiKey, Project]:
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
    return api_key, project


def _touch_last_used(api_key: ApiKey, now: datetime) -> None:
    if api_key.last_used_at is not None and now - api_key.last_used_at < LAST_USED_RESOLUTION:
        return
    if last_used_due(api_key.id):
        api_key.last_used_at = now  # flushed with the caller's unit of work


def last_used_due(key_id: str) -> bool:
    """True (and noted) when this process has not written the key's last use for a minute."""
    tick = time.monotonic()
    with _last_used_lock:
        if tick - _last_used_written.get(key_id, -1e9) < LAST_USED_RESOLUTION.total_seconds():
            return False
        _last_used_written[key_id] = tick
        return True


def last_used_undo(key_id: str) -> None:
    """`last_used_due` said yes but the write did not happen: the next one may write it."""
    with _last_used_lock:
        _last_used_written.pop(key_id, None)
