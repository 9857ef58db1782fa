"""Premium index and mark price.

Binance FAQ "Introduction to Binance Futures Funding Rates":
    Premium Index (P) = [max(0, Impact Bid Price - Price Index) - max(0, Price Index - Impact Ask Price)] / Price Index
where the impact prices are the average fill of a market order of the Impact
Margin Notional, `200 USDT / initial margin rate at max leverage` (25,000 USDT
at 125x), and P is sampled every 5 s.

Binance FAQ "Mark Price" (written out for COIN-M, the same construction for USDⓈ-M):
    Mark Price = Median(Price 1, Price 2, Last Price)
    Price 1 = Price Index * (1 + Last Funding Rate * (Time Until Funding / Funding Interval))
    Price 2 = Price Index + Moving Average (Basis),  basis_i = (Bid1_i + Ask1_i) / 2 - Index_i

Prices are 1e-8 units, rates rate units (1e-8). The mark is a reference, not a
payment, so it is rounded down (floor) to the 1e-8 unit; premiums are
truncated towards zero, favouring neither side.
"""

from __future__ import annotations

from castle.futures.brackets import BracketTable
from castle.futures.contracts import RATE_ONE
from castle.symbols import ONE

IMPACT_MARGIN = 200 * ONE  # USDT of margin behind the impact notional


def _div_towards_zero(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def impact_margin_notional(table: BracketTable) -> int:
    """IMN = 200 USDT / IMR at max leverage = 200 * max leverage."""
    return IMPACT_MARGIN * table.max_leverage


def impact_price(levels: list[tuple[int, int]], notional: int, is_bid: bool) -> int | None:
    """Average price of a market order of `notional` USDT against `levels` [(price, qty)], best first.

    None when the book is too thin to fill it. The last level is taken in the exact
    fraction needed. Impact bid rounded down, ask up (a wider spread, never a narrower one).
    """
    target = notional * ONE  # price * qty units
    spent = qty = 0
    for price, size in levels:
        if spent + price * size >= target:
            # average = target / (qty + (target - spent) / price)
            num, den = target * price, qty * price + (target - spent)
            return num // den if is_bid else -((-num) // den)
        spent += price * size
        qty += size
    return None


def premium_index(impact_bid: int, impact_ask: int, index: int) -> int:
    """P in rate units."""
    num = max(0, impact_bid - index) - max(0, index - impact_ask)
    return _div_towards_zero(num * RATE_ONE, index)


def average_premium(samples: list[int]) -> int:
    """Time-weighted average of the premium samples, oldest first, weights 1..n (the commonly quoted
    weighting; Binance says "time-weighted" without the weights). Truncated towards zero."""
    if not samples:
        return 0
    weights = len(samples) * (len(samples) + 1) // 2
    return _div_towards_zero(sum(i * p for i, p in enumerate(samples, start=1)), weights)


def price1(index: int, last_funding_rate: int, ms_to_funding: int, interval_ms: int) -> int:
    return (index * (RATE_ONE * interval_ms + last_funding_rate * ms_to_funding)) // (RATE_ONE * interval_ms)


def price2(index: int, basis_samples: list[int]) -> int:
    """Index plus the moving average of the basis samples (each (bid1 + ask1) / 2 - index)."""
    if not basis_samples:
        return index
    return index + sum(basis_samples) // len(basis_samples)


def basis(bid1: int, ask1: int, index: int) -> int:
    return (bid1 + ask1) // 2 - index


def mark_price(index: int, last_funding_rate: int, ms_to_funding: int, interval_ms: int,
               basis_samples: list[int], last_price: int) -> int:
    p1 = price1(index, last_funding_rate, ms_to_funding, interval_ms)
    p2 = price2(index, basis_samples)
    return sorted((p1, p2, last_price))[1]
