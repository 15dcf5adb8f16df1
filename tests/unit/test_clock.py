"""clock.from_unix: Stripe timestamps in, aware UTC out, and one kind of error for the impossible."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from billstack.clock import UNIX_MAX, UNIX_MIN, from_unix


def test_timestamps_in_range_become_aware_utc_datetimes() -> None:
    assert from_unix(None) is None
    assert from_unix(1_700_000_000) == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert from_unix(UNIX_MIN) == datetime(1970, 1, 1, tzinfo=UTC)
    assert from_unix(UNIX_MAX) == datetime(9999, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("seconds", [10**20, -(10**20), 2**63, UNIX_MAX + 1, UNIX_MIN - 1])
def test_timestamps_out_of_range_are_a_value_error_not_an_overflow(seconds: int) -> None:
    with pytest.raises(ValueError, match="unix timestamp must be between"):
        from_unix(seconds)
