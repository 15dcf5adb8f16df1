"""A command's database work: one transaction, on a database whose schema is current."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlmodel import Session

from billstack.cli.output import CommandFailed
from billstack.db import get_engine, session_scope
from billstack.migrate import schema_problem


def require_current_schema() -> None:
    problem = schema_problem(get_engine())
    if problem:
        raise CommandFailed(problem, code="schema_not_current", type="configuration_error")


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """One transaction for the whole command, on a database whose schema is current."""
    require_current_schema()
    with session_scope() as db:
        yield db
