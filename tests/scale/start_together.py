"""Run a `billstack` command the moment a start file appears, so that several processes
(already past their imports) begin it at the same instant: `python -m tests.scale.start_together
GO_FILE [--no-migration-lock] -- db upgrade`. `--no-migration-lock` replaces the lock by nothing,
to show the race it prevents."""

from __future__ import annotations

import sys
import time
from contextlib import nullcontext
from pathlib import Path

import billstack.cli.database
from billstack.cli import main

START_DEADLINE_S = 60


def wait_for(go_file: Path) -> None:
    deadline = time.monotonic() + START_DEADLINE_S
    while not go_file.exists():
        if time.monotonic() > deadline:
            sys.exit(f"{go_file} never appeared")
        time.sleep(0.001)  # a spin on the start signal, not a guess at how long anything takes


if __name__ == "__main__":
    go, *options = sys.argv[1 : sys.argv.index("--")]
    if "--no-migration-lock" in options:
        billstack.cli.database.migration_lock = lambda _url: nullcontext()
    print("ready", flush=True)
    wait_for(Path(go))
    main(sys.argv[sys.argv.index("--") + 1 :], prog_name="billstack")
