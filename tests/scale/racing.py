"""Start the same `billstack` command in several processes at one instant (tests/scale/start_together.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 120


@dataclass(frozen=True)
class Outcome:
    returncode: int
    output: str


def run_together(args: list[str], env: dict[str, str], count: int, go_file: Path, *, lock: bool = True) -> list[Outcome]:
    """`billstack ARGS` in `count` processes, released together once all have imported BillStack."""
    options = [] if lock else ["--no-migration-lock"]
    command = [sys.executable, "-m", "tests.scale.start_together", str(go_file), *options, "--", *args]
    full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    processes = [
        subprocess.Popen(command, cwd=REPO, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(count)
    ]
    try:
        for process in processes:
            process.stdout.readline()  # "ready" (or the end of the output, if it failed to start)
        go_file.touch()
        return [Outcome(p.wait(timeout=RUN_TIMEOUT_S), p.stdout.read()) for p in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
            process.stdout.close()
        go_file.unlink(missing_ok=True)
