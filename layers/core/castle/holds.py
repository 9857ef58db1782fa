"""The risk hold: what an order must lock before the engine sees it (the first stage of the order path).

Stage order (as in exchange-core): risk hold -> matching -> settlement. An
order locks its worst case: a LIMIT its price times quantity; a MARKET order
what it could spend at a reference price plus a slippage margin, which the
engine then treats as a budget it never exceeds.
"""

from __future__ import annotations

from dataclasses import dataclass

from castle.orders import OrderType, PlaceOrder, Side
from castle.symbols import Symbol

# A MARKET buy by quantity (or a stop that becomes one) cannot know its price: it holds the
# quote for its quantity at a reference price plus this margin, and the engine spends no more.
MARKET_SLIPPAGE_BPS = 500  # 5 %


@dataclass(frozen=True, slots=True)
class Hold:
    """What an order locks: `amount` units of `asset`, and the engine budget that matches it."""

    asset: str
    amount: int
    engine_budget: int | None = None  # tick*lot units, for MARKET orders


def hold_for(symbol: Symbol, cmd: PlaceOrder, reference_price: int | None) -> Hold:
    """The funds an order must lock before it reaches the engine.

    `reference_price` (ticks) prices what has no price of its own: a MARKET
    buy by quantity (the best ask side's sweep price) or a SELL by quote
    amount (the best bid). None means the book has nothing to price against.
    """
    market_like = cmd.type in (OrderType.MARKET, OrderType.STOP_LOSS, OrderType.TAKE_PROFIT)
    if cmd.side is Side.SELL:
        if cmd.qty is not None:
            return Hold(symbol.base.name, symbol.qty_units(cmd.qty), cmd.quote_qty if market_like else None)
        # SELL by quote amount: hold enough base to raise it at the reference price, with the margin.
        lots = 0 if not reference_price else _with_slippage(-(-cmd.quote_qty // reference_price))
        return Hold(symbol.base.name, symbol.qty_units(lots), cmd.quote_qty)
    if not market_like:
        return Hold(symbol.quote.name, symbol.quote_units(cmd.price * cmd.qty))
    if cmd.qty is None:
        return Hold(symbol.quote.name, symbol.quote_units(cmd.quote_qty), cmd.quote_qty)
    price = cmd.stop_price if cmd.type is not OrderType.MARKET else reference_price
    budget = 0 if not price else _with_slippage(price * cmd.qty)
    return Hold(symbol.quote.name, symbol.quote_units(budget), budget)


def _with_slippage(amount: int) -> int:
    return amount + -(-amount * MARKET_SLIPPAGE_BPS // 10_000)
