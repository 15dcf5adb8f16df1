"""The emulator and the dev tooling stay out of the product: only `billstack/cli/dev.py`
imports them, inside its commands, so `billstack serve` and the served app never load them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEV_ONLY = ("stripe_emulator", "devtools")
MARKER = "# dev tool: loaded only by this command"
LOADED = "import sys; print(sorted({m.split('.')[0] for m in sys.modules} & {'stripe_emulator', 'devtools'}))"


@pytest.mark.parametrize(
    "modules",
    ["billstack.server", "billstack.cli", "billstack.billstack, api_routes.fast_paths"],
    ids=["server", "cli", "served app"],
)
def test_importing_the_product_loads_no_dev_tool(modules: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", f"import {modules}; {LOADED}"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_only_the_dev_commands_import_dev_tools_and_only_lazily() -> None:
    pattern = re.compile(rf"^(\s*)(from|import)\s+({'|'.join(DEV_ONLY)})\b")
    found = []
    for file in sorted((REPO / "billstack").rglob("*.py")):
        for number, line in enumerate(file.read_text().splitlines(), 1):
            match = pattern.match(line)
            if match:
                found.append((file.relative_to(REPO).as_posix(), number, bool(match.group(1)), MARKER in line))
    assert found, "the dev commands import the emulator and the demo tenant"
    for path, number, indented, marked in found:
        assert path == "billstack/cli/dev.py", f"{path}:{number} imports a dev tool"
        assert indented and marked, f"{path}:{number}: import it inside the command, marked {MARKER!r}"
