"""What a log line is about: the request id and the project, customer and portal session ids.

Set where they become known (the request layer, session creation, token validation,
webhook processing) and read by the JSON log formatter (billstack/logs.py). Context
variables follow the request's task and the threads it hands work to (anyio's worker
threads and `in_copied_context`), so two requests never see each other's ids.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("billstack_request_id", default=None)
project_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("billstack_project_id", default=None)
customer_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("billstack_customer_id", default=None)
session_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("billstack_session_id", default=None)

# JSON key → variable, in the order the formatter writes them.
FIELDS: dict[str, contextvars.ContextVar[str | None]] = {
    "requestId": request_id,
    "projectId": project_id,
    "customerId": customer_id,
    "sessionId": session_id,
}


def learn(*, project: str | None = None, customer: str | None = None, session: str | None = None) -> None:
    """Record the ids a service just learned (None leaves a variable as it is)."""
    for variable, value in ((project_id, project), (customer_id, customer), (session_id, session)):
        if value is not None:
            variable.set(value)


def current() -> dict[str, str]:
    """The known ids, by JSON key."""
    return {key: value for key, variable in FIELDS.items() if (value := variable.get()) is not None}


@contextmanager
def fresh() -> Iterator[None]:
    """Ids learned inside are forgotten on leaving (a long-lived thread handling one job after another)."""
    tokens = [(variable, variable.set(variable.get())) for variable in FIELDS.values()]
    try:
        yield
    finally:
        for variable, token in reversed(tokens):
            variable.reset(token)


def in_copied_context(function: Callable[..., T]) -> Callable[..., T]:
    """`function` run in a copy of the caller's context: for a thread pool that, unlike
    anyio's, does not carry context variables over (nor keeps a job's ids from the next job)."""
    context = contextvars.copy_context()

    def run(*args: object, **kwargs: object) -> T:
        return context.run(function, *args, **kwargs)

    return run
