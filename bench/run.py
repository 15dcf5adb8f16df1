"""Run the benchmarks and write bench/results/latest.json (smoke: bench/results/smoke.json).

    python -m bench.run                      # everything (`make bench`)
    python -m bench.run --smoke              # seconds-long version of each (`make bench-smoke`)
    python -m bench.run --only session_api   # one or more benchmarks (comma-separated)

Figures are never judged here: a slow figure is reported, not failed. The exit status
is non-zero only when a benchmark crashes (or produces no numbers).
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench.common import RESULTS_DIR, ROOT, Figure, write_json
from bench.context import RunContext

# name → module with `run(ctx) -> list[Figure]`, imported only when chosen.
BENCHMARKS = {
    "session_api": "bench.session_api",  # 1. session API throughput/latency vs a bare insert
    "portal_browser": "bench.portal_browser",  # 2. time to data in Chromium, 3. action latency
    "scale": "bench.scale",  # 4. 1M customers / 5M invoices: view model and session creation
    "concurrency": "bench.concurrency",  # 5. 200 websocket clients: action latency and memory
}


def _runner(name: str) -> Callable[[RunContext], list[Figure]]:
    return importlib.import_module(BENCHMARKS[name]).run


def main() -> int:
    benchmarks = BENCHMARKS
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="seconds-long version of each benchmark")
    parser.add_argument("--only", help="comma-separated subset of: " + ", ".join(benchmarks))
    parser.add_argument("--output", type=Path, help="where to write the JSON results")
    args = parser.parse_args()
    chosen = [name.strip() for name in args.only.split(",")] if args.only else list(benchmarks)
    unknown = set(chosen) - set(benchmarks)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    output = args.output or RESULTS_DIR / ("smoke.json" if args.smoke else "latest.json")

    started = time.monotonic()
    work_dir = Path(tempfile.mkdtemp(prefix="billstack-bench-"))
    ctx = RunContext(smoke=args.smoke, work_dir=work_dir)
    figures: list[Figure] = []
    errors: list[dict[str, str]] = []
    timings: dict[str, float] = {}
    try:
        for name in chosen:
            print(f"\n== {name}{' (smoke)' if args.smoke else ''}", flush=True)
            began = time.monotonic()
            try:
                produced = _runner(name)(ctx)
                if not produced and not any(s["part"].startswith(name) for s in ctx.skipped):
                    raise RuntimeError(f"{name} produced no figures")
                figures += produced
            except Exception as exc:  # noqa: BLE001 - one crash must not hide the other benchmarks
                traceback.print_exc()
                errors.append({"benchmark": name, "error": f"{type(exc).__name__}: {exc}"[:4000]})
            timings[name] = round(time.monotonic() - began, 1)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)

    results = {
        "mode": "smoke" if args.smoke else "full",
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "duration_s": round(time.monotonic() - started, 1),
        "benchmark_seconds": timings,
        "machine": _machine(),
        "figures": [figure.to_json() for figure in figures],
        "skipped": ctx.skipped,
        "errors": errors,
    }
    write_json(output, results)
    print_table(figures)
    for skipped in ctx.skipped:
        print(f"skipped {skipped['part']}: {skipped['reason']}")
    for error in errors:
        print(f"ERROR in {error['benchmark']}: {error['error']}", file=sys.stderr)
    print(
        f"\n{len(figures)} figures in {results['duration_s']:.0f} s → {output.relative_to(ROOT) if output.is_relative_to(ROOT) else output}"
    )
    return 1 if errors else 0


def print_table(figures: list[Figure]) -> None:
    rows = [("figure", "value", "baseline", "ratio", "target", "met")]
    for f in figures:
        rows.append(
            (
                f.name,
                _fmt(f.value, f.unit),
                _fmt(f.baseline, f.unit) if f.baseline is not None else "—",
                f"{f.ratio:.2f}" if f.ratio is not None else "—",
                "; ".join(t.describe(f.unit) for t in f.targets) or "—",
                {True: "yes", False: "NO", None: "—"}[f.meets_targets],
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    print()
    for index, row in enumerate(rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        if index == 0:
            print("  ".join("-" * width for width in widths))


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "bytes":
        return f"{value / 2**20:,.1f} MiB" if abs(value) >= 2**20 else f"{value / 1024:,.1f} KiB"
    if abs(value) >= 100:
        return f"{value:,.0f} {unit}"
    return f"{value:.2f} {unit}"


def _machine() -> dict[str, object]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        commit = ""
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": commit,
        "loadavg_at_end": load,
    }


if __name__ == "__main__":
    sys.exit(main())
