"""The perpetual contract and its filters, as `GET /fapi/v1/exchangeInfo` lists them.

Binance's futures filters fail with their own codes, not spot's `-1013 Filter
failure`: PRICE_FILTER gives -4013/-4002/-4014, LOT_SIZE and MARKET_LOT_SIZE
-4004/-4005/-4023, MIN_NOTIONAL (key `notional`) -4164 unless the order is
reduce-only, and PERCENT_PRICE is checked against the **mark** price
(-4016/-4024). Prices and quantities are 1e-8 units, as `castle.symbols`
keeps them, and the contract guarantees `tickSize * stepSize` is a whole number
of USDT units, so every fill's notional on the grid is exact.
"""

from __future__ import annotations

from dataclasses import dataclass

from castle import errors
from castle.symbols import ONE, units

RATE_ONE = 10**8  # rates are ints of 1e-8: 0.004 -> 400_000
PERPETUAL_DELIVERY_DATE = 4133404800000  # Binance's deliveryDate for every perpetual


def rate(text: str) -> int:
    """A rate literal ("0.0065") as an int of 1e-8; exact or -1111."""
    return units(text)


def fill_notional(price: int, qty: int) -> int:
    """price * qty in USDT units, rounded down; exact for any price and qty on a contract's grid.

    Both sides of a fill use this one number, so what the buyer pays the seller receives.
    """
    return price * qty // ONE


def decimal_text(value: int, places: int) -> str:
    """Units as Binance prints a filter value: `places` decimals ("0.10", "0.001", "4529764")."""
    step = 10 ** (8 - places)
    if value % step:
        raise ValueError(f"{value} has more than {places} decimals")
    whole, frac = divmod(value // step, 10**places)
    return f"{whole}.{frac:0{places}d}" if places else str(whole)


@dataclass(frozen=True, slots=True)
class PerpetualContract:
    symbol: str
    base: str
    min_price: int
    max_price: int
    tick_size: int
    min_qty: int
    max_qty: int
    step_size: int
    market_min_qty: int
    market_max_qty: int
    market_step_size: int
    min_notional: int
    multiplier_up: int  # PERCENT_PRICE, rate units: 1.05 -> 105_000_000
    multiplier_down: int
    price_precision: int
    quantity_precision: int
    multiplier_decimal: int = 4
    max_num_orders: int = 200
    quote: str = "USDT"
    margin_asset: str = "USDT"
    contract_type: str = "PERPETUAL"
    status: str = "TRADING"
    onboard_date: int = 1569398400000
    trigger_protect: int = 5_000_000  # 0.05
    liquidation_fee: int = 1_250_000  # 0.0125
    market_take_bound: int = 5_000_000  # 0.05

    def __post_init__(self) -> None:
        if (self.tick_size * self.step_size) % ONE:
            raise ValueError(f"{self.symbol}: tickSize*stepSize must be a whole number of USDT units")
        if not (0 < self.min_price <= self.max_price and 0 < self.min_qty <= self.max_qty):
            raise ValueError(f"{self.symbol}: filter bounds out of order")

    # The filters, in the order Binance applies them to a new order.
    def check_price(self, price: int) -> None:
        if price < self.min_price:
            raise errors.futures_price_less_than_min()
        if price > self.max_price:
            raise errors.futures_price_greater_than_max()
        if (price - self.min_price) % self.tick_size:
            raise errors.futures_price_not_on_tick()

    def check_qty(self, qty: int, market: bool = False) -> None:
        low, high, step = (
            (self.market_min_qty, self.market_max_qty, self.market_step_size)
            if market
            else (self.min_qty, self.max_qty, self.step_size)
        )
        if qty < low:
            raise errors.futures_qty_less_than_min()
        if qty > high:
            raise errors.futures_qty_greater_than_max()
        if (qty - low) % step:
            raise errors.futures_qty_not_on_step()

    def check_notional(self, price: int, qty: int, reduce_only: bool = False) -> None:
        """MIN_NOTIONAL: price * qty >= notional; Binance exempts reduce-only orders."""
        if not reduce_only and price * qty < self.min_notional * ONE:
            raise errors.futures_min_notional(_short_decimal(self.min_notional))

    def check_percent_price(self, price: int, mark: int) -> None:
        """PERCENT_PRICE against the mark price: mark * down <= price <= mark * up, exactly."""
        if price * RATE_ONE > mark * self.multiplier_up:
            raise errors.futures_price_above_multiplier_cap()
        if price * RATE_ONE < mark * self.multiplier_down:
            raise errors.futures_price_below_multiplier_floor()

    def check_limit_order(self, price: int, qty: int, mark: int, reduce_only: bool = False) -> None:
        self.check_price(price)
        self.check_qty(qty)
        self.check_notional(price, qty, reduce_only)
        self.check_percent_price(price, mark)

    def check_market_order(self, qty: int, mark: int, reduce_only: bool = False) -> None:
        """A MARKET order's notional is judged at the mark price (it has no price of its own)."""
        self.check_qty(qty, market=True)
        self.check_notional(mark, qty, reduce_only)

    def filters(self) -> list[dict]:
        p, q = self.price_precision, self.quantity_precision
        return [
            {"filterType": "PRICE_FILTER", "minPrice": decimal_text(self.min_price, p),
             "maxPrice": _short_decimal(self.max_price), "tickSize": decimal_text(self.tick_size, p)},
            {"filterType": "LOT_SIZE", "minQty": decimal_text(self.min_qty, q),
             "stepSize": decimal_text(self.step_size, q), "maxQty": _short_decimal(self.max_qty)},
            {"filterType": "MARKET_LOT_SIZE", "minQty": decimal_text(self.market_min_qty, q),
             "stepSize": decimal_text(self.market_step_size, q), "maxQty": _short_decimal(self.market_max_qty)},
            {"filterType": "MAX_NUM_ORDERS", "limit": self.max_num_orders},
            {"filterType": "MIN_NOTIONAL", "notional": _short_decimal(self.min_notional)},
            {"filterType": "PERCENT_PRICE", "multiplierUp": decimal_text(self.multiplier_up, 4),
             "multiplierDown": decimal_text(self.multiplier_down, 4),
             "multiplierDecimal": str(self.multiplier_decimal)},
            {"filterType": "POSITION_RISK_CONTROL", "positionControlSide": "NONE"},
        ]

    def to_exchange_info(self) -> dict:
        return {
            "symbol": self.symbol,
            "pair": self.symbol,
            "contractType": self.contract_type,
            "deliveryDate": PERPETUAL_DELIVERY_DATE,
            "onboardDate": self.onboard_date,
            "status": self.status,
            "maintMarginPercent": "2.5000",  # Binance: "ignore"; kept for shape
            "requiredMarginPercent": "5.0000",
            "baseAsset": self.base,
            "quoteAsset": self.quote,
            "marginAsset": self.margin_asset,
            "pricePrecision": self.price_precision,
            "quantityPrecision": self.quantity_precision,
            "baseAssetPrecision": 8,
            "quotePrecision": 8,
            "underlyingType": "COIN",
            "underlyingSubType": [],
            "triggerProtect": decimal_text(self.trigger_protect, 4),
            "liquidationFee": decimal_text(self.liquidation_fee, 6),
            "marketTakeBound": _short_decimal(self.market_take_bound),
            "maxMoveOrderLimit": 10000,
            "filters": self.filters(),
            "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET",
                           "TRAILING_STOP_MARKET"],
            "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
        }


