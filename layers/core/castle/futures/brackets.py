"""Leverage brackets: how much leverage a notional may carry, and its maintenance margin.

Binance ("Leverage and Margin of USDⓈ-M Futures"; `GET /fapi/v1/leverageBracket`):
a bracket covers `notionalFloor < notional <= notionalCap` (the first also 0),
allows up to `initialLeverage`, and asks a maintenance margin of
`notional * maintMarginRatio - cum`. The maintenance amount `cum` makes that
continuous at every boundary: `cum_n = cum_{n-1} + floor_n * (mmr_n - mmr_{n-1})`
(Binance's FAQ "How to Calculate Liquidation Price of USDⓈ-M Futures
Contracts"). A table that breaks the rule is refused when it is built.

Tables are plain data, one per symbol, replaceable at runtime (`BracketBook`):
Binance changes them by announcement, and existing positions take the new one.
Notionals and `cum` are USDT units (1e-8), ratios rate units (1e-8).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from castle import errors
from castle.futures.contracts import RATE_ONE
from castle.money import mul_div_ceil
from castle.symbols import ONE


@dataclass(frozen=True, slots=True)
class Bracket:
    bracket: int
    initial_leverage: int
    notional_floor: int
    notional_cap: int
    maint_margin_ratio: int
    cum: int

    def maint_margin(self, notional: int) -> int:
        """notional * mmr - cum, rounded up (a requirement: never less than the exact figure)."""
        return mul_div_ceil(notional, self.maint_margin_ratio, RATE_ONE) - self.cum

    def to_dict(self) -> dict:
        """Binance's JSON numbers; Decimal where the value has decimals (serialise as a number)."""
        return {
            "bracket": self.bracket,
            "initialLeverage": self.initial_leverage,
            "notionalCap": _number(self.notional_cap, ONE),
            "notionalFloor": _number(self.notional_floor, ONE),
            "maintMarginRatio": _number(self.maint_margin_ratio, RATE_ONE),
            "cum": _number(self.cum, ONE),
        }


def _number(value: int, one: int) -> int | Decimal:
    return value // one if value % one == 0 else Decimal(value) / Decimal(one)


def derive_cum(previous: Bracket | None, floor: int, mmr: int) -> int:
    """The maintenance amount the continuity rule gives a bracket starting at `floor`.

    Exact: `floor * (mmr_n - mmr_{n-1})` is a whole number of units whenever the
    floor is a whole USDT amount, as every Binance floor is.
    """
    if previous is None:
        return 0
    step = floor * (mmr - previous.maint_margin_ratio)
    if step % RATE_ONE:
        raise ValueError(f"bracket at {floor}: floor * mmr step is not a whole number of units")
    return previous.cum + step // RATE_ONE


@dataclass(frozen=True, slots=True)
class BracketTable:
    symbol: str
    brackets: tuple[Bracket, ...]
    notional_coef: Decimal | None = None  # Binance shows it only for adjusted user brackets

    def __post_init__(self) -> None:
        if not self.brackets:
            raise ValueError(f"{self.symbol}: no brackets")
        previous = None
        for n, b in enumerate(self.brackets, start=1):
            if b.bracket != n or b.notional_cap <= b.notional_floor:
                raise ValueError(f"{self.symbol}: bracket {n} is out of order")
            if previous is None and b.notional_floor != 0:
                raise ValueError(f"{self.symbol}: the first bracket must start at 0")
            if previous is not None and (
                b.notional_floor != previous.notional_cap
                or b.initial_leverage > previous.initial_leverage
                or b.maint_margin_ratio < previous.maint_margin_ratio
            ):
                raise ValueError(f"{self.symbol}: bracket {n} does not continue bracket {n - 1}")
            if b.cum != derive_cum(previous, b.notional_floor, b.maint_margin_ratio):
                raise ValueError(f"{self.symbol}: bracket {n} cum breaks cum_n = cum_n-1 + floor_n * dmmr")
            previous = b

    @property
    def max_leverage(self) -> int:
        return self.brackets[0].initial_leverage

    @property
    def max_notional(self) -> int:
        return self.brackets[-1].notional_cap

    def for_notional(self, notional: int) -> Bracket:
        """The bracket with floor < notional <= cap; -2027 past the last cap."""
        for b in self.brackets:
            if notional <= b.notional_cap:
                return b
        raise errors.max_leverage_ratio()

    def maint_margin(self, notional: int) -> int:
        return self.for_notional(notional).maint_margin(notional)

    def max_leverage_for(self, notional: int) -> int:
        return self.for_notional(notional).initial_leverage

    def max_notional_for(self, leverage: int) -> int:
        """maxNotionalValue at a leverage: the largest cap among brackets allowing it (inferred, matches samples)."""
        self.check_leverage(leverage)
        return max(b.notional_cap for b in self.brackets if b.initial_leverage >= leverage)

    def check_leverage(self, leverage: int) -> None:
        """POST /fapi/v1/leverage takes an int from 1 to the symbol's max; else -4028."""
        if isinstance(leverage, bool) or not isinstance(leverage, int) or not 1 <= leverage <= self.max_leverage:
            raise errors.invalid_leverage(leverage)

    def check_position(self, leverage: int, notional: int) -> None:
        """A position (with its open orders) may not exceed the leverage's max notional: -2027."""
        if notional > self.max_notional_for(leverage):
            raise errors.max_leverage_ratio()

    def to_dict(self) -> dict:
        """One entry of `/fapi/v1/leverageBracket`'s array (Binance returns an array even for one symbol)."""
        out: dict = {"symbol": self.symbol}
        if self.notional_coef is not None:
            out["notionalCoef"] = self.notional_coef
        out["brackets"] = [b.to_dict() for b in self.brackets]
        return out


