"""Known failures as one clean line (`error: …`, exit 1; JSON with --json); bugs keep their traceback."""

from __future__ import annotations

import re
from typing import Any

import click
import sqlalchemy as sa
from alembic.util import CommandError as MigrationError
from cryptography.fernet import InvalidToken
from pydantic import ValidationError

from billstack.cli.output import COMMAND_KEY, JSON_FLAG, CommandFailed
from billstack.config import ConfigError, get_settings
from billstack.errors import BillStackError
from billstack.migrate import redacted_url


def _field(name: str) -> str:
    """`customerId`, `customer_id` and `customer` all name the field `customer`;
    a plural (`allowed_return_origins`) names the same field as its singular."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
    return snake.removesuffix("_id").rstrip("s")


def option_for(param: str, command: click.Command) -> str | None:
    """The option of `command` that sets the field an error's `param` names (the API's
    camelCase, or a service's field name), as typed on the command line; None if no option does."""
    for option in command.params:
        if isinstance(option, click.Option) and option.name and _field(option.name) == _field(param):
            return max(option.opts, key=len)
    return None


def _is_compound(param: str) -> bool:
    # `accent_color` / `accentColor` are field names, not words: the message says --accent-color.
    # A one-word param (`name`, `url`) reads as English and is left alone.
    return "_" in param or param != param.lower()


def cli_wording(message: str, param: str | None) -> str:
    """Service messages name fields (accent_color); on the command line say --accent-color."""
    ctx = click.get_current_context(silent=True)
    command = ctx.meta.get(COMMAND_KEY) if ctx else None
    if not param or not _is_compound(param) or command is None:
        return message
    flag = option_for(param, command)
    if flag is None:
        return message
    return re.sub(rf"\b{re.escape(param)}\b", flag, message)


def _configuration_problems(exc: ValidationError) -> str:
    # Name the variable and the problem, never the value (it may be a secret).
    return "; ".join(
        f"BILLSTACK_{'_'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
        for error in exc.errors()
    )


def _database_failure(exc: sa.exc.SQLAlchemyError) -> CommandFailed:
    # Only the driver's first line: SQLAlchemy's full text carries SQL and parameters.
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    if isinstance(exc, sa.exc.OperationalError):
        where = redacted_url(get_settings().resolved_database_url)
        return CommandFailed(f"database error at {where}: {detail}", code="database_error", type="api_error")
    return CommandFailed(f"database error: {detail}", code="database_error", type="api_error")


def translate(exc: BaseException) -> CommandFailed | None:
    """Known failures as one clean line; anything else is a bug and keeps its traceback."""
    if isinstance(exc, BillStackError):
        return CommandFailed(cli_wording(exc.message, exc.param), code=exc.code, type=exc.type, param=exc.param)
    if isinstance(exc, ConfigError):
        return CommandFailed(str(exc), code="configuration_error", type="configuration_error")
    if isinstance(exc, ValidationError):
        return CommandFailed(
            f"invalid configuration: {_configuration_problems(exc)}",
            code="configuration_error",
            type="configuration_error",
        )
    if isinstance(exc, RuntimeError) and isinstance(exc.__cause__, InvalidToken):
        return CommandFailed(str(exc), code="secret_unreadable", type="configuration_error")
    if isinstance(exc, sa.exc.SQLAlchemyError):
        return _database_failure(exc)
    if isinstance(exc, MigrationError):
        return CommandFailed(f"migration failed: {exc}", code="migration_error", type="api_error")
    return None


def usage_failure(exc: click.UsageError) -> CommandFailed:
    """A usage error (exit 2) as the JSON error object, for --json."""
    param = getattr(exc, "param", None)
    return CommandFailed(
        exc.format_message(),
        code="missing_option" if isinstance(exc, click.MissingParameter) else "usage_error",
        type="usage_error",
        param=param.name if param is not None else None,
        exit_code=2,
    )


class BillStackGroup(click.Group):
    """The top-level group: turns known failures into `error: …` and the documented exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort, CommandFailed):
            raise
        except click.UsageError as exc:
            if not ctx.meta.get(JSON_FLAG):
                raise
            raise usage_failure(exc) from exc
        except Exception as exc:
            failure = translate(exc)
            if failure is None:
                raise
            raise failure from exc
