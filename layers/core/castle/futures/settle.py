"""Futures settlement's decisions: each engine event as the records and the balanced ledger entry it makes.

Pure: the writer (matching_container/futures_settlement.py) hands in events
and stores what comes out. Every record is keyed so that writing it twice
changes nothing: versioned records keep the newest, trades and income rows
are keyed by their trade or event, ledger entries by an id built from the
event's own reference.

Money, per WalletPosting (the engine already moved the wallet; the ledger follows):
- REALIZED_PNL: the wallet <-> UM_CLEARING (the clearing account holds minus
  the PnL realized so far, which equals what open positions carry at cost);
- COMMISSION: the wallet -> FEES;
- FUNDING_FEE: the wallet <-> UM_FUNDING (each funding event nets to zero there);
- TRANSFER in: UM_TRANSIT -> the wallet (the API moved the spot USDT to
  UM_TRANSIT when it sent the command); TRANSFER out: the wallet -> the
  account's spot USDT.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from castle.futures.contracts import fill_notional
from castle.futures.events import (
    AccountConfigChanged,
    FundingSettled,
    OrderUpdated,
    PositionChanged,
    WalletPosting,
)
from castle.futures.records import (
    CLEARING,
    FUNDING,
    MARGIN_ASSET,
    TRANSIT,
    FundingRecord,
    FuturesOrderRecord,
    IncomeRecord,
    PositionRecord,
    SymbolConfigRecord,
    TradeRecord,
    version,
    wallet_account,
)
from castle.ledger import FEES, Bucket, EntryKind, LedgerEntry, Posting


@dataclass(slots=True)
class FuturesSettlement:
    """What one engine command's events ask of the store."""

    orders: list[FuturesOrderRecord] = field(default_factory=list)
    positions: list[PositionRecord] = field(default_factory=list)
    configs: list[SymbolConfigRecord] = field(default_factory=list)
    trades: list[TradeRecord] = field(default_factory=list)
    income: list[IncomeRecord] = field(default_factory=list)
    funding: list[FundingRecord] = field(default_factory=list)
    entries: list[LedgerEntry] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any((self.orders, self.positions, self.configs, self.trades, self.income, self.funding,
                    self.entries))


def settle_command(seq: int, events: list) -> FuturesSettlement:
    """One command's events, versioned by the command's seq and their place in it."""
    return settle([(version(seq, index), e) for index, e in enumerate(events)])


def entry_version(entry_id: str) -> int:
    """An events-stream entry's place in the stream, as one increasing int (its `<ms>-<n>` id)."""
    ms, _, n = entry_id.partition("-")
    return int(ms) * 1_000_000 + int(n)


def settle(events: list[tuple[int, object]]) -> FuturesSettlement:
    """The records and entries of (version, event) pairs; a later version wins over an earlier one."""
    out = FuturesSettlement()
    for v, e in events:
        kind = type(e)
        if kind is OrderUpdated:
            out.orders.append(FuturesOrderRecord(e.order, v))
            if e.execution == "TRADE":
                out.trades.append(_trade(e))
        elif kind is PositionChanged:
            out.positions.append(PositionRecord(e.account, e.symbol, e.position_side, e.amount, e.cost, e.realized,
                                                e.break_even, e.margin_type, e.isolated_wallet, e.ts, v))
        elif kind is AccountConfigChanged:
            out.configs.append(SymbolConfigRecord(e.account, e.symbol, e.leverage, e.margin_type, e.dual, e.ts, v))
        elif kind is WalletPosting:
            out.entries.append(ledger_entry(e))
            out.income.append(IncomeRecord(e.account, e.kind, e.amount, e.symbol, _info(e), v, _trade_ref(e),
                                           e.ts))
        elif kind is FundingSettled:
            out.funding.append(FundingRecord(e.symbol, e.funding_time, e.rate, e.mark))
    return out


def _trade(e: OrderUpdated) -> TradeRecord:
    o = e.order
    return TradeRecord(o.account, o.symbol, e.trade_id, o.order_id, str(o.side), str(o.position_side), e.last_price,
                       e.last_qty, fill_notional(e.last_price, e.last_qty), e.realized_pnl, e.commission, e.is_maker,
                       o.side == "BUY", o.update_time)


def _trade_ref(e: WalletPosting) -> str:
    """The trade id of a fill's posting (its ref is `<symbol>:<tradeId>:<m|t>`), else ""."""
    return e.ref.split(":")[1] if e.kind in ("REALIZED_PNL", "COMMISSION") else ""


def _info(e: WalletPosting) -> str:
    if e.kind == "TRANSFER":
        return "MAIN_UMFUTURE" if e.amount > 0 else "UMFUTURE_MAIN"
    return e.ref


def ledger_entry(e: WalletPosting) -> LedgerEntry:
    wallet = wallet_account(e.account)
    amount = e.amount
    if e.kind == "TRANSFER":
        other = TRANSIT if amount > 0 else str(e.account)  # in: from transit; out: to the spot balance
        kind, entry_id = EntryKind.TRANSFER, f"um:transfer:{e.ref}"
    elif e.kind == "REALIZED_PNL":
        other, kind, entry_id = CLEARING, EntryKind.REALIZED_PNL, f"um:pnl:{e.ref}"
    elif e.kind == "COMMISSION":
        other, kind, entry_id = FEES, EntryKind.COMMISSION, f"um:fee:{e.ref}"
    elif e.kind == "FUNDING_FEE":
        other, kind, entry_id = FUNDING, EntryKind.FUNDING_FEE, f"um:funding:{e.ref}:{e.account}"
    else:
        raise ValueError(f"unknown wallet posting {e.kind!r}")
    return LedgerEntry(entry_id, kind, (Posting(wallet, MARGIN_ASSET, Bucket.FREE, amount),
                                        Posting(other, MARGIN_ASSET, Bucket.FREE, -amount)), e.ts)


def transfer_in_entry(account: int, tran_id: int, amount: int, ts: int) -> LedgerEntry:
    """The API's half of MAIN_UMFUTURE: the spot USDT leaves for UM_TRANSIT before the engine is told."""
    return LedgerEntry(f"um:transit:{tran_id}", EntryKind.TRANSFER,
                       (Posting(str(account), MARGIN_ASSET, Bucket.FREE, -amount),
                        Posting(TRANSIT, MARGIN_ASSET, Bucket.FREE, amount)), ts)
