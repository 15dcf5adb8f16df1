"""Bulk seeding for the scale benchmark: 1,000,000 customers and 5,000,000 invoices in minutes.

Every customer `i` gets rows that are a pure function of `i` (one subscription, five
invoices, one card, one old portal session), so the "empty" comparison database can hold
exactly the same rows for the sampled customers. Tenants (team, projects, API keys) are
made through the services; the mirror rows go in through the database's bulk path:
SQLite `executemany` in large transactions, PostgreSQL `COPY`.

Seeded databases live in bench/.data/ (SQLite) or in a kept PostgreSQL database and are
reused while their manifest (sizes, SEED_VERSION) matches; migrations added later are
applied in place.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import pg
from bench.common import DATA_DIR, chunks, log
from bench.fixtures import use_database

SEED_VERSION = 1  # bump when the generated rows change: seeded databases are rebuilt
PROJECTS = 10
INVOICES_PER_CUSTOMER = 5
BATCH = 50_000
NOW = datetime(2026, 11, 1, tzinfo=UTC)  # fixed, so every run generates identical rows


@dataclass(frozen=True)
class Size:
    label: str
    customers: int

    @property
    def invoices(self) -> int:
        return self.customers * INVOICES_PER_CUSTOMER


@dataclass(frozen=True)
class Seeded:
    dialect: str
    url: str
    team_id: str
    projects: list[dict[str, str]]  # [{"id", "api_key"}] in order; customer i is in projects[project_of(i)]
    customers: int

    def project_of(self, index: int) -> dict[str, str]:
        return self.projects[index * len(self.projects) // self.customers]


# --- the rows of customer i ----------------------------------------------------------------


def customer_id(index: int) -> str:
    return f"pc_{index:020d}"


class CustomerRows:
    """The rows of customer `index`, one method per table, as tuples in COLUMNS order."""

    def __init__(self, when: Callable[[datetime], Any], flag: Callable[[bool], Any]) -> None:
        self.when, self.flag = when, flag  # how this dialect binds datetimes and booleans
        self.synced = when(NOW)

    def customer(self, index: int, project_id: str, _key_id: str) -> list[tuple]:
        return [
            (
                customer_id(index),
                project_id,
                f"cus_{index:014d}",
                f"customer{index}@example.com",
                f"Customer {index}",
                f"pm_{index:014d}",
                self.synced,
                None,
                self.when(_created(index)),
            )
        ]

    def subscription(self, index: int, project_id: str, _key_id: str) -> list[tuple]:
        start = NOW - timedelta(days=index % 30)
        return [
            (
                project_id,
                customer_id(index),
                f"sub_{index:014d}",
                "active",
                "Team plan",
                "Team plan (monthly)",
                4900,
                "usd",
                "month",
                1,
                1,
                self.flag(False),
                None,
                None,
                self.when(start),
                self.when(start + timedelta(days=30)),
                f"pm_{index:014d}",
                self.when(_created(index)),
                self.synced,
                self.synced,
            )
        ]

    def invoice(self, index: int, project_id: str, _key_id: str) -> list[tuple]:
        rows = []
        for k in range(INVOICES_PER_CUSTOMER):
            invoice = f"in_{index:014d}{k}"
            is_open = k == INVOICES_PER_CUSTOMER - 1 and index % 10 == 0  # every tenth customer owes one
            rows.append(
                (
                    project_id,
                    customer_id(index),
                    invoice,
                    f"B{index:08d}-{k + 1:04d}",
                    "open" if is_open else "paid",
                    "usd",
                    4900,
                    4900 if is_open else 0,
                    0 if is_open else 4900,
                    f"https://pay.stripe.com/invoice/acct_bench/{invoice}/pdf",
                    f"https://invoice.stripe.com/i/acct_bench/{invoice}",
                    f"sub_{index:014d}",
                    self.when(_created(index) + timedelta(days=30 * k)),
                    self.synced,
                )
            )
        return rows

    def payment_method(self, index: int, project_id: str, _key_id: str) -> list[tuple]:
        return [
            (
                project_id,
                customer_id(index),
                f"pm_{index:014d}",
                "card",
                "visa",
                "4242",
                12,
                2030,
                self.when(_created(index)),
                self.synced,
            )
        ]

    def portal_session(self, index: int, project_id: str, key_id: str) -> list[tuple]:
        """One expired session per customer: the session table is big too, as it would be."""
        return [
            (
                f"portal_sess_{index:020d}",
                project_id,
                customer_id(index),
                key_id,
                hashlib.sha256(f"bench-session-{index}".encode()).hexdigest(),
                None,
                "en",
                None,
                self.when(NOW - timedelta(days=2)),
                self.when(NOW - timedelta(days=1)),
                None,
            )
        ]


def _created(index: int) -> datetime:
    return NOW - timedelta(days=30 * INVOICES_PER_CUSTOMER + index % 30)


COLUMNS: dict[str, Sequence[str]] = {
    "customer": (
        "id",
        "project_id",
        "stripe_customer_id",
        "email",
        "name",
        "default_payment_method_id",
        "synced_at",
        "removed_at",
        "created_at",
    ),
    "subscription": (
        "project_id",
        "customer_id",
        "stripe_id",
        "status",
        "product_name",
        "price_nickname",
        "unit_amount",
        "currency",
        "interval",
        "interval_count",
        "quantity",
        "cancel_at_period_end",
        "cancel_at",
        "canceled_at",
        "current_period_start",
        "current_period_end",
        "default_payment_method_id",
        "created",
        "stripe_updated_at",
        "synced_at",
    ),
    "invoice": (
        "project_id",
        "customer_id",
        "stripe_id",
        "number",
        "status",
        "currency",
        "total",
        "amount_due",
        "amount_paid",
        "invoice_pdf",
        "hosted_invoice_url",
        "subscription_stripe_id",
        "created",
        "synced_at",
    ),
    "payment_method": (
        "project_id",
        "customer_id",
        "stripe_id",
        "type",
        "brand",
        "last4",
        "exp_month",
        "exp_year",
        "created",
        "synced_at",
    ),
    "portal_session": (
        "id",
        "project_id",
        "customer_id",
        "api_key_id",
        "token_hash",
        "return_url",
        "locale",
        "flow",
        "created_at",
        "expires_at",
        "revoked_at",
    ),
}


# --- writing ------------------------------------------------------------------------------


def seed_customers(
    url: str, dialect: str, indices: Iterable[int], total: int, projects: list[dict[str, str]]
) -> int:
    """Bulk-insert the rows of every customer in `indices` (customers first, then the rest)."""
    generator = CustomerRows(*_encoders(dialect))

    def rows(table: str) -> Iterator[tuple]:
        make = getattr(generator, table)
        for index in indices_list:
            project = projects[index * len(projects) // total]
            yield from make(index, project["id"], project["key_id"])

    indices_list = list(indices)
    written = 0
    for table, columns in COLUMNS.items():
        started = time.monotonic()
        count = (_sqlite_insert if dialect == "sqlite" else _pg_copy)(url, table, columns, rows(table))
        written += count
        if count >= 100_000:
            log(f"  {table}: {count:,} rows in {time.monotonic() - started:.0f} s")
    return written


def _encoders(dialect: str) -> tuple[Callable[[datetime], Any], Callable[[bool], Any]]:
    """How values are bound on this dialect, as SQLAlchemy would bind them (cached: few distinct dates)."""
    if dialect != "sqlite":
        return (lambda value: value), (lambda value: value)
    from sqlalchemy.dialects import sqlite as sqlite_dialect

    from billstack.models import Invoice

    binder = Invoice.__table__.c.created.type.bind_processor(sqlite_dialect.dialect())
    cache: dict[datetime, Any] = {}

    def when(value: datetime) -> Any:
        encoded = cache.get(value)
        if encoded is None:
            encoded = cache[value] = binder(value)
        return encoded

    return when, int


def _sqlite_insert(url: str, table: str, columns: Sequence[str], rows: Iterable[tuple]) -> int:
    path = url.removeprefix("sqlite:///")
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        # Bulk load without a journal or fsyncs (~1.5× faster): a crash mid-seed leaves no
        # manifest, so the next run starts over. WAL, which the app uses, is restored after.
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-524288")  # 512 MiB of page cache for the index updates
        statement = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        count = 0
        for batch in chunks(rows, BATCH):
            conn.execute("BEGIN")
            conn.executemany(statement, batch)
            conn.execute("COMMIT")
            count += len(batch)
        conn.execute("PRAGMA journal_mode=WAL")
        return count
    finally:
        conn.close()


def _pg_copy(url: str, table: str, columns: Sequence[str], rows: Iterable[tuple]) -> int:
    import psycopg

    count = 0
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        # The rows are consistent by construction; skipping the per-row foreign-key
        # triggers is what makes COPY of millions of rows take minutes, not much longer.
        cursor.execute("SET session_replication_role = replica")
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
    return count


# --- seeded databases, kept between runs -------------------------------------------------


def manifest_path(dialect: str, size: Size) -> Path:
    return DATA_DIR / f"scale-{size.label}-{dialect}.json"


def ensure_seeded(dialect: str, size: Size) -> Seeded:
    """The kept database for this size, seeded now unless a matching one exists."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    manifest_file = manifest_path(dialect, size)
    expected = {
        "seed_version": SEED_VERSION,
        "customers": size.customers,
        "invoices": size.invoices,
        "projects": PROJECTS,
    }
    if manifest_file.exists():
        manifest = json.loads(manifest_file.read_text())
        if {k: manifest.get(k) for k in expected} == expected and _still_there(
            dialect, manifest["url"], size
        ):
            with use_database(manifest["url"], DATA_DIR / "settings"):
                pass  # applies migrations added since it was seeded
            log(
                f"reusing the seeded {dialect} database ({size.customers:,} customers, {size.invoices:,} invoices)"
            )
            return _seeded(dialect, manifest)
    manifest_file.unlink(missing_ok=True)
    started = time.monotonic()
    url = _fresh_database(dialect, size)
    log(f"seeding {dialect}: {size.customers:,} customers, {size.invoices:,} invoices (bulk inserts)…")
    with use_database(url, DATA_DIR / "settings"):
        team_id, projects = make_tenants()
    seed_customers(url, dialect, range(size.customers), size.customers, projects)
    _after_bulk_load(dialect, url)
    manifest = {
        **expected,
        "url": url,
        "team_id": team_id,
        "project_list": projects,
        "seeded_seconds": round(time.monotonic() - started, 1),
    }
    manifest_file.write_text(json.dumps(manifest, indent=2))
    log(f"seeded {dialect} in {manifest['seeded_seconds']:.0f} s")
    return _seeded(dialect, manifest)


