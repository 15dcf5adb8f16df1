"""The schema comes from migrations, and the migrations match the models."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from contextlib import ExitStack
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import Session, SQLModel

from billstack.clock import utcnow
from billstack.config import get_settings, reset_settings
from billstack.db import engine_for
from billstack.ids import new_id
from billstack.migrate import alembic_config, current_heads, upgrade
from billstack.secrets_box import digest, seal
from billstack.services.sessions import PortalTokenError, validate_portal_token
from billstack.services.sessions.tokens import encode_token, new_session_id, token_claims
from tests.conftest import throwaway_pg_database


def test_upgrade_from_empty_creates_every_table(db_url: str) -> None:
    tables = set(sa.inspect(engine_for(db_url)).get_table_names())
    expected = {t.name for t in SQLModel.metadata.sorted_tables}
    assert expected <= tables
    assert "alembic_version" in tables


def test_database_is_at_the_single_head_revision(db_url: str) -> None:
    with engine_for(db_url).connect() as conn:
        assert set(MigrationContext.configure(conn).get_current_heads()) == current_heads()
    assert len(current_heads()) == 1, "migrations must not branch"


def test_models_and_migrations_agree(db_url: str) -> None:
    with engine_for(db_url).connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == [], f"models differ from the migrated schema; write a migration: {diff}"


@dataclass(frozen=True)
class OldProject:
    id: str
    team_id: str


def _insert_project(db: Session | sa.Connection, name: str = "P", team_id: str | None = None) -> OldProject:
    """A team and project written in SQL, with only the columns every revision has: the
    Project model carries today's columns, which an older schema does not."""
    if team_id is None:
        team_id = new_id("team")
        db.execute(sa.text("INSERT INTO team (id, name, created_at) VALUES (:id, 'Migrating', :now)"),
                   {"id": team_id, "now": utcnow()})
    project = OldProject(new_id("proj"), team_id)
    db.execute(sa.text(
        "INSERT INTO project (id, team_id, name, accent_color, allowed_return_origins, frame_ancestors, "
        "feature_cancel, feature_resume, feature_invoice_history, feature_payment_method_update, "
        "stripe_secret_key_sealed, created_at) VALUES (:id, :team, :name, '#4f46e5', '', :frame, "
        ":on, :on, :on, :on, :key, :now)"),
        {"id": project.id, "team": team_id, "name": name, "frame": "'none'", "on": True,
         "key": seal("sk_test_fake0000000000"), "now": utcnow()})
    return project


def _insert_session(db: Session, project: OldProject, customer_id: str) -> str:
    """A live portal session written in SQL as 0002's code wrote it (today's creation reads
    project columns an older schema lacks); returns its token."""
    now = utcnow().replace(microsecond=0)
    expires_at = now + timedelta(hours=1)
    session_id = new_session_id()
    claims = token_claims(session_id, project.id, customer_id, int(now.timestamp()), int(expires_at.timestamp()))
    token = encode_token(claims, get_settings().signing_keys()[0])
    db.execute(sa.text("INSERT INTO portal_session (id, project_id, customer_id, token_hash, locale, created_at, "
                       "expires_at) VALUES (:id, :project, :customer, :hash, 'en', :now, :expires)"),
               {"id": session_id, "project": project.id, "customer": customer_id, "hash": digest(token),
                "now": now, "expires": expires_at})
    return token


# --- 0003: portal_session keeps only its primary key ----------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def empty_db_url(request: pytest.FixtureRequest, isolated_settings: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A database with no schema at all (each migration test starts from nothing)."""
    with ExitStack() as stack:
        if request.param == "sqlite":
            isolated_settings.mkdir(parents=True, exist_ok=True)
            url = f"sqlite:///{isolated_settings / 'empty.db'}"
        else:
            url = stack.enter_context(throwaway_pg_database("billstack_migrate"))
        monkeypatch.setenv("BILLSTACK_DATABASE_URL", url)
        reset_settings()
        yield url
        engine_for(url).dispose()


def _portal_session_indexes(url: str) -> tuple[set[str], list[list[str]]]:
    inspector = sa.inspect(engine_for(url))
    indexes = {index["name"] for index in inspector.get_indexes("portal_session")}
    uniques = [unique["column_names"] for unique in inspector.get_unique_constraints("portal_session")]
    return indexes, uniques