def _short_decimal(value: int) -> str:
    """Units with trailing zeros dropped ("50", "0.05"), as Binance prints notional and maxPrice."""
    whole, frac = divmod(value, ONE)
    tail = f"{frac:08d}".rstrip("0")
    return f"{whole}.{tail}" if tail else str(whole)


def default_contracts() -> dict[str, PerpetualContract]:
    """BTCUSDT and ETHUSDT with Binance's filter values (see the report for which were verified)."""
    btc = PerpetualContract(
        symbol="BTCUSDT", base="BTC",
        min_price=units("556.80"), max_price=units("4529764"), tick_size=units("0.10"),
        min_qty=units("0.001"), max_qty=units("1000"), step_size=units("0.001"),
        market_min_qty=units("0.001"), market_max_qty=units("120"), market_step_size=units("0.001"),
        min_notional=units("100"), multiplier_up=rate("1.05"), multiplier_down=rate("0.95"),
        price_precision=2, quantity_precision=3, onboard_date=1569398400000,
    )
    eth = PerpetualContract(
        symbol="ETHUSDT", base="ETH",
        min_price=units("39.86"), max_price=units("306177"), tick_size=units("0.01"),
        min_qty=units("0.001"), max_qty=units("10000"), step_size=units("0.001"),
        market_min_qty=units("0.001"), market_max_qty=units("2000"), market_step_size=units("0.001"),
        min_notional=units("20"), multiplier_up=rate("1.05"), multiplier_down=rate("0.95"),
        price_precision=2, quantity_precision=3, onboard_date=1569398400000,
    )
    return {c.symbol: c for c in (btc, eth)}
