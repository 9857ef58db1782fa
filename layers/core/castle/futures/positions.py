"""Positions and what a fill does to them.

Binance (Position Information; Change Position Mode): in one-way mode a symbol
has one `BOTH` position with a signed `positionAmt`, and a fill past zero closes
it and opens the other way; in hedge mode `LONG` and `SHORT` are separate, and
SELL+LONG / BUY+SHORT only close. The entry price is the weighted average of
the opening fills, unchanged by a reduce; realized PnL on a close is
`closedQty * (fill - entry) * side`, before fees (`cr` in ACCOUNT_UPDATE).

Exact integers: a position keeps `cost`, the entry notional (`|amount| *
entryPrice`) in USDT units, not a rounded price. A partial close takes its
share of the cost rounded so that the realized PnL is rounded **down** (the
cost a long gives up is rounded up, a short's down); the residue stays in the
remaining cost, and a full close takes all of it. So the PnL realized over a
position's life is exact, and no partial close ever pays out more than earned.
Per account `realized - signed cost` equals the trade cash flow exactly, so
the realized PnL of accounts trading with each other sums to zero once they
are flat.

Break-even price, as Binance's FAQ "How to Visualize the Breakeven Price"
defines it: (total cost of the position - total gained from it, fees counted
as cost) / signed size; `flow` carries that numerator since the position opened.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from castle import errors
from castle.futures.contracts import fill_notional
from castle.money import mul_div_ceil
from castle.symbols import ONE


class PositionSide(StrEnum):
    BOTH = "BOTH"
    LONG = "LONG"
    SHORT = "SHORT"


@dataclass(slots=True)
class Position:
    symbol: str
    side: PositionSide = PositionSide.BOTH
    amount: int = 0  # signed positionAmt, base units; a SHORT leg is <= 0
    cost: int = 0  # |amount| * entry price, USDT units
    flow: int = 0  # buys - sells + fees since the position opened (break-even numerator)
    realized: int = 0  # accumulated pre-fee realized PnL

    @property
    def sign(self) -> int:
        return (self.amount > 0) - (self.amount < 0)

    @property
    def qty(self) -> int:
        return abs(self.amount)

    def entry_price(self) -> int:
        """Entry price in price units, rounded half up (display; the money uses `cost`)."""
        return (2 * self.cost * ONE + self.qty) // (2 * self.qty) if self.qty else 0

    def break_even_price(self) -> int:
        """flow / amount in price units: a long's rounded up, a short's down (the price to reach)."""
        if not self.qty:
            return 0
        per_unit = self.flow * ONE
        if self.sign > 0:
            return -((-per_unit) // self.qty)
        return (-per_unit) // self.qty

    def signed_cost(self) -> int:
        return self.sign * self.cost


@dataclass(frozen=True, slots=True)
class FillEffect:
    closed_qty: int
    opened_qty: int
    realized_pnl: int  # pre-fee, this fill


def check_reduce_only(position: Position, is_buy: bool, qty: int) -> None:
    """Binance: a reduce-only order may only shrink the position; flat or same direction gives -2022.

    A fill larger than the position is refused too (the order is capped before it reaches the book).
    """
    if position.sign == 0 or (position.sign > 0) == is_buy or qty > position.qty:
        raise errors.reduce_only_rejected()


def opens(position: Position, is_buy: bool) -> bool:
    """Whether a fill on this side adds to the position (hedge: BUY+LONG, SELL+SHORT; one-way: flat or same way)."""
    if position.side is PositionSide.LONG:
        return is_buy
    if position.side is PositionSide.SHORT:
        return not is_buy
    return position.sign == 0 or (position.sign > 0) == is_buy


def apply_fill(position: Position, is_buy: bool, qty: int, price: int, fee: int = 0,
               reduce_only: bool = False) -> FillEffect:
    """Apply one fill (base units at a price) and the commission it paid; mutates `position`.

    A one-way fill past zero closes the position at this price and opens the rest the
    other way; the fee is split pro rata, the closing part's share rounded down.
    """
    if qty <= 0:
        raise errors.invalid_quantity()
    if reduce_only:
        check_reduce_only(position, is_buy, qty)
    direction = 1 if is_buy else -1
    notional = fill_notional(price, qty)
    if opens(position, is_buy):
        _open(position, direction, qty, notional, fee)
        return FillEffect(0, qty, 0)
    if position.side is not PositionSide.BOTH and qty > position.qty:
        raise errors.reduce_only_rejected()  # a hedge leg closes, it never flips
    closed = min(qty, position.qty)
    closed_notional = fill_notional(price, closed)
    closed_fee = fee * closed // qty
    pnl = _close(position, closed, closed_notional, closed_fee)
    opened = qty - closed
    if opened:
        _open(position, direction, opened, notional - closed_notional, fee - closed_fee)
    return FillEffect(closed, opened, pnl)


def _open(position: Position, direction: int, qty: int, notional: int, fee: int) -> None:
    position.amount += direction * qty
    position.cost += notional
    position.flow += direction * notional + fee


def _close(position: Position, qty: int, notional: int, fee: int) -> int:
    if qty == position.qty:
        cost_out = position.cost
    elif position.sign > 0:
        cost_out = mul_div_ceil(position.cost, qty, position.qty)  # long: PnL = notional - cost, rounded down
    else:
        cost_out = position.cost * qty // position.qty  # short: PnL = cost - notional, rounded down
    pnl = position.sign * (notional - cost_out)
    position.flow += -position.sign * notional + fee  # a close: a long sells, a short buys
    position.amount -= position.sign * qty
    position.cost -= cost_out
    position.realized += pnl
    if position.amount == 0:
        position.flow = 0
    return pnl


def reduce_only_cap(position: Position, is_buy: bool) -> int:
    """The most a reduce-only (or hedge closing) order on this side may fill."""
    closing = position.sign != 0 and (position.sign > 0) != is_buy
    return position.qty if closing else 0
