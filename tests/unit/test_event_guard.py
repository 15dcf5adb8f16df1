"""Websocket events the page could not have sent are refused with one short log line, and
never reach Reflex (which would log a traceback with the page's token)."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest
from reflex_base.registry import RegistrationContext

from billstack.event_guard import event_problem, refuse_malformed_events

CANCEL = "reflex___state____state.billstack___state___portal____portal_state.open_cancel"
PAGE = "/portal/eyJhbGciOiJIUzI1NiJ9.eyJzaWQiOiJ4In0.c2ln"


def open_cancel(self, sub_id: str) -> None:  # noqa: ANN001 - stands in for a state's handler
    pass


HANDLERS: dict[str, Any] = {CANCEL: SimpleNamespace(handler=SimpleNamespace(fn=open_cancel))}


def event(name: str = CANCEL, payload: Any = None, **router_data: Any) -> dict:
    return {"name": name, "payload": {"sub_id": "sub_1"} if payload is None else payload,
            "router_data": {"pathname": "/portal/[token]", "asPath": PAGE, **router_data}}


@pytest.mark.parametrize(("data", "problem"), [
    (event(), None),
    (event(f"{CANCEL}_nope"), f"no handler is named '{CANCEL}_nope'"),
    (["event", {}], "the event is a list, not an object"),
    ('{"name": "x"}', "the event is a str, not an object"),
    ({"payload": {}}, "the event has no name"),
    ({**event(), "payload": []}, f"the payload or router data of '{CANCEL}' is not an object"),
    ({**event(), "router_data": "x"}, f"the payload or router data of '{CANCEL}' is not an object"),
    (event(asPath=3), f"router data asPath of '{CANCEL}' is not a str"),
    (event(query=[]), f"router data query of '{CANCEL}' is not a dict"),
    (event(payload={}), f"arguments [] do not fit '{CANCEL}'"),
    (event(payload={"sub_id": "s", "extra": 1}), f"arguments ['extra', 'sub_id'] do not fit '{CANCEL}'"),
])
def test_event_problem(data: Any, problem: str | None) -> None:
    assert event_problem(data, HANDLERS) == problem


def test_a_long_or_multiline_name_is_shown_on_one_bounded_line() -> None:
    problem = event_problem(event("x\n[ERROR] forged line " + "y" * 500), HANDLERS)
    assert problem is not None and "\n" not in problem and len(problem) < 160


@pytest.mark.asyncio
async def test_refused_events_never_reach_reflex_and_log_one_line(caplog: pytest.LogCaptureFixture) -> None:
    reached: list[Any] = []

    async def reflex_on_event(sid: str, data: Any) -> None:
        reached.append(data)

    namespace = SimpleNamespace(on_event=reflex_on_event)
    refuse_malformed_events(namespace)  # type: ignore[arg-type]
    with RegistrationContext(event_handlers=HANDLERS), caplog.at_level(logging.WARNING, logger="billstack.events"):
        await namespace.on_event("sid1", event("reflex___state____state.nope"))
        await namespace.on_event("sid1", event())

    assert reached == [event()]  # the well-formed one, unchanged
    (record,) = caplog.records
    assert record.getMessage() == (
        f"websocket event refused on {PAGE}: no handler is named 'reflex___state____state.nope'"
    )
    assert record.exc_info is None and "\n" not in record.getMessage()
