"""The order book: price levels with FIFO queues, best prices by heap.

Layout chosen for a deep book in pure Python:
- `levels`: dict price -> PriceLevel, so a level is found in O(1);
- `heap`: the level prices (negated for bids), so the best price is `heap[0]`
  after dropping stale entries (levels that emptied) lazily;
- each level's queue is a deque; a canceled order is only marked
  (`remaining = 0`) and skipped when it reaches the front, so cancel is O(1).

Depth changes are recorded per level so the book can hand out Binance-style
diffs (`U`/`u`) that are consistent with its snapshots' `lastUpdateId`.
"""

from __future__ import annotations

from collections import deque
from heapq import heapify, heappop, heappush, nsmallest
from dataclasses import dataclass, field

from castle.orders import Order, Side


class PriceLevel:
    __slots__ = ("price", "orders", "qty", "count")

    def __init__(self, price: int) -> None:
        self.price = price
        self.orders: deque[Order] = deque()
        self.qty = 0  # visible quantity, as the depth shows it
        self.count = 0  # live orders (the deque may also hold canceled ones)

    def live_orders(self) -> list[Order]:
        return [o for o in self.orders if o.remaining]

    def compact(self) -> None:
        """Drop canceled orders when they outnumber the live ones."""
        self.orders = deque(o for o in self.orders if o.remaining)


class BookSide:
    __slots__ = ("side", "levels", "heap", "sign", "dirty")

    def __init__(self, side: Side) -> None:
        self.side = side
        self.levels: dict[int, PriceLevel] = {}
        self.heap: list[int] = []
        self.dirty: set[int] = set()  # prices whose level changed since the last diff
        # Bids keep negated prices in the heap, so heap[0] is always the best.
        self.sign = -1 if side is Side.BUY else 1

    def best_level(self) -> PriceLevel | None:
        heap, levels, sign = self.heap, self.levels, self.sign
        while heap:
            level = levels.get(heap[0] * sign)
            if level is not None:
                return level
            heappop(heap)
        return None

    def best_price(self) -> int | None:
        level = self.best_level()
        return None if level is None else level.price

    def level_for(self, price: int) -> PriceLevel:
        level = self.levels.get(price)
        if level is None:
            level = self.levels[price] = PriceLevel(price)
            heap = self.heap
            heappush(heap, price * self.sign)
            if len(heap) > 2 * len(self.levels) + 64:
                self.rebuild_heap()
        return level

    def drop_level(self, price: int) -> None:
        del self.levels[price]

    def rebuild_heap(self) -> None:
        self.heap = [p * self.sign for p in self.levels]
        heapify(self.heap)

    def sorted_levels(self) -> list[PriceLevel]:
        """Best first."""
        sign, levels = self.sign, self.levels
        return [levels[p] for p in sorted(levels, key=lambda p: p * sign)]

    def depth(self, limit: int | None = None) -> list[tuple[int, int]]:
        sign, levels = self.sign, self.levels
        if limit is None or limit >= len(levels):
            prices = sorted(levels, key=lambda p: p * sign)
        else:
            prices = [k * sign for k in nsmallest(limit, (p * sign for p in levels))]
        return [(p, levels[p].qty) for p in prices]


@dataclass(slots=True)
class DepthSnapshot:
    last_update_id: int
    bids: list[tuple[int, int]]
    asks: list[tuple[int, int]]


@dataclass(slots=True)
class DepthDiff:
    """Binance's depthUpdate: levels changed in updates U..u; qty 0 removes a level."""

    first_update_id: int
    last_update_id: int
    bids: list[tuple[int, int]] = field(default_factory=list)
    asks: list[tuple[int, int]] = field(default_factory=list)


class OrderBook:
    """Both sides of one symbol's book, and the change log for depth diffs."""

    __slots__ = ("bids", "asks", "update_id", "_flushed_id")

    def __init__(self) -> None:
        self.bids = BookSide(Side.BUY)
        self.asks = BookSide(Side.SELL)
        # The id of the last update applied: the engine's command sequence number.
        self.update_id = 0
        self._flushed_id = 0

    def side(self, side: Side) -> BookSide:
        return self.bids if side is Side.BUY else self.asks

    def opposite(self, side: Side) -> BookSide:
        return self.asks if side is Side.BUY else self.bids

    def best_bid(self) -> int | None:
        return self.bids.best_price()

    def best_ask(self) -> int | None:
        return self.asks.best_price()

    def is_crossed(self) -> bool:
        bid, ask = self.best_bid(), self.best_ask()
        return bid is not None and ask is not None and bid >= ask

    def snapshot(self, limit: int | None = None) -> DepthSnapshot:
        return DepthSnapshot(self.update_id, self.bids.depth(limit), self.asks.depth(limit))

    def take_diff(self) -> DepthDiff | None:
        """The levels changed since the last call, as one diff covering every update id since."""
        bids, asks = self.bids, self.asks
        if not bids.dirty and not asks.dirty:
            return None
        diff = DepthDiff(self._flushed_id + 1, self.update_id)
        diff.bids = sorted(((p, _level_qty(bids, p)) for p in bids.dirty), reverse=True)
        diff.asks = sorted((p, _level_qty(asks, p)) for p in asks.dirty)
        bids.dirty.clear()
        asks.dirty.clear()
        self._flushed_id = self.update_id
        return diff

    @property
    def flushed_id(self) -> int:
        """The last update id the depth diffs covered (`take_diff`)."""
        return self._flushed_id

    def mark_flushed(self, update_id: int) -> None:
        """Count the changes up to `update_id` as sent: a restored book's next diff follows the last one sent."""
        self.bids.dirty.clear()
        self.asks.dirty.clear()
        self._flushed_id = update_id

    def orders(self) -> list[Order]:
        """Every live order, bids best-first then asks best-first, in queue order."""
        out: list[Order] = []
        for book_side in (self.bids, self.asks):
            for level in book_side.sorted_levels():
                out.extend(level.live_orders())
        return out


def _level_qty(side: BookSide, price: int) -> int:
    level = side.levels.get(price)
    return 0 if level is None else level.qty
