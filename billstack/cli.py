"""`billstack`: the operator command (console script and `python -m billstack`).

Adding a command: one `@main.group()` per noun, one `@<noun>.command()` per verb,
decorated with `@json_option`; do the work inside `with unit_of_work() as db:` (one
transaction, schema checked), build the JSON dict there, then `emit(data, human)`.
Raise `BillStackError` for bad input: the group turns it into `error: …` and exit 1.
Heavy modules (SQLAlchemy, Stripe, the services) are imported inside the commands so
`billstack --help` and `billstack serve` start quickly.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from billstack.config import ConfigError, get_settings, resolve_secret_key
from billstack.errors import BillStackError

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlmodel import Session

    from billstack.models import ApiKey, Customer, Project, Team

JSON_FLAG = "billstack.json"
COMMAND_KEY = "billstack.command"

MAIN_HELP = """BillStack operator command: teams, projects, API keys, customers, Stripe sync and
webhooks, database, server.

\b
Conventions (every command):
  --json     print exactly one JSON object on stdout: at least "id";
             lists are {"data": [...]}; keys are camelCase.
  errors     "error: <message>" on stderr, exit code 1 (unknown ids, bad
             values, Stripe refusals, configuration, database not migrated).
             With --json the error goes to stdout as
             {"error": {"type", "code", "message", "param"}}, still exit 1.
  usage      missing or unknown flags exit 2 (JSON too with --json).
  atomic     each command is one database transaction: after an error
             nothing was written (`sync` commits customer by customer and
             can be resumed).
  secrets    Stripe secret keys, webhook secrets and BILLSTACK_SECRET_KEY are
             never printed; an API key is printed once, by `apikey create`.
             Pass "-" as a secret's value to read it from stdin instead of
             the command line (keeps it out of shell history and `ps`).

Settings come from BILLSTACK_* environment variables (and .env); the database is
BILLSTACK_DATABASE_URL (default: SQLite in BILLSTACK_DATA_DIR).
"""


# --- output and errors ---------------------------------------------------------------


def _json_mode() -> bool:
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
        self.as_json = _json_mode()
        body: dict[str, Any] = {"type": type, "code": code, "message": message}
        if param:
            body["param"] = param
        self.body = {"error": body}

    def show(self, file: Any = None) -> None:  # noqa: ARG002 - click's signature
        if self.as_json:
            click.echo(json.dumps(self.body, ensure_ascii=False))
        else:
            click.echo(f"error: {self.message}", err=True)


def emit(data: dict[str, Any], human: str | Sequence[str]) -> None:
    """The command's result: `data` as JSON with --json, `human` text otherwise."""
    if _json_mode():
        click.echo(json.dumps(data, ensure_ascii=False))
    else:
        click.echo(human if isinstance(human, str) else "\n".join(human))


def progress(message: str) -> None:
    """Progress of long commands: stdout for people, stderr under --json (stdout stays one object)."""
    click.echo(message, err=_json_mode())


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


def _cli_wording(message: str, param: str | None) -> str:
    """Service messages name fields (accent_color); on the command line say --accent-color."""
    ctx = click.get_current_context(silent=True)
    command = ctx.meta.get(COMMAND_KEY) if ctx else None
    if not param or "_" not in param or command is None:
        return message
    for option in command.params:
        if isinstance(option, click.Option) and option.name and option.name.rstrip("s") == param.rstrip("s"):
            flag = max(option.opts, key=len)
            return re.sub(rf"\b{re.escape(param)}\b", flag, message)
    return message


def _redacted_url(url: Any) -> str:
    import sqlalchemy as sa

    return sa.engine.make_url(str(url)).render_as_string(hide_password=True)


