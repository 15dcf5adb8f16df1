"""Portal tokens never reach a log line.

A portal token is a bearer credential, and it travels in URLs (`/portal/<token>`,
`/api/portal/<token>/…`), so any log line may carry one: our own error logs name the
request path, Reflex prints an event's router data (`asPath: /portal/<token>`), and a
traceback may quote either. `RedactTokens` rewrites every record a handler emits.

Who logs what in `billstack serve` (a Granian worker running Reflex's ASGI app):
- Reflex logs at runtime through stdlib `logging` (loggers under `reflex` and
  `reflex_base`); its rich `console` only prints build progress. Outside the Reflex CLI
  it attaches no handler, so records reach the root logger; under the CLI ("managed"
  mode) the `reflex` logger has its own rich and JSON handlers, which render
  `exc_info` themselves (so the traceback is rendered and redacted here, into the message).
- Granian configures `_granian` and `granian.access` with their own handlers.
- python-socketio / engineio log to `socketio.server` / `engineio.server`.
- The root logger has no handler, which would send records to `logging.lastResort`,
  unfiltered; `install_log_redaction` gives it one.
- python-socketio / engineio give their loggers a handler of their own; those, like
  Granian's, then print their records and no longer pass them on to the root's (each
  line would print twice).
"""

from __future__ import annotations

import logging
import re

from billstack.routes import PORTAL_PREFIX

REDACTED = "…redacted…"
# A JWT (every portal token is one), or the path segment after /portal/ (an invalid token
# too: it may be a real one with a typo), in URL-safe characters and percent-escapes.
TOKEN_PATTERN = re.compile(
    r"eyJ[\w-]*\.[\w-]+\.[\w-]+|(?P<portal>" + re.escape(PORTAL_PREFIX) + r")[\w.~%+=-]+", re.IGNORECASE
)
# Loggers with handlers of their own (records do not propagate from them to the root's).
LOGGERS_WITH_HANDLERS = ("", "reflex", "_granian", "granian.access", "socketio.server", "engineio.server")
LOG_FORMAT = "[%(levelname)s] %(name)s: %(message)s"
# Libraries that narrate every request at INFO (the Stripe SDK: two lines per call): their
# lines show at DEBUG only, warnings and errors always.
CHATTY_LOGGERS = ("stripe",)

_traceback_formatter = logging.Formatter()


def redact(text: str) -> str:
    return TOKEN_PATTERN.sub(lambda match: (match["portal"] or "") + REDACTED, text)


class RedactTokens(logging.Filter):
    """Rewrites a record to its redacted text: message, arguments, traceback and stack."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - arguments that do not fit: a filter must not raise at the call site
            message = f"{record.msg} {record.args}"
        if record.exc_info and record.exc_info[0] is not None:
            message += "\n" + _traceback_formatter.formatException(record.exc_info)
        elif record.exc_text:
            message += "\n" + record.exc_text
        record.msg, record.args = redact(message), None
        record.exc_info, record.exc_text = None, None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_redact_tokens = RedactTokens()


def install_log_redaction(level: str | None = None) -> None:
    """Give the root logger a handler if it has none (and `level`, BILLSTACK_LOG_LEVEL),
    and every handler of the loggers above the redacting filter. Call it after the server
    and Reflex configured logging."""
    root = logging.getLogger()
    if level is not None:
        root.setLevel(level)
        for name in CHATTY_LOGGERS:
            logging.getLogger(name).setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(handler)
    for name in LOGGERS_WITH_HANDLERS:
        logger = logging.getLogger(name)
        for handler in logger.handlers:
            if _redact_tokens not in handler.filters:
                handler.addFilter(_redact_tokens)
        if logger is not root and logger.handlers:
            logger.propagate = False
