"""Trading pairs and their filters, in Binance's exchangeInfo shape.

Prices and quantities arrive as integer units (8 decimals, Binance's
precision). A `Symbol` checks them against its filters (each failure is
Binance's `-1013 Filter failure: <NAME>`) and converts them to the engine's
integer ticks and lots. The symbol guarantees `tickSize * stepSize` is a whole
number of quote units, so every trade's notional is exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from castle import errors
from castle.money import BINANCE_DECIMALS, Asset, format_units, parse_units
from castle.orders import OrderType, StpMode

SCALE = BINANCE_DECIMALS
ONE = 10**SCALE


def units(text: str) -> int:
    """Parse a config literal like "0.01" into units (8 decimals)."""
    return parse_units(text, SCALE)


@dataclass(frozen=True, slots=True)
class PriceFilter:
    min_price: int
    max_price: int
    tick_size: int

    def check(self, price: int) -> None:
        if (
            (self.min_price and price < self.min_price)
            or (self.max_price and price > self.max_price)
            or (self.tick_size and (price - self.min_price) % self.tick_size)
        ):
            raise errors.filter_failure("PRICE_FILTER")

    def to_dict(self) -> dict:
        return {
            "filterType": "PRICE_FILTER",
            "minPrice": format_units(self.min_price, SCALE),
            "maxPrice": format_units(self.max_price, SCALE),
            "tickSize": format_units(self.tick_size, SCALE),
        }


@dataclass(frozen=True, slots=True)
class LotSize:
    min_qty: int
    max_qty: int
    step_size: int
    name: str = "LOT_SIZE"

    def check(self, qty: int) -> None:
        if (
            qty < self.min_qty
            or (self.max_qty and qty > self.max_qty)
            or (self.step_size and (qty - self.min_qty) % self.step_size)
        ):
            raise errors.filter_failure(self.name)

    def to_dict(self) -> dict:
        return {
            "filterType": self.name,
            "minQty": format_units(self.min_qty, SCALE),
            "maxQty": format_units(self.max_qty, SCALE),
            "stepSize": format_units(self.step_size, SCALE),
        }


@dataclass(frozen=True, slots=True)
class Notional:
    """NOTIONAL: price*qty within [min, max]; MARKET orders use the average price."""

    min_notional: int
    max_notional: int
    apply_min_to_market: bool = True
    apply_max_to_market: bool = False
    avg_price_mins: int = 5

    def check(self, notional: int, market: bool = False) -> None:
        if (not market or self.apply_min_to_market) and notional < self.min_notional:
            raise errors.filter_failure("NOTIONAL")
        if self.max_notional and (not market or self.apply_max_to_market) and notional > self.max_notional:
            raise errors.filter_failure("NOTIONAL")

    def to_dict(self) -> dict:
        return {
            "filterType": "NOTIONAL",
            "minNotional": format_units(self.min_notional, SCALE),
            "applyMinToMarket": self.apply_min_to_market,
            "maxNotional": format_units(self.max_notional, SCALE),
            "applyMaxToMarket": self.apply_max_to_market,
            "avgPriceMins": self.avg_price_mins,
        }


@dataclass(frozen=True, slots=True)
class PercentPriceBySide:
    """Price within multipliers of the average price; multipliers in units (8 decimals)."""

    bid_up: int
    bid_down: int
    ask_up: int
    ask_down: int
    avg_price_mins: int = 5

    def check(self, is_buy: bool, price: int, avg_num: int, avg_den: int) -> None:
        """`avg_num/avg_den` is the average price, in the same unit as `price`."""
        up, down = (self.bid_up, self.bid_down) if is_buy else (self.ask_up, self.ask_down)
        scaled = price * avg_den * ONE
        if scaled > avg_num * up or scaled < avg_num * down:
            raise errors.filter_failure("PERCENT_PRICE_BY_SIDE")

    def to_dict(self) -> dict:
        return {
            "filterType": "PERCENT_PRICE_BY_SIDE",
            "bidMultiplierUp": format_units(self.bid_up, SCALE, 2).rstrip("0").rstrip(".") or "0",
            "bidMultiplierDown": format_units(self.bid_down, SCALE, 2).rstrip("0").rstrip(".") or "0",
            "askMultiplierUp": format_units(self.ask_up, SCALE, 2).rstrip("0").rstrip(".") or "0",
            "askMultiplierDown": format_units(self.ask_down, SCALE, 2).rstrip("0").rstrip(".") or "0",
            "avgPriceMins": self.avg_price_mins,
        }


ALL_ORDER_TYPES = tuple(OrderType)
ALL_STP_MODES = (StpMode.EXPIRE_TAKER, StpMode.EXPIRE_MAKER, StpMode.EXPIRE_BOTH)


@dataclass(frozen=True, slots=True)
class Symbol:
    name: str
    base: Asset
    quote: Asset
    price_filter: PriceFilter
    lot_size: LotSize
    market_lot_size: LotSize
    notional: Notional
    percent_price: PercentPriceBySide | None = None
    max_num_orders: int = 200
    max_num_algo_orders: int = 5
    iceberg_parts: int = 10
    order_types: tuple[OrderType, ...] = ALL_ORDER_TYPES
    status: str = "TRADING"
    default_stp: StpMode = StpMode.EXPIRE_MAKER
    allowed_stp: tuple[StpMode, ...] = ALL_STP_MODES
    # Engine units: a tick is the smallest price step, a lot the smallest quantity step.
    tick: int = field(init=False)
    lot: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tick", self.price_filter.tick_size or 1)
        object.__setattr__(self, "lot", self.lot_size.step_size or 1)
        if (self.tick * self.lot) % 10**self.base.scale:
            raise ValueError(f"{self.name}: tickSize*stepSize must be a whole number of quote units")

    # Conversions between units (8 decimals) and engine ticks/lots.
    def to_ticks(self, price_units: int) -> int:
        return price_units // self.tick

    def to_lots(self, qty_units: int) -> int:
        return qty_units // self.lot

    def price_units(self, ticks: int) -> int:
        return ticks * self.tick

    def qty_units(self, lots: int) -> int:
        return lots * self.lot

    def quote_units(self, ticks_times_lots: int) -> int:
        """Exact notional in quote units of a tick*lot amount."""
        return ticks_times_lots * self.tick * self.lot // 10**self.base.scale

    def quote_to_engine(self, quote_units: int) -> int:
        """A quote budget in tick*lot units, rounded down (one cannot spend a fraction)."""
        return quote_units * 10**self.base.scale // (self.tick * self.lot)

    def format_price(self, ticks: int) -> str:
        return format_units(ticks * self.tick, SCALE)

    def format_qty(self, lots: int) -> str:
        return format_units(lots * self.lot, SCALE)

    def format_quote(self, ticks_times_lots: int) -> str:
        return format_units(self.quote_units(ticks_times_lots), SCALE)

    def notional_of(self, price_units: int, qty_units: int) -> int:
        return price_units * qty_units // ONE

    def filters(self) -> list[dict]:
        out = [
            self.price_filter.to_dict(),
            self.lot_size.to_dict(),
            {"filterType": "ICEBERG_PARTS", "limit": self.iceberg_parts},
            self.market_lot_size.to_dict(),
            {"filterType": "TRAILING_DELTA", "minTrailingAboveDelta": 10, "maxTrailingAboveDelta": 2000,
             "minTrailingBelowDelta": 10, "maxTrailingBelowDelta": 2000},
        ]
        if self.percent_price is not None:
            out.append(self.percent_price.to_dict())
        out += [
            self.notional.to_dict(),
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": self.max_num_orders},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": self.max_num_algo_orders},
        ]
        return out

    def to_exchange_info(self) -> dict:
        return {
            "symbol": self.name,
            "status": self.status,
            "baseAsset": self.base.name,
            "baseAssetPrecision": self.base.scale,
            "quoteAsset": self.quote.name,
            "quotePrecision": self.quote.scale,
            "quoteAssetPrecision": self.quote.scale,
            "baseCommissionPrecision": self.base.scale,
            "quoteCommissionPrecision": self.quote.scale,
            "orderTypes": [str(t) for t in self.order_types],
            "icebergAllowed": True,
            "ocoAllowed": False,
            "otoAllowed": False,
            "quoteOrderQtyMarketAllowed": True,
            "allowTrailingStop": False,
            "cancelReplaceAllowed": True,
            "amendAllowed": True,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": self.filters(),
            "permissions": [],
            "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": str(self.default_stp),
            "allowedSelfTradePreventionModes": [str(m) for m in self.allowed_stp],
        }


def spot_symbol(
    base: str,
    quote: str,
    tick: str,
    step: str,
    min_notional: str,
    min_price: str | None = None,
    max_price: str = "1000000.00000000",
    min_qty: str | None = None,
    max_qty: str = "9000.00000000",
) -> Symbol:
    """A symbol with Binance's usual filter set, from its decimal literals."""
    return Symbol(
        name=base + quote,
        base=Asset(base),
        quote=Asset(quote),
        price_filter=PriceFilter(units(min_price or tick), units(max_price), units(tick)),
        lot_size=LotSize(units(min_qty or step), units(max_qty), units(step)),
        market_lot_size=LotSize(0, units(max_qty), 0, name="MARKET_LOT_SIZE"),
        notional=Notional(units(min_notional), units("9000000.00000000")),
        percent_price=PercentPriceBySide(units("5"), units("0.2"), units("5"), units("0.2")),
    )


