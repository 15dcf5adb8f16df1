"""`billstack db upgrade`: migrate the database to the latest schema, one revision at a time."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from billstack.cli.output import CommandFailed, emit, json_option, progress
from billstack.cli.root import main
from billstack.config import get_settings
from billstack.db import engine_for
from billstack.migrate import apply_revision, database_revisions, migration_lock, pending_revisions, redacted_url


@main.group()
def db() -> None:
    """Database schema (Alembic migrations)."""


def _revision(engine: sa.Engine) -> str | None:
    return ",".join(sorted(database_revisions(engine))) or None


@db.command("upgrade", short_help="Migrate the database to the latest schema.")
@json_option
def db_upgrade() -> None:
    """Migrate the database (BILLSTACK_DATABASE_URL) to the latest schema, one revision at a time.

    Another process upgrading the same database (a second host starting) is waited for."""
    url = get_settings().resolved_database_url
    with migration_lock(url):  # "before" is read under the lock: what the other process left
        _upgrade(url)


def _upgrade(url: str) -> None:
    engine = engine_for(url)
    where = redacted_url(url)
    before = _revision(engine)
    progress(f"Database: {where}")
    progress(f"Revision before: {before or 'none (empty database)'}")
    try:
        pending = pending_revisions(url, before)
    except Exception as exc:  # noqa: BLE001 - alembic raises several kinds for unknown revisions
        raise CommandFailed(
            f"the database {where} is at revision {before}, which this version of BillStack does not know "
            "(was it migrated by a newer version?).",
            code="schema_unknown",
            type="configuration_error",
        ) from exc
    applied: list[dict[str, Any]] = []
    for revision in pending:
        started = time.monotonic()
        progress(f"Applying {revision.revision} ({revision.doc})…")
        apply_revision(url, revision.revision)
        progress(f"  done in {time.monotonic() - started:.2f} s")
        applied.append({"revision": revision.revision, "description": revision.doc})
    after = _revision(engine)
    summary = (
        f"Revision now: {after} (latest)" if applied else f"Already at the latest revision {after}; nothing to do."
    )
    emit(
        {"id": after, "object": "database_migration", "database": where, "before": before, "after": after,
         "applied": applied},
        summary,
    )
