"""What each engine event means for storage: the order records, ledger entries, trade rows and reports.

Settlement (after matching) is the one writer of an order's record once the
engine has seen it. For each event, `decide` takes the records of the orders
it names and returns a `Decision`: one `SettlementStep` to write atomically
and the user-data reports that step yields. The writer (the settlement
process) stores the step once through a `SettlementStore`, and afterwards
gives back the leftover hold of every order the event finished (`leftover`).

The store makes every step idempotent: the ledger entry's id, a fill's trade
id (an order takes each trade once) and the status an update expects. A
redelivered event therefore writes nothing, and its reports come from the
first attempt's stash, never from a second computation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from castle import user_data
from castle.accounts import Commission
from castle.events import (
    OrderAccepted,
    OrderAmended,
    OrderCanceled,
    OrderExpired,
    OrderRejected,
    QuoteOrderFilled,
    StopTriggered,
    TradeExecuted,
)
from castle.holds import Hold
from castle.ledger import LedgerEntry, release
from castle.order_records import OrderRecord
from castle.orders import OrderStatus, Side
from castle.settlement import release_leftover, trade_entry, used_by_fill
from castle.symbols import Symbol
from castle.user_data import Fill

OPEN = (OrderStatus.PENDING_NEW, OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)
SET_FIELDS = ("working_time", "qty", "hold_amount")  # what a non-fill change may set
OrderKey = tuple[int, int]  # (account, order id)


@dataclass(slots=True)
class UserReport:
    """An executionReport for `account`, and the assets whose balances it may have moved."""

    account: int
    order_id: int
    report: dict
    assets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OrderChange:
    """An order record from `before` to `after`, guarded so that a second write is refused.

    A fill (`trade_id` set) applies only if the order has not taken that trade
    yet; any other change only while the order's status is one of
    `from_statuses` (empty: any open status).
    """

    before: OrderRecord
    after: OrderRecord
    trade_id: int = 0
    from_statuses: tuple[OrderStatus, ...] = ()

    def delta(self, name: str) -> int:
        """What the change adds to a counter (a fill's executed, cum_quote, hold_used; prevented_qty)."""
        return getattr(self.after, name) - getattr(self.before, name)

    def settings(self) -> dict[str, int]:
        """The fields a non-fill change sets besides status and update time: only those it changed."""
        return {name: getattr(self.after, name) for name in SET_FIELDS
                if getattr(self.after, name) != getattr(self.before, name)}


@dataclass(frozen=True, slots=True)
class TradeSide:
    """One side of a trade as its owner's myTrades lists it (amounts in units of the symbol's scales)."""

    side: str
    account: int
    symbol: str
    id: int
    orderId: int  # noqa: N815 (Binance's field names, stored as they are served)
    price: int
    qty: int
    quoteQty: int  # noqa: N815
    commission: int
    commissionAsset: str  # noqa: N815
    time: int
    isBuyer: bool  # noqa: N815
    isMaker: bool  # noqa: N815


@dataclass(frozen=True, slots=True)
class SettlementStep:
    """One atomic write: all of it lands, or none (and then it had landed before)."""

    entry: LedgerEntry | None = None
    changes: tuple[OrderChange, ...] = ()
    trades: tuple[TradeSide, ...] = ()


@dataclass(slots=True)
class Decision:
    step: SettlementStep
    reports: list[UserReport] = field(default_factory=list)
    # Orders this event may have finished: their leftover hold goes back after the step, unless the
    # step itself carried that release (`releases`).
    finishing: tuple[OrderRecord, ...] = ()
    releases: bool = False
    always_claim: bool = False  # stash even no reports, so a redelivery knows it reported nothing
    finalizes: UserReport | None = None  # an earlier fill report that this event turns FILLED

    @property
    def afters(self) -> tuple[OrderRecord, ...]:
        return tuple(change.after for change in self.step.changes)


class SettlementStore(Protocol):
    """Where settlement keeps order records, trades and the ledger (DynamoDB; in memory in tests)."""

    def get(self, account: int, symbol: str, order_id: int) -> OrderRecord | None: ...

    def write(self, step: SettlementStep) -> bool:
        """Apply the step once; False if it (or a later state of its orders) is already stored."""
        ...


def parties(event) -> tuple[OrderKey, ...]:
    """The orders whose records `decide` needs for this event."""
    if isinstance(event, TradeExecuted):
        return (event.maker_account, event.maker_order_id), (event.taker_account, event.taker_order_id)
    if isinstance(event, (OrderAccepted, StopTriggered, OrderExpired, OrderCanceled, OrderRejected, QuoteOrderFilled,
                          OrderAmended)):
        return ((event.account, event.order_id),)
    return ()


def decide(symbol: Symbol, event, ts: int, records: Mapping[OrderKey, OrderRecord | None],
           commission: Callable[[int], Commission], recent: Sequence[UserReport] = ()) -> Decision | str:
    """The step and reports of one event, or why it writes nothing ("ignored", "unknown order", ...).

    `ts` is the journal time of the event's entry, used where the event carries
    none; `recent` are the reports of this read not yet published.
    """
    rule = _RULES.get(type(event))
    if rule is None:
        return "ignored"
    found = [records.get(key) for key in parties(event)]
    if any(record is None for record in found):
        return "unknown order"
    return rule(symbol, event, ts, *found, commission=commission, recent=recent)


def leftover(symbol: Symbol, record: OrderRecord, ts: int) -> SettlementStep | None:
    """A finished order's unused hold, released (the entry id is the order's: a second release is refused)."""
    if record.is_open:
        return None
    entry = _leftover_entry(symbol, record, ts)
    return None if entry is None else SettlementStep(entry)


def finalized(report: UserReport) -> None:
    """Binance: the fill that completes an order by quote amount reports it FILLED."""
    report.report.update(X=str(OrderStatus.FILLED), w=False)


def _leftover_entry(symbol: Symbol, record: OrderRecord, ts: int) -> LedgerEntry | None:
    return release_leftover(symbol.name, record.order_id, record.account, Hold(record.hold_asset, record.hold_amount),
                            record.hold_used, ts)


def _report(symbol: Symbol, after: OrderRecord, execution: str, ts: int, seq: int, assets: tuple[str, ...],
            fill: Fill | None = None, **fields) -> UserReport:
    report = user_data.execution_report(symbol, after, execution, ts, seq, fill, **fields)
    return UserReport(after.account, after.order_id, report, assets)


def _accepted(symbol, e: OrderAccepted, ts, record, **_) -> Decision:
    working = None if record.is_stop else e.ts or ts
    after = replace(record, status=OrderStatus.NEW, update_time=ts,
                    working_time=record.working_time if working is None else working)
    change = OrderChange(record, after, from_statuses=(OrderStatus.PENDING_NEW,))
    return Decision(SettlementStep(changes=(change,)),
                    [_report(symbol, after, user_data.NEW, ts, e.seq, (record.hold_asset,))])


def _stop_triggered(symbol, e: StopTriggered, ts, record, **_) -> Decision:
    # Binance tells the owner with a second NEW: the order is now working (`w`, `W`).
    after = replace(record, update_time=ts, working_time=e.ts or ts)
    return Decision(SettlementStep(changes=(OrderChange(record, after),)),
                    [_report(symbol, after, user_data.NEW, ts, e.seq, (record.hold_asset,))])


def _trade(symbol, t: TradeExecuted, ts, maker, taker, *, commission, **_) -> Decision:
    ts = t.ts or ts
    entry, base_fee, quote_fee = trade_entry(symbol, t, commission(t.maker_account), commission(t.taker_account), ts)
    quote = t.price * t.qty
    base, quote_asset = symbol.base.name, symbol.quote.name
    changes, reports = [], []
    for record, remaining, is_maker in ((maker, t.maker_remaining, True), (taker, t.taker_remaining, False)):
        used = used_by_fill(symbol, record.side, t)
        quote_only = not is_maker and record.qty == 0
        status = OrderStatus.FILLED if remaining == 0 and not quote_only else OrderStatus.PARTIALLY_FILLED
        after = replace(record, executed=record.executed + t.qty, cum_quote=record.cum_quote + quote,
                        hold_used=record.hold_used + used, status=status, update_time=ts, last_trade_id=t.trade_id)
        changes.append(OrderChange(record, after, trade_id=t.trade_id))
        buyer = record.side is Side.BUY
        fill = Fill(t.trade_id, t.price, t.qty, base_fee if buyer else quote_fee, base if buyer else quote_asset,
                    is_maker)
        reports.append(_report(symbol, after, user_data.TRADE, ts, t.seq, (base, quote_asset), fill))
    step = SettlementStep(entry, tuple(changes), _trade_sides(symbol, t, base_fee, quote_fee))
    # A finished order's leftover goes in its own write: the trade's already moves the same balances.
    return Decision(step, reports, finishing=tuple(c.after for c in changes if not c.after.is_open))


def _trade_sides(symbol: Symbol, t: TradeExecuted, base_fee: int, quote_fee: int) -> tuple[TradeSide, ...]:
    taker_buys = t.taker_side is Side.BUY
    return tuple(
        TradeSide(
            side="BUY" if is_buyer else "SELL", account=account, symbol=symbol.name, id=t.trade_id, orderId=order_id,
            price=t.price, qty=t.qty, quoteQty=t.price * t.qty, commission=base_fee if is_buyer else quote_fee,
            commissionAsset=symbol.base.name if is_buyer else symbol.quote.name, time=t.ts, isBuyer=is_buyer,
            isMaker=account == t.maker_account and order_id == t.maker_order_id,
        )
        for account, order_id, is_buyer in (
            (t.taker_account, t.taker_order_id, taker_buys),
            (t.maker_account, t.maker_order_id, not taker_buys),
        )
    )


def _finish(symbol: Symbol, record: OrderRecord, status: OrderStatus, ts: int, report, prevented: int = 0,
            always_claim: bool = False) -> Decision:
    """End an order; its end and the release of its leftover in one step (they touch different items)."""
    after = replace(record, status=status, update_time=ts, prevented_qty=record.prevented_qty + prevented)
    step = SettlementStep(_leftover_entry(symbol, after, ts), (OrderChange(record, after, from_statuses=OPEN),))
    return Decision(step, report(after), finishing=(after,), releases=True, always_claim=always_claim)


def _expired(symbol, e: OrderExpired, ts, record, **_) -> Decision:
    execution = user_data.TRADE_PREVENTION if e.status is OrderStatus.EXPIRED_IN_MATCH else user_data.EXPIRED
    return _finish(symbol, record, e.status, ts, lambda after: [
        _report(symbol, after, execution, ts, e.seq, (after.hold_asset,), last_prevented=e.prevented_qty)],
        prevented=e.prevented_qty)


def _canceled(symbol, e: OrderCanceled, ts, record, **_) -> Decision:
    ts = e.ts or ts
    return _finish(symbol, record, OrderStatus.CANCELED, ts, lambda after: [
        _report(symbol, after, user_data.CANCELED, ts, e.seq, (after.hold_asset,),
                orig_client_order_id=after.client_order_id)])


def _rejected(symbol, e: OrderRejected, ts, record, **_) -> Decision | str:
    if record.status is not OrderStatus.PENDING_NEW:
        return "not a new order"  # a rejected cancel or amend: the order itself is unchanged
    # No report: the client got the rejection from the REST call, and the order never existed for it.
    return _finish(symbol, record, OrderStatus.REJECTED, ts, lambda after: [])


def _quote_order_filled(symbol, e: QuoteOrderFilled, ts, record, *, recent, **_) -> Decision:
    """An order by quote amount learns it is FILLED after its last fill: that fill's report says so."""
    last = next((r for r in reversed(recent) if r.order_id == e.order_id and r.account == e.account
                 and r.report["x"] == user_data.TRADE), None)
    # Its last fill was reported in an earlier read: the final status comes on its own.
    decision = _finish(symbol, record, OrderStatus.FILLED, ts, lambda after: [] if last is not None else [
        _report(symbol, after, user_data.EXPIRED, ts, e.seq, (after.hold_asset,))], always_claim=True)
    decision.finalizes = last
    return decision


def _amended(symbol, e: OrderAmended, ts, record, **_) -> Decision:
    ts = e.ts or ts
    # The hold shrinks with the quantity: a seller's by the lots, a buyer's by price times lots.
    freed_lots = e.old_qty - e.new_qty
    freed = (symbol.qty_units(freed_lots) if record.side is Side.SELL
             else symbol.quote_units(record.price * freed_lots))
    status = OrderStatus.FILLED if e.remaining == 0 else record.status
    entry = release(f"release:{symbol.name}:{e.order_id}:amend:{e.seq}", str(record.account),
                    record.hold_asset, freed, ts) if freed > 0 else None
    after = replace(record, status=status, update_time=ts, qty=e.new_qty, hold_amount=record.hold_amount - freed)
    report = _report(symbol, after, user_data.REPLACED, ts, e.seq, (record.hold_asset,))
    return Decision(SettlementStep(entry, (OrderChange(record, after),)), [report], finishing=(after,))


_RULES = {
    OrderAccepted: _accepted,
    StopTriggered: _stop_triggered,
    TradeExecuted: _trade,
    OrderExpired: _expired,
    OrderCanceled: _canceled,
    OrderRejected: _rejected,
    QuoteOrderFilled: _quote_order_filled,
    OrderAmended: _amended,
}
