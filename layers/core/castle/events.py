"""What the matching engine did, in past tense.

Every event carries `seq`, the sequence number of the command that caused it,
so that downstream consumers (settlement, market data) can deduplicate after
a replay. Events are named tuples: the cheapest record CPython can build (the hot loop
builds the two most frequent ones with `tuple.__new__`, skipping the keyword
constructor), immutable, and `to_dict` gives the journal/wire form.
"""

from __future__ import annotations

from typing import NamedTuple

from castle.orders import OrderStatus, Side


class OrderAccepted(NamedTuple):
    """The order passed the engine's checks and is working (Binance: NEW)."""

    seq: int
    order_id: int
    account: int
    side: Side
    price: int | None
    qty: int | None
    ts: int


class OrderRejected(NamedTuple):
    seq: int
    order_id: int
    account: int
    code: int
    msg: str


class TradeExecuted(NamedTuple):
    """One fill between a resting maker and the taker. Remainders are after the fill."""

    seq: int
    trade_id: int
    price: int
    qty: int
    maker_order_id: int
    maker_account: int
    maker_remaining: int
    taker_order_id: int
    taker_account: int
    taker_remaining: int
    taker_side: Side
    ts: int

    @property
    def is_buyer_maker(self) -> bool:
        return self.taker_side is Side.SELL


class OrderExpired(NamedTuple):
    """Remaining quantity expired: IOC/FOK/MARKET leftovers (EXPIRED) or STP (EXPIRED_IN_MATCH)."""

    seq: int
    order_id: int
    account: int
    expired_qty: int
    status: OrderStatus
    prevented_qty: int = 0


class OrderCanceled(NamedTuple):
    seq: int
    order_id: int
    account: int
    canceled_qty: int
    ts: int


class OrderAmended(NamedTuple):
    seq: int
    order_id: int
    account: int
    old_qty: int
    new_qty: int
    remaining: int
    ts: int


class PreventedMatch(NamedTuple):
    """Binance's prevented match record: a self-trade that STP stopped."""

    seq: int
    prevented_match_id: int
    taker_order_id: int
    maker_order_id: int
    price: int
    mode: str
    taker_prevented_qty: int
    maker_prevented_qty: int


class QuoteOrderFilled(NamedTuple):
    """An order by quote amount (quoteOrderQty) spent all it could: it is FILLED.

    Its fills report no remaining quantity (it has none), so this marks the end.
    When the book ran dry first, or nothing filled, it gets `OrderExpired` instead.
    """

    seq: int
    order_id: int
    account: int


class StopTriggered(NamedTuple):
    """A stop order's condition was met by the last trade price; it now works as MARKET/LIMIT."""

    seq: int
    order_id: int
    account: int
    last_price: int
    ts: int


Event = (
    OrderAccepted
    | OrderRejected
    | TradeExecuted
    | OrderExpired
    | OrderCanceled
    | OrderAmended
    | PreventedMatch
    | QuoteOrderFilled
    | StopTriggered
)

EVENT_TYPES = {
    cls.__name__: cls
    for cls in (
        OrderAccepted,
        OrderRejected,
        TradeExecuted,
        OrderExpired,
        OrderCanceled,
        OrderAmended,
        PreventedMatch,
        QuoteOrderFilled,
        StopTriggered,
    )
}


def to_dict(event: Event) -> dict:
    data = event._asdict()
    data["type"] = type(event).__name__
    return {k: (str(v) if isinstance(v, (Side, OrderStatus)) else v) for k, v in data.items()}


def from_dict(data: dict) -> Event:
    data = dict(data)
    cls = EVENT_TYPES[data.pop("type")]
    if "side" in data and data["side"] is not None:
        data["side"] = Side(data["side"])
    if "taker_side" in data:
        data["taker_side"] = Side(data["taker_side"])
    if "status" in data:
        data["status"] = OrderStatus(data["status"])
    return cls(**data)
