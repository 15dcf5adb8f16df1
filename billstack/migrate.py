"""Run Alembic migrations programmatically (used by `billstack db upgrade`, setup and tests),
and tell whether a database's schema is the one this version of BillStack needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import Script, ScriptDirectory

from billstack.config import get_settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url or get_settings().resolved_database_url)
    return config


def upgrade(url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


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
