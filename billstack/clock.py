"""One source of 'now' (aware UTC, as SQLModel stores it) so tests can inject time."""

from __future__ import annotations

from datetime import datetime, timezone


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def from_unix(seconds: int | None) -> datetime | None:
    """Stripe timestamps (unix seconds) as aware UTC datetimes."""
    return None if seconds is None else datetime.fromtimestamp(seconds, timezone.utc)


def to_iso_z(moment: datetime) -> str:
    """`2026-03-30T13:00:00Z`: UTC, whole seconds, Z suffix (naive means UTC)."""
    if moment.utcoffset():  # aware and not UTC (naive and UTC give None / zero)
        moment = moment.astimezone(timezone.utc)
    return moment.isoformat(timespec="seconds")[:19] + "Z"
