"""`billstack sync`: backfill or refresh a project's mirror from Stripe.

- Which customers: every customer linked to the project (default); one (`customer_id`);
  or, with `import_customers`, every customer of the Stripe account, linking the ones
  not linked yet as new `pc_…` customers (one removed by an operator stays removed).
- Each customer is its own transaction (`sync.sync_customer`, which reads Stripe first
  and writes only rows that differ), committed as soon as it is done: an interrupted run
  keeps its work, and a second run over unchanged data writes no mirror row (only each
  customer's `synced_at` check stamp).
- Resumable: every run is a `sync_run` row; `resume` continues the latest unfinished
  project-wide run, skipping customers synced since that run started.
- Stripe lists are read 100 per page; Stripe round trips dominate, so customers are
  synced on `concurrency` threads. A customer (or list page) that meets Stripe
  unavailable or rate limiting (which the SDK does not retry) is tried again after 1,
  2, 4 and 8 s; if it still fails, the run stops (the rest is left for --resume).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlmodel import Session, select

from billstack import stripe_gateway
from billstack.clock import utcnow
from billstack.db import session_scope
from billstack.errors import BillStackError, StripeUnavailable, invalid
from billstack.ids import new_id
from billstack.models import Customer, Project, SyncRun
from billstack.services import customers as customer_service
from billstack.services import sync
from billstack.services.tenants import get_project, record_audit

T = TypeVar("T")

DEFAULT_CONCURRENCY = 4
MAX_CONCURRENCY = 32
_BATCH = 100  # customers handed to the threads at a time (one Stripe list page)
RETRY_PAUSES_S = (1.0, 2.0, 4.0, 8.0)  # between attempts at one customer while Stripe is unavailable


@dataclass
class Progress:
    """Where a run is; passed to `on_progress` after every batch and at the end."""

    run_id: str
    total: int | None  # None while importing: the Stripe list is read as the run goes
    done: int = 0
    skipped: int = 0
    imported: int = 0
    changed: int = 0  # customers whose mirror changed
    rows_written: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class SyncReport:
    run_id: str
    project_id: str
    resumed: bool
    started_at: datetime
    finished_at: datetime
    progress: Progress


@dataclass(frozen=True)
class _Work:
    customer_id: str
    stripe_customer: dict[str, Any] | None = None  # already listed: saves the customer read


def run_sync(
    project_id: str,
    *,
    customer_id: str | None = None,
    import_customers: bool = False,
    resume: bool = False,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_progress: Callable[[Progress], None] | None = None,
) -> SyncReport:
    if customer_id and (resume or import_customers):
        raise invalid("--customer syncs one customer; it cannot be combined with --resume or --import-customers.",
                      param="customerId")
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise invalid(f"concurrency must be between 1 and {MAX_CONCURRENCY}.", param="concurrency")
    run, resumed = _start_run(project_id, customer_id=customer_id, import_customers=import_customers, resume=resume)
    progress = Progress(run.id, total=None)
    cutoff = run.started_at if resumed else None
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="billstack-sync") as pool:
        for batch in _batches(run, cutoff, progress):
            _sync_batch(pool, project_id, batch, progress)
            _save_progress(run.id, progress)
            if on_progress:
                on_progress(progress)
    finished_at = _finish_run(run.id, progress)
    return SyncReport(run.id, project_id, resumed, run.started_at, finished_at, progress)


# --- runs ----------------------------------------------------------------------------------


def _start_run(project_id: str, *, customer_id: str | None, import_customers: bool, resume: bool) -> tuple[SyncRun, bool]:
    with session_scope() as db:
        get_project(db, project_id)
        if customer_id:
            customer_service.get_customer(db, project_id=project_id, customer_id=customer_id)
        previous = _unfinished_run(db, project_id) if resume else None
        if previous is not None:
            previous.import_customers = previous.import_customers or import_customers
            db.add(previous)
            return previous, True
        run = SyncRun(id=new_id("sync"), project_id=project_id, customer_id=customer_id,
                      import_customers=import_customers, started_at=utcnow())
        db.add(run)
        return run, False


def _unfinished_run(db: Session, project_id: str) -> SyncRun | None:
    return db.exec(
        select(SyncRun)
        .where(SyncRun.project_id == project_id, SyncRun.customer_id.is_(None), SyncRun.finished_at.is_(None))
        .order_by(SyncRun.started_at.desc())
        .limit(1)
    ).first()


def _save_progress(run_id: str, progress: Progress) -> None:
    with session_scope() as db:
        run = db.get(SyncRun, run_id)
        run.customers_total = progress.total or progress.done + progress.skipped
        run.customers_done, run.customers_imported = progress.done, progress.imported
        run.rows_written = progress.rows_written
        db.add(run)


def _finish_run(run_id: str, progress: Progress) -> datetime:
    progress.total = progress.done + progress.skipped
    _save_progress(run_id, progress)
    with session_scope() as db:
        run = db.get(SyncRun, run_id)
        run.finished_at = utcnow()
        db.add(run)
        return run.finished_at


# --- what to sync ----------------------------------------------------------------------------


def _batches(run: SyncRun, cutoff: datetime | None, progress: Progress) -> Iterator[list[_Work]]:
    if run.customer_id:
        progress.total = 1
        yield [_Work(run.customer_id)]
    elif run.import_customers:
        yield from _stripe_customer_batches(run.project_id, cutoff, progress)
    else:
        yield from _linked_customer_batches(run.project_id, cutoff, progress)


def _fresh(synced_at: datetime | None, cutoff: datetime | None) -> bool:
    """Synced since the resumed run started: nothing to do for it."""
    return cutoff is not None and synced_at is not None and synced_at >= cutoff


def _linked_customer_batches(project_id: str, cutoff: datetime | None, progress: Progress) -> Iterator[list[_Work]]:
    with session_scope() as db:
        rows = db.exec(
            select(Customer.id, Customer.synced_at)
            .where(Customer.project_id == project_id, Customer.removed_at.is_(None))
            .order_by(Customer.created_at, Customer.id)
        ).all()
    todo = [_Work(row.id) for row in rows if not _fresh(row.synced_at, cutoff)]
    progress.total, progress.skipped = len(todo), len(rows) - len(todo)
    for start in range(0, len(todo), _BATCH):
        yield todo[start : start + _BATCH]


def _stripe_customer_batches(project_id: str, cutoff: datetime | None, progress: Progress) -> Iterator[list[_Work]]:
    """Page through the Stripe account's customers, linking new ones as they come."""
    starting_after: str | None = None
    while True:
        with session_scope() as db:
            project = db.get(Project, project_id)
            page, has_more = _retrying(
                functools.partial(stripe_gateway.list_customers_page, project, starting_after=starting_after)
            )
            work = _link_page(db, project, page, cutoff, progress)
        if work:
            yield work
        if not has_more or not page:
            return
        starting_after = page[-1]["id"]


