"""What the futures engine did, in past tense: what settlement, the streams and the API read.

Every event carries the `seq` of the command that caused it. Amounts are ints
of 1e-8 (prices, quantities, USDT). An order's events carry the order's whole
state after the change (`OrderView`), as Binance's ORDER_TRADE_UPDATE does,
so a consumer needs no earlier event to know where an order stands.
"""

from __future__ import annotations

from typing import NamedTuple


class OrderView(NamedTuple):
    symbol: str
    order_id: int
    account: int
    client_order_id: str | None
    side: str
    position_side: str
    type: str  # what it works as now (a triggered STOP_MARKET works as MARKET)
    orig_type: str
    tif: str
    qty: int  # 0 for an untriggered closePosition order
    price: int
    stop_price: int
    reduce_only: bool
    close_position: bool
    working_type: str
    activation_price: int
    callback_rate: int
    price_protect: bool
    status: str
    executed: int
    cum_quote: int  # USDT units
    realized_pnl: int  # over the order's fills, pre-fee
    time: int
    update_time: int


class OrderUpdated(NamedTuple):
    """One change of an order (Binance's execution types: NEW, TRADE, CANCELED, EXPIRED, AMENDMENT)."""

    seq: int
    execution: str
    order: OrderView
    last_qty: int = 0
    last_price: int = 0
    trade_id: int = 0
    commission: int = 0
    realized_pnl: int = 0  # this fill's, pre-fee
    is_maker: bool = False


class OrderRejected(NamedTuple):
    seq: int
    symbol: str
    order_id: int
    account: int
    code: int
    msg: str


class FuturesTrade(NamedTuple):
    """One fill of a contract; `quote` is its notional in USDT units (both sides use this one figure)."""

    seq: int
    symbol: str
    trade_id: int
    price: int
    qty: int
    quote: int
    buyer_order_id: int
    seller_order_id: int
    buyer_account: int
    seller_account: int
    buyer_is_maker: bool
    ts: int


class WalletPosting(NamedTuple):
    """A change of an account's futures wallet (Binance's income types), with its counterparty's side.

    kinds: TRANSFER (the spot wallet), REALIZED_PNL (the market's clearing
    account: it holds what open positions owe each other), COMMISSION (fees),
    FUNDING_FEE (the other positions of the same funding event: they sum to 0).
    """

    seq: int
    account: int
    kind: str
    amount: int  # signed: > 0 into the wallet
    symbol: str
    ref: str  # trade id, tran id or funding time: what makes the posting unique
    ts: int


class PositionChanged(NamedTuple):
    seq: int
    symbol: str
    account: int
    position_side: str
    amount: int  # signed positionAmt
    cost: int  # |amount| * entry price, USDT units
    realized: int  # accumulated pre-fee realized PnL
    break_even: int
    margin_type: str
    isolated_wallet: int
    reason: str  # ACCOUNT_UPDATE's m: ORDER, FUNDING_FEE, MARGIN_TRANSFER, ...
    ts: int


class IsolatedMarginMoved(NamedTuple):
    """Margin between the cross wallet and an isolated position (no change of the wallet balance)."""

    seq: int
    symbol: str
    account: int
    position_side: str
    amount: int  # > 0 into the isolated wallet
    isolated_wallet: int
    reason: str  # ORDER (a fill opened or closed) or MARGIN_TRANSFER (positionMargin)
    ts: int


class AccountConfigChanged(NamedTuple):
    """ACCOUNT_CONFIG_UPDATE: leverage or margin type of a symbol, or the position mode ("" symbol)."""

    seq: int
    account: int
    symbol: str
    leverage: int
    margin_type: str
    dual: bool
    ts: int


class FundingSettled(NamedTuple):
    seq: int
    symbol: str
    rate: int
    mark: int
    funding_time: int


class CommandRejected(NamedTuple):
    """A non-order command refused with Binance's error (leverage, margin type, transfer, ...)."""

    seq: int
    account: int
    code: int
    msg: str


FuturesEvent = (
    OrderUpdated | OrderRejected | FuturesTrade | WalletPosting | PositionChanged | IsolatedMarginMoved
    | AccountConfigChanged | FundingSettled | CommandRejected
)
EVENT_TYPES = {cls.__name__: cls for cls in (
    OrderUpdated, OrderRejected, FuturesTrade, WalletPosting, PositionChanged, IsolatedMarginMoved,
    AccountConfigChanged, FundingSettled, CommandRejected)}


def to_dict(event) -> dict:
    data = event._asdict()
    if isinstance(event, OrderUpdated):
        data["order"] = event.order._asdict()
    data["type"] = type(event).__name__
    return data


def from_dict(data: dict):
    data = dict(data)
    cls = EVENT_TYPES[data.pop("type")]
    if cls is OrderUpdated:
        data["order"] = OrderView(**data["order"])
    return cls(**data)
