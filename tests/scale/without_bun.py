"""`billstack ARGS` as on a production host with no bun: `python -m tests.scale.without_bun serve …`.
The project's own bun (tools/node_modules/.bin) is hidden from this process; the test gives
it a PATH without any other bun."""

from __future__ import annotations

import sys
from pathlib import Path

from billstack import server
from billstack.cli import main

if __name__ == "__main__":
    server.BUN_BIN_DIR = Path("/nonexistent/bun-bin")
    main(sys.argv[1:], prog_name="billstack")
