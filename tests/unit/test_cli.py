"""The `billstack` operator command: round trips, --json, errors, exit codes, atomicity.

Every database test runs on SQLite and on PostgreSQL (the `db_url` fixture).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from billstack.cli import dev as cli_dev
from billstack.cli import main
from billstack.cli import serve as cli_serve
from billstack.migrate import alembic_config
from billstack.secrets_box import digest
from devtools import demo_tenant  # noqa: F401 - the real demo command loads it before stripe_emulator.server is faked
from cli_helpers import (
    OFFLINE_STRIPE_KEY,
    assert_clean_error,
    make_project,
    make_team,
    row_counts,
    run,
    run_json,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
# Every migration, oldest first; the newest is what `db upgrade` ends at.
REVISIONS = [r.revision for r in ScriptDirectory.from_config(alembic_config("sqlite://")).walk_revisions()][::-1]
HEAD = REVISIONS[-1]


def _all_commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    found = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += _all_commands(command, (*path, name))
        else:
            found.append(((*path, name), command))
    return found


def test_every_command_takes_json() -> None:
    commands = _all_commands(main)
    names = {" ".join(path) for path, _ in commands}
    assert {
        "serve", "demo", "emulator", "db upgrade", "team create", "team list", "project create",
        "project update", "project show", "apikey create", "apikey list", "apikey revoke",
        "customer create", "customer link", "customer list", "customer remove",
    } <= names
    for path, command in commands:
        assert "json" in {p.name for p in command.params}, f"billstack {' '.join(path)} lacks --json"
        result = run(*path, "--help")
        assert result.exit_code == 0 and "--json" in result.stdout


# --- round trip without Stripe ------------------------------------------------------------


def test_team_project_and_api_key_round_trip(db_url: str) -> None:
    team = run_json("team", "create", "--name", "Acme Inc")
    assert team["id"].startswith("team_") and team["name"] == "Acme Inc"
    assert run_json("team", "list")["data"] == [team]

    project = make_project(
        team["id"],
        "--display-name", "Acme Billing",
        "--accent-color", "#12AB34",
        "--support-email", "help@acme.test",
        "--default-return-url", "https://app.acme.test/account",
        "--allowed-return-origin", "https://app.acme.test",
        "--allowed-return-origin", "https://admin.acme.test/",
        "--disable-payment-method-update",
        "--enable-pause",
    )
    assert project["id"].startswith("proj_")
    assert project["teamId"] == team["id"]
    assert project["displayName"] == "Acme Billing"
    assert project["accentColor"] == "#12ab34"
    assert project["allowedReturnOrigins"] == ["https://app.acme.test", "https://admin.acme.test"]
    assert project["features"] == {"cancel": True, "resume": True, "invoiceHistory": True, "paymentMethodUpdate": False,
                                   "planChange": False, "paymentMethodRemove": True, "pause": True,
                                   "promotionCode": False}
    assert project["stripeSecretKey"] == "set" and project["stripeMode"] == "test" and project["webhookSecret"] is None
    assert run_json("project", "show", project["id"]) == project
    assert [p["id"] for p in run_json("project", "list", "--team", team["id"])["data"]] == [project["id"]]

    updated = run_json(
        "project", "update", project["id"],
        "--display-name", "Acme",
        "--logo-url", "",
        "--support-url", "https://acme.test/help",
        "--enable-payment-method-update",
        "--disable-cancel",
        "--disable-pause",
        "--enable-promotion-code",
        "--frame-ancestors", "'self' https://app.acme.test",
        "--webhook-secret", "whsec_abcdefghijklmnop",
    )
    assert updated["displayName"] == "Acme" and updated["supportUrl"] == "https://acme.test/help"
    assert updated["features"] == {"cancel": False, "resume": True, "invoiceHistory": True, "paymentMethodUpdate": True,
                                   "planChange": False, "paymentMethodRemove": True, "pause": False,
                                   "promotionCode": True}
    assert updated["frameAncestors"] == "'self' https://app.acme.test"
    assert updated["webhookSecret"] == "set"
    # What was not named stays as it was.
    assert updated["supportEmail"] == "help@acme.test" and updated["accentColor"] == "#12ab34"
    assert updated["allowedReturnOrigins"] == project["allowedReturnOrigins"]
    cleared = run_json("project", "update", project["id"], "--clear-allowed-return-origins", "--webhook-secret", "")
    assert cleared["allowedReturnOrigins"] == [] and cleared["webhookSecret"] is None

    key = run_json("apikey", "create", "--project", project["id"])
    assert key["id"].startswith("key_") and key["key"].startswith("bsk_")
    assert key["projectId"] == project["id"] and key["teamId"] == team["id"] and key["status"] == "active"
    assert key["key"].startswith(key["prefix"]) and len(key["prefix"]) < len(key["key"])
    with engine(db_url).connect() as conn:
        stored = conn.execute(sa.text("SELECT key_hash FROM api_key WHERE id = :id"), {"id": key["id"]}).scalar_one()
    assert stored == digest(key["key"])

    listed = run("apikey", "list", "--project", project["id"], "--json")
    assert key["key"] not in listed.stdout
    (entry,) = json.loads(listed.stdout)["data"]
    assert entry["id"] == key["id"] and entry["prefix"] == key["prefix"] and "key" not in entry

    revoked = run_json("apikey", "revoke", key["id"])
    assert revoked["status"] == "revoked" and revoked["revokedAt"]
    assert run_json("apikey", "revoke", key["id"])["revokedAt"] == revoked["revokedAt"]  # idempotent
    assert run_json("apikey", "list", "--project", project["id"])["data"][0]["status"] == "revoked"


def engine(db_url: str) -> sa.Engine:
    from billstack.db import engine_for

    return engine_for(db_url)


def test_human_output_is_readable(db_url: str) -> None:
    created = run("team", "create", "--name", "Acme")
    assert created.exit_code == 0
    assert created.stdout.startswith("Created team team_") and "(Acme)" in created.stdout
    team_id = created.stdout.split()[2]
    shown = run("project", "create", "--team", team_id, "--name", "Shop", "--stripe-secret-key", OFFLINE_STRIPE_KEY)
    assert shown.exit_code == 0
    assert "Stripe secret key:      set (test mode)" in shown.stdout
    assert "Webhook secret:         not set" in shown.stdout
    project_id = shown.stdout.split()[2]
    key = run("apikey", "create", "--project", project_id)
    assert "only time the key is shown" in key.stdout
    assert f"/api/billstack/teams/{team_id}/projects/{project_id}/portal" in key.stdout
    listing = run("team", "list")
    assert listing.stdout.splitlines()[0].split() == ["ID", "NAME", "CREATED"]
    assert team_id in listing.stdout


def test_secret_can_be_read_from_stdin(db_url: str) -> None:
    team_id = make_team()
    project = run_json(
        "project", "create", "--team", team_id, "--name", "Shop", "--stripe-secret-key", "-",
        input="sk_live_fromSTDINabcdefgh\n",
    )
    assert project["stripeMode"] == "live"
    empty = run("project", "update", project["id"], "--webhook-secret", "-", input="")
    assert_clean_error(empty, says="expected the secret on stdin")
    before = row_counts(db_url)
    for command in (["project", "create", "--team", team_id, "--name", "Two"], ["project", "update", project["id"]]):
        both = run(*command, "--stripe-secret-key", "-", "--webhook-secret", "-", input="sk_test_x\nwhsec_y\n")
        assert_clean_error(both, says="only one secret can be read from stdin")
    assert row_counts(db_url) == before


# --- bad input: a clear error, a non-zero exit, and the database unchanged ---------------------


@pytest.fixture
def tenant(db_url: str) -> dict[str, str]:
    team_id = make_team()
    project_id = make_project(team_id)["id"]
    return {"team": team_id, "project": project_id}


BAD_INPUT = {
    "unknown team": (
        ["project", "create", "--team", "team_nope", "--name", "X", "--stripe-secret-key", OFFLINE_STRIPE_KEY],
        1, "No team with id 'team_nope'",
    ),
    "unknown project (apikey)": (["apikey", "create", "--project", "proj_nope"], 1, "No project with id 'proj_nope'"),
    "unknown project (customer)": (
        ["customer", "create", "--project", "proj_nope", "--email", "a@b.test"], 1, "No project with id 'proj_nope'",
    ),
    "unknown project (update)": (["project", "update", "proj_nope", "--name", "Y"], 1, "No project with id"),
    "unknown project (list)": (["customer", "list", "--project", "proj_nope"], 1, "No project with id"),
    "unknown api key": (["apikey", "revoke", "key_nope"], 1, "No API key with id 'key_nope'"),
    "unknown customer": (["customer", "remove", "--project", "{project}", "pc_nope"], 1, "No such customer"),
    "missing --name": (["team", "create"], 2, "Missing option '--name'"),
    "missing --stripe-secret-key": (
        ["project", "create", "--team", "{team}", "--name", "X"], 2, "Missing option '--stripe-secret-key'",
    ),
    "missing --email": (["customer", "create", "--project", "{project}"], 2, "Missing option '--email'"),
    "missing --project": (["apikey", "create"], 2, "Missing option '--project'"),
    "unknown flag": (["team", "create", "--name", "X", "--colour", "red"], 2, "No such option"),
    "empty team name": (["team", "create", "--name", "  "], 1, "name must not be empty"),
    "publishable key": (
        ["project", "create", "--team", "{team}", "--name", "X", "--stripe-secret-key", "pk_test_abcdefghijkl"],
        1, "publishable key",
    ),
    "malformed key": (
        ["project", "create", "--team", "{team}", "--name", "X", "--stripe-secret-key", "sk_test_"],
        1, "must look like sk_test_",
    ),
    "bad key on update": (["project", "update", "{project}", "--stripe-secret-key", "hunter2"], 1, "must look like"),
    "bad webhook secret": (["project", "update", "{project}", "--webhook-secret", "secret"], 1, "whsec_"),
    "bad colour": (["project", "update", "{project}", "--accent-color", "red"], 1, "--accent-color must look like"),
    "bad logo url": (["project", "update", "{project}", "--logo-url", "javascript:alert(1)"], 1, "--logo-url must be"),
    "bad stripe api base": (
        ["project", "create", "--team", "{team}", "--name", "X", "--stripe-secret-key", OFFLINE_STRIPE_KEY,
         "--stripe-api-base", "localhost:12111"],
        1, "--stripe-api-base must be an http(s) URL",
    ),
    "bad return origin": (
        ["project", "update", "{project}", "--allowed-return-origin", "https://app.test/account"],
        1, "--allowed-return-origin",
    ),
    "bad support email": (["project", "update", "{project}", "--support-email", "nobody"], 1, "--support-email"),
    **{
        f"support email {label}": (["project", "update", "{project}", "--support-email", value], 1,
                                   "--support-email must be an email address such as support@example.com")
        for label, value in [("with a script tag", "<script>alert(1)</script>@example.com"),
                             ("with angle brackets", "Help <help@example.com>"), ("with a space", "a b@example.com"),
                             ("with a quote", "o'brien@example.com"), ("with two @", "a@b@example.com"),
                             ("with an undotted domain", "help@localhost"), ("with a line break", "help@example.com\nBcc: x")]
    },
    **{
        f"return origin {label}": (["project", "update", "{project}", "--allowed-return-origin", value], 1,
                                   "--allowed-return-origin must be an origin")
        for label, value in [("with credentials", "https://user:pw@app.example.com"),
                             ("with a wildcard", "https://*.example.com"), ("with port 99999", "https://app.example.com:99999"),
                             ("with port 0", "https://app.example.com:0"), ("with a query", "https://app.example.com/?next=x"),
                             ("with a fragment", "https://app.example.com#x"), ("of another scheme", "ftp://app.example.com"),
                             ("with a bad host", "https://app_1.example.com")]
    },
    "wildcard return origin on create": (
        ["project", "create", "--team", "{team}", "--name", "X", "--stripe-secret-key", OFFLINE_STRIPE_KEY,
         "--allowed-return-origin", "https://*.example.com"],
        1, "--allowed-return-origin must be an origin",
    ),
    **{
        f"logo url {label}": (["project", "update", "{project}", "--logo-url", value], 1, "--logo-url must be a public https URL")
        for label, value in [("over http", "http://cdn.example.com/logo.png"),
                             ("with credentials", "https://user:pw@cdn.example.com/logo.png"),
                             ("on localhost", "https://localhost/logo.png"), ("on a .localhost name", "https://cdn.localhost/logo.png"),
                             ("on loopback", "https://127.0.0.1/logo.png"), ("on IPv6 loopback", "https://[::1]/logo.png"),
                             ("on a short loopback form", "https://127.1/logo.png"),
                             ("on a mapped loopback", "https://[::ffff:127.0.0.1]/logo.png"),
                             ("on the metadata address", "https://169.254.169.254/latest/meta-data"),
                             ("on a private address", "https://10.0.0.5/logo.png"),
                             ("on the unspecified address", "https://0.0.0.0/logo.png"),
                             ("on a multicast address", "https://224.0.0.1/logo.png"),
                             ("on a reserved address", "https://240.0.0.1/logo.png"),
                             ("on a single-label name", "https://intranet/logo.png")]
    },
    "logo url on create": (
        ["project", "create", "--team", "{team}", "--name", "X", "--stripe-secret-key", OFFLINE_STRIPE_KEY,
         "--logo-url", "https://192.168.1.1/logo.png"],
        1, "--logo-url must be a public https URL",
    ),
    "support url with credentials": (
        ["project", "update", "{project}", "--support-url", "https://user:pw@example.com/help"], 1, "--support-url must be",
    ),
    "terms url as javascript": (["project", "update", "{project}", "--terms-url", "javascript:alert(1)"], 1, "--terms-url must be"),
    "privacy url with a control character": (
        ["project", "update", "{project}", "--privacy-url", "https://example.com/privacy\x07"], 1, "--privacy-url must be",
    ),
    "default return url with a wildcard host": (
        ["project", "update", "{project}", "--default-return-url", "https://*.example.com/account"], 1,
        "--default-return-url must be",
    ),
    "csp injection": (
        ["project", "update", "{project}", "--frame-ancestors", "'self'; script-src *"], 1, "--frame-ancestors",
    ),
    "bad customer email": (["customer", "create", "--project", "{project}", "--email", "nope"], 1, "email"),
    "bad stripe customer id": (
        ["customer", "link", "--project", "{project}", "--stripe-customer", "pc_123"], 1, "start with cus_",
    ),
    "contradicting origin flags": (
        ["project", "update", "{project}", "--allowed-return-origin", "https://a.test", "--clear-allowed-return-origins"],
        2, "contradict",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUT), ids=list(BAD_INPUT))
def test_bad_input_is_a_clear_error_and_changes_nothing(case: str, tenant: dict[str, str], db_url: str) -> None:
    args, exit_code, message = BAD_INPUT[case]
    args = [arg.format(**tenant) for arg in args]
    before = row_counts(db_url)
    project_before = run_json("project", "show", tenant["project"])
    assert_clean_error(run(*args), exit_code=exit_code, says=message)
    assert row_counts(db_url) == before
    assert run_json("project", "show", tenant["project"]) == project_before


def test_a_failing_update_changes_no_field(tenant: dict[str, str], db_url: str) -> None:
    """Valid options before a bad one are not half-applied."""
    before = run_json("project", "show", tenant["project"])
    result = run("project", "update", tenant["project"], "--display-name", "New", "--accent-color", "#zzzzzz")
    assert_clean_error(result, says="--accent-color")
    assert run_json("project", "show", tenant["project"]) == before


def test_ordinary_branding_and_origins_pass_the_strict_checks(tenant: dict[str, str]) -> None:
    updated = run_json(
        "project", "update", tenant["project"],
        "--logo-url", "https://cdn.example.com/logo.png",
        "--support-email", "support@example.com",
        "--support-url", "http://help.example.com/portal",
        "--default-return-url", "http://localhost:3000/account",
        "--allowed-return-origin", "https://app.example.com:8443",
        "--allowed-return-origin", "HTTPS://Admin.Example.com:443/",
        "--allowed-return-origin", "http://localhost:3000",
        "--allowed-return-origin", "https://[2001:db8::1]:8443",
    )
    assert updated["logoUrl"] == "https://cdn.example.com/logo.png"
    assert updated["supportEmail"] == "support@example.com"
    assert updated["supportUrl"] == "http://help.example.com/portal"
    assert updated["defaultReturnUrl"] == "http://localhost:3000/account"
    assert updated["allowedReturnOrigins"] == [
        "https://app.example.com:8443", "https://admin.example.com", "http://localhost:3000", "https://[2001:db8::1]:8443",
    ]
    assert run_json("project", "update", tenant["project"], "--logo-url", "https://93.184.215.14/logo.png")["logoUrl"] \
        == "https://93.184.215.14/logo.png"


def test_errors_as_json(tenant: dict[str, str]) -> None:
    result = run("apikey", "create", "--project", "proj_nope", "--json")
    assert result.exit_code == 1 and result.stderr == ""
    assert json.loads(result.stdout) == {
        "error": {
            "type": "invalid_request_error",
            "code": "resource_missing",
            "message": "No project with id 'proj_nope'.",
            "param": "project",
        }
    }
    usage = run("project", "create", "--team", tenant["team"], "--json")
    assert usage.exit_code == 2
    error = json.loads(usage.stdout)["error"]
    assert error["type"] == "usage_error" and error["code"] == "missing_option" and "--name" in error["message"]
    # The group-level flag works too.
    grouped = run("--json", "apikey", "revoke", "key_nope")
    assert grouped.exit_code == 1 and json.loads(grouped.stdout)["error"]["code"] == "resource_missing"


# --- the database must be migrated first -------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def empty_db_url(
    request: pytest.FixtureRequest, isolated_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """A database with no schema at all; BILLSTACK_DATABASE_URL points at it."""
    from billstack.config import reset_settings

    if request.param == "sqlite":
        url = f"sqlite:///{isolated_settings / 'fresh.db'}"
    else:
        # pg_database skips (with the reason) when PostgreSQL is unreachable; drop its
        # schema into a sibling database instead of touching it.
        import uuid

        from devtools.database import PG_ADMIN_URL

        request.getfixturevalue("pg_database")
        name = f"billstack_empty_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))

        def drop() -> None:
            from billstack.db import engine_for

            engine_for(url).dispose()
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()

        request.addfinalizer(drop)
        url = sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    monkeypatch.setenv("BILLSTACK_DATABASE_URL", url)
    reset_settings()
    return url


def test_commands_on_an_unmigrated_database_say_run_db_upgrade(empty_db_url: str) -> None:
    assert_clean_error(run("team", "list"), says="Run `billstack db upgrade` first")
    assert_clean_error(run("team", "create", "--name", "Acme"), says="no BillStack schema yet")
    assert "team" not in sa.inspect(engine(empty_db_url)).get_table_names()

    upgraded = run("db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    assert "Revision before: none (empty database)" in upgraded.stdout
    assert "Applying 0001" in upgraded.stdout and f"Revision now: {HEAD} (latest)" in upgraded.stdout
    assert run_json("team", "list") == {"object": "list", "data": []}

    again = run("db", "upgrade", "--json")
    assert again.exit_code == 0
    assert json.loads(again.stdout) == {
        "id": HEAD,
        "object": "database_migration",
        "database": sa.engine.make_url(empty_db_url).render_as_string(hide_password=True),
        "before": HEAD,
        "after": HEAD,
        "applied": [],
    }
    assert f"Revision before: {HEAD}" in again.stderr  # progress goes to stderr under --json


def test_db_upgrade_json_lists_the_applied_revisions(empty_db_url: str) -> None:
    result = run("db", "upgrade", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["before"] is None and data["after"] == data["id"] == HEAD
    assert [r["revision"] for r in data["applied"]] == REVISIONS  # one at a time, oldest first
    assert data["applied"][0] == {"revision": "0001", "description": "initial schema"}


def test_a_database_from_a_newer_version_is_refused(db_url: str) -> None:
    with engine(db_url).begin() as conn:
        original = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    try:
        assert_clean_error(run("team", "list"), says="does not know")
        upgrade = run("db", "upgrade")
        assert_clean_error(upgrade, says="does not know", progress_ok=True)
        assert "Revision before: 9999" in upgrade.stdout
    finally:  # the PostgreSQL database is shared by the whole run
        with engine(db_url).begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = :v"), {"v": original})


def test_unreachable_database_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from billstack.config import reset_settings

    monkeypatch.setenv("BILLSTACK_DATABASE_URL", "postgresql://billstack:pw-not-shown@127.0.0.1:1/none")
    reset_settings()
    stderr = assert_clean_error(run("team", "list"), says="database error at postgresql://billstack:***@127.0.0.1:1")
    assert "pw-not-shown" not in stderr


def test_invalid_setting_is_named_without_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    from billstack.config import reset_settings

    monkeypatch.setenv("BILLSTACK_PORT", "eighty")
    reset_settings()
    stderr = assert_clean_error(run("team", "list"), says="invalid configuration: BILLSTACK_PORT")
    assert "eighty" not in stderr


# --- the real entry point ------------------------------------------------------------------


def _subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLSTACK_") or k == "BILLSTACK_TEST_PG_URL"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


def test_python_dash_m_billstack_is_the_same_command(db_url: str, isolated_settings: Path) -> None:
    env = _subprocess_env(
        BILLSTACK_DATABASE_URL=db_url,
        BILLSTACK_DATA_DIR=str(isolated_settings),
        BILLSTACK_SECRET_KEY=os.environ["BILLSTACK_SECRET_KEY"],
    )
    help_text = subprocess.run(
        [sys.executable, "-m", "billstack", "--help"], env=env, capture_output=True, text=True, timeout=60
    )
    assert help_text.returncode == 0, help_text.stderr
    assert help_text.stdout.startswith("Usage: billstack ")
    for noun in ("serve", "db", "team", "project", "apikey", "customer"):
        assert f"\n  {noun} " in help_text.stdout

    created = subprocess.run(
        [sys.executable, "-m", "billstack", "team", "create", "--name", "From a shell", "--json"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert created.returncode == 0, created.stderr
    team = json.loads(created.stdout)
    assert [t["id"] for t in run_json("team", "list")["data"]] == [team["id"]]

    failed = subprocess.run(
        [sys.executable, "-m", "billstack", "apikey", "create", "--project", "proj_nope"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert failed.returncode == 1
    assert failed.stderr == "error: No project with id 'proj_nope'.\n" and failed.stdout == ""


# --- serve refuses to start in production without a secret key ----------------------------------------


def _server_must_not_start(**_options: object) -> None:
    raise AssertionError("billstack serve reached the server")


def test_serve_in_production_without_secret_key_fails_before_starting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from billstack.config import reset_settings

    monkeypatch.setenv("BILLSTACK_ENV", "production")
    monkeypatch.delenv("BILLSTACK_SECRET_KEY")
    reset_settings()
    # Were the server reached, this would fail loudly instead of the clean error.
    monkeypatch.setattr(cli_serve, "run_server", _server_must_not_start)
    stderr = assert_clean_error(run("serve", "--port", "8765"), says="BILLSTACK_SECRET_KEY is not set")
    assert "BILLSTACK_ENV=production" in stderr


def test_serve_in_production_without_secret_key_exits_non_zero_as_a_process(isolated_settings: Path) -> None:
    env = _subprocess_env(BILLSTACK_ENV="production", BILLSTACK_DATA_DIR=str(isolated_settings))
    result = subprocess.run(
        [sys.executable, "-m", "billstack", "serve"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: BILLSTACK_SECRET_KEY is not set.")
    assert "Traceback" not in result.stderr
    assert not (isolated_settings / "secret_key").exists()


# --- customers, against the Stripe emulator ---------------------------------------------------


@pytest.fixture
def stripe_account(emulator_url: str) -> dict[str, object]:
    """A fresh emulator account: its key, and an SDK client to look at Stripe's side."""
    import stripe

    from devtools.emulator import new_account_key

    key = new_account_key()
    client = stripe.StripeClient(key, base_addresses={"api": emulator_url})
    return {"key": key, "url": emulator_url, "client": client}