def test_0003_keeps_every_session_and_moves_customer_revocation(empty_db_url: str) -> None:
    upgrade(empty_db_url, "0002")
    with Session(engine_for(empty_db_url), expire_on_commit=False) as db:
        project = _insert_project(db)
        kept, removed = new_id("pc"), new_id("pc")
        for customer_id in (kept, removed):  # in SQL: the Customer model has 0003's column
            db.execute(sa.text("INSERT INTO customer (id, project_id, stripe_customer_id, mirror_version, created_at) "
                               "VALUES (:id, :project, :stripe, 0, :now)"),
                       {"id": customer_id, "project": project.id, "stripe": f"cus_{customer_id}", "now": utcnow()})
        db.commit()
        tokens = {customer_id: _insert_session(db, project, customer_id) for customer_id in (kept, removed)}
        db.commit()
    with engine_for(empty_db_url).begin() as conn:  # removed as 0002's code did: the customer, then each session
        conn.execute(sa.text("UPDATE customer SET removed_at = :now WHERE id = :id"), {"id": removed, "now": utcnow()})
        conn.execute(sa.text("UPDATE portal_session SET revoked_at = :now WHERE customer_id = :id"),
                     {"id": removed, "now": utcnow()})
    indexes, uniques = _portal_session_indexes(empty_db_url)
    assert {"ix_portal_session_project_id", "ix_portal_session_customer_id"} <= indexes
    assert ["token_hash"] in uniques  # as 0002 left them

    upgrade(empty_db_url, "0003")

    assert _portal_session_indexes(empty_db_url) == (set(), [])
    with engine_for(empty_db_url).connect() as conn:  # foreign keys survived the SQLite rebuild
        fks = {fk["referred_table"] for fk in sa.inspect(conn).get_foreign_keys("portal_session")}
        revoked_at = dict(conn.execute(sa.text("SELECT id, sessions_revoked_at FROM customer")).all())
    assert fks == {"customer", "project"}
    assert revoked_at[kept] is None and revoked_at[removed] is not None  # from removed_at
    upgrade(empty_db_url)  # the ORM reads today's Customer columns (0005's external_id)
    with Session(engine_for(empty_db_url)) as db:  # the live session still opens, the revoked one not
        assert validate_portal_token(db, tokens[kept]).customer.id == kept
        with pytest.raises(PortalTokenError):
            validate_portal_token(db, tokens[removed])

    command.downgrade(alembic_config(empty_db_url), "0002")
    indexes, uniques = _portal_session_indexes(empty_db_url)
    assert {"ix_portal_session_project_id", "ix_portal_session_customer_id"} <= indexes
    assert ["token_hash"] in uniques
    assert "sessions_revoked_at" not in {c["name"] for c in sa.inspect(engine_for(empty_db_url)).get_columns("customer")}


# --- 0004: invoice.description and invoice.due_date ------------------------------------------


def _invoice_columns(url: str) -> set[str]:
    return {column["name"] for column in sa.inspect(engine_for(url)).get_columns("invoice")}


def test_0004_adds_the_invoice_description_and_due_date_and_keeps_every_invoice(empty_db_url: str) -> None:
    upgrade(empty_db_url, "0003")
    with Session(engine_for(empty_db_url), expire_on_commit=False) as db:
        project = _insert_project(db)
        customer_id = new_id("pc")
        db.execute(sa.text("INSERT INTO customer (id, project_id, stripe_customer_id, mirror_version, created_at) "
                           "VALUES (:id, :project, 'cus_m', 0, :now)"),
                   {"id": customer_id, "project": project.id, "now": utcnow()})
        db.execute(sa.text("INSERT INTO invoice (project_id, customer_id, stripe_id, status, currency, total, "
                           "amount_due, amount_paid, created, synced_at) VALUES (:project, :customer, 'in_kept', "
                           "'open', 'usd', 500, 500, 0, :now, :now)"),
                   {"project": project.id, "customer": customer_id, "now": utcnow()})
        db.commit()
    assert not {"description", "due_date"} & _invoice_columns(empty_db_url)

    upgrade(empty_db_url, "0004")

    assert {"description", "due_date"} <= _invoice_columns(empty_db_url)
    with engine_for(empty_db_url).connect() as conn:  # filled by the next sync or invoice event
        kept = conn.execute(sa.text("SELECT stripe_id, amount_due, description, due_date FROM invoice")).one()
    assert tuple(kept) == ("in_kept", 500, None, None)

    command.downgrade(alembic_config(empty_db_url), "0003")
    assert not {"description", "due_date"} & _invoice_columns(empty_db_url)
    with engine_for(empty_db_url).connect() as conn:
        assert conn.execute(sa.text("SELECT stripe_id FROM invoice")).scalar_one() == "in_kept"


