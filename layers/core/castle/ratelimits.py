"""Binance's rate limits, as policy: weights, windows, and what an excess means.

- REQUEST_WEIGHT: 6000 per IP per minute (fixed windows, as Binance's
  X-MBX-USED-WEIGHT-1M resets on the minute). Each route has a weight from
  Binance's docs (`request_weight`).
- ORDERS: 100 per account per 10 seconds and 200,000 per day.
- Past a limit: HTTP 429 with Retry-After (-1003 for weight, -1015 for orders).
  An IP that keeps sending after its 429s (`BAN_AFTER_STRIKES` of them within
  the ban memory) is banned: HTTP 418, and each ban doubles from 2 minutes up
  to 3 days, as Binance scales them for repeat offenders.

The counting itself is atomic in Redis (castle.adapters.redis_ratelimit);
this module only says what to count and what the result means.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum

from castle import errors
from castle.errors import CastleError

WEIGHT_LIMIT = 6000
WEIGHT_WINDOW_MS = 60_000
ORDERS_10S_LIMIT = 100
ORDERS_10S_WINDOW_MS = 10_000
ORDERS_1D_LIMIT = 200_000
ORDERS_1D_WINDOW_MS = 86_400_000
BAN_AFTER_STRIKES = 10  # 429s within STRIKE_MEMORY_MS before the 418
STRIKE_MEMORY_MS = 300_000
BAN_BASE_MS = 120_000  # 2 minutes
BAN_MAX_MS = 3 * 86_400_000  # 3 days

# Binance's weights (spot REST docs). Routes whose weight depends on their
# parameters are in `request_weight`; anything else weighs 1.
WEIGHTS: dict[tuple[str, str], int] = {
    ("GET", "/api/v3/ping"): 1,
    ("GET", "/api/v3/time"): 1,
    ("GET", "/api/v3/exchangeInfo"): 20,
    ("GET", "/api/v3/trades"): 25,
    ("GET", "/api/v3/historicalTrades"): 25,
    ("GET", "/api/v3/aggTrades"): 4,
    ("GET", "/api/v3/klines"): 2,
    ("GET", "/api/v3/uiKlines"): 2,
    ("GET", "/api/v3/avgPrice"): 2,
    ("POST", "/api/v3/order"): 1,
    ("POST", "/api/v3/order/test"): 1,
    ("GET", "/api/v3/order"): 4,
    ("DELETE", "/api/v3/order"): 1,
    ("POST", "/api/v3/order/cancelReplace"): 1,
    ("DELETE", "/api/v3/openOrders"): 1,
    ("GET", "/api/v3/allOrders"): 20,
    ("GET", "/api/v3/myTrades"): 20,
    ("GET", "/api/v3/account"): 20,
    ("GET", "/api/v3/account/commission"): 20,
    ("GET", "/api/v3/rateLimit/order"): 40,
    ("POST", "/api/v3/userDataStream"): 2,
    ("PUT", "/api/v3/userDataStream"): 2,
    ("DELETE", "/api/v3/userDataStream"): 2,
}

# Requests that place an order, and so count against ORDERS.
ORDER_ROUTES = frozenset({("POST", "/api/v3/order"), ("POST", "/api/v3/order/cancelReplace")})


def _symbol_count(params: Mapping[str, str]) -> int | None:
    """How many symbols a request names: None for all of them."""
    if params.get("symbol"):
        return 1
    raw = params.get("symbols")
    if raw:
        return max(1, raw.count(",") + 1)
    return None


def request_weight(method: str, path: str, params: Mapping[str, str]) -> int:
    route = (method.upper(), path.rstrip("/") or "/")
    if route == ("GET", "/api/v3/depth"):
        try:
            limit = int(params.get("limit", "100"))
        except ValueError:
            limit = 100
        return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250
    if route == ("GET", "/api/v3/openOrders"):
        return 6 if params.get("symbol") else 80
    if route == ("GET", "/api/v3/ticker/24hr"):
        n = _symbol_count(params)
        return 80 if n is None else 2 if n <= 20 else 40 if n <= 100 else 80
    if route in (("GET", "/api/v3/ticker/price"), ("GET", "/api/v3/ticker/bookTicker")):
        return 2 if _symbol_count(params) == 1 else 4
    if route in (("GET", "/api/v3/ticker"), ("GET", "/api/v3/ticker/tradingDay")):
        n = _symbol_count(params)
        return 4 * min(n or 100, 50) if n != 1 else 4
    if route == ("POST", "/api/v3/order/test") and params.get("computeCommissionRates") == "true":
        return 20
    return WEIGHTS.get(route, 1)


def is_order(method: str, path: str) -> bool:
    return (method.upper(), path.rstrip("/")) in ORDER_ROUTES


class Verdict(IntEnum):
    OK = 0
    WEIGHT_EXCEEDED = 1
    ORDERS_10S_EXCEEDED = 2
    ORDERS_1D_EXCEEDED = 3
    BANNED = 4


@dataclass(frozen=True, slots=True)
class Usage:
    """One request's result: counts after it, and (on a refusal) how long to wait."""

    verdict: Verdict
    weight_1m: int
    orders_10s: int | None = None  # None: the request placed no order
    orders_1d: int | None = None
    retry_after_ms: int = 0
    banned_until_ms: int = 0

    def headers(self) -> dict[str, str]:
        """Binance's usage headers (and Retry-After on a refusal)."""
        out = {"X-MBX-USED-WEIGHT-1M": str(self.weight_1m), "X-MBX-USED-WEIGHT": str(self.weight_1m)}
        if self.orders_10s is not None:
            out["X-MBX-ORDER-COUNT-10S"] = str(self.orders_10s)
        if self.orders_1d is not None:
            out["X-MBX-ORDER-COUNT-1D"] = str(self.orders_1d)
        if self.verdict is not Verdict.OK:
            out["Retry-After"] = str(max(1, -(-self.retry_after_ms // 1000)))
        return out

    def error(self) -> CastleError | None:
        match self.verdict:
            case Verdict.WEIGHT_EXCEEDED:
                return errors.too_much_weight(WEIGHT_LIMIT)
            case Verdict.BANNED:
                return errors.ip_banned(self.banned_until_ms)
            case Verdict.ORDERS_10S_EXCEEDED:
                return errors.too_many_orders(ORDERS_10S_LIMIT, "10 SECOND")
            case Verdict.ORDERS_1D_EXCEEDED:
                return errors.too_many_orders(ORDERS_1D_LIMIT, "1 DAY")
        return None


def rate_limits_info() -> list[dict]:
    """exchangeInfo's `rateLimits`, matching what is enforced."""
    return [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": WEIGHT_LIMIT},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": ORDERS_10S_LIMIT},
        {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": ORDERS_1D_LIMIT},
    ]


def ban_duration_ms(previous_bans: int) -> int:
    return min(BAN_BASE_MS * 2 ** max(previous_bans, 0), BAN_MAX_MS)
