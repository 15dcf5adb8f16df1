"""Portal tokens and secrets never reach a log line; the server's one log format.

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

Every one of those handlers gets the same formatter: BILLSTACK_LOG_FORMAT `text` (one human
line) or `json` (`JsonLines`: one object a line with time, level, logger, message, the
request/project/customer/session ids of billstack/log_context.py, and the exception).
API keys (bsk_…), Stripe keys (sk_/rk_…) and webhook secrets (whsec_…) are redacted like
tokens: a traceback or a library's debug line may quote one.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

from billstack import log_context
from billstack.routes import PORTAL_PREFIX

REDACTED = "…redacted…"
# A JWT (every portal token is one), or the path segment after /portal/ (an invalid token
# too: it may be a real one with a typo), in URL-safe characters and percent-escapes.
TOKEN_PATTERN = re.compile(
    r"eyJ[\w-]*\.[\w-]+\.[\w-]+|(?P<portal>" + re.escape(PORTAL_PREFIX) + r")[\w.~%+=-]+", re.IGNORECASE
)
# Secrets that have a shape: BillStack API keys, Stripe secret/restricted keys, webhook
# signing secrets (services/tenants.py checks the same shapes; test_json_logs.py holds them equal).
SECRET_PATTERN = re.compile(r"\b(?P<kind>bsk_|(?:sk|rk)_(?:test|live)_|whsec_)[A-Za-z0-9+/=_-]{6,}")
# Loggers with handlers of their own (records do not propagate from them to the root's);
# uvicorn's, for a server run another way.
LOGGERS_WITH_HANDLERS = ("", "reflex", "_granian", "granian.access", "socketio.server", "engineio.server",
                         "uvicorn", "uvicorn.error", "uvicorn.access")
LOG_FORMAT = "[%(levelname)s] %(name)s: %(message)s"
# Libraries that narrate every request at INFO (the Stripe SDK: two lines per call): their
# lines show at DEBUG only, warnings and errors always.
CHATTY_LOGGERS = ("stripe",)

_traceback_formatter = logging.Formatter()


def redact(text: str) -> str:
    text = TOKEN_PATTERN.sub(lambda match: (match["portal"] or "") + REDACTED, text)
    return SECRET_PATTERN.sub(lambda match: match["kind"] + REDACTED, text)


class RedactTokens(logging.Filter):
    """Rewrites a record to its redacted text: message, arguments, traceback and stack."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - arguments that do not fit: a filter must not raise at the call site
            message = f"{record.msg} {record.args}"
        exception = None
        if record.exc_info and record.exc_info[0] is not None:
            exception = _traceback_formatter.formatException(record.exc_info)
        elif record.exc_text:
            exception = record.exc_text
        if exception is not None:
            # Text handlers print it as part of the message; JsonLines puts it in its own key.
            record.redacted_exception = redact(exception)
            message += "\n" + exception
        record.msg, record.args = redact(message), None
        record.exc_info, record.exc_text = None, None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_redact_tokens = RedactTokens()

# Attributes a record may carry (`extra=`) that JsonLines writes as keys of their own: the access log's.
EXTRA_FIELDS = ("method", "path", "status", "durationMs", "client")


class JsonLines(logging.Formatter):
    """One JSON object a line; redacts on its own too (a handler without the filter)."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        exception = getattr(record, "redacted_exception", None)
        if exception is None and record.exc_info and record.exc_info[0] is not None:
            exception = self.formatException(record.exc_info)
        elif exception is not None:
            message = message.removesuffix("\n" + exception)
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace(
                "+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name or "root",
            "message": message,
            **log_context.current(),
            **{key: getattr(record, key) for key in EXTRA_FIELDS if hasattr(record, key)},
        }
        if exception:
            line["exception"] = exception
        if record.stack_info:
            line["stack"] = record.stack_info
        line = {key: redact(value) if isinstance(value, str) else value for key, value in line.items()}
        return json.dumps(line, ensure_ascii=False, default=str)


def line_formatter(log_format: str = "text") -> logging.Formatter:
    """The server's formatter for BILLSTACK_LOG_FORMAT."""
    return JsonLines() if log_format == "json" else logging.Formatter(LOG_FORMAT)


def granian_log_config(log_format: str) -> dict:
    """Granian's `log_dictconfig`: its own lines (the parent's too) in the server's format."""
    factory = {"()": "billstack.logs.line_formatter", "log_format": log_format}
    return {"formatters": {"generic": factory, "access": factory}}


def install_log_redaction(level: str | None = None, log_format: str | None = None) -> None:
    """Give the root logger a handler if it has none (and `level`, BILLSTACK_LOG_LEVEL),
    and every handler of the loggers above the redacting filter (and, given `log_format`,
    BILLSTACK_LOG_FORMAT's formatter). Call it after the server and Reflex configured logging."""
    root = logging.getLogger()
    if level is not None:
        root.setLevel(level)
        for name in CHATTY_LOGGERS:
            logging.getLogger(name).setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(line_formatter(log_format or "text"))
        root.addHandler(handler)
    formatter = line_formatter(log_format) if log_format else None
    for name in LOGGERS_WITH_HANDLERS:
        logger = logging.getLogger(name)
        for handler in logger.handlers:
            if _redact_tokens not in handler.filters:
                handler.addFilter(_redact_tokens)
            if formatter is not None:
                handler.setFormatter(formatter)
        if logger is not root and logger.handlers:
            logger.propagate = False
