"""Websocket events the page could not have sent are refused with one short log line.

Reflex takes whatever JSON a client emits on its websocket (`EventNamespace.on_event`),
and any visitor can emit anything, as often as they like:
- an event naming no handler is dropped deep in Reflex's event processor, which logs it
  with a traceback (about 13 lines) and the event's router data — the page URL, token
  included;
- an event that is not an object, or whose payload or router data is not one, raises
  inside the socket handler, and python-engineio logs that traceback;
- arguments that do not fit the handler raise when it is called, and Reflex's backend
  exception handler logs that traceback and sends the page an error toast.

`App.backend_exception_handler` only sees the last kind (exceptions of handlers that
ran), and Reflex has no hook ahead of its queue. So `refuse_malformed_events` wraps the
namespace's `on_event`: python-socketio dispatches a client's event to the namespace's
`on_<name>` attribute, and Reflex's connect handler sends the page's boot event through
`self.on_event` too. Well-formed events pass through unchanged.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from reflex_base.registry import RegisteredEventHandler, RegistrationContext
from reflex_base.utils.format import sanitize_client_log_value

if TYPE_CHECKING:
    from reflex.app import EventNamespace

log = logging.getLogger("billstack.events")

SHOWN_CHARS = 100  # of a client-sent name in the log line
PAGE_CHARS = 400  # of the page's path: room for a whole token, which the log redacts
# What Reflex's on_event reads from an event's router data, and must be of these types.
ROUTER_DATA_TYPES = {"pathname": str, "asPath": str, "query": dict}


def refuse_malformed_events(namespace: EventNamespace) -> None:
    reflex_on_event = namespace.on_event

    async def on_event(sid: str, data: Any) -> None:
        problem = event_problem(data, RegistrationContext.get().event_handlers)
        if problem is None:
            await reflex_on_event(sid, data)
        else:
            log.warning("websocket event refused on %s: %s", page_of(data), problem)

    namespace.on_event = on_event  # type: ignore[method-assign]


def event_problem(data: Any, handlers: Mapping[str, RegisteredEventHandler]) -> str | None:
    """Why Reflex could not process `data` as an event of one of `handlers`; None if it can."""
    if not isinstance(data, dict):
        return f"the event is a {type(data).__name__}, not an object"
    name = data.get("name")
    if not isinstance(name, str):
        return "the event has no name"
    payload, router_data = data.get("payload", {}), data.get("router_data", {})
    if not isinstance(payload, dict) or not isinstance(router_data, dict):
        return f"the payload or router data of {_shown(name)!r} is not an object"
    for key, expected in ROUTER_DATA_TYPES.items():
        if key in router_data and not isinstance(router_data[key], expected):
            return f"router data {key} of {_shown(name)!r} is not a {expected.__name__}"
    registered = handlers.get(name)
    if registered is None:
        return f"no handler is named {_shown(name)!r}"
    if not _arguments_fit(registered.handler.fn, payload):
        return f"arguments {_shown(sorted(payload))} do not fit {_shown(name)!r}"
    return None


def page_of(data: Any) -> str:
    """The page the event says it comes from (logged through the token redaction)."""
    router_data = data.get("router_data") if isinstance(data, dict) else None
    page = router_data.get("asPath") if isinstance(router_data, dict) else None
    return _shown(page, PAGE_CHARS) if isinstance(page, str) else "an unknown page"


def _shown(value: Any, max_chars: int = SHOWN_CHARS) -> str:
    """A client-sent value as one printable, bounded piece of a log line."""
    return sanitize_client_log_value(value if isinstance(value, str) else repr(value), max_length=max_chars)


def _arguments_fit(fn: Callable[..., Any], payload: dict[str, Any]) -> bool:
    """Whether Reflex's call `fn(state, **payload)` binds."""
    try:
        _signature(fn).bind(None, **payload)
    except TypeError:
        return False
    return True


@functools.lru_cache(maxsize=1024)
def _signature(fn: Callable[..., Any]) -> inspect.Signature:
    return inspect.signature(fn)
