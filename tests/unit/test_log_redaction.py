"""No portal token reaches a log line: in the message, its arguments, a traceback, or a
stack, whichever handler renders it (a plain stream, Reflex's rich console)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from pydantic import ValidationError
from reflex_base.utils.log import RichConsoleHandler

from billstack.config import get_settings, reset_settings
from billstack.logs import LOGGERS_WITH_HANDLERS, REDACTED, RedactTokens, install_log_redaction, redact

TOKEN = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzaWQiOiJwb3J0YWxfc2Vzc18xIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger writing through a redacting stream handler into a buffer."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.addFilter(RedactTokens())
    logger = logging.getLogger("billstack.test_redaction")
    logger.addHandler(handler)
    logger.propagate = False
    yield logger, buffer
    logger.removeHandler(handler)
    logger.propagate = True


@pytest.mark.parametrize(("text", "expected"), [
    (f"GET /api/portal/{TOKEN}/subscriptions", f"GET /api/portal/{REDACTED}/subscriptions"),
    (f"{{'asPath': '/portal/{TOKEN}', 'query': {{'token': '{TOKEN}'}}}}",
     f"{{'asPath': '/portal/{REDACTED}', 'query': {{'token': '{REDACTED}'}}}}"),
    ("/portal/not-a-jwt-but-maybe-a-mistyped-one?x=1", f"/portal/{REDACTED}?x=1"),
    (f"refused on /portal/{TOKEN}: no handler", f"refused on /portal/{REDACTED}: no handler"),
    ("/portal/%65yJ%2E", f"/portal/{REDACTED}"),
    (f"//Portal/{TOKEN}", f"//Portal/{REDACTED}"),
    (f"Bearer {TOKEN}.", f"Bearer {REDACTED}."),
    ("GET /api/billstack/teams/team_1/projects/proj_1/portal", "GET /api/billstack/teams/team_1/projects/proj_1/portal"),
])
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected
    assert redact(redact(text)) == expected


def test_token_in_the_arguments(logged) -> None:
    logger, buffer = logged
    logger.error("unhandled error on %s %s", "GET", f"/api/portal/{TOKEN}/invoices")
    assert buffer.getvalue() == f"unhandled error on GET /api/portal/{REDACTED}/invoices\n"


def test_token_in_a_traceback(logged) -> None:
    logger, buffer = logged
    try:
        raise KeyError(f"No registered handler found for event: x, router_data={{'asPath': '/portal/{TOKEN}'}}")
    except KeyError:
        logger.exception("Error processing event queue entry for %s", {"asPath": f"/portal/{TOKEN}"})
    output = buffer.getvalue()
    assert TOKEN not in output and "eyJ" not in output
    assert "Traceback (most recent call last)" in output and f"/portal/{REDACTED}" in output


def test_token_in_a_stack(logged) -> None:
    logger, buffer = logged
    url = f"/portal/{TOKEN}"  # noqa: F841 - only its name shows in the stack, not its value
    logger.warning("here %s", f"/portal/{TOKEN}", stack_info=True)
    assert TOKEN not in buffer.getvalue() and "Stack (most recent call last)" in buffer.getvalue()


def test_reflex_rich_handler_renders_the_redacted_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    """Under the Reflex CLI the `reflex` logger has this handler, which formats exc_info itself."""
    handler = RichConsoleHandler()
    handler.addFilter(RedactTokens())
    logger = logging.getLogger("reflex.test_redaction")
    logger.addHandler(handler)
    try:
        try:
            raise ValueError(f"bad event from /portal/{TOKEN}")
        except ValueError:
            logger.exception("[Reflex Backend Exception] on %s", f"/portal/{TOKEN}")
    finally:
        logger.removeHandler(handler)
    printed = capsys.readouterr()
    assert "ValueError" in printed.err + printed.out
    assert TOKEN not in printed.err + printed.out


def test_arguments_that_do_not_fit_do_not_raise_at_the_call_site(logged) -> None:
    logger, buffer = logged
    logger.warning("%s and %s", f"/portal/{TOKEN}")
    assert TOKEN not in buffer.getvalue()


def test_install_covers_the_root_and_the_servers_loggers(monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])  # as in a Granian worker: nothing on the root
    engineio = logging.getLogger("engineio.server")  # python-engineio adds a handler of its own
    engineio_handler = logging.StreamHandler(io.StringIO())
    monkeypatch.setattr(engineio, "handlers", [engineio_handler])
    monkeypatch.setattr(engineio, "propagate", True)
    install_log_redaction()
    install_log_redaction()  # idempotent
    assert len(root.handlers) == 1
    for handler in (root.handlers[0], engineio_handler):
        assert [type(f) for f in handler.filters] == [RedactTokens]
    assert engineio.propagate is False  # printed once, by its own (redacting) handler
    assert set(LOGGERS_WITH_HANDLERS) >= {"", "reflex", "_granian", "granian.access", "engineio.server"}


def test_billstack_log_level_sets_the_servers_level(monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", logging.WARNING)
    monkeypatch.setattr(logging.getLogger("stripe"), "level", logging.NOTSET)
    monkeypatch.setenv("BILLSTACK_LOG_LEVEL", "debug")
    reset_settings()
    install_log_redaction(get_settings().log_level)
    assert root.level == logging.DEBUG
    assert logging.getLogger("stripe").isEnabledFor(logging.DEBUG)
    install_log_redaction("INFO")  # the default: one line per Stripe request would drown the rest
    assert root.isEnabledFor(logging.INFO) and not logging.getLogger("stripe").isEnabledFor(logging.INFO)
    assert logging.getLogger("stripe").isEnabledFor(logging.WARNING)


def test_an_unknown_log_level_is_refused_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLSTACK_LOG_LEVEL", "chatty")
    reset_settings()
    with pytest.raises(ValidationError, match="log_level"):
        get_settings()
