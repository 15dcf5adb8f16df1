"""Run Alembic migrations programmatically (used by `billstack db upgrade`, setup and tests),
and tell whether a database's schema is the one this version of BillStack needs.

Several hosts may start at once on one empty database: every upgrade runs under
`migration_lock`, so the first migrates and the others wait, then find nothing to do
(without it, two concurrent upgrades on PostgreSQL fail with duplicate `pg_type` rows)."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import Script, ScriptDirectory

from billstack.config import get_settings
from billstack.db import engine_for
from billstack.private_files import private_file

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# pg_advisory_lock's key: any fixed 64-bit number BillStack owns ("BillStak" in ASCII).
ADVISORY_LOCK_KEY = 0x42696C6C5374616B
SQLITE_LOCK_SUFFIX = ".migrate.lock"


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url or get_settings().resolved_database_url)
    return config


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Migrate to `revision`, waiting for any other process migrating the same database."""
    url = url or get_settings().resolved_database_url
    with migration_lock(url):
        apply_revision(url, revision)


def apply_revision(url: str, revision: str) -> None:
    """One Alembic upgrade; the caller holds `migration_lock(url)`."""
    command.upgrade(alembic_config(url), revision)


@contextmanager
def migration_lock(url: str) -> Iterator[None]:
    """Held for a whole upgrade, across processes and hosts: a PostgreSQL advisory lock on
    its own connection, or an exclusive lock on a file beside the SQLite database."""
    parsed = engine_for(url).url  # as BillStack connects (`postgres://` spelled `postgresql://`)
    if parsed.get_backend_name() == "postgresql":
        with _advisory_lock(parsed):
            yield
    elif parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        with _file_lock(Path(parsed.database + SQLITE_LOCK_SUFFIX)):
            yield
    else:  # an in-memory database belongs to one process
        yield


@contextmanager
def _advisory_lock(url: sa.URL) -> Iterator[None]:
    # Its own unpooled connection in autocommit: the lock lives exactly as long as it does,
    # and no transaction sits open while the migrations run on their connection.
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.select(sa.func.pg_advisory_lock(ADVISORY_LOCK_KEY)))
            try:
                yield
            finally:
                conn.execute(sa.select(sa.func.pg_advisory_unlock(ADVISORY_LOCK_KEY)))
    finally:
        engine.dispose()


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    private_file(path)  # beside the database, in the data folder: 0600 like the database
    with path.open("a") as handle:  # the kernel drops the lock if the process dies
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def current_heads() -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def redacted_url(url: Any) -> str:
    """A database URL fit to print: the password hidden."""
    return sa.engine.make_url(str(url)).render_as_string(hide_password=True)


def database_revisions(engine: sa.Engine) -> set[str]:
    """The revisions the database says it is at (none for an empty database)."""
    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def pending_revisions(url: str, current: str | None) -> list[Script]:
    """The migrations from `current` (None: an empty database) to the latest, oldest first.
    Alembic raises (several kinds) when `current` is a revision it does not know."""
    script = ScriptDirectory.from_config(alembic_config(url))
    return list(script.iterate_revisions("heads", current or "base"))[::-1]


def schema_problem(engine: sa.Engine) -> str | None:
    """Why the database can't be used by this version (not migrated, or by a newer one), or None."""
    current = database_revisions(engine)
    script = ScriptDirectory.from_config(alembic_config(str(engine.url)))
    heads = set(script.get_heads())
    if current == heads:
        return None
    where = redacted_url(engine.url)
    if not current:
        return f"the database {where} has no BillStack schema yet. Run `billstack db upgrade` first."
    known = {revision.revision for revision in script.walk_revisions()}
    if not current <= known:
        return (
            f"the database {where} is at revision {', '.join(sorted(current))}, which this version of "
            "BillStack does not know (was it migrated by a newer version?)."
        )
    return (
        f"the database {where} is at revision {', '.join(sorted(current))}; this version needs "
        f"{', '.join(sorted(heads))}. Run `billstack db upgrade`."
    )
