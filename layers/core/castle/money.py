"""Exact money: fixed-point integers with a scale per asset.

An amount is an `int` of the asset's smallest unit (`scale` decimal places).
Text crosses the boundary only here: `parse_units` is strict (Binance's
pattern, no exponent, no sign) and `format_units` prints as Binance does,
with a fixed number of decimals (`"0.10000000"`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from castle import errors

DECIMAL_PATTERN = re.compile(r"([0-9]{1,20})(\.[0-9]{1,20})?")  # used with fullmatch: no trailing newline
BINANCE_DECIMALS = 8


@dataclass(frozen=True, slots=True)
class Asset:
    name: str
    scale: int = BINANCE_DECIMALS

    def parse(self, text: str, param: str = "amount") -> int:
        return parse_units(text, self.scale, param)

    def format(self, units: int) -> str:
        return format_units(units, self.scale)


def parse_units(text: str | int, scale: int, param: str = "amount") -> int:
    """Parse a non-negative decimal string into integer units of `scale` places.

    Raises -1100 for anything that is not a plain decimal, and -1111 when the
    text has more significant decimals than the scale holds (trailing zeros
    beyond the scale are harmless, as on Binance).
    """
    if isinstance(text, bool):
        raise errors.illegal_chars(param)
    if isinstance(text, int):
        if text < 0:
            raise errors.illegal_chars(param)
        return text * 10**scale
    if not isinstance(text, str):
        raise errors.illegal_chars(param)
    match = DECIMAL_PATTERN.fullmatch(text)
    if match is None:
        raise errors.illegal_chars(param)
    whole, frac = match.group(1), (match.group(2) or ".")[1:]
    significant = frac.rstrip("0")
    if len(significant) > scale:
        raise errors.too_much_precision(param)
    return int(whole) * 10**scale + (int(significant.ljust(scale, "0")) if scale else 0)


def format_units(units: int, scale: int, places: int = BINANCE_DECIMALS) -> str:
    """Format integer units as Binance prints amounts: fixed `places` decimals.

    Formats with at least `scale` places so that no precision is ever cut.
    """
    places = max(places, scale)
    sign = "-" if units < 0 else ""
    units = abs(units) * 10 ** (places - scale)
    whole, frac = divmod(units, 10**places)
    return f"{sign}{whole}.{frac:0{places}d}" if places else f"{sign}{whole}"


def mul_div_floor(a: int, b: int, d: int) -> int:
    """floor(a*b/d) for non-negative ints; the one rounding rule for rates."""
    return (a * b) // d


def mul_div_ceil(a: int, b: int, d: int) -> int:
    return -((-(a * b)) // d)
