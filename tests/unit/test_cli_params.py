"""An error's `param` (the API's camelCase, or a service's field name) names the option the
operator typed: `failures.option_for` is the one translation, checked here for every param a
service can raise from a CLI command."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from billstack.cli import main
from billstack.cli.failures import cli_wording, option_for
from billstack.cli.output import COMMAND_KEY
from billstack.errors import api_param
from billstack.services import backfill, customers, plan_catalog, tenants, webhooks

_PROJECT_FIELDS = {api_param(field): "--" + field.replace("_", "-") for field in tenants.BRANDING_FIELDS} | {
    "allowedReturnOrigins": "--allowed-return-origin",
    "stripeSecretKey": "--stripe-secret-key",
    "stripeApiBase": "--stripe-api-base",
    "webhookSecret": "--webhook-secret",
    "planChangePrice": "--plan-change-price",
    "prorationBehavior": "--proration-behavior",
    "scheduleAtPeriodEnd": "--schedule-at-period-end",
    "quantityMin": "--quantity-min",
    "quantityMax": "--quantity-max",
}

# Each command, the params its services raise, and the option each names there
# (None: the command takes that value as an argument, so there is no option to name).
CLI_PARAMS: dict[tuple[str, ...], dict[str, str | None]] = {
    ("team", "create"): {"name": "--name"},
    ("project", "create"): {"team": "--team", **_PROJECT_FIELDS},
    ("project", "update"): {"project": None, **_PROJECT_FIELDS},
    ("project", "show"): {"project": None},
    ("project", "list"): {"team": "--team"},
    ("apikey", "create"): {"project": "--project"},
    ("apikey", "list"): {"project": "--project"},
    ("apikey", "revoke"): {"key": None},
    ("customer", "create"): {"project": "--project", "email": "--email", "name": "--name",
                             "allowDuplicateEmail": "--allow-duplicate-email"},
    ("customer", "link"): {"project": "--project", "stripeCustomerId": "--stripe-customer"},
    ("customer", "list"): {"project": "--project"},
    ("customer", "remove"): {"project": "--project", "customerId": None},
    ("session", "revoke"): {"sessionId": None},
    ("sync",): {"project": "--project", "customer": "--customer", "concurrency": "--concurrency"},
    ("webhooks", "register"): {"project": "--project", "url": "--url"},
    ("webhooks", "status"): {"project": "--project"},
}
CASES = [(path, param, flag) for path, params in CLI_PARAMS.items() for param, flag in params.items()]


def _command(path: tuple[str, ...]) -> click.Command:
    command: click.Command = main
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return command


def _ids(case: tuple) -> str:
    return f"{' '.join(case[0])}:{case[1]}"


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_every_param_a_command_can_raise_names_one_of_its_options(case: tuple) -> None:
    path, param, flag = case
    command = _command(path)
    assert option_for(param, command) == flag
    if flag is not None:
        assert flag in {opt for p in command.params if isinstance(p, click.Option) for opt in p.opts}
    # A service's snake_case field name (`accent_color`) still names the same option.
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", param).lower()
    assert option_for(snake, command) == flag


@pytest.mark.parametrize(
    ("path", "param", "flag"),
    [(("apikey", "create"), "projectId", "--project"), (("sync",), "customerId", "--customer"),
     (("project", "create"), "teamId", "--team"), (("customer", "link"), "stripeCustomerId", "--stripe-customer")],
)
def test_an_id_param_names_the_option_that_takes_the_id(path: tuple[str, ...], param: str, flag: str) -> None:
    assert option_for(param, _command(path)) == flag


def _literal_params(module: object) -> set[str]:
    path = Path(module.__file__)  # type: ignore[attr-defined]
    files = sorted(path.parent.rglob("*.py")) if path.name == "__init__.py" else [path]
    return {m for file in files for m in re.findall(r"""param=["']([^"']+)["']""", file.read_text())}


# Raised only by the customers API's own functions (externalId, paging), which no command calls.
API_ONLY_PARAMS = {"externalId", "limit", "startingAfter"}


@pytest.mark.parametrize("module", [tenants, plan_catalog, customers, backfill, webhooks], ids=lambda m: m.__name__)
def test_the_table_knows_every_param_the_cli_services_raise(module: object) -> None:
    known = {param for params in CLI_PARAMS.values() for param in params} | API_ONLY_PARAMS
    assert _literal_params(module) <= known, "add the new param to CLI_PARAMS (and the option it names)"


def test_api_only_params_are_not_options_of_the_customer_commands() -> None:
    """If a command gains one of them (say `customer create --external-id`), move it into CLI_PARAMS."""
    for path in [p for p in CLI_PARAMS if p[0] == "customer"]:
        assert all(option_for(param, _command(path)) is None for param in API_ONLY_PARAMS), path


def test_every_project_option_field_is_in_the_table() -> None:
    for path in (("project", "create"), ("project", "update")):
        assert {api_param(field) for field in tenants.BRANDING_FIELDS} <= set(CLI_PARAMS[path])


@pytest.mark.parametrize(
    ("param", "message", "said"),
    [
        ("accent_color", "accent_color must look like #4f46e5.", "--accent-color must look like #4f46e5."),
        ("accentColor", "accentColor must look like #4f46e5.", "--accent-color must look like #4f46e5."),
        ("allowedReturnOrigins", "allowedReturnOrigins must be an origin", "--allowed-return-origin must be an origin"),
        # One-word params read as English and stay as they are.
        ("name", "name must not be empty.", "name must not be empty."),
        ("project", "No project with id 'proj_x'.", "No project with id 'proj_x'."),
    ],
)
def test_messages_say_the_option_not_the_field(param: str, message: str, said: str) -> None:
    command = _command(("project", "update"))
    with click.Context(command) as ctx:
        ctx.meta[COMMAND_KEY] = command
        assert cli_wording(message, param) == said