def _translate(exc: BaseException) -> CommandFailed | None:
    """Known failures as one clean line; anything else is a bug and keeps its traceback."""
    if isinstance(exc, BillStackError):
        return CommandFailed(_cli_wording(exc.message, exc.param), code=exc.code, type=exc.type, param=exc.param)
    if isinstance(exc, ConfigError):
        return CommandFailed(str(exc), code="configuration_error", type="configuration_error")
    pydantic = sys.modules.get("pydantic")
    if pydantic is not None and isinstance(exc, pydantic.ValidationError):
        # Name the variable and the problem, never the value (it may be a secret).
        problems = "; ".join(
            f"BILLSTACK_{'_'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
            for error in exc.errors()
        )
        return CommandFailed(f"invalid configuration: {problems}", code="configuration_error", type="configuration_error")
    if isinstance(exc, RuntimeError):
        fernet = sys.modules.get("cryptography.fernet")
        if fernet is not None and isinstance(exc.__cause__, fernet.InvalidToken):
            return CommandFailed(str(exc), code="secret_unreadable", type="configuration_error")
    sa = sys.modules.get("sqlalchemy")
    if sa is not None and isinstance(exc, sa.exc.SQLAlchemyError):
        # Only the driver's first line: SQLAlchemy's full text carries SQL and parameters.
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        if isinstance(exc, sa.exc.OperationalError):
            where = _redacted_url(get_settings().resolved_database_url)
            return CommandFailed(f"database error at {where}: {detail}", code="database_error", type="api_error")
        return CommandFailed(f"database error: {detail}", code="database_error", type="api_error")
    alembic_util = sys.modules.get("alembic.util")
    if alembic_util is not None and isinstance(exc, alembic_util.CommandError):
        return CommandFailed(f"migration failed: {exc}", code="migration_error", type="api_error")
    return None


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
            param = getattr(exc, "param", None)
            raise CommandFailed(
                exc.format_message(),
                code="missing_option" if isinstance(exc, click.MissingParameter) else "usage_error",
                type="usage_error",
                param=param.name if param is not None else None,
                exit_code=2,
            ) from exc
        except Exception as exc:
            failure = _translate(exc)
            if failure is None:
                raise
            raise failure from exc


# --- database -------------------------------------------------------------------------


def _schema_problem(engine: sa.Engine) -> str | None:
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from billstack.migrate import alembic_config

    with engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    script = ScriptDirectory.from_config(alembic_config(str(engine.url)))
    heads = set(script.get_heads())
    if current == heads:
        return None
    where = _redacted_url(engine.url)
    if not current:
        return f"the database {where} has no BillStack schema yet. Run `billstack db upgrade` first."
    known = {revision.revision for revision in script.walk_revisions()}
    if not current <= known:
        return (
            f"the database {where} is at revision {', '.join(sorted(current))}, which this version of "
            "BillStack does not know (was it migrated by a newer version?)."
        )
    return (
        f"the database {where} is at revision {', '.join(sorted(current))}; this version needs "
        f"{', '.join(sorted(heads))}. Run `billstack db upgrade`."
    )


def require_current_schema() -> None:
    from billstack.db import get_engine

    problem = _schema_problem(get_engine())
    if problem:
        raise CommandFailed(problem, code="schema_not_current", type="configuration_error")


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """One transaction for the whole command, on a database whose schema is current."""
    from billstack.db import session_scope

    require_current_schema()
    with session_scope() as db:
        yield db


# --- JSON shapes (camelCase; secrets never) ---------------------------------------------


def _iso(moment: Any) -> str | None:
    from billstack.clock import to_iso_z

    return to_iso_z(moment) if moment is not None else None


def team_json(team: Team) -> dict[str, Any]:
    return {"id": team.id, "object": "team", "name": team.name, "createdAt": _iso(team.created_at)}


def project_json(project: Project) -> dict[str, Any]:
    from billstack.services.tenants import allowed_return_origins, stripe_mode

    return {
        "id": project.id,
        "object": "project",
        "teamId": project.team_id,
        "name": project.name,
        "displayName": project.display_name,
        "logoUrl": project.logo_url,
        "accentColor": project.accent_color,
        "supportEmail": project.support_email,
        "supportUrl": project.support_url,
        "termsUrl": project.terms_url,
        "privacyUrl": project.privacy_url,
        "defaultReturnUrl": project.default_return_url,
        "allowedReturnOrigins": allowed_return_origins(project),
        "frameAncestors": project.frame_ancestors,
        "features": {
            "cancel": project.feature_cancel,
            "resume": project.feature_resume,
            "invoiceHistory": project.feature_invoice_history,
            "paymentMethodUpdate": project.feature_payment_method_update,
        },
        "stripeSecretKey": "set",
        "stripeMode": stripe_mode(project),
        "stripeApiBase": project.stripe_api_base,
        "webhookSecret": "set" if project.webhook_secret_sealed else None,
        "createdAt": _iso(project.created_at),
    }


def api_key_json(api_key: ApiKey) -> dict[str, Any]:
    return {
        "id": api_key.id,
        "object": "api_key",
        "projectId": api_key.project_id,
        "prefix": api_key.prefix,
        "status": "revoked" if api_key.revoked_at else "active",
        "createdAt": _iso(api_key.created_at),
        "lastUsedAt": _iso(api_key.last_used_at),
        "revokedAt": _iso(api_key.revoked_at),
    }


