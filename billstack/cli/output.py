"""What every command prints: its result (text or one JSON object), progress, clean failures."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import click

JSON_FLAG = "billstack.json"
COMMAND_KEY = "billstack.command"


def json_mode() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.meta.get(JSON_FLAG))


class CommandFailed(click.ClickException):
    """A clean one-line failure: `error: …` on stderr, or the error object on stdout with --json."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "error",
        type: str = "invalid_request_error",
        param: str | None = None,
        exit_code: int = 1,
    ) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.as_json = json_mode()
        body: dict[str, Any] = {"type": type, "code": code, "message": message}
        if param:
            body["param"] = param
        self.body = {"error": body}

    def show(self, file: Any = None) -> None:  # noqa: ARG002 - click's signature
        if self.as_json:
            click.echo(json.dumps(self.body, ensure_ascii=False))
        else:
            click.echo(f"error: {self.message}", err=True)


def emit(data: dict[str, Any], human: str | Sequence[str], warnings: Sequence[str] = ()) -> None:
    """The command's result: `data` as JSON with --json, `human` text otherwise.

    Each warning is a `warning: …` line on stderr; with --json the result also carries them
    as `"warnings": [...]` (only when there are any, so the usual shape stays as it is)."""
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    if warnings:
        data = {**data, "warnings": list(warnings)}
    if json_mode():
        click.echo(json.dumps(data, ensure_ascii=False))
    else:
        click.echo(human if isinstance(human, str) else "\n".join(human))


def progress(message: str) -> None:
    """Progress of long commands: stdout for people, stderr under --json (stdout stays one object)."""
    click.echo(message, err=json_mode())


def _remember_json(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    ctx.meta[COMMAND_KEY] = ctx.command
    if value:
        ctx.meta[JSON_FLAG] = True
    return value


def json_option(fn: Callable) -> Callable:
    # Eager, so a usage error later on the same command line is already reported as JSON.
    return click.option(
        "--json",
        is_flag=True,
        is_eager=True,
        expose_value=False,
        callback=_remember_json,
        help='One JSON object on stdout (errors: {"error": {...}} on stdout, exit 1).',
    )(fn)


# --- human output ----------------------------------------------------------------------


def fields(pairs: Sequence[tuple[str, Any]]) -> list[str]:
    """`  Label:  value` lines, aligned; empty values shown as `-`."""
    width = max(len(label) for label, _ in pairs) + 1
    return [f"  {label + ':':<{width}} {'-' if value in (None, '', []) else value}" for label, value in pairs]


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str], empty: str) -> str:
    """Columns padded to their widest cell, or `empty` when there are no rows."""
    if not rows:
        return empty
    cells = [[("-" if value is None else str(value)) for value in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in cells)