def _link_page(
    db: Session, project: Project, page: list[dict[str, Any]], cutoff: datetime | None, progress: Progress
) -> list[_Work]:
    linked = {
        row.stripe_customer_id: row
        for row in db.exec(
            select(Customer).where(
                Customer.project_id == project.id, Customer.stripe_customer_id.in_([c["id"] for c in page])
            )
        )
    }
    work = []
    for stripe_customer in page:
        customer = linked.get(stripe_customer["id"])
        if customer is None:
            customer = _import(db, project, stripe_customer)
            progress.imported += 1
        elif customer.removed_at is not None or _fresh(customer.synced_at, cutoff):
            progress.skipped += 1  # removed by an operator, or already done by the resumed run
            continue
        work.append(_Work(customer.id, stripe_customer))
    db.flush()
    return work


def _import(db: Session, project: Project, stripe_customer: dict[str, Any]) -> Customer:
    customer = Customer(
        id=new_id("pc"),
        project_id=project.id,
        stripe_customer_id=stripe_customer["id"],
        email=(stripe_customer.get("email") or None) and stripe_customer["email"][:320],
        name=(stripe_customer.get("name") or None) and stripe_customer["name"][:200],
    )
    db.add(customer)
    record_audit(db, "customer.imported", project_id=project.id, customer_id=customer.id)
    return customer


# --- syncing ---------------------------------------------------------------------------------


def _sync_batch(pool: ThreadPoolExecutor, project_id: str, batch: list[_Work], progress: Progress) -> None:
    """Sync a batch on the pool. After the first failure the customers not started yet are
    dropped (left for --resume), those in flight finish and count, and the failure is raised
    with how to continue."""
    futures = [pool.submit(_sync_one, project_id, work) for work in batch]
    failure: BillStackError | None = None
    for future in futures:
        if failure is not None:
            future.cancel()
        try:
            written = future.result()
        except CancelledError:
            continue
        except BillStackError as exc:
            failure = failure or exc
            continue
        progress.done += 1
        progress.rows_written += written
        progress.changed += written > 0
    if failure is not None:
        _save_progress(progress.run_id, progress)
        failure.message = (
            f"{failure.message} ({progress.done} customers synced in this run; "
            "run the same command with --resume to continue)"
        )
        raise failure


def _sync_one(project_id: str, work: _Work) -> int:
    return _retrying(lambda: _sync_customer(project_id, work))


def _retrying(attempt: Callable[[], T]) -> T:
    for pause in RETRY_PAUSES_S:
        try:
            return attempt()
        except StripeUnavailable:
            time.sleep(pause)  # back off: Stripe is down or rate limiting us
    return attempt()  # the last attempt's failure stops the run


def _sync_customer(project_id: str, work: _Work) -> int:
    with session_scope() as db:
        project = db.get(Project, project_id)
        customer = db.get(Customer, work.customer_id)
        return sync.sync_customer(db, project, customer, stripe_customer=work.stripe_customer)