def make_tenants() -> tuple[str, list[dict[str, str]]]:
    """One team, PROJECTS projects, one API key each — through the services operators use."""
    from billstack.db import session_scope
    from devtools.emulator import new_account_key
    from billstack.services import tenants

    with session_scope() as db:
        team = tenants.create_team(db, name="Scale Inc.")
        projects = []
        for number in range(PROJECTS):
            project = tenants.create_project(
                db, team_id=team.id, name=f"Scale {number}", stripe_secret_key=new_account_key()
            )
            key, plaintext = tenants.create_api_key(db, project_id=project.id)
            projects.append({"id": project.id, "key_id": key.id, "api_key": plaintext})
    return team.id, projects


def _seeded(dialect: str, manifest: dict) -> Seeded:
    return Seeded(
        dialect, manifest["url"], manifest["team_id"], manifest["project_list"], manifest["customers"]
    )


def _fresh_database(dialect: str, size: Size) -> str:
    if dialect == "sqlite":
        path = DATA_DIR / f"scale-{size.label}.sqlite"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    name = f"billstack_bench_scale_{size.label}"
    pg.drop_database(name)
    return pg.create_database(name)


def _still_there(dialect: str, url: str, size: Size) -> bool:
    """The database behind a manifest still holds what the manifest says."""
    try:
        if dialect == "sqlite":
            path = url.removeprefix("sqlite:///")
            if not Path(path).exists():
                return False
            conn = sqlite3.connect(path)
            try:
                return conn.execute("SELECT count(*) FROM customer").fetchone()[0] >= size.customers
            finally:
                conn.close()
        name = url.rsplit("/", 1)[1]
        if not pg.database_exists(name):
            return False
        import psycopg

        with psycopg.connect(url) as conn:
            return conn.execute("SELECT count(*) FROM customer").fetchone()[0] >= size.customers
    except Exception:  # noqa: BLE001 - anything odd means "seed again"
        return False


def _after_bulk_load(dialect: str, url: str) -> None:
    """PostgreSQL: fresh planner statistics (autovacuum would get there later). SQLite runs
    no ANALYZE, as the app never does."""
    if dialect == "postgresql":
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")


def seed_small_copy(url: str, dialect: str, indices: Sequence[int], seeded: Seeded) -> Seeded:
    """An "empty" database: the same tenants' shape and exactly the sampled customers' rows."""
    with use_database(url, DATA_DIR / "settings"):
        team_id, projects = make_tenants()
    # Same customer→project mapping as the big database (by index), with this database's projects.
    seed_customers(url, dialect, indices, seeded.customers, projects)
    _after_bulk_load(dialect, url)
    return Seeded(dialect, url, team_id, projects, seeded.customers)


def sample_indices(customers: int, count: int, seed: int = 7) -> list[int]:
    import random

    return random.Random(seed).sample(range(customers), min(count, customers))