def customer_json(customer: Customer) -> dict[str, Any]:
    return {
        "id": customer.id,
        "object": "customer",
        "projectId": customer.project_id,
        "stripeCustomerId": customer.stripe_customer_id,
        "email": customer.email,
        "name": customer.name,
        "createdAt": _iso(customer.created_at),
        "removedAt": _iso(customer.removed_at),
    }


# --- human output ----------------------------------------------------------------------


def _fields(pairs: Sequence[tuple[str, Any]]) -> list[str]:
    width = max(len(label) for label, _ in pairs) + 1
    return [f"  {label + ':':<{width}} {'-' if value in (None, '', []) else value}" for label, value in pairs]


def _table(rows: Sequence[Sequence[Any]], headers: Sequence[str], empty: str) -> str:
    if not rows:
        return empty
    cells = [[("-" if value is None else str(value)) for value in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in cells)


def _project_lines(data: dict[str, Any]) -> list[str]:
    features = ", ".join(
        f"{label} {'on' if data['features'][key] else 'off'}"
        for key, label in (
            ("cancel", "cancel"),
            ("resume", "resume"),
            ("invoiceHistory", "invoice history"),
            ("paymentMethodUpdate", "payment method update"),
        )
    )
    return _fields(
        [
            ("Team", data["teamId"]),
            ("Name", data["name"]),
            ("Display name", data["displayName"]),
            ("Logo URL", data["logoUrl"]),
            ("Accent colour", data["accentColor"]),
            ("Support email", data["supportEmail"]),
            ("Support URL", data["supportUrl"]),
            ("Terms URL", data["termsUrl"]),
            ("Privacy URL", data["privacyUrl"]),
            ("Default return URL", data["defaultReturnUrl"]),
            ("Allowed return origins", " ".join(data["allowedReturnOrigins"])),
            ("Frame ancestors", data["frameAncestors"]),
            ("Features", features),
            ("Stripe secret key", f"set ({data['stripeMode']} mode)"),
            ("Stripe API base", data["stripeApiBase"] or "https://api.stripe.com (default)"),
            ("Webhook secret", "set" if data["webhookSecret"] else "not set"),
            ("Created", data["createdAt"]),
        ]
    )


# --- secrets from stdin ----------------------------------------------------------------


def _secret(value: str | None, flag: str) -> str | None:
    """`-` reads the secret from stdin (one line), keeping it off the command line."""
    if value != "-":
        return value
    line = click.get_text_stream("stdin").readline().strip()
    if not line:
        raise CommandFailed(f"{flag} -: expected the secret on stdin, got nothing.", param=flag.lstrip("-"))
    return line


def _project_secrets(stripe_secret_key: str | None, webhook_secret: str | None) -> dict[str, str | None]:
    """The project's two secret options, either of them (not both: stdin has one line) `-`."""
    if stripe_secret_key == "-" and webhook_secret == "-":
        raise CommandFailed("only one secret can be read from stdin per command.", param="webhook_secret")
    return {
        "stripe_secret_key": _secret(stripe_secret_key, "--stripe-secret-key"),
        "webhook_secret": _secret(webhook_secret, "--webhook-secret"),
    }


# --- the command tree ------------------------------------------------------------------


@click.group(
    cls=BillStackGroup,
    help=MAIN_HELP,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@json_option
def main() -> None:
    pass


# serve / demo / emulator: long-running; --json only changes how a startup error is printed.


@main.command()
@click.option("--host", default=None, help="Bind address [default: BILLSTACK_HOST or 127.0.0.1].")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port [default: BILLSTACK_PORT or 8000].")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Worker processes (>1 needs REFLEX_REDIS_URL).")
@json_option
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    """Run the production server (portal pages, websocket and APIs on one port).

    Refuses to start with BILLSTACK_ENV=production and no BILLSTACK_SECRET_KEY.
    Long-running: with --json only a startup error is JSON; the server logs text.
    """
    resolve_secret_key(get_settings())  # fail fast, before building or binding anything
    from billstack.server import serve as run_server

    try:
        run_server(host=host, port=port, workers=workers)
    except KeyboardInterrupt:
        progress("BillStack stopped.")


@main.command()
@json_option
def demo() -> None:
    """Seed a demo tenant on the local Stripe emulator and run the server (prints URL, key, curl).

    Long-running: with --json only a startup error is JSON.
    """
    from billstack.demo import run_demo

    try:
        run_demo()
    except KeyboardInterrupt:
        progress("Demo stopped.")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Bind address.")
@click.option("--port", type=click.IntRange(0, 65535), default=12111, show_default=True, help="Port (0: any free port).")
@click.option("--latency-ms", type=click.IntRange(min=0), default=0, show_default=True, help="Delay every response.")
@json_option
def emulator(host: str, port: int, latency_ms: int) -> None:
    """Run the local Stripe emulator (demo and tests; speaks Stripe's wire protocol).

    Long-running: with --json only a startup error is JSON.
    """
    from stripe_emulator.server import serve as run_emulator

    try:
        run_emulator(host=host, port=port, latency_ms=latency_ms)
    except KeyboardInterrupt:
        progress("Emulator stopped.")


@main.group()
def db() -> None:
    """Database schema (Alembic migrations)."""


@db.command("upgrade")
@json_option
def db_upgrade() -> None:
    """Migrate the database (BILLSTACK_DATABASE_URL) to the latest schema, one revision at a time."""
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from billstack.db import engine_for
    from billstack.migrate import alembic_config, upgrade

    url = get_settings().resolved_database_url
    engine = engine_for(url)
    script = ScriptDirectory.from_config(alembic_config(url))

    def current() -> str | None:
        with engine.connect() as conn:
            heads = MigrationContext.configure(conn).get_current_heads()
        return ",".join(sorted(heads)) or None

    where = _redacted_url(url)
    before = current()
    progress(f"Database: {where}")
    progress(f"Revision before: {before or 'none (empty database)'}")
    try:
        pending = list(script.iterate_revisions("heads", before or "base"))[::-1]
    except Exception as exc:  # noqa: BLE001 - alembic raises several kinds for unknown revisions
        raise CommandFailed(
            f"the database {where} is at revision {before}, which this version of BillStack does not know "
            "(was it migrated by a newer version?).",
            code="schema_unknown",
            type="configuration_error",
        ) from exc
    applied = []
    for revision in pending:
        started = time.monotonic()
        progress(f"Applying {revision.revision} ({revision.doc})…")
        upgrade(url, revision.revision)
        progress(f"  done in {time.monotonic() - started:.2f} s")
        applied.append({"revision": revision.revision, "description": revision.doc})
    after = current()
    summary = (
        f"Revision now: {after} (latest)" if applied else f"Already at the latest revision {after}; nothing to do."
    )
    emit(
        {
            "id": after,
            "object": "database_migration",
            "database": where,
            "before": before,
            "after": after,
            "applied": applied,
        },
        summary,
    )


# --- teams ----------------------------------------------------------------------------


@main.group()
def team() -> None:
    """Teams: the organisation that owns projects."""


@team.command("create")
@click.option("--name", required=True, help="Team name.")
@json_option
def team_create(name: str) -> None:
    """Create a team."""
    from billstack.services import tenants

    with unit_of_work() as session:
        data = team_json(tenants.create_team(session, name=name))
    emit(data, f"Created team {data['id']} ({data['name']}).")


@team.command("list")
@json_option
def team_list() -> None:
    """List teams."""
    from billstack.services import tenants

    with unit_of_work() as session:
        data = [team_json(t) for t in tenants.list_teams(session)]
    emit(
        {"object": "list", "data": data},
        _table([(t["id"], t["name"], t["createdAt"]) for t in data], ("ID", "NAME", "CREATED"), "No teams yet."),
    )


# --- projects -------------------------------------------------------------------------


def project_options(fn: Callable) -> Callable:
    """Branding, return-URL and feature options shared by `project create` and `project update`."""
    features = (
        ("cancel", "cancelling subscriptions at period end"),
        ("resume", "resuming subscriptions set to cancel"),
        ("invoice-history", "the invoice list"),
        ("payment-method-update", "updating the payment method"),
    )
    for name, what in reversed(features):
        field = "feature_" + name.replace("-", "_")
        fn = click.option(f"--enable-{name}/--disable-{name}", field, default=None, help=f"Portal: {what}.")(fn)
    options = (
        ("--frame-ancestors", "Who may embed the portal (CSP frame-ancestors), e.g. \"'self' https://app.example.com\"."),
        ("--default-return-url", "Where \"Return to app\" goes when a session names none."),
        ("--privacy-url", "Privacy policy link."),
        ("--terms-url", "Terms of service link."),
        ("--support-url", "Support page link."),
        ("--support-email", "Support email address."),
        ("--accent-color", "Accent colour, #rrggbb."),
        ("--logo-url", "Logo image URL (https)."),
        ("--display-name", "Name shown in the portal header."),
    )
    fn = click.option(
        "--allowed-return-origin",
        "allowed_return_origins",
        multiple=True,
        help="Origin a session's returnUrl may use, e.g. https://app.example.com (repeatable; replaces the list).",
    )(fn)
    for flag, text in options:
        fn = click.option(flag, default=None, help=text)(fn)
    return fn


def _project_options(values: dict[str, Any]) -> dict[str, Any]:
    origins = values.pop("allowed_return_origins", ())
    if values.pop("clear_allowed_return_origins", False):
        values["allowed_return_origins"] = []
    elif origins:
        values["allowed_return_origins"] = list(origins)
    return {key: value for key, value in values.items() if value is not None}


@main.group()
def project() -> None:
    """Projects: one Stripe account, its branding, API keys and customers."""


@project.command("create")
@click.option("--team", "team_id", required=True, help="Team id (team_…).")
@click.option("--name", required=True, help="Project name.")
@click.option("--stripe-secret-key", required=True, help="sk_test_…/sk_live_… (or rk_…); '-' reads it from stdin.")
@click.option("--stripe-api-base", default=None, help="Stripe API base URL (default: api.stripe.com).")
@click.option("--webhook-secret", default=None, help="Webhook signing secret whsec_…; '-' reads it from stdin.")
@project_options
@json_option
def project_create(
    team_id: str,
    name: str,
    stripe_secret_key: str,
    stripe_api_base: str | None,
    webhook_secret: str | None,
    **options: Any,
) -> None:
    """Create a project. The Stripe key and webhook secret are stored sealed and never shown again."""
    from billstack.services import tenants

    secrets = _project_secrets(stripe_secret_key, webhook_secret)
    with unit_of_work() as session:
        created = tenants.create_project(
            session, team_id=team_id, name=name, stripe_api_base=stripe_api_base, **secrets,
            **_project_options(options),
        )
        data = project_json(created)
    emit(data, [f"Created project {data['id']} ({data['name']}).", *_project_lines(data)])


@project.command("update")
@click.argument("project_id")
@click.option("--name", default=None, help="Project name.")
@click.option("--stripe-secret-key", default=None, help="Replace the Stripe secret key; '-' reads it from stdin.")
@click.option("--stripe-api-base", default=None, help="Stripe API base URL ('' for api.stripe.com).")
@click.option("--webhook-secret", default=None, help="Replace the webhook signing secret ('' removes it; '-' reads stdin).")
@project_options
@click.option("--clear-allowed-return-origins", is_flag=True, help="Empty the list of allowed return origins.")
@json_option
def project_update(
    project_id: str,
    stripe_secret_key: str | None,
    stripe_api_base: str | None,
    webhook_secret: str | None,
    **options: Any,
) -> None:
    """Change a project's settings; options not given stay as they are ('' clears an optional text)."""
    from billstack.services import tenants

    if options.get("allowed_return_origins") and options.get("clear_allowed_return_origins"):
        raise CommandFailed(
            "--allowed-return-origin and --clear-allowed-return-origins contradict each other.",
            code="usage_error",
            type="usage_error",
            exit_code=2,
        )
    secrets = _project_secrets(stripe_secret_key, webhook_secret)
    with unit_of_work() as session:
        updated = tenants.update_project(
            session, project_id, stripe_api_base=stripe_api_base, **secrets, **_project_options(options)
        )
        data = project_json(updated)
    emit(data, [f"Updated project {data['id']} ({data['name']}).", *_project_lines(data)])


@project.command("show")
@click.argument("project_id")
@json_option
def project_show(project_id: str) -> None:
    """Show a project's settings (secrets only as set / not set)."""
    from billstack.services import tenants

    with unit_of_work() as session:
        data = project_json(tenants.get_project(session, project_id))
    emit(data, [f"Project {data['id']} ({data['name']})", *_project_lines(data)])


@project.command("list")
@click.option("--team", "team_id", default=None, help="Only this team's projects.")
@json_option
def project_list(team_id: str | None) -> None:
    """List projects."""
    from billstack.services import tenants

    with unit_of_work() as session:
        data = [project_json(p) for p in tenants.list_projects(session, team_id)]
    rows = [(p["id"], p["teamId"], p["name"], p["stripeMode"], p["createdAt"]) for p in data]
    emit({"object": "list", "data": data}, _table(rows, ("ID", "TEAM", "NAME", "STRIPE", "CREATED"), "No projects yet."))


# --- API keys -------------------------------------------------------------------------


@main.group()
def apikey() -> None:
    """Project API keys for the session API (stored as hashes; shown once)."""


@apikey.command("create")
@click.option("--project", "project_id", required=True, help="Project id (proj_…).")
@json_option
def apikey_create(project_id: str) -> None:
    """Create an API key and print it once: store it in your backend's secrets now."""
    from billstack.services import tenants

    with unit_of_work() as session:
        api_key, plaintext = tenants.create_api_key(session, project_id=project_id)
        team_id = tenants.get_project(session, project_id).team_id
        data = {**api_key_json(api_key), "key": plaintext, "teamId": team_id}
    endpoint = f"{get_settings().resolved_public_url}/api/billstack/teams/{team_id}/projects/{project_id}/portal"
    emit(
        data,
        [
            f"Created API key {data['id']} for project {project_id}:",
            "",
            f"  {plaintext}",
            "",
            "This is the only time the key is shown; store it in your backend's secrets now.",
            "Create a portal session with:",
            f"  curl -X POST {endpoint} \\",
            f"    -H 'Authorization: Bearer {plaintext}' -H 'Content-Type: application/json' \\",
            "    -d '{\"customerId\": \"pc_…\"}'",
        ],
    )


@apikey.command("list")
@click.option("--project", "project_id", required=True, help="Project id (proj_…).")
@json_option
def apikey_list(project_id: str) -> None:
    """List a project's API keys (prefixes only)."""
    from billstack.services import tenants

    with unit_of_work() as session:
        data = [api_key_json(k) for k in tenants.list_api_keys(session, project_id)]
    rows = [(k["id"], k["prefix"] + "…", k["status"], k["createdAt"], k["lastUsedAt"]) for k in data]
    emit(
        {"object": "list", "data": data},
        _table(rows, ("ID", "PREFIX", "STATUS", "CREATED", "LAST USED"), "No API keys for this project."),
    )


@apikey.command("revoke")
@click.argument("key_id")
@json_option
def apikey_revoke(key_id: str) -> None:
    """Revoke an API key at once (revoking twice is harmless)."""
    from billstack.services import tenants

    with unit_of_work() as session:
        data = api_key_json(tenants.revoke_api_key(session, key_id))
    emit(data, f"Revoked API key {data['id']} ({data['prefix']}…) at {data['revokedAt']}.")


# --- customers ------------------------------------------------------------------------


@main.group()
def customer() -> None:
    """BillStack customers (pc_…): a project's handle on one Stripe customer."""


@customer.command("create")
@click.option("--project", "project_id", required=True, help="Project id (proj_…).")
@click.option("--email", required=True, help="Customer email.")
@click.option("--name", default=None, help="Customer name.")
@json_option
def customer_create(project_id: str, email: str, name: str | None) -> None:
    """Create the customer in Stripe and in BillStack (nothing is stored if Stripe fails)."""
    from billstack.services import customers

    with unit_of_work() as session:
        data = customer_json(customers.create_customer(session, project_id=project_id, email=email, name=name))
    emit(data, f"Created customer {data['id']} ({data['email']}) for Stripe customer {data['stripeCustomerId']}.")


@customer.command("link")
@click.option("--project", "project_id", required=True, help="Project id (proj_…).")
@click.option("--stripe-customer", "stripe_customer_id", required=True, help="Existing Stripe customer id (cus_…).")
@json_option
def customer_link(project_id: str, stripe_customer_id: str) -> None:
    """Link an existing Stripe customer to the project (once per project)."""
    from billstack.services import customers

    with unit_of_work() as session:
        linked = customers.link_customer(session, project_id=project_id, stripe_customer_id=stripe_customer_id)
        data = customer_json(linked)
    emit(data, f"Linked Stripe customer {data['stripeCustomerId']} as {data['id']} ({data['email'] or 'no email'}).")


@customer.command("list")
@click.option("--project", "project_id", required=True, help="Project id (proj_…).")
@json_option
def customer_list(project_id: str) -> None:
    """List the project's customers."""
    from billstack.services import customers

    with unit_of_work() as session:
        data = [customer_json(c) for c in customers.list_customers(session, project_id)]
    rows = [(c["id"], c["stripeCustomerId"], c["email"], c["name"], c["createdAt"]) for c in data]
    emit(
        {"object": "list", "data": data},
        _table(rows, ("ID", "STRIPE CUSTOMER", "EMAIL", "NAME", "CREATED"), "No customers in this project."),
    )


@customer.command("remove")
@click.option("--project", "project_id", required=True, help="Project id (proj_…).")
@click.argument("customer_id")
@json_option
def customer_remove(project_id: str, customer_id: str) -> None:
    """Remove a customer from the project: portal links stop working; Stripe is untouched."""
    from billstack.services import customers

    with unit_of_work() as session:
        data = customer_json(customers.remove_customer(session, project_id=project_id, customer_id=customer_id))
    emit(
        data,
        f"Removed customer {data['id']} from project {project_id}; its portal links stop working. "
        f"The Stripe customer {data['stripeCustomerId']} is unchanged.",
    )


# --- portal sessions --------------------------------------------------------------------


@main.group("session")
def session_group() -> None:
    """Portal sessions (portal_sess_…): the links the session API hands out."""


@session_group.command("revoke")
@click.argument("session_id")
@json_option
def session_revoke(session_id: str) -> None:
    """Revoke a portal session at once: its link stops working (revoking twice is harmless)."""
    from billstack.services import sessions

    with unit_of_work() as db:
        revoked = sessions.revoke_portal_session(db, session_id, actor="cli")
        data = {
            "id": revoked.id,
            "object": "portal_session",
            "projectId": revoked.project_id,
            "customerId": revoked.customer_id,
            "revoked": True,
            "revokedAt": _iso(revoked.revoked_at),
            "expiresAt": _iso(revoked.expires_at),
        }
    emit(data, f"Revoked portal session {data['id']} at {data['revokedAt']}; its link no longer opens the portal.")


# --- Stripe sync -------------------------------------------------------------------------


@main.command("sync")
@click.option("--project", "project_id", required=True, help="Project id (proj_…).")
@click.option("--customer", "customer_id", default=None, help="Only this customer (pc_…).")
@click.option("--import-customers", is_flag=True,
              help="Also link every customer of the Stripe account that is not in the project yet (new pc_… ids).")
@click.option("--resume", is_flag=True,
              help="Continue the latest unfinished run: skip customers synced since it started.")
@click.option("--concurrency", type=click.IntRange(1, 32), default=4, show_default=True,
              help="Customers synced at once (Stripe round trips dominate).")
@json_option
def sync_command(
    project_id: str, customer_id: str | None, import_customers: bool, resume: bool, concurrency: int
) -> None:
    """Backfill or refresh the project's mirror of Stripe (subscriptions, invoices, cards).

    \b
    Reads every linked customer's data from Stripe (lists of 100 per page) and writes
    only what differs, so running it twice writes no mirror row the second time.
    Unlike other commands it commits customer by customer: an interrupted run keeps
    what it did. Each run is recorded; `--resume` continues the latest unfinished one,
    skipping customers synced since that run started (by it, the portal or webhooks).
    Progress (customers, rows written, rate) goes to stdout, or stderr with --json.
    """
    from billstack.services import backfill

    require_current_schema()
    if customer_id and (resume or import_customers):
        raise CommandFailed("--customer syncs one customer; it cannot be combined with --resume or --import-customers.",
                            code="usage_error", type="usage_error", param="customer", exit_code=2)
    mode = "one customer" if customer_id else ("all Stripe customers" if import_customers else "linked customers")

    shown: list[str] = []

    def show(p: backfill.Progress) -> None:
        if not shown:  # after the first batch, so a refused run prints only its error
            shown.append(p.run_id)
            progress(f"Syncing {mode} of {project_id} from Stripe ({concurrency} at a time), run {p.run_id}:")
        total = "?" if p.total is None else p.total
        progress(
            f"  {p.done}/{total} customers · {p.imported} imported · {p.changed} changed · "
            f"{p.rows_written} rows written · {p.rate:.0f}/s"
        )

    report = backfill.run_sync(
        project_id, customer_id=customer_id, import_customers=import_customers, resume=resume,
        concurrency=concurrency, on_progress=show,
    )
    done = report.progress
    data = {
        "id": report.run_id,
        "object": "sync_run",
        "projectId": report.project_id,
        "customerId": customer_id,
        "resumed": report.resumed,
        "customers": done.total,
        "synced": done.done,
        "skipped": done.skipped,
        "imported": done.imported,
        "changedCustomers": done.changed,
        "rowsWritten": done.rows_written,
        "seconds": round(done.seconds, 2),
        "perSecond": round(done.rate, 1),
        "startedAt": _iso(report.started_at),
        "finishedAt": _iso(report.finished_at),
    }
    emit(
        data,
        [
            (
                f"Synced {done.done} customers of {project_id} in {done.seconds:.1f} s ({done.rate:.0f}/s): "
                f"{done.imported} imported, {done.changed} changed, {done.rows_written} rows written, "
                f"{done.skipped} skipped{' (resumed run)' if report.resumed else ''}."
            ),
            f"Run {report.run_id} finished.",
        ],
    )


# --- Stripe webhooks ---------------------------------------------------------------------


@main.group("webhooks")
def webhooks_group() -> None:
    """Stripe webhooks: register the endpoint that keeps the mirror current, check its health."""


@webhooks_group.command("register")
@click.option("--project", "project_id", required=True, help="Project id (proj_…).")
@click.option("--url", default=None,
              help="Public URL Stripe posts to [default: BILLSTACK_PUBLIC_URL/api/billstack/webhooks/stripe/<project>].")
@json_option
def webhooks_register(project_id: str, url: str | None) -> None:
    """Create the webhook endpoint in Stripe and store its signing secret (sealed, never shown).

    Subscribes to the subscription, invoice, payment-method, customer and
    checkout.session.completed events the portal needs. Registering again replaces
    the endpoint BillStack created before.
    """
    from billstack.services import webhooks

    with unit_of_work() as db:
        registered = webhooks.register_endpoint(db, project_id, url)
    data = {
        "id": registered.endpoint_id,
        "object": "webhook_endpoint",
        "projectId": project_id,
        "url": registered.url,
        "enabledEvents": list(registered.events),
        "webhookSecret": "set",
        "replaced": registered.replaced,
    }
    lines = [
        f"Registered webhook endpoint {registered.endpoint_id} for {project_id}:",
        f"  URL:     {registered.url}",
        f"  Events:  {len(registered.events)} (subscriptions, invoices, payment methods, customers, checkout)",
        "  Secret:  stored sealed",
    ]
    if registered.replaced:
        outcome = f"could not be deleted: {registered.replace_error}" if registered.replace_error else "deleted"
        lines.append(f"  Replaces {registered.replaced} ({outcome}).")
    emit(data, lines)


@webhooks_group.command("status")
@click.option("--project", "project_id", required=True, help="Project id (proj_…).")
@json_option
def webhooks_status(project_id: str) -> None:
    """Webhook health: last received, processed and failed counts, failures, processing lag."""
    from billstack.clock import utcnow
    from billstack.services import webhooks

    with unit_of_work() as db:
        status = webhooks.webhook_status(db, project_id)
    now = utcnow()
    oldest_age = (now - status.oldest_unprocessed_at).total_seconds() if status.oldest_unprocessed_at else None
    data = {
        "id": project_id,
        "object": "webhook_status",
        "endpointId": status.endpoint_id,
        "webhookSecret": "set" if status.secret_set else None,
        "lastReceivedAt": _iso(status.last_received_at),
        "lastEventType": status.last_type,
        "counts": {
            "received": status.received,
            "applied": status.applied,
            "unchanged": status.unchanged,
            "ignored": status.ignored,
            "pending": status.pending,
            "retrying": status.retrying,
            "failed": status.failed,
        },
        "lag": {
            "averageSeconds": status.lag_avg_s,
            "maxSeconds": status.lag_max_s,
            "oldestUnprocessedSeconds": round(oldest_age, 1) if oldest_age is not None else None,
        },
        "failures": [
            {
                "eventId": f.stripe_event_id,
                "type": f.type,
                "attempts": f.attempts,
                "error": f.error,
                "receivedAt": _iso(f.received_at),
                "nextAttemptAt": _iso(f.next_attempt_at),
            }
            for f in status.failures
        ],
    }
    emit(data, _webhook_status_lines(data))


def _webhook_status_lines(data: dict[str, Any]) -> list[str]:
    counts, lag = data["counts"], data["lag"]
    last = f"{data['lastReceivedAt']} ({data['lastEventType']})" if data["lastReceivedAt"] else "never"
    lag_text = (
        f"average {lag['averageSeconds']:.2f} s, max {lag['maxSeconds']:.2f} s (received → processed, last 100)"
        if lag["averageSeconds"] is not None else None
    )
    lines = [f"Webhooks of {data['id']}", *_fields([
        ("Endpoint", data["endpointId"] or ("registered elsewhere" if data["webhookSecret"] else "not registered")),
        ("Signing secret", "set" if data["webhookSecret"] else "not set: deliveries are refused"),
        ("Last received", last),
        ("Events", (f"{counts['received']} received: {counts['applied']} applied, {counts['unchanged']} unchanged, "
                    f"{counts['ignored']} ignored, {counts['pending']} pending, {counts['retrying']} retrying, "
                    f"{counts['failed']} failed")),
        ("Lag", lag_text),
        ("Oldest unprocessed", None if lag["oldestUnprocessedSeconds"] is None
         else f"{lag['oldestUnprocessedSeconds']:.0f} s ago"),
    ])]
    if data["failures"]:
        lines.append("  Failures (newest first):")
        for f in data["failures"]:
            retry = f"next try {f['nextAttemptAt']}" if f["nextAttemptAt"] else "given up"
            lines.append(f"    {f['eventId']}  {f['type']}  {f['attempts']} attempt(s), {retry}: {f['error']}")
    return lines


def run() -> None:
    """Entry for `python -m billstack` (same command, same name in help)."""
    main(prog_name="billstack")
