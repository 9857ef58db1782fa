"""Margin: what positions and open orders hold, what is left, and when an account is liquidated (the price: liquidation.py).

Binance (Leverage and Margin of USDⓈ-M Futures; Position Information V3;
Account Information V3), all valued at the **mark** price:
- unrealized PnL `amount * (mark - entry)`; initial margin `notional / leverage`;
  maintenance margin from the bracket, `notional * mmr - cum`;
- cross wallet `walletBalance - sum(isolatedWallet)`; an isolated position's
  margin `isolatedWallet + uPnL`;
- available balance `crossWallet + cross uPnL - cross position IM - open-order IM`;
- margin ratio `maint margin / margin balance`, liquidation at >= 100%.
Open orders (FAQ "How to Calculate the Margin Requirement on Binance Futures
Trading"): a leg holds `max(|PN + bids|, |PN - asks|) / leverage` for its
position and orders together; a new opening order costs its initial margin plus
its open loss (FAQ "How to Calculate Cost Required to Open a Position").

Rounding, against the trader: uPnL is rounded down (floor of the exact value),
notionals for requirements and every margin requirement are rounded up.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from castle import errors
from castle.futures.brackets import BracketTable
from castle.futures.contracts import RATE_ONE
from castle.futures.positions import Position, PositionSide
from castle.money import mul_div_ceil
from castle.symbols import ONE


class MarginType(StrEnum):
    CROSSED = "CROSSED"
    ISOLATED = "ISOLATED"


def _ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


def notional_at(position: Position, mark: int) -> int:
    """|amount| * mark in USDT units, rounded up: the size requirements are measured on."""
    return mul_div_ceil(position.qty, mark, ONE)


def unrealized_pnl(position: Position, mark: int) -> int:
    """amount * (mark - entry), rounded down; entry is the exact cost basis."""
    return (position.amount * mark - position.signed_cost() * ONE) // ONE


def initial_margin(notional: int, leverage: int) -> int:
    return _ceil_div(notional, leverage)


SHORT_ASSUMED_BUFFER = 150_000  # 0.15%: a short order's IM is priced at max(last * 1.0015, mark, price)


def signed_notional(position: Position, mark: int) -> int:
    return position.sign * notional_at(position, mark)


def order_cost(qty: int, price: int, is_buy: bool, mark: int, leverage: int, last_price: int | None = None) -> int:
    """The cost of opening an order: initial margin at the assumed price plus the open loss, rounded up.

    Binance FAQ "How to Calculate Cost Required to Open a Position": a long is
    priced at its order price, a short at max(last * (1 + 0.15%), mark, order
    price); open loss = qty * |min(0, dir * (mark - order price))|. For a market
    order pass the price it is assumed to fill at.
    """
    assumed = price
    if not is_buy and last_price is not None:
        assumed = max(price, mark, mul_div_ceil(last_price, RATE_ONE + SHORT_ASSUMED_BUFFER, RATE_ONE))
    im = _ceil_div(qty * assumed, ONE * leverage)
    gap = (price - mark) if is_buy else (mark - price)
    return im + mul_div_ceil(qty, max(0, gap), ONE)


def is_opening_order(position_amount: int, open_qty_same_side: int, is_buy: bool, qty: int) -> bool:
    """Whether a new order gets a margin check (Binance FAQ "How to Calculate the Margin Requirement").

    An order the position's way, or on a flat position, opens. An order against the
    position opens only past what the position less the open orders on its side can
    close: `qty > |position| - open same-side qty`. Closing orders are not checked.
    """
    against = position_amount < 0 if is_buy else position_amount > 0
    return not against or qty > abs(position_amount) - open_qty_same_side


def margin_requirement(position_notional: int, bid_value: int, ask_value: int, leverage: int) -> int:
    """A leg's position plus open-order margin: max(|PN + bids|, |PN - asks|) / leverage, rounded up.

    Binance FAQ "How to Calculate the Margin Requirement on Binance Futures Trading":
    PN is the signed position notional at mark, bids and asks the open orders'
    values at their limit prices. One-way mode has one leg (BOTH); hedge mode
    adds the LONG and the SHORT leg's requirements. Untriggered stop orders hold nothing.
    """
    return _ceil_div(max(abs(position_notional + bid_value), abs(position_notional - ask_value)), leverage)


@dataclass(frozen=True, slots=True)
class OpenOrder:
    position_side: PositionSide
    is_buy: bool
    qty: int  # unfilled base units
    price: int  # limit price

    def value(self) -> int:
        return mul_div_ceil(self.qty, self.price, ONE)


def open_order_margin(position_notionals: dict[PositionSide, int], orders: list[OpenOrder], leverage: int) -> int:
    """openOrderInitialMargin of one symbol: each leg's requirement less its position's initial margin.

    Orders that close the position fit inside `|PN - asks|` (a long) or `|PN + bids|`
    (a short), so they hold nothing until they would turn it around.
    """
    legs = set(position_notionals) | {o.position_side for o in orders}
    total = 0
    for leg in legs:
        pn = position_notionals.get(leg, 0)
        bids = sum(o.value() for o in orders if o.position_side is leg and o.is_buy)
        asks = sum(o.value() for o in orders if o.position_side is leg and not o.is_buy)
        total += margin_requirement(pn, bids, asks, leverage) - initial_margin(abs(pn), leverage)
    return total


@dataclass(frozen=True, slots=True)
class PositionRisk:
    """One position as margin sees it: the leg, its mark, leverage, margin type and brackets."""

    position: Position
    mark: int
    leverage: int
    table: BracketTable
    margin_type: MarginType = MarginType.CROSSED
    isolated_wallet: int = 0

    @property
    def isolated(self) -> bool:
        return self.margin_type is MarginType.ISOLATED

    def notional(self) -> int:
        return notional_at(self.position, self.mark)

    def unrealized_pnl(self) -> int:
        return unrealized_pnl(self.position, self.mark)

    def initial_margin(self) -> int:
        return initial_margin(self.notional(), self.leverage)

    def maint_margin(self) -> int:
        return self.table.maint_margin(self.notional()) if self.position.qty else 0

    def isolated_margin(self) -> int:
        """isolatedMargin: the isolated wallet plus uPnL (0 for a cross position)."""
        return self.isolated_wallet + self.unrealized_pnl() if self.isolated else 0


@dataclass(frozen=True, slots=True)
class Account:
    """A USDT-margined account at one instant: wallet, positions, and open-order margins by symbol."""

    wallet_balance: int
    positions: tuple[PositionRisk, ...] = ()
    open_order_margins: tuple[int, ...] = ()

    def cross(self) -> list[PositionRisk]:
        return [p for p in self.positions if not p.isolated]

    def cross_wallet_balance(self) -> int:
        return self.wallet_balance - sum(p.isolated_wallet for p in self.positions if p.isolated)

    def cross_unrealized_pnl(self) -> int:
        return sum(p.unrealized_pnl() for p in self.cross())

    def cross_margin_balance(self) -> int:
        return self.cross_wallet_balance() + self.cross_unrealized_pnl()

    def cross_maint_margin(self) -> int:
        return sum(p.maint_margin() for p in self.cross())

    def available_balance(self) -> int:
        """crossWallet + cross uPnL - cross position IM - all open-order IM (single-asset mode)."""
        return (self.cross_margin_balance() - sum(p.initial_margin() for p in self.cross())
                - sum(self.open_order_margins))

    def check_order_margin(self, extra: int) -> None:
        """Pre-trade: an order holding `extra` more margin needs that much available, else -2019."""
        if extra > self.available_balance():
            raise errors.margin_insufficient()


def margin_ratio(maint_margin: int, margin_balance: int) -> int | None:
    """maint margin / margin balance in rate units, rounded up; None when the balance is gone."""
    if margin_balance <= 0:
        return None if maint_margin > 0 else 0
    return mul_div_ceil(maint_margin, RATE_ONE, margin_balance)


def liquidatable(maint_margin: int, margin_balance: int) -> bool:
    """Binance liquidates when the margin ratio reaches 100%: exact, no rounding."""
    return maint_margin > 0 and maint_margin >= margin_balance


# Isolated margin: POST /fapi/v1/positionMargin (type 1 add, 2 reduce).
def check_add_isolated_margin(risk: PositionRisk, amount: int, available: int) -> None:
    _check_isolated(risk, amount)
    if amount > available:
        raise errors.cross_balance_insufficient()


def max_removable_isolated_margin(risk: PositionRisk) -> int:
    """What may leave an isolated position: the wallet less losses less the initial margin at mark.

    Inferred (Binance does not publish it): profits stay, and the position keeps its initial margin.
    """
    return max(0, risk.isolated_wallet + min(0, risk.unrealized_pnl()) - risk.initial_margin())


def check_reduce_isolated_margin(risk: PositionRisk, amount: int) -> None:
    _check_isolated(risk, amount)
    if amount > max_removable_isolated_margin(risk):
        raise errors.isolated_balance_insufficient()


def _check_isolated(risk: PositionRisk, amount: int) -> None:
    if amount <= 0:
        raise errors.amount_must_be_positive()
    if not risk.isolated:
        raise errors.isolated_margin_only()
    if risk.position.qty == 0:
        raise errors.position_margin_no_position()


def check_margin_type_change(current: MarginType, new: MarginType, open_orders: int, position_qty: int) -> None:
    """POST /fapi/v1/marginType: -4046 same type, -4047 open orders, -4048 a position."""
    if current is new:
        raise errors.no_need_to_change_margin_type()
    if open_orders:
        raise errors.margin_type_open_orders()
    if position_qty:
        raise errors.margin_type_position_exists()
