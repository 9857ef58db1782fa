"""What futures settlement keeps, and the /fapi reads are answered from.

Settlement writes each record from the engine's events (settle.py decides,
an adapter stores). A record that changes over time (an order, a position,
an account's settings) carries `version`, the (seq, index) of the event that
wrote it, packed into one int; a store keeps a write only when its version is
newer, so a redelivered or reordered event never winds a record back.

Ledger accounts: an account's futures wallet is `UM:<id>` (asset USDT),
apart from its spot balances; the market's system accounts are below.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from castle.futures.events import OrderView
from castle.ledger import UM_CLEARING as CLEARING  # realized PnL's counterparty: what open positions owe each other
from castle.ledger import UM_FUNDING as FUNDING  # funding's counterparty: nets to zero over each funding event
from castle.ledger import UM_TRANSIT as TRANSIT  # spot -> futures transfers, between the spot debit and the credit

WALLET_PREFIX = "UM:"
MARGIN_ASSET = "USDT"
__all__ = ["CLEARING", "FUNDING", "TRANSIT"]


def wallet_account(account: int) -> str:
    return f"{WALLET_PREFIX}{account}"


def version(seq: int, index: int) -> int:
    """The event's place in the engine's output: seq, then its index within the command."""
    return seq * 10_000 + index


@dataclass(frozen=True, slots=True)
class FuturesOrderRecord:
    order: OrderView
    version: int

    @property
    def is_open(self) -> bool:
        return self.order.status in ("NEW", "PARTIALLY_FILLED")


@dataclass(frozen=True, slots=True)
class PositionRecord:
    account: int
    symbol: str
    position_side: str
    amount: int
    cost: int
    realized: int
    break_even: int
    margin_type: str
    isolated_wallet: int
    update_time: int
    version: int


@dataclass(frozen=True, slots=True)
class SymbolConfigRecord:
    """An account's leverage and margin type on one symbol ("" symbol: the position mode)."""

    account: int
    symbol: str
    leverage: int
    margin_type: str
    dual: bool
    update_time: int
    version: int


@dataclass(frozen=True, slots=True)
class TradeRecord:
    """One side of a fill, as /fapi/v1/userTrades lists it."""

    account: int
    symbol: str
    trade_id: int
    order_id: int
    side: str
    position_side: str
    price: int
    qty: int
    quote: int
    realized_pnl: int
    commission: int
    maker: bool
    buyer: bool
    time: int


@dataclass(frozen=True, slots=True)
class IncomeRecord:
    """One change of a futures wallet, as /fapi/v1/income lists it (tranId is unique per record)."""

    account: int
    income_type: str  # TRANSFER, REALIZED_PNL, COMMISSION, FUNDING_FEE
    amount: int
    symbol: str
    info: str
    tran_id: int
    trade_id: str
    time: int


@dataclass(frozen=True, slots=True)
class FundingRecord:
    symbol: str
    funding_time: int
    rate: int
    mark: int


@dataclass(slots=True)
class AccountView:
    """Everything the account endpoints need about one account, read in one go."""

    wallet: int = 0
    dual: bool = False
    configs: dict[str, SymbolConfigRecord] = field(default_factory=dict)
    positions: list[PositionRecord] = field(default_factory=list)
    open_orders: list[FuturesOrderRecord] = field(default_factory=list)
