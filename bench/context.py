"""What the runner hands each benchmark: the mode, a scratch folder, and where skips go."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class RunContext:
    smoke: bool
    work_dir: Path  # scratch for this run: databases, server logs (removed at the end)
    skipped: list[dict[str, str]] = field(default_factory=list)

    def pick(self, full: float, smoke: float) -> float:
        return smoke if self.smoke else full

    def pick_int(self, full: int, smoke: int) -> int:
        return smoke if self.smoke else full

    def skip(self, part: str, reason: str) -> None:
        print(f"  ! skipped {part}: {reason}", flush=True)
        self.skipped.append({"part": part, "reason": reason})

    def scratch(self, name: str) -> Path:
        path = self.work_dir / name
        path.mkdir(parents=True, exist_ok=True)
        return path