def table(symbol: str, rows: list[tuple[int, int, int, str]]) -> BracketTable:
    """A table from (floor, cap, leverage, mmr) rows in whole USDT; `cum` follows from the rule."""
    brackets: list[Bracket] = []
    for n, (floor, cap, leverage, mmr_text) in enumerate(rows, start=1):
        mmr = _exact_rate(Decimal(mmr_text))
        previous = brackets[-1] if brackets else None
        cum = derive_cum(previous, floor * ONE, mmr)
        brackets.append(Bracket(n, leverage, floor * ONE, cap * ONE, mmr, cum))
    return BracketTable(symbol, tuple(brackets))


def from_dict(data: dict) -> BracketTable:
    """Parse one `/fapi/v1/leverageBracket` entry (numbers or strings), exactly, cum checked."""
    brackets = tuple(
        Bracket(
            bracket=int(b["bracket"]),
            initial_leverage=int(b["initialLeverage"]),
            notional_floor=_exact_units(Decimal(str(b["notionalFloor"]))),
            notional_cap=_exact_units(Decimal(str(b["notionalCap"]))),
            maint_margin_ratio=_exact_rate(Decimal(str(b["maintMarginRatio"]))),
            cum=_exact_units(Decimal(str(b["cum"]))),
        )
        for b in data["brackets"]
    )
    coef = data.get("notionalCoef")
    return BracketTable(data["symbol"], brackets, None if coef is None else Decimal(str(coef)))


def _exact_units(value: Decimal) -> int:
    scaled = value * ONE
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more than 8 decimals")
    return int(scaled)


def _exact_rate(value: Decimal) -> int:
    return _exact_units(value)  # rates share the 1e-8 scale


class BracketBook:
    """The live tables by symbol. Replacing one is how a bracket change is applied."""

    __slots__ = ("_tables",)

    def __init__(self, tables: dict[str, BracketTable]) -> None:
        self._tables = dict(tables)

    def get(self, symbol: str) -> BracketTable:
        table_ = self._tables.get(symbol)
        if table_ is None:
            raise errors.invalid_symbol()
        return table_

    def replace(self, new: BracketTable) -> None:
        self._tables[new.symbol] = new

    def to_list(self, symbol: str | None = None) -> list[dict]:
        chosen = [self.get(symbol)] if symbol else [self._tables[s] for s in sorted(self._tables)]
        return [t.to_dict() for t in chosen]


# Binance's tables (announcement "Updates to Leverage and Margin Tiers of Binance Futures Contracts",
# 2021-03-18, for BTCUSDT; the same era's FAQ table for ETHUSDT). cum comes from the rule.
BTCUSDT_ROWS = [
    (0, 50_000, 125, "0.004"),
    (50_000, 250_000, 100, "0.005"),
    (250_000, 1_000_000, 50, "0.01"),
    (1_000_000, 10_000_000, 20, "0.025"),
    (10_000_000, 20_000_000, 10, "0.05"),
    (20_000_000, 50_000_000, 5, "0.1"),
    (50_000_000, 100_000_000, 4, "0.125"),
    (100_000_000, 200_000_000, 3, "0.15"),
    (200_000_000, 300_000_000, 2, "0.25"),
    (300_000_000, 500_000_000, 1, "0.5"),
]
ETHUSDT_ROWS = [
    (0, 10_000, 100, "0.005"),
    (10_000, 100_000, 75, "0.0065"),
    (100_000, 500_000, 50, "0.01"),
    (500_000, 1_000_000, 25, "0.02"),
    (1_000_000, 2_000_000, 10, "0.05"),
    (2_000_000, 5_000_000, 5, "0.1"),
    (5_000_000, 10_000_000, 4, "0.125"),
    (10_000_000, 20_000_000, 3, "0.15"),
    (20_000_000, 50_000_000, 2, "0.25"),
    (50_000_000, 100_000_000, 1, "0.5"),
]


def default_brackets() -> BracketBook:
    return BracketBook({"BTCUSDT": table("BTCUSDT", BTCUSDT_ROWS), "ETHUSDT": table("ETHUSDT", ETHUSDT_ROWS)})
