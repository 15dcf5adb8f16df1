"""`billstack sync`: backfill or refresh a project's mirror of Stripe."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from billstack.cli.output import CommandFailed, emit, json_option, progress
from billstack.cli.root import main
from billstack.cli.shapes import iso
from billstack.cli.work import require_current_schema
from billstack.services import backfill


def _progress_printer(project_id: str, mode: str, concurrency: int) -> Callable[[backfill.Progress], None]:
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

    return show


def _report_json(report: backfill.SyncReport, customer_id: str | None) -> dict[str, Any]:
    done = report.progress
    return {
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
        "startedAt": iso(report.started_at),
        "finishedAt": iso(report.finished_at),
    }


@main.command("sync", short_help="Backfill or refresh a project's mirror of Stripe.")
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
    require_current_schema()
    if customer_id and (resume or import_customers):
        raise CommandFailed("--customer syncs one customer; it cannot be combined with --resume or --import-customers.",
                            code="usage_error", type="usage_error", param="customer", exit_code=2)
    mode = "one customer" if customer_id else ("all Stripe customers" if import_customers else "linked customers")
    report = backfill.run_sync(
        project_id, customer_id=customer_id, import_customers=import_customers, resume=resume,
        concurrency=concurrency, on_progress=_progress_printer(project_id, mode, concurrency),
    )
    done = report.progress
    nothing_to_resume = (
        [f"nothing to resume: no interrupted sync for project {project_id}, so this was a full sync."]
        if resume and not report.resumed else []
    )
    emit(
        _report_json(report, customer_id),
        [
            (
                f"Synced {done.done} customers of {project_id} in {done.seconds:.1f} s ({done.rate:.0f}/s): "
                f"{done.imported} imported, {done.changed} changed, {done.rows_written} rows written, "
                f"{done.skipped} skipped{' (resumed run)' if report.resumed else ''}."
            ),
            f"Run {report.run_id} finished.",
        ],
        nothing_to_resume,
    )
