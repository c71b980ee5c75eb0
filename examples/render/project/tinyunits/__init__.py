"""Parse human-written sizes and durations."""

from __future__ import annotations

import re

__all__ = ["parse_duration", "parse_size"]

_SIZE = re.compile(r"^\s*(?P<number>-?\d+(?:\.\d+)?)\s*(?P<unit>[kKMG]i?B|B)\s*$")
_FACTORS = {
    "B": 1,
    "kB": 1000,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "KiB": 1024,
    "MiB": 1024**2,
    "GiB": 1024**3,
}
_DURATION = re.compile(r"^(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")
_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_size(text: str) -> int:
    """Bytes in `text`, e.g. `1.5 KiB` -> 1536."""
    match = _SIZE.match(text)
    if match is None:
        raise ValueError(f"not a size: {text!r}")
    number = float(match["number"])
    if number < 0:
        raise ValueError(f"a size cannot be negative: {text!r}")
    return round(number * _FACTORS[match["unit"]])


def parse_duration(text: str) -> int:
    """Seconds in `text`, e.g. `2h30m` -> 9000."""
    match = _DURATION.match(text.strip())
    if match is None or not any(match.groupdict().values()):
        raise ValueError(f"not a duration: {text!r}")
    return sum(int(value) * _SECONDS[unit] for unit, value in match.groupdict().items() if value)
