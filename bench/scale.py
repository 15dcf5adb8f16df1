"""Benchmark 4: the portal's database work with 1,000,000 customers and 5,000,000 invoices.

On SQLite and on PostgreSQL (skipped with the reason when unreachable), against a kept,
bulk-seeded database (bench/seeding.py; smoke: 10,000 customers / 50,000 invoices):

- view model: p50/p99 of what a portal load does with the database — validate the token
  (`validate_portal_token`) and build the view (`load_portal_view(..., refresh="never")`)
  — for randomly sampled customers;
- session creation: sessions/s of `create_committed` (the session API's
  service call: API-key check, customer check, two inserts, commit) in a loop.

Both are measured in this process against the big database and against an "empty" one
that holds only the sampled customers' identical rows, in alternating blocks; the ratio
shows what the table sizes cost. In-process, so HTTP overhead does not dilute it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from bench import pg
from bench.common import Figure, Skipped, Target, log, percentile
from bench.context import RunContext
from bench.fixtures import use_database
from bench.seeding import Seeded, Size, customer_id, ensure_seeded, sample_indices, seed_small_copy

BENCH = "scale"
FULL = Size("1m", 1_000_000)
SMOKE = Size("10k", 10_000)


def run(ctx: RunContext) -> list[Figure]:
    size = SMOKE if ctx.smoke else FULL
    figures = measure_dialect(ctx, "sqlite", size)
    try:
        pg.require_pg()
        figures += measure_dialect(ctx, "postgresql", size)
    except Skipped as skipped:
        ctx.skip(f"{BENCH}.postgresql", str(skipped))
    return figures


def measure_dialect(ctx: RunContext, dialect: str, size: Size) -> list[Figure]:
    big = ensure_seeded(dialect, size)
    samples = ctx.pick_int(500, 100)
    indices = sample_indices(size.customers, samples)
    with _empty_database(ctx, dialect) as empty_url:
        empty = seed_small_copy(empty_url, dialect, indices, big)
        log(f"{dialect}: view model for {len(indices)} sampled customers, big vs empty database")
        big_views, empty_views = alternate_blocks(
            lambda part: view_model_times(ctx, big, part),
            lambda part: view_model_times(ctx, empty, part),
            indices,
            rounds=ctx.pick_int(4, 2),
        )
        seconds = ctx.pick(8.0, 1.0)
        log(f"{dialect}: session creation, {seconds:g} s each on the big and the empty database")
        big_rate, empty_rate = alternate_rates(
            lambda s: sessions_per_second(big, indices, s),
            lambda s: sessions_per_second(empty, indices, s),
            seconds,
            rounds=ctx.pick_int(4, 2),
        )
    return figures_for(dialect, size, big_views, empty_views, big_rate, empty_rate)


@contextmanager
def _empty_database(ctx: RunContext, dialect: str) -> Iterator[str]:
    if dialect == "sqlite":
        yield f"sqlite:///{ctx.scratch('scale-empty') / 'billstack.db'}"
        return
    with pg.throwaway_database("billstack_bench_empty") as url:
        yield url


def alternate_blocks(
    measure_big: Callable, measure_empty: Callable, indices: list[int], rounds: int
) -> tuple[dict, dict]:
    """Big and empty take turns over slices of the sample, so drift hits both alike."""
    big: dict[str, list[float]] = {"total_ms": [], "view_ms": []}
    empty: dict[str, list[float]] = {"total_ms": [], "view_ms": []}
    size = max(1, len(indices) // rounds)
    for number, start in enumerate(range(0, len(indices), size)):
        part = indices[start : start + size]
        order = (
            ((measure_big, big), (measure_empty, empty))
            if number % 2 == 0
            else ((measure_empty, empty), (measure_big, big))
        )
        for measure, into in order:
            for key, values in measure(part).items():
                into[key] += values
    return big, empty


def view_model_times(ctx: RunContext, db: Seeded, indices: list[int]) -> dict[str, list[float]]:
    """Per customer: a fresh session (not timed), then validate + load_portal_view (timed)."""
    from billstack.db import session_scope
    from billstack.services import portal, sessions

    with use_database(db.url, ctx.scratch("scale-settings")):
        tokens = [_new_session(db, index).token for index in indices]
        _load_view(
            session_scope, sessions, portal, tokens[0]
        )  # warm the engine and the caches of this process
        totals, views = [], []
        for token in tokens:
            total_ms, view_ms = _load_view(session_scope, sessions, portal, token)
            totals.append(total_ms)
            views.append(view_ms)
    return {"total_ms": totals, "view_ms": views}


def _load_view(session_scope, sessions, portal, token: str) -> tuple[float, float]:
    started = time.perf_counter()
    with session_scope() as db:
        ctx = sessions.validate_portal_token(db, token)
        validated = time.perf_counter()
        view = portal.load_portal_view(db, ctx, refresh="never")
    finished = time.perf_counter()
    if not view.subscriptions or not view.invoices.invoices:
        raise RuntimeError(f"the view of {view.customer_id} is missing its seeded rows")
    return (finished - started) * 1000, (finished - validated) * 1000


def _new_session(db: Seeded, index: int):
    from billstack.services import sessions

    project = db.project_of(index)
    return sessions.create_committed(sessions.SessionRequest(
        team_id=db.team_id,
        project_id=project["id"],
        api_key=project["api_key"],
        customer_id=customer_id(index),
    ))


def alternate_rates(
    measure_big: Callable, measure_empty: Callable, seconds: float, rounds: int
) -> tuple[dict, dict]:
    big = {"created": 0, "seconds": 0.0}
    empty = {"created": 0, "seconds": 0.0}
    for number in range(rounds):
        order = (
            ((measure_big, big), (measure_empty, empty))
            if number % 2 == 0
            else ((measure_empty, empty), (measure_big, big))
        )
        for measure, into in order:
            created, elapsed = measure(seconds / rounds)
            into["created"] += created
            into["seconds"] += elapsed
    for result in (big, empty):
        result["per_second"] = result["created"] / result["seconds"]
    return big, empty


def sessions_per_second(db: Seeded, indices: list[int], seconds: float) -> tuple[int, float]:
    """Sessions created back to back for `seconds`, rotating over the sampled customers."""
    from bench.common import DATA_DIR

    with use_database(db.url, DATA_DIR / "settings"):
        _new_session(db, indices[0])  # connect and warm up outside the timed loop
        created = 0
        started = time.perf_counter()
        deadline = started + seconds
        while time.perf_counter() < deadline:
            _new_session(db, indices[created % len(indices)])
            created += 1
        return created, time.perf_counter() - started


def figures_for(
    dialect: str, size: Size, big_views: dict, empty_views: dict, big_rate: dict, empty_rate: dict
) -> list[Figure]:
    scale = f"{size.customers:,} customers / {size.invoices:,} invoices"
    empty_name = "same customers' rows in an otherwise empty database"
    details = {
        "database": scale,
        "samples": len(big_views["total_ms"]),
        "load_portal_view_only_p50_ms": percentile(big_views["view_ms"], 50),
        "load_portal_view_only_p99_ms": percentile(big_views["view_ms"], 99),
        "empty_load_portal_view_only_p50_ms": percentile(empty_views["view_ms"], 50),
        "what": "validate_portal_token + load_portal_view(refresh='never') in one unit of work, in-process",
    }
    return [
        Figure(
            f"{BENCH}.{dialect}.view_model.p50",
            BENCH,
            f"View model p50 at {size.label} ({dialect})",
            percentile(big_views["total_ms"], 50),
            "ms",
            percentile(empty_views["total_ms"], 50),
            empty_name,
            [Target("value", "<=", 5)],
            details,
        ),
        Figure(
            f"{BENCH}.{dialect}.view_model.p99",
            BENCH,
            f"View model p99 at {size.label} ({dialect})",
            percentile(big_views["total_ms"], 99),
            "ms",
            percentile(empty_views["total_ms"], 99),
            empty_name,
        ),
        Figure(
            f"{BENCH}.{dialect}.session_creation",
            BENCH,
            f"Session creation at {size.label} ({dialect})",
            big_rate["per_second"],
            "sessions/s",
            empty_rate["per_second"],
            "empty database",
            [Target("ratio", ">=", 0.9)],
            {
                "big": big_rate,
                "empty": empty_rate,
                "database": scale,
                "what": "create_committed back to back in one thread, in-process",
            },
        ),
    ]
