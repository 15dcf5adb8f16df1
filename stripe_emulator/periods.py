"""Billing-period arithmetic: add N days/weeks/months/years, anchored like Stripe.

Monthly periods keep the anchor's day of month, clamped to shorter months
(Jan 31 → Feb 28 → Mar 31), and the anchor's time of day.
"""

from __future__ import annotations

import calendar
import datetime as dt


def add_interval(start: int, interval: str, count: int, anchor: int | None = None) -> int:
    base = dt.datetime.fromtimestamp(start, dt.UTC)
    if interval == "day":
        return int((base + dt.timedelta(days=count)).timestamp())
    if interval == "week":
        return int((base + dt.timedelta(weeks=count)).timestamp())
    months = count if interval == "month" else 12 * count
    anchor_day = dt.datetime.fromtimestamp(anchor if anchor is not None else start, dt.UTC).day
    total = base.month - 1 + months
    year, month = base.year + total // 12, total % 12 + 1
    day = min(anchor_day, calendar.monthrange(year, month)[1])
    return int(base.replace(year=year, month=month, day=day).timestamp())
