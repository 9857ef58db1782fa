"""What the futures engine is asked to do, in the imperative (journal entries of the futures shard).

One journal for the whole USD-M market (every contract and every account):
cross margin makes an account's available balance depend on all its
positions, so admission on BTCUSDT and on ETHUSDT must see one order of
events, and a replay must see the same one. Marks and funding come in through
the journal too, so a replay re-prices exactly as the first run did.

Amounts are ints of 1e-8 (prices, quantities, USDT); rates too.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from castle.futures.margin import MarginType
from castle.futures.positions import PositionSide
from castle.orders import Side, StpMode


class FuturesOrderType(StrEnum):
    LIMIT = "LIMIT"
    MARKET = "MARKET"
    STOP = "STOP"
    STOP_MARKET = "STOP_MARKET"
    TAKE_PROFIT = "TAKE_PROFIT"
    TAKE_PROFIT_MARKET = "TAKE_PROFIT_MARKET"
    TRAILING_STOP_MARKET = "TRAILING_STOP_MARKET"

    @property
    def is_conditional(self) -> bool:
        return self not in (FuturesOrderType.LIMIT, FuturesOrderType.MARKET)

    @property
    def is_stop(self) -> bool:
        """STOP*: a buy triggers when the price rises to the stop, a sell when it falls to it."""
        return self in (FuturesOrderType.STOP, FuturesOrderType.STOP_MARKET, FuturesOrderType.TRAILING_STOP_MARKET)

    @property
    def works_as_limit(self) -> bool:
        return self in (FuturesOrderType.LIMIT, FuturesOrderType.STOP, FuturesOrderType.TAKE_PROFIT)


class FuturesTimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    GTX = "GTX"  # post only: rejected (-5022) rather than take


class WorkingType(StrEnum):
    CONTRACT_PRICE = "CONTRACT_PRICE"  # the last trade price
    MARK_PRICE = "MARK_PRICE"


@dataclass(slots=True)
class FuturesOrder:
    symbol: str
    order_id: int
    account: int
    side: Side
    type: FuturesOrderType = FuturesOrderType.LIMIT
    qty: int | None = None  # None only with close_position
    price: int | None = None
    tif: FuturesTimeInForce = FuturesTimeInForce.GTC
    position_side: PositionSide = PositionSide.BOTH
    reduce_only: bool = False
    close_position: bool = False
    stop_price: int | None = None  # the trigger price of a conditional order
    working_type: WorkingType = WorkingType.CONTRACT_PRICE
    activation_price: int | None = None  # TRAILING_STOP_MARKET
    callback_rate: int | None = None  # TRAILING_STOP_MARKET, rate units: 1% -> 1_000_000
    price_protect: bool = False
    stp: StpMode = StpMode.NONE
    client_order_id: str | None = None
    ts: int = 0


@dataclass(slots=True)
class FuturesCancel:
    symbol: str
    order_id: int
    account: int
    ts: int = 0


@dataclass(slots=True)
class FuturesCancelAll:
    symbol: str
    account: int
    ts: int = 0


@dataclass(slots=True)
class SetLeverage:
    account: int
    symbol: str
    leverage: int
    ts: int = 0


@dataclass(slots=True)
class SetMarginType:
    account: int
    symbol: str
    margin_type: MarginType
    ts: int = 0


@dataclass(slots=True)
class SetPositionMode:
    account: int
    dual: bool  # hedge mode: LONG and SHORT legs
    ts: int = 0


@dataclass(slots=True)
class AdjustIsolatedMargin:
    account: int
    symbol: str
    position_side: PositionSide
    amount: int  # > 0
    add: bool  # POST /fapi/v1/positionMargin type 1 (add) or 2 (reduce)
    ts: int = 0


@dataclass(slots=True)
class TransferIn:
    """USDT into the futures wallet (MAIN_UMFUTURE): the spot side was debited first."""

    account: int
    tran_id: int
    amount: int
    ts: int = 0


@dataclass(slots=True)
class TransferOut:
    """USDT out of the futures wallet (UMFUTURE_MAIN): at most the available balance."""

    account: int
    tran_id: int
    amount: int
    ts: int = 0


@dataclass(slots=True)
class UpdateMarks:
    """The mark-price feed's tick: {symbol: (mark, index)}; triggers MARK_PRICE orders."""

    prices: dict[str, tuple[int, int]]
    ts: int = 0


@dataclass(slots=True)
class SettleFunding:
    """A funding event: every open position of the symbol pays or receives at the current mark."""

    symbol: str
    rate: int
    funding_time: int
    ts: int = 0


FuturesCommand = (
    FuturesOrder | FuturesCancel | FuturesCancelAll | SetLeverage | SetMarginType | SetPositionMode
    | AdjustIsolatedMargin | TransferIn | TransferOut | UpdateMarks | SettleFunding
)