@pytest.fixture
def emulated_project(db_url: str, stripe_account: dict) -> dict[str, str]:
    team_id = make_team()
    project = make_project(team_id, "--stripe-api-base", stripe_account["url"], key=stripe_account["key"])
    return {"team": team_id, "project": project["id"]}


def test_round_trip_team_project_key_customer(db_url: str, stripe_account: dict) -> None:
    team = run_json("team", "create", "--name", "Acme")
    project = run_json(
        "project", "create", "--team", team["id"], "--name", "Acme SaaS",
        "--stripe-secret-key", stripe_account["key"], "--stripe-api-base", stripe_account["url"],
        "--webhook-secret", "whsec_roundTripSecret123",
    )
    assert project["stripeApiBase"] == stripe_account["url"] and project["webhookSecret"] == "set"
    key = run_json("apikey", "create", "--project", project["id"])
    assert key["key"].startswith("bsk_")

    created = run_json("customer", "create", "--project", project["id"], "--email", "ada@example.com", "--name", "Ada")
    assert created["id"].startswith("pc_") and created["projectId"] == project["id"]
    assert created["stripeCustomerId"].startswith("cus_")
    in_stripe = stripe_account["client"].v1.customers.retrieve(created["stripeCustomerId"])
    assert (in_stripe.email, in_stripe.name) == ("ada@example.com", "Ada")

    listed = run_json("customer", "list", "--project", project["id"])
    assert listed == {"object": "list", "data": [created]}
    human = run("customer", "list", "--project", project["id"])
    assert created["id"] in human.stdout and "ada@example.com" in human.stdout


