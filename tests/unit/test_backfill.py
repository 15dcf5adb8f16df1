"""`billstack sync`: backfill from the emulator, idempotent second runs, resume, scopes.

The 1,000-customer account is seeded once per test session through the SDK (each
customer: a card, a subscription about two months old with its paid invoices, some
canceled). That backfill runs once, on SQLite (always there; about a minute for both
runs); the smaller tests run on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
import stripe
from cli_helpers import assert_clean_error, make_project, make_team, row_counts, run, run_json

from billstack.db import engine_for, session_scope
from devtools.emulator import inject_faults, new_account_key
from billstack.errors import StripeUnavailable
from billstack.models import Customer
from billstack.services import backfill

DAY = 86400
MIRROR_TABLES = ("customer", "subscription", "invoice", "payment_method")


@dataclass(frozen=True)
class Account:
    url: str
    key: str
    customers: list[str]
    subscriptions: int
    invoices: int


def seed_account(emulator_url: str, count: int) -> Account:
    key = new_account_key()
    client = stripe.StripeClient(key, base_addresses={"api": emulator_url})
    price = client.v1.prices.create({"currency": "usd", "unit_amount": 2900, "recurring": {"interval": "month"},
                                     "product_data": {"name": "Starter"}, "nickname": "Starter monthly"})
    customers = []
    for i in range(count):
        customer = client.v1.customers.create({
            "email": f"user{i}@example.com", "name": f"User {i}", "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        })
        sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}],
                                              "backdate_start_date": customer.created - 65 * DAY})
        if i % 50 == 0:
            client.v1.subscriptions.cancel(sub.id)
        customers.append(customer.id)
    invoices = sum(1 for _ in client.v1.invoices.list({"limit": 100}).auto_paging_iter())
    return Account(emulator_url, key, customers, count, invoices)


@pytest.fixture(scope="session")
def thousand(emulator_url: str) -> Account:
    started = time.monotonic()
    account = seed_account(emulator_url, 1000)
    print(f"\nseeded 1,000 customers ({account.invoices} invoices) in {time.monotonic() - started:.1f} s")
    return account


def new_project(account: Account) -> str:
    return make_project(make_team(), "--stripe-api-base", account.url, key=account.key)["id"]


def table_rows(db_url: str, tables: tuple[str, ...]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables, in key order; customers without their `synced_at` check stamp."""
    rows = {}
    with engine_for(db_url).connect() as conn:
        for name in tables:
            table = sa.Table(name, sa.MetaData(), autoload_with=conn)
            columns = [c for c in table.c if not (name == "customer" and c.name == "synced_at")]
            rows[name] = [tuple(r) for r in conn.execute(sa.select(*columns).order_by(*table.primary_key.columns))]
    return rows


def test_backfill_of_1000_customers_then_a_second_run_writes_nothing(db_url: str, request: pytest.FixtureRequest) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("the 1,000-customer backfill runs once, on SQLite, to keep the suite short; "
                    "PostgreSQL runs the smaller backfill tests")
    thousand: Account = request.getfixturevalue("thousand")
    project_id = new_project(thousand)

    first = run_json("sync", "--project", project_id, "--import-customers")

    assert (first["imported"], first["synced"], first["skipped"], first["customers"]) == (1000, 1000, 0, 1000)
    counts = row_counts(db_url)
    assert (counts["customer"], counts["subscription"], counts["payment_method"]) == (1000, thousand.subscriptions, 1000)
    assert counts["invoice"] == thousand.invoices > 2000
    # Per customer: its default card on the customer row, plus every mirror row.
    assert first["rowsWritten"] == 1000 + thousand.subscriptions + thousand.invoices + 1000
    before_counts, before = counts, table_rows(db_url, MIRROR_TABLES + ("audit_event",))

    second = run_json("sync", "--project", project_id, "--import-customers")

    assert (second["imported"], second["synced"], second["changedCustomers"], second["rowsWritten"]) == (0, 1000, 0, 0)
    assert row_counts(db_url) == {**before_counts, "sync_run": before_counts["sync_run"] + 1}
    assert table_rows(db_url, MIRROR_TABLES + ("audit_event",)) == before  # mirror rows keep even their synced_at
    with session_scope() as db:
        stamps = db.exec(sa.select(sa.func.min(Customer.synced_at))).scalar_one()
    assert stamps is not None and stamps.isoformat() >= second["startedAt"].rstrip("Z")  # every customer re-checked
    print(f"\nbackfill of 1,000 customers ({db_url.split(':')[0]}): first run {first['seconds']} s "
          f"({first['perSecond']}/s, {first['rowsWritten']} rows), second run {second['seconds']} s, 0 rows")


