import pytest
from tinyunits import parse_duration


def test_hours_and_minutes() -> None:
    assert parse_duration("2h30m") == 9000


def test_days_to_seconds() -> None:
    assert parse_duration("1d2s") == 86402


def test_garbage_is_refused() -> None:
    with pytest.raises(ValueError):
        parse_duration("soon")
