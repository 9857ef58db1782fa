"""Exact money: strict parsing, Binance's fixed-decimal format, and the rounding rules.

Tables in the Uniswap style: the exact amount passes and one unit more fails.
"""

import pytest
from castle.errors import CastleError
from castle.money import Asset, format_units, mul_div_ceil, mul_div_floor, parse_units
from hypothesis import given, settings
from hypothesis import strategies as st

ILLEGAL_CHARS = -1100
TOO_MUCH_PRECISION = -1111


@pytest.mark.parametrize(
    ("text", "scale", "units"),
    [
        ("0", 8, 0),
        ("1", 8, 100_000_000),
        ("0.1", 8, 10_000_000),
        ("0.00000001", 8, 1),
        ("1.5", 2, 150),
        ("12345678901234567890", 0, 12345678901234567890),
        ("0.10000000000000000000", 8, 10_000_000),  # trailing zeros beyond the scale are harmless
        ("007", 2, 700),
        ("1.0", 0, 1),
    ],
)
def test_parse_units_reads_plain_decimals_exactly(text, scale, units):
    assert parse_units(text, scale) == units


@pytest.mark.parametrize(
    "text",
    ["-1", "+1", "1e5", "1E5", "1.2.3", "", " 1", "1 ", "abc", "1,5", ".5", "1.", "0x10", "NaN", "inf", "１"],
)
def test_parse_units_rejects_anything_but_a_plain_decimal_with_1100(text):
    with pytest.raises(CastleError) as exc:
        parse_units(text, 8, "quantity")
    assert exc.value.code == ILLEGAL_CHARS
    assert "'quantity'" in exc.value.msg


def test_parse_units_rejects_a_trailing_newline():
    with pytest.raises(CastleError) as exc:
        parse_units("1\n", 8, "quantity")
    assert exc.value.code == ILLEGAL_CHARS


def test_parse_units_rejects_more_than_twenty_digits_before_the_point():
    with pytest.raises(CastleError) as exc:
        parse_units("1" * 21, 0)
    assert exc.value.code == ILLEGAL_CHARS


@pytest.mark.parametrize("value", [-1, True, 1.5, None])
def test_parse_units_rejects_negative_ints_bools_and_other_types(value):
    with pytest.raises(CastleError) as exc:
        parse_units(value, 8)
    assert exc.value.code == ILLEGAL_CHARS


def test_parse_units_takes_a_whole_int_as_whole_units():
    assert parse_units(3, 8) == 300_000_000


@pytest.mark.parametrize(
    ("text", "scale"),
    [("0.000000001", 8), ("0.001", 2), ("1.5", 0), ("0.123456789", 8)],
)
def test_parse_units_with_one_decimal_too_many_fails_with_1111(text, scale):
    with pytest.raises(CastleError) as exc:
        parse_units(text, scale, "price")
    assert exc.value.code == TOO_MUCH_PRECISION
    assert exc.value.msg == "Parameter 'price' has too much precision."


def test_parse_units_at_exactly_the_scale_passes_and_one_more_place_fails():
    assert parse_units("0.12345678", 8) == 12_345_678
    with pytest.raises(CastleError):
        parse_units("0.123456781", 8)


@pytest.mark.parametrize(
    ("units", "scale", "text"),
    [
        (10_000_000, 8, "0.10000000"),
        (0, 8, "0.00000000"),
        (1, 8, "0.00000001"),
        (123_456_789_012, 8, "1234.56789012"),
        (150, 2, "1.50000000"),
        (5, 0, "5.00000000"),
        (1, 10, "0.0000000001"),  # never cuts precision: at least `scale` places
        (-150, 2, "-1.50000000"),
    ],
)
def test_format_units_prints_binance_fixed_decimals(units, scale, text):
    assert format_units(units, scale) == text


def test_format_units_with_zero_places_and_scale_prints_an_integer():
    assert format_units(42, 0, places=0) == "42"


def test_asset_parses_and_formats_with_its_scale():
    usdt = Asset("USDT", 2)
    assert usdt.parse("12.34") == 1234
    assert usdt.format(1234) == "12.34000000"


@settings(max_examples=200, derandomize=True, database=None)
@given(units=st.integers(min_value=0, max_value=10**20 - 1), scale=st.integers(min_value=0, max_value=8))
def test_format_then_parse_round_trips(units, scale):
    assert parse_units(format_units(units, scale), scale) == units


@pytest.mark.parametrize(
    ("a", "b", "d", "floor", "ceil"),
    [
        (0, 5, 3, 0, 0),
        (1, 1, 1, 1, 1),
        (1, 1, 2, 0, 1),
        (2, 3, 6, 1, 1),
        (2, 3, 5, 1, 2),
        (7, 3, 2, 10, 11),
        (10**18, 10**18, 10**8, 10**28, 10**28),
        (10**18 + 1, 10**18, 10**8, 10**28 + 10**10, 10**28 + 10**10),
        (99_999_999, 1, 10**8, 0, 1),
        (100_000_000, 1, 10**8, 1, 1),
        (100_000_001, 1, 10**8, 1, 2),
    ],
)
def test_mul_div_rounds_floor_and_ceil_exactly(a, b, d, floor, ceil):
    assert (mul_div_floor(a, b, d), mul_div_ceil(a, b, d)) == (floor, ceil)


@settings(max_examples=200, derandomize=True, database=None)
@given(st.integers(0, 10**30), st.integers(0, 10**30), st.integers(1, 10**20))
def test_mul_div_floor_and_ceil_bracket_the_exact_quotient(a, b, d):
    lo, hi = mul_div_floor(a, b, d), mul_div_ceil(a, b, d)
    assert lo * d <= a * b <= hi * d
    assert hi - lo == (1 if (a * b) % d else 0)