def test_an_interrupted_run_resumes_where_it_stopped(db_url: str, emulator_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    account = seed_account(emulator_url, 30)
    project_id = new_project(account)
    real, calls = backfill._sync_one, []

    def stripe_goes_down_after_12(project: str, work: backfill._Work) -> int:
        calls.append(work.customer_id)
        if len(calls) > 12:
            raise StripeUnavailable()
        return real(project, work)

    monkeypatch.setattr(backfill, "_sync_one", stripe_goes_down_after_12)
    failed = run("sync", "--project", project_id, "--import-customers", "--concurrency", "1")

    assert_clean_error(failed, says="run the same command with --resume", progress_ok=True)
    with session_scope() as db:
        assert db.exec(sa.select(sa.func.count()).where(Customer.synced_at.is_not(None))).scalar_one() == 12
    monkeypatch.setattr(backfill, "_sync_one", real)

    resumed = run_json("sync", "--project", project_id, "--resume")

    assert resumed["resumed"] is True and (resumed["skipped"], resumed["synced"], resumed["imported"]) == (12, 18, 0)
    with session_scope() as db:
        assert db.exec(sa.select(sa.func.count()).where(Customer.synced_at.is_(None))).scalar_one() == 0
    again = run_json("sync", "--project", project_id, "--resume")  # nothing unfinished: a full, idle run
    assert again["resumed"] is False and again["id"] != resumed["id"] and again["rowsWritten"] == 0


def test_a_rate_limited_customer_is_tried_again(db_url: str, emulator_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    account = seed_account(emulator_url, 3)
    project_id = new_project(account)
    monkeypatch.setattr(backfill, "RETRY_PAUSES_S", (0.0, 0.0))
    # The SDK does not retry a 429, so the first customer's first attempt fails.
    inject_faults(emulator_url, account.key, status=429, count=1, retry_after=1)

    result = run_json("sync", "--project", project_id, "--import-customers", "--concurrency", "1")

    assert (result["synced"], result["imported"]) == (3, 3)
    assert row_counts(db_url)["subscription"] == 3


def test_default_scope_is_the_linked_customers_and_customer_narrows_it(db_url: str, emulator_url: str) -> None:
    account = seed_account(emulator_url, 3)
    project_id = new_project(account)
    linked = [run_json("customer", "link", "--project", project_id, "--stripe-customer", cus)["id"]
              for cus in account.customers[:2]]

    everyone = run("sync", "--project", project_id)

    assert everyone.exit_code == 0, everyone.output
    assert "Synced 2 customers" in everyone.stdout and "/s" in everyone.stdout  # progress and rate, for people
    assert row_counts(db_url)["customer"] == 2 and row_counts(db_url)["subscription"] == 2
    one = run_json("sync", "--project", project_id, "--customer", linked[0])
    assert (one["synced"], one["rowsWritten"], one["customerId"]) == (1, 0, linked[0])

    assert_clean_error(run("sync", "--project", project_id, "--customer", linked[0], "--resume"), exit_code=2)
    assert_clean_error(run("sync", "--project", project_id, "--customer", "pc_nope"), says="No such customer")
    assert_clean_error(run("sync", "--project", "proj_nope"), says="No project")