def test_link_an_existing_stripe_customer_once(db_url: str, stripe_account: dict, emulated_project: dict) -> None:
    existing = stripe_account["client"].v1.customers.create({"email": "grace@example.com", "name": "Grace"})
    project_id = emulated_project["project"]
    linked = run_json("customer", "link", "--project", project_id, "--stripe-customer", existing.id)
    assert linked["stripeCustomerId"] == existing.id
    assert (linked["email"], linked["name"]) == ("grace@example.com", "Grace")

    before = row_counts(db_url)
    duplicate = run("customer", "link", "--project", project_id, "--stripe-customer", existing.id)
    assert_clean_error(duplicate, says=f"{existing.id} is already linked to {linked['id']}")
    assert row_counts(db_url) == before

    # The same Stripe customer may belong to another project of the same account.
    other = make_project(emulated_project["team"], "--stripe-api-base", stripe_account["url"], key=stripe_account["key"])
    assert run_json("customer", "link", "--project", other["id"], "--stripe-customer", existing.id)["id"] != linked["id"]


def test_link_refuses_customers_stripe_does_not_have(db_url: str, stripe_account: dict, emulated_project: dict) -> None:
    project_id = emulated_project["project"]
    before = row_counts(db_url)
    assert_clean_error(run("customer", "link", "--project", project_id, "--stripe-customer", "cus_doesNotExist"))
    gone = stripe_account["client"].v1.customers.create({"email": "gone@example.com"})
    stripe_account["client"].v1.customers.delete(gone.id)
    assert_clean_error(
        run("customer", "link", "--project", project_id, "--stripe-customer", gone.id), says="was deleted in Stripe"
    )
    assert row_counts(db_url) == before


