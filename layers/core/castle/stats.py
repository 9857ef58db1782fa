"""Rolling average price over the last N minutes (Binance's `avgPrice`).

Used by PERCENT_PRICE_BY_SIDE and by NOTIONAL for MARKET orders. Exact: the
average is kept as a fraction `num/den` (sum of price*qty over sum of qty).
"""

from __future__ import annotations

from collections import deque

MINUTE_MS = 60_000
_MINUTE = MINUTE_MS  # a C constant when compiled (stats.pxd); MINUTE_MS stays importable


class AveragePrice:
    __slots__ = ("minutes", "buckets", "last_price", "num", "den")

    def __init__(self, minutes: int = 5) -> None:
        self.minutes = minutes
        self.buckets: deque[list[int]] = deque()  # [minute, sum(price*qty), sum(qty)]
        self.last_price: int | None = None
        self.num = 0  # running sums over the buckets still held
        self.den = 0

    def record(self, ts: int, price: int, qty: int) -> None:
        self.record_trades(ts, price * qty, qty, price)

    def record_trades(self, ts: int, notional: int, qty: int, last_price: int) -> None:
        """Add trades of one moment: their total price*qty, total qty, and the last price."""
        minute = ts // _MINUTE
        buckets = self.buckets
        if buckets and buckets[-1][0] == minute:
            bucket = buckets[-1]
            bucket[1] += notional
            bucket[2] += qty
        else:
            buckets.append([minute, notional, qty])
        self.num += notional
        self.den += qty
        self.last_price = last_price

    def value(self, ts: int) -> tuple[int, int] | None:
        """The average as (numerator, denominator); the last price when the window is empty."""
        first = ts // _MINUTE - self.minutes + 1
        buckets = self.buckets
        while buckets and buckets[0][0] < first:
            _, pq, q = buckets.popleft()
            self.num -= pq
            self.den -= q
        if self.den:
            return self.num, self.den
        if self.last_price is not None:
            return self.last_price, 1
        return None

    def to_dict(self) -> dict:
        return {"minutes": self.minutes, "buckets": [list(b) for b in self.buckets], "last_price": self.last_price}

    @classmethod
    def from_dict(cls, data: dict) -> AveragePrice:
        avg = cls(data["minutes"])
        avg.buckets = deque(list(b) for b in data["buckets"])
        avg.num = sum(b[1] for b in avg.buckets)
        avg.den = sum(b[2] for b in avg.buckets)
        avg.last_price = data["last_price"]
        return avg
