"""The funding rate, and its payments between longs and shorts.

Binance FAQ "Introduction to Binance Futures Funding Rates":
    Funding Rate (F) = Premium Index (P) + clamp(Interest Rate (I) - P, -0.05%, 0.05%)
with I = 0.01% per 8 h interval (0 for BNB pairs), then F is held within the
symbol's cap and floor: `+-0.75 * (IMR - MMR)` at the max-leverage bracket by
default (0.3% for BTCUSDT at 125x), or `adjustedFundingRateCap/Floor` from
`/fapi/v1/fundingInfo`. Funding Amount = Nominal Value of Positions (mark *
size) * Funding Rate; longs pay shorts when F > 0, shorts pay longs when F < 0;
Binance takes no fee, and only positions held at the funding time pay.

Integer payments that sum to exactly zero. The exact amounts are rationals;
each **payer** pays its exact amount rounded **up**, and the total collected
is shared among the **receivers** pro rata to their exact amounts by the
largest-remainder method (floors first, then one unit each to the largest
remainders, ties to the earlier position in the list). No account pays less
than it owes, the receivers get the payers' rounding dust, and no house
account is needed. Requires balanced open interest (sum of amounts = 0), which
every perpetual has.
"""

from __future__ import annotations

from dataclasses import dataclass

from castle.futures.brackets import BracketTable
from castle.futures.contracts import RATE_ONE
from castle.symbols import ONE

INTEREST_8H = 10_000  # 0.01% in rate units
CLAMP = 50_000  # 0.05%
EIGHT_HOURS_MS = 8 * 3600 * 1000


def default_cap(table: BracketTable) -> int:
    """0.75 * (IMR - MMR) at the max-leverage bracket, rounded down, in rate units."""
    first = table.brackets[0]
    imr = RATE_ONE // first.initial_leverage
    return 3 * (imr - first.maint_margin_ratio) // 4


def funding_rate(avg_premium: int, interest: int = INTEREST_8H, cap: int | None = None,
                 floor: int | None = None) -> int:
    rate = avg_premium + max(-CLAMP, min(CLAMP, interest - avg_premium))
    if cap is not None:
        rate = min(rate, cap)
    if floor is not None:
        rate = max(rate, floor)
    return rate


def interest_for(interval_hours: int, interest_8h: int = INTEREST_8H) -> int:
    """The interest component scaled to the funding interval (1 h, 4 h or 8 h symbols)."""
    return interest_8h * interval_hours // 8


def next_funding_time(now_ms: int, interval_hours: int = 8) -> int:
    """The next settlement: 00:00, 08:00, 16:00 UTC for 8 h symbols (epoch ms, strictly after now)."""
    step = interval_hours * 3600 * 1000
    return (now_ms // step + 1) * step


@dataclass(frozen=True, slots=True)
class FundingPayment:
    key: object  # whatever identifies the position (account, symbol, side)
    amount: int  # USDT units: > 0 received, < 0 paid


def exact_fee(amount: int, mark: int, rate: int) -> tuple[int, int]:
    """-positionAmt * mark * rate as (numerator, denominator) in USDT units: < 0 pays, > 0 receives."""
    return -amount * mark * rate, ONE * RATE_ONE


def allocate(positions: list[tuple[object, int]], mark: int, rate: int) -> list[FundingPayment]:
    """The payments of one funding event, summing to exactly zero; `positions` are (key, signed amount)."""
    if sum(amount for _, amount in positions) != 0:
        raise ValueError("funding needs balanced open interest: longs and shorts must net to zero")
    den = ONE * RATE_ONE
    exact = [-amount * mark * rate for _, amount in positions]  # over den
    paid = {i: -((-e + den - 1) // den) for i, e in enumerate(exact) if e < 0}  # payers: rounded up
    collected = -sum(paid.values())
    receivers = [i for i, e in enumerate(exact) if e > 0]
    total_owed = sum(exact[i] for i in receivers)
    shares: dict[int, int] = {}
    if receivers:
        remainders = []
        for i in receivers:
            share, rem = divmod(collected * exact[i], total_owed)
            shares[i] = share
            remainders.append((-rem, i))
        dust = collected - sum(shares.values())
        for _, i in sorted(remainders)[:dust]:
            shares[i] += 1
    elif collected:
        raise ValueError("payers without receivers")
    out = []
    for i, (key, _) in enumerate(positions):
        out.append(FundingPayment(key, paid.get(i, 0) or shares.get(i, 0)))
    return out