def test_remove_then_relink_keeps_the_id_and_revokes_old_sessions(
    db_url: str, db, stripe_account: dict, emulated_project: dict
) -> None:
    from datetime import timedelta

    from billstack.clock import utcnow
    from billstack.models import Project
    from billstack.services.sessions import PortalTokenError, create_portal_session, validate_portal_token

    project_id = emulated_project["project"]
    team_id = db.get(Project, project_id).team_id
    created = run_json("customer", "create", "--project", project_id, "--email", "lin@example.com")
    old = create_portal_session(db, team_id=team_id, project_id=project_id, api_key=None, customer_id=created["id"])
    db.commit()
    assert validate_portal_token(db, old.token).customer.id == created["id"]

    removed = run_json("customer", "remove", "--project", project_id, created["id"])
    assert removed["removedAt"] is not None
    assert run_json("customer", "list", "--project", project_id)["data"] == []
    assert_clean_error(run("customer", "remove", "--project", project_id, created["id"]), says="No such customer")
    db.expire_all()
    with pytest.raises(PortalTokenError) as gone:
        validate_portal_token(db, old.token)
    assert gone.value.code == "token_revoked"
    # Stripe keeps the customer.
    assert stripe_account["client"].v1.customers.retrieve(created["stripeCustomerId"]).email == "lin@example.com"

    relinked = run_json("customer", "link", "--project", project_id, "--stripe-customer", created["stripeCustomerId"])
    assert relinked["id"] == created["id"] and relinked["removedAt"] is None
    db.expire_all()
    with pytest.raises(PortalTokenError) as still_gone:  # the re-link does not revive the old link
        validate_portal_token(db, old.token)
    assert still_gone.value.code == "token_revoked"
    new = create_portal_session(db, team_id=team_id, project_id=project_id, api_key=None, customer_id=created["id"],
                                now=utcnow() + timedelta(seconds=1))  # sessions of the removal's second count as old
    db.commit()
    assert validate_portal_token(db, new.token).customer.id == created["id"]


