"""An account's futures state, kept by the engine: wallet, settings, positions, and its working orders' footprint.

The engine owns this state in memory and changes it only through journaled
commands, so admission is exact (integers) and race-free: one thread sees an
account's orders on every contract in one order, and a replay sees the same.
The figures are Binance's (margin.py), valued at the engine's latest mark.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from castle.futures.brackets import BracketTable
from castle.futures.margin import (
    MarginType,
    initial_margin,
    margin_requirement,
    notional_at,
    signed_notional,
    unrealized_pnl,
)
from castle.futures.positions import Position, PositionSide
from castle.money import mul_div_ceil
from castle.symbols import ONE

DEFAULT_LEVERAGE = 20  # Binance's initial leverage for a new account


@dataclass(slots=True)
class SymbolSettings:
    leverage: int = DEFAULT_LEVERAGE
    margin_type: MarginType = MarginType.CROSSED


@dataclass(slots=True)
class Leg:
    """One position leg and the working orders on it: what margin is measured over."""

    position: Position
    isolated_wallet: int = 0
    bids: int = 0  # sum of working buy orders' values at their limit prices, USDT units
    asks: int = 0
    closing_qty: int = 0  # working reduce-only / hedge-closing quantity (base units)
    orders: int = 0  # working orders on this leg

    def requirement(self, mark: int, leverage: int, bids: int = 0, asks: int = 0) -> int:
        """max(|PN + bids|, |PN - asks|) / leverage, optionally with one more order's value."""
        return margin_requirement(signed_notional(self.position, mark), self.bids + bids, self.asks + asks, leverage)


@dataclass(slots=True)
class FuturesAccount:
    id: int
    wallet: int = 0  # walletBalance, USDT units (isolated wallets included)
    dual: bool = False
    settings: dict[str, SymbolSettings] = field(default_factory=dict)
    legs: dict[tuple[str, PositionSide], Leg] = field(default_factory=dict)

    def settings_for(self, symbol: str) -> SymbolSettings:
        found = self.settings.get(symbol)
        if found is None:
            found = self.settings[symbol] = SymbolSettings()
        return found

    def leg(self, symbol: str, side: PositionSide) -> Leg:
        found = self.legs.get((symbol, side))
        if found is None:
            found = self.legs[(symbol, side)] = Leg(Position(symbol, side))
        return found

    def symbol_legs(self, symbol: str) -> list[Leg]:
        return [leg for (s, _), leg in self.legs.items() if s == symbol]

    def has_position(self, symbol: str | None = None) -> bool:
        return any(leg.position.amount for (s, _), leg in self.legs.items() if symbol in (None, s))

    def working_orders(self, symbol: str | None = None) -> int:
        return sum(leg.orders for (s, _), leg in self.legs.items() if symbol in (None, s))


@dataclass(frozen=True, slots=True)
class Valuation:
    """An account at one set of marks: Binance's account figures (v2/v3 account, balance)."""

    wallet: int
    cross_wallet: int
    cross_upnl: int
    upnl: int
    position_im: int  # cross positions' initial margin
    open_order_im: int
    maint_margin: int  # cross positions'
    isolated_margin: int

    @property
    def available(self) -> int:
        return self.cross_wallet + self.cross_upnl - self.position_im - self.open_order_im

    @property
    def margin_balance(self) -> int:
        return self.wallet + self.upnl


def value(account: FuturesAccount, marks: dict[str, int], tables: dict[str, BracketTable]) -> Valuation:
    """Every figure of an account at the given marks (rounding as margin.py: against the trader)."""
    cross_wallet = account.wallet
    cross_upnl = upnl = position_im = open_im = maint = isolated = 0
    for (symbol, _), leg in account.legs.items():
        settings = account.settings_for(symbol)
        mark = marks[symbol]
        position = leg.position
        pnl = unrealized_pnl(position, mark) if position.amount else 0
        notional = notional_at(position, mark)
        im = initial_margin(notional, settings.leverage)
        open_im += leg.requirement(mark, settings.leverage) - im
        upnl += pnl
        if settings.margin_type is MarginType.ISOLATED:
            cross_wallet -= leg.isolated_wallet
            isolated += leg.isolated_wallet + pnl
        else:
            cross_upnl += pnl
            position_im += im
            if position.amount:
                maint += tables[symbol].maint_margin(notional)
    return Valuation(account.wallet, cross_wallet, cross_upnl, upnl, position_im, open_im, maint, isolated)


def order_value(qty: int, price: int) -> int:
    return mul_div_ceil(qty, price, ONE)


def open_loss(qty: int, price: int, is_buy: bool, mark: int) -> int:
    """Binance's open loss of an order: qty * |min(0, dir * (mark - price))|, rounded up."""
    gap = (price - mark) if is_buy else (mark - price)
    return mul_div_ceil(qty, gap, ONE) if gap > 0 else 0
