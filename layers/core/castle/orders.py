"""Orders and the commands that reach the matching engine.

Inside the engine prices are integer *ticks* and quantities integer *lots*
(`Symbol` converts at the edge), so matching never touches `Decimal`.
Commands are imperative (`PlaceOrder`); what the engine did is reported as
past-tense events (`castle.events`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(StrEnum):
    LIMIT = "LIMIT"
    MARKET = "MARKET"
    LIMIT_MAKER = "LIMIT_MAKER"
    STOP_LOSS = "STOP_LOSS"
    STOP_LOSS_LIMIT = "STOP_LOSS_LIMIT"
    TAKE_PROFIT = "TAKE_PROFIT"
    TAKE_PROFIT_LIMIT = "TAKE_PROFIT_LIMIT"

    @property
    def is_stop(self) -> bool:
        return self in STOP_TYPES

    @property
    def has_price(self) -> bool:
        return self in PRICED_TYPES


STOP_TYPES = frozenset(
    {OrderType.STOP_LOSS, OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT, OrderType.TAKE_PROFIT_LIMIT}
)
PRICED_TYPES = frozenset(
    {OrderType.LIMIT, OrderType.LIMIT_MAKER, OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT_LIMIT}
)
# What a stop order becomes when it triggers.
TRIGGERED_TYPE = {
    OrderType.STOP_LOSS: OrderType.MARKET,
    OrderType.TAKE_PROFIT: OrderType.MARKET,
    OrderType.STOP_LOSS_LIMIT: OrderType.LIMIT,
    OrderType.TAKE_PROFIT_LIMIT: OrderType.LIMIT,
}


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"


class StpMode(StrEnum):
    NONE = "NONE"
    EXPIRE_TAKER = "EXPIRE_TAKER"
    EXPIRE_MAKER = "EXPIRE_MAKER"
    EXPIRE_BOTH = "EXPIRE_BOTH"


class OrderStatus(StrEnum):
    PENDING_NEW = "PENDING_NEW"
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"
    EXPIRED_IN_MATCH = "EXPIRED_IN_MATCH"
    REJECTED = "REJECTED"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.EXPIRED_IN_MATCH, OrderStatus.REJECTED}
)

# Binance's transitions: every final status is terminal.
TRANSITIONS = {
    OrderStatus.PENDING_NEW: {OrderStatus.NEW, OrderStatus.REJECTED},
    OrderStatus.NEW: {
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.FILLED,
        OrderStatus.CANCELED,
        OrderStatus.EXPIRED,
        OrderStatus.EXPIRED_IN_MATCH,
    },
    OrderStatus.PARTIALLY_FILLED: {
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.FILLED,
        OrderStatus.CANCELED,
        OrderStatus.EXPIRED,
        OrderStatus.EXPIRED_IN_MATCH,
    },
}


def can_transition(old: OrderStatus, new: OrderStatus) -> bool:
    return new in TRANSITIONS.get(old, ())


class CancelReplaceMode(StrEnum):
    STOP_ON_FAILURE = "STOP_ON_FAILURE"
    ALLOW_FAILURE = "ALLOW_FAILURE"


@dataclass(slots=True)
class PlaceOrder:
    """Place a new order. `price`/`stop_price` in ticks, `qty`/`iceberg_qty` in lots.

    `quote_qty` (MARKET by `quoteOrderQty`) is in tick*lot units: the engine
    spends at most that much notional. `ts` is the gateway's clock in ms, so
    that replaying the journal gives the same events.
    """

    order_id: int
    account: int
    side: Side
    type: OrderType = OrderType.LIMIT
    price: int | None = None
    qty: int | None = None
    tif: TimeInForce = TimeInForce.GTC
    quote_qty: int | None = None
    stop_price: int | None = None
    iceberg_qty: int | None = None
    stp: StpMode = StpMode.EXPIRE_MAKER
    client_order_id: str | None = None
    ts: int = 0


@dataclass(slots=True)
class CancelOrder:
    order_id: int
    account: int
    ts: int = 0


@dataclass(slots=True)
class CancelAllOrders:
    account: int
    ts: int = 0


@dataclass(slots=True)
class AmendOrder:
    """Reduce an order's quantity in place; it keeps its queue priority."""

    order_id: int
    account: int
    new_qty: int
    ts: int = 0


@dataclass(slots=True)
class CancelReplace:
    cancel: CancelOrder
    place: PlaceOrder
    mode: CancelReplaceMode = CancelReplaceMode.STOP_ON_FAILURE


Command = PlaceOrder | CancelOrder | CancelAllOrders | AmendOrder | CancelReplace


class Order:
    """An order resting in the book.

    Kept deliberately small (ten slots) because a deep book holds millions.
    `visible` is what the book shows: all of `remaining`, or the current
    iceberg slice. `remaining == 0` marks an order that was removed while it
    still sat in its level's queue (lazy cancel). Made by `resting_order`.
    """

    __slots__ = ("id", "account", "side", "price", "qty", "remaining", "visible", "iceberg", "time", "client_id")

    @property
    def filled(self) -> int:
        return self.qty - self.remaining

    @property
    def status(self) -> OrderStatus:
        return OrderStatus.NEW if self.remaining == self.qty else OrderStatus.PARTIALLY_FILLED

    def __repr__(self) -> str:
        return f"Order(id={self.id}, {self.side} {self.remaining}/{self.qty} @ {self.price}, acct={self.account})"


def resting_order(
    id: int, account: int, side: Side, price: int, qty: int, remaining: int, iceberg: int, time: int,
    client_id: str | None,
) -> Order:
    """A new resting order: the one way to make an `Order`.

    A function rather than `__init__`: compiled, it is a C call that fills the struct directly,
    where calling the class would parse its arguments first, which cost about as much as the rest
    of resting an order.
    """
    order = Order.__new__(Order)
    order.id = id
    order.account = account
    order.side = side
    order.price = price
    order.qty = qty
    order.remaining = remaining
    order.iceberg = iceberg
    order.visible = remaining if not iceberg or iceberg >= remaining else iceberg
    order.time = time
    order.client_id = client_id
    return order