# --- 0005: customer.external_id, unique per project ------------------------------------------


def _insert_customer(conn: sa.Connection, project_id: str, external_id: str | None = None) -> str:
    customer_id = new_id("pc")
    columns = "id, project_id, stripe_customer_id, mirror_version, created_at" + (", external_id" if external_id else "")
    values = ":id, :project, :stripe, 0, :now" + (", :external" if external_id else "")
    conn.execute(sa.text(f"INSERT INTO customer ({columns}) VALUES ({values})"),
                 {"id": customer_id, "project": project_id, "stripe": f"cus_{customer_id}", "now": utcnow(),
                  "external": external_id})
    return customer_id


def test_0005_adds_a_per_project_unique_external_id_and_keeps_every_customer(empty_db_url: str) -> None:
    upgrade(empty_db_url, "0004")
    with Session(engine_for(empty_db_url), expire_on_commit=False) as db:
        first = _insert_project(db, "P")
        second = _insert_project(db, "Q", first.team_id)
        db.commit()
    with engine_for(empty_db_url).begin() as conn:
        kept = [_insert_customer(conn, first.id), _insert_customer(conn, first.id)]

    upgrade(empty_db_url, "0005")

    engine = engine_for(empty_db_url)
    with engine.connect() as conn:
        assert dict(conn.execute(sa.text("SELECT id, external_id FROM customer")).all()) == dict.fromkeys(kept)
    with engine.begin() as conn:  # NULLs never collide; one id once per project, again in another project
        _insert_customer(conn, first.id)
        _insert_customer(conn, first.id, "user_1")
        _insert_customer(conn, second.id, "user_1")
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        _insert_customer(conn, first.id, "user_1")

    command.downgrade(alembic_config(empty_db_url), "0004")
    assert "external_id" not in {c["name"] for c in sa.inspect(engine_for(empty_db_url)).get_columns("customer")}
    with engine_for(empty_db_url).connect() as conn:
        assert set(kept) <= set(conn.execute(sa.text("SELECT id FROM customer")).scalars())


# --- 0006: plan changes ------------------------------------------------------------------------


def test_0006_adds_plan_change_settings_off_and_keeps_every_project_and_subscription(empty_db_url: str) -> None:
    upgrade(empty_db_url, "0005")
    engine = engine_for(empty_db_url)
    with engine.begin() as conn:
        project = _insert_project(conn)
        customer_id = _insert_customer(conn, project.id)
        conn.execute(sa.text("INSERT INTO subscription (project_id, customer_id, stripe_id, status, product_name, "
                             "currency, interval_count, quantity, cancel_at_period_end, created, synced_at) VALUES "
                             "(:project, :customer, 'sub_kept', 'active', 'Pro', 'usd', 1, 1, :off, :now, :now)"),
                     {"project": project.id, "customer": customer_id, "off": False, "now": utcnow()})

    upgrade(empty_db_url, "0006")

    with engine.connect() as conn:
        settings = conn.execute(sa.text("SELECT feature_plan_change, proration_behavior, schedule_at_period_end, "
                                        "feature_quantity_change, quantity_min, quantity_max FROM project")).one()
        subscription = conn.execute(sa.text("SELECT stripe_id, price_id, schedule_id FROM subscription")).one()
    assert tuple(settings) == (False, "create_prorations", "", False, 1, None)  # as Stripe: off until turned on
    assert tuple(subscription) == ("sub_kept", None, None)  # filled by the next sync
    assert "plan_price" in sa.inspect(engine).get_table_names()

    command.downgrade(alembic_config(empty_db_url), "0005")
    inspector = sa.inspect(engine_for(empty_db_url))
    assert "plan_price" not in inspector.get_table_names()
    assert "feature_plan_change" not in {c["name"] for c in inspector.get_columns("project")}
    assert "price_id" not in {c["name"] for c in inspector.get_columns("subscription")}
    with engine_for(empty_db_url).connect() as conn:
        assert list(conn.execute(sa.text("SELECT stripe_id FROM subscription")).scalars()) == ["sub_kept"]
