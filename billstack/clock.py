"""One source of 'now' (aware UTC, as SQLModel stores it) so tests can inject time."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import overload


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


# The unix seconds `from_unix` accepts: nothing of Stripe's predates the epoch, and the end
# stays a year short of datetime's year 9999, so every time zone can still show the moment.
UNIX_MIN = 0
UNIX_MAX = int(datetime(9999, 1, 1, tzinfo=timezone.utc).timestamp())


@overload
def from_unix(seconds: int) -> datetime: ...


@overload
def from_unix(seconds: None) -> None: ...


def from_unix(seconds: int | None) -> datetime | None:
    """Stripe timestamps (unix seconds) as aware UTC datetimes.

    Raises ValueError outside [UNIX_MIN, UNIX_MAX] (instead of datetime's OverflowError or
    OSError), so a caller handles one kind of bad timestamp.
    """
    if seconds is None:
        return None
    if not UNIX_MIN <= seconds <= UNIX_MAX:
        raise ValueError(f"a unix timestamp must be between {UNIX_MIN} and {UNIX_MAX} seconds")
    return datetime.fromtimestamp(seconds, timezone.utc)


def to_iso_z(moment: datetime) -> str:
    """`2026-03-30T13:00:00Z`: UTC, whole seconds, Z suffix (naive means UTC)."""
    if moment.utcoffset():  # aware and not UTC (naive and UTC give None / zero)
        moment = moment.astimezone(timezone.utc)
    return moment.isoformat(timespec="seconds")[:19] + "Z"