def default_symbols() -> dict[str, Symbol]:
    """The pairs a fresh Castle lists (the demo market and the tests use these)."""
    symbols = [
        spot_symbol("BTC", "USDT", tick="0.01", step="0.00001", min_notional="5"),
        spot_symbol("ETH", "USDT", tick="0.01", step="0.0001", min_notional="5"),
        spot_symbol("ETH", "BTC", tick="0.00001", step="0.001", min_notional="0.0001", max_price="922327"),
        spot_symbol("BNB", "USDT", tick="0.01", step="0.001", min_notional="5"),
    ]
    return {s.name: s for s in symbols}


RATE_LIMITS = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
    {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
]


def exchange_info(symbols: dict[str, Symbol], server_time_ms: int, only: list[str] | None = None) -> dict:
    if only is not None:
        missing = [s for s in only if s not in symbols]
        if missing:
            raise errors.invalid_symbol()
        chosen = [symbols[s] for s in only]
    else:
        chosen = list(symbols.values())
    return {
        "timezone": "UTC",
        "serverTime": server_time_ms,
        "rateLimits": RATE_LIMITS,
        "exchangeFilters": [],
        "symbols": [s.to_exchange_info() for s in chosen],
    }


def lookup(symbols: dict[str, Symbol], name: str | None) -> Symbol:
    if not name:
        raise errors.mandatory_param("symbol")
    symbol = symbols.get(name)
    if symbol is None:
        raise errors.invalid_symbol()
    return symbol
