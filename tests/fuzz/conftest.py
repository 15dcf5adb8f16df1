"""Hypothesis profiles for the fuzz suites (tests/fuzz).

- `ci` (default, what `make test` runs): a few hundred examples a property, derandomized
  (the same examples on every run, so a failure is reproducible and CI cannot flake), no
  example database (nothing written to `.hypothesis/`).
- `fuzz` (`make fuzz`, or BILLSTACK_FUZZ=1 / HYPOTHESIS_PROFILE=fuzz): ten times the examples,
  randomized, failures kept in test-artifacts/hypothesis/examples so a rerun replays them first.

`examples(n)` scales an operation-level budget (schemathesis) the same way.
"""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.database import DirectoryBasedExampleDatabase

CI_EXAMPLES = 200
FUZZ_EXAMPLES = 2000
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "hypothesis"
set_hypothesis_home_dir(ARTIFACTS)  # its caches too: nothing in the work tree but test-artifacts/

settings.register_profile(
    "ci", max_examples=CI_EXAMPLES, derandomize=True, database=None, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "fuzz", max_examples=FUZZ_EXAMPLES, derandomize=False, database=DirectoryBasedExampleDatabase(ARTIFACTS / "examples"),
    deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow],
)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE") or ("fuzz" if os.environ.get("BILLSTACK_FUZZ") == "1" else "ci")
settings.load_profile(PROFILE)


def examples(ci: int) -> int:
    """An example budget of `ci` in `make test`, scaled up as much as the profile is under `make fuzz`."""
    return max(1, ci * settings.default.max_examples // CI_EXAMPLES)
