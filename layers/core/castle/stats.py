"""Rolling average price over the last N minutes (Binance's `avgPrice`).

Used by PERCENT_PRICE_BY_SIDE and by NOTIONAL for MARKET orders. Exact: the
average is kept as a fraction `num/den` (sum of price*qty over sum of qty).
"""

from __future__ import annotations

from collections import deque

MINUTE_MS = 60_000


class AveragePrice:
    __slots__ = ("minutes", "buckets", "last_price")

    def __init__(self, minutes: int = 5) -> None:
        self.minutes = minutes
        self.buckets: deque[list[int]] = deque()  # [minute, sum(price*qty), sum(qty)]
        self.last_price: int | None = None

    def record(self, ts: int, price: int, qty: int) -> None:
        minute = ts // MINUTE_MS
        buckets = self.buckets
        if buckets and buckets[-1][0] == minute:
            bucket = buckets[-1]
            bucket[1] += price * qty
            bucket[2] += qty
        else:
            buckets.append([minute, price * qty, qty])
            if len(buckets) > self.minutes + 1:
                buckets.popleft()
        self.last_price = price

    def value(self, ts: int) -> tuple[int, int] | None:
        """The average as (numerator, denominator); the last price when the window is empty."""
        first = ts // MINUTE_MS - self.minutes + 1
        num = den = 0
        for minute, pq, q in self.buckets:
            if minute >= first:
                num += pq
                den += q
        if den:
            return num, den
        if self.last_price is not None:
            return self.last_price, 1
        return None

    def to_dict(self) -> dict:
        return {"minutes": self.minutes, "buckets": [list(b) for b in self.buckets], "last_price": self.last_price}

    @classmethod
    def from_dict(cls, data: dict) -> AveragePrice:
        avg = cls(data["minutes"])
        avg.buckets = deque(list(b) for b in data["buckets"])
        avg.last_price = data["last_price"]
        return avg
