"""A contract as spot's matching engine sees it: ticks, lots and no filters of its own.

The futures engine checks the contract's filters (with their futures codes and
the mark price) before an order reaches the book, so the book's symbol only
converts units and keeps price-time priority.
"""

from __future__ import annotations

from castle.futures.contracts import PerpetualContract
from castle.money import Asset
from castle.orders import OrderType, StpMode
from castle.symbols import LotSize, Notional, PriceFilter, Symbol

BOOK_LIMIT = 10**9  # the futures engine enforces MAX_NUM_ORDERS per account (-2025), not the book


def book_symbol(contract: PerpetualContract) -> Symbol:
    lot = LotSize(contract.step_size, 0, contract.step_size)
    return Symbol(
        name=contract.symbol,
        base=Asset(contract.base),
        quote=Asset(contract.quote),
        price_filter=PriceFilter(0, 0, contract.tick_size),
        lot_size=lot,
        market_lot_size=lot,
        notional=Notional(0, 0, apply_min_to_market=False),
        max_num_orders=BOOK_LIMIT,
        order_types=(OrderType.LIMIT, OrderType.MARKET, OrderType.LIMIT_MAKER),
        default_stp=StpMode.NONE,
    )