def test_customer_is_not_stored_when_stripe_refuses(db_url: str, stripe_account: dict) -> None:
    """A live key is refused by the emulator (test mode only), like a revoked key by Stripe."""
    team_id = make_team()
    project = make_project(team_id, "--stripe-api-base", stripe_account["url"], key="sk_live_revokedKey1234567890")
    before = row_counts(db_url)
    result = run("customer", "create", "--project", project["id"], "--email", "ada@example.com")
    stderr = assert_clean_error(result, says="Stripe rejected the project's secret key")
    assert "sk_live_revokedKey" not in stderr
    assert row_counts(db_url) == before


def test_customer_is_not_stored_when_stripe_is_down(
    db_url: str, stripe_account: dict, emulated_project: dict
) -> None:
    from devtools.emulator import stripe_down

    before = row_counts(db_url)
    with stripe_down(stripe_account["url"], stripe_account["key"]):
        result = run("customer", "create", "--project", emulated_project["project"], "--email", "ada@example.com")
    assert_clean_error(result, says="Stripe is unavailable right now. Nothing was changed")
    assert row_counts(db_url) == before
    assert stripe_account["client"].v1.customers.list().data == []


# --- long-running commands hand over to their modules ------------------------------------------


def test_serve_demo_and_emulator_hand_over_their_options(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    calls: list[tuple[str, dict]] = []
    monkeypatch.setattr(cli_serve, "run_server", lambda **kw: calls.append(("serve", kw)))
    monkeypatch.setattr(cli_dev, "run_demo", lambda _seed, **kw: calls.append(("demo", kw)))
    emulator_server = types.ModuleType("stripe_emulator.server")
    emulator_server.serve = lambda **kw: calls.append(("emulator", kw))
    monkeypatch.setitem(sys.modules, "stripe_emulator.server", emulator_server)

    assert run("serve").exit_code == 0
    assert run("serve", "--host", "0.0.0.0", "--port", "8123", "--workers", "2").exit_code == 0
    assert run("demo").exit_code == 0
    assert run("demo", "--port", "8124").exit_code == 0
    assert run("emulator", "--port", "0", "--latency-ms", "25").exit_code == 0
    assert calls == [
        ("serve", {"host": None, "port": None, "workers": None}),
        ("serve", {"host": "0.0.0.0", "port": 8123, "workers": 2}),
        ("demo", {"port": None}),
        ("demo", {"port": 8124}),
        ("emulator", {"host": "127.0.0.1", "port": 0, "latency_ms": 25}),
    ]
    assert_clean_error(run("serve", "--port", "70000"), exit_code=2, says="70000")
