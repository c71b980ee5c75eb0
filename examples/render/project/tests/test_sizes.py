import sys

import pytest
from tinyunits import parse_size


def test_decimal_and_binary_prefixes() -> None:
    assert parse_size("2 kB") == 2000
    assert parse_size("1.5 KiB") == 1536


def test_plain_bytes() -> None:
    assert parse_size("512B") == 512


def test_negative_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        parse_size("-1 MB")


@pytest.mark.skipif(sys.maxsize > 2**32, reason="only 32-bit builds overflow here")
def test_large_sizes_on_32_bit_builds() -> None:
    assert parse_size("3 GiB") == 3 * 1024**3
