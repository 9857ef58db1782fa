"""Small fixtures for the pure domain: one engine on BTCUSDT and a desk to drive it.

Prices are engine ticks and quantities engine lots (BTCUSDT: tick 0.01 USDT,
lot 0.00001 BTC). `P` is a realistic price (30,000.00 USDT) so that MARKET
orders of a few hundred lots clear the 5 USDT NOTIONAL minimum. The layer is
put on the path once, by pyproject's `pythonpath` (or PYTHONPATH=layers/core).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
from castle.book import DepthDiff, DepthSnapshot
from castle.events import Event
from castle.matching import MatchingEngine
from castle.orders import (
    AmendOrder,
    CancelAllOrders,
    CancelOrder,
    CancelReplace,
    CancelReplaceMode,
    OrderType,
    PlaceOrder,
    Side,
)
from castle.symbols import Symbol, default_symbols

P = 3_000_000  # 30,000.00 USDT in BTCUSDT ticks (tests keep their own copy of these constants)
ALICE, BOB, CAROL = 1, 2, 3


@dataclass
class Result:
    """The events one command caused, and the order id it was about."""

    order_id: int
    events: list[Event]

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]

    def one(self, kind: type):
        found = self.of(kind)
        assert len(found) == 1, f"expected one {kind.__name__} in {self.events}"
        return found[0]

    def kinds(self) -> list[str]:
        return [type(e).__name__ for e in self.events]


class Desk:
    """Submits commands to one engine, numbering new orders 1, 2, 3..."""

    def __init__(self, engine: MatchingEngine) -> None:
        self.engine = engine
        self._ids = itertools.count(1)

    def new_id(self) -> int:
        return next(self._ids)

    def submit(self, command, order_id: int = 0) -> Result:
        return Result(order_id, self.engine.submit(command))

    def place_order(self, side: Side, account: int = ALICE, order_id: int | None = None, **fields) -> PlaceOrder:
        return PlaceOrder(self.new_id() if order_id is None else order_id, account, side, **fields)

    def place(self, side: Side, account: int = ALICE, order_id: int | None = None, **fields) -> Result:
        cmd = self.place_order(side, account, order_id, **fields)
        return self.submit(cmd, cmd.order_id)

    def buy(self, price: int, qty: int, account: int = ALICE, **fields) -> Result:
        return self.place(Side.BUY, account, price=price, qty=qty, **fields)

    def sell(self, price: int, qty: int, account: int = ALICE, **fields) -> Result:
        return self.place(Side.SELL, account, price=price, qty=qty, **fields)

    def market(self, side: Side, qty: int | None = None, account: int = ALICE, **fields) -> Result:
        return self.place(side, account, type=OrderType.MARKET, qty=qty, **fields)

    def stop(
        self, side: Side, type: OrderType, stop_price: int, qty: int = 100, account: int = ALICE, **fields
    ) -> Result:
        return self.place(side, account, type=type, stop_price=stop_price, qty=qty, **fields)

    def cancel(self, order_id: int, account: int = ALICE) -> Result:
        return self.submit(CancelOrder(order_id, account), order_id)

    def cancel_all(self, account: int = ALICE) -> Result:
        return self.submit(CancelAllOrders(account))

    def amend(self, order_id: int, new_qty: int, account: int = ALICE) -> Result:
        return self.submit(AmendOrder(order_id, account, new_qty), order_id)

    def cancel_replace(self, cancel_id: int, new: PlaceOrder, mode=CancelReplaceMode.STOP_ON_FAILURE) -> Result:
        return self.submit(CancelReplace(CancelOrder(cancel_id, new.account), new, mode), new.order_id)

    def trade_at(self, price: int, qty: int = 100) -> None:
        """Print a trade between BOB (maker) and CAROL (taker), setting the last price."""
        self.sell(price, qty, account=BOB)
        self.buy(price, qty, account=CAROL)

    def depth(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        snap = self.engine.depth()
        return snap.bids, snap.asks

    def open_ids(self) -> list[int]:
        return sorted(o.id for o in self.engine.open_orders())


@pytest.fixture(scope="session")
def btcusdt() -> Symbol:
    return default_symbols()["BTCUSDT"]


@pytest.fixture
def engine(btcusdt: Symbol) -> MatchingEngine:
    return MatchingEngine(btcusdt)


@pytest.fixture
def desk(engine: MatchingEngine) -> Desk:
    return Desk(engine)


@pytest.fixture
def desk_on():
    """A desk for an engine the test built itself (e.g. on a symbol with other limits)."""
    return Desk


class LocalBook:
    """A client's copy of the book, kept by Binance's snapshot-and-diff procedure.

    Drop diffs with u <= lastUpdateId; the first kept diff has
    U <= lastUpdateId+1 <= u; each next diff has U == previous u + 1; a level
    with quantity 0 is removed.
    """

    def __init__(self, snapshot: DepthSnapshot) -> None:
        self.last_update_id = snapshot.last_update_id
        self.bids = dict(snapshot.bids)
        self.asks = dict(snapshot.asks)
        self.started = False

    def apply(self, diff: DepthDiff) -> None:
        if diff.last_update_id <= self.last_update_id:
            return  # older than the snapshot
        if self.started:
            assert diff.first_update_id == self.last_update_id + 1, "gap in the diff stream"
        else:
            assert diff.first_update_id <= self.last_update_id + 1 <= diff.last_update_id
            self.started = True
        for side, changes in ((self.bids, diff.bids), (self.asks, diff.asks)):
            for price, qty in changes:
                if qty:
                    side[price] = qty
                else:
                    side.pop(price, None)
        self.last_update_id = diff.last_update_id

    def depth(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        return sorted(self.bids.items(), reverse=True), sorted(self.asks.items())


@pytest.fixture(scope="session")
def local_book() -> type[LocalBook]:
    return LocalBook
