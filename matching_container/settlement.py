"""The settlement writer: the engine's events -> orders, trades and the ledger, each exactly once.

A consumer group (`settlement`) on every symbol's events stream. Each event is
applied with one conditional DynamoDB transaction and acknowledged only after
it succeeded, so a crash redelivers it and the conditions make the second
application a no-op. An event that keeps failing (a bug) goes to the
symbol's dead-letter stream after a few tries instead of blocking the symbol.

Each settled event also yields its owners' `executionReport`s (castle.user_data),
built from the order's record after the event. A read's reports are appended
to the symbol's user data stream (`castle:{SYMBOL}:userdata`, read by the
publisher) in the same MULTI that acknowledges its entries. A crash before that
MULTI redelivers the entries; those whose writes had landed publish the reports
their first attempt stashed (`ReportStash`), so none is lost or sent twice.

Run as `python -m matching_container.settlement` beside the engine (the same
image; the local cloud starts it as its own process).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import boto3
import redis

from castle.adapters.dynamo_ledger import DynamoLedger
from castle.adapters.dynamo_orders import DynamoOrders
from castle import user_data
from castle.adapters import redis_user_data as user_data_stream
from castle.adapters.redis_streams import connect, events_key
from castle.codec import event_from_dict
from castle.events import (
    OrderAccepted,
    OrderAmended,
    OrderCanceled,
    OrderExpired,
    OrderRejected,
    PreventedMatch,
    QuoteOrderFilled,
    StopTriggered,
    TradeExecuted,
)
from castle.ledger import release
from castle.order_records import OrderRecord
from castle.orders import OrderStatus, Side
from castle.settlement import Commission, Hold, release_leftover, trade_entry, used_by_fill
from castle.symbols import Symbol, default_symbols
from castle.user_data import Fill
from matching_container.process import run_process
from matching_container.settings import EngineSettings

log = logging.getLogger("castle.settlement")
GROUP = "settlement"
MAX_ATTEMPTS = 5
OPEN = [OrderStatus.PENDING_NEW, OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED]
RECORD_CACHE_SIZE = 200_000  # open orders remembered per symbol (about 200 MB at most)


@dataclass(slots=True)
class UserReport:
    """An executionReport for `account`, and the assets whose balances it may have moved."""

    account: int
    order_id: int
    report: dict
    assets: tuple[str, ...]


class ReportStash:
    """Each entry's reports, kept in Redis from before its DynamoDB write until they are published.

    A report describes the order right after its event, which only the first
    application can compute: after a crash between the write and the publishing
    MULTI, the record already shows this (and maybe later) events. So the first
    attempt stashes its reports (SET NX) before writing; a redelivery that finds
    the write already done publishes the stashed ones. The MULTI that publishes
    deletes the stash, so a later redelivery publishes nothing twice.
    """

    TTL_S = 86_400

    def __init__(self, client: redis.Redis, symbol: str) -> None:
        self.client, self.symbol = client, symbol
        self.entry_id = ""  # set by the writer before each entry
        self.keys: list[str] = []  # stashed since the last publish

    def take_keys(self) -> list[str]:
        keys, self.keys = self.keys, []
        return keys

    def key(self, entry_id: str) -> str:
        return f"castle:{{{self.symbol}}}:userdata:stash:{entry_id}"

    def claim(self, reports: list[UserReport]) -> list[UserReport] | None:
        """Stash `reports` for this entry; the reports an earlier attempt stashed, if there were any."""
        key = self.key(self.entry_id)
        self.keys.append(key)
        pipe = self.client.pipeline(transaction=False)
        pipe.set(key, json.dumps([_stashed(r) for r in reports]), nx=True, ex=self.TTL_S)
        pipe.get(key)
        fresh, value = pipe.execute()
        return None if fresh else [UserReport(*r) for r in json.loads(value)]


def _stashed(report: UserReport) -> list:
    return [report.account, report.order_id, report.report, list(report.assets)]


class SymbolSettlement:
    """Applies one symbol's events. Pure decisions come from castle.settlement; this wires them to storage."""

    def __init__(self, symbol: Symbol, orders: DynamoOrders, commission: Callable[[int], Commission],
                 stash: ReportStash | None = None) -> None:
        self.symbol = symbol
        self.orders = orders
        self.commission = commission
        self.stash = stash  # None: a redelivered write reports nothing
        self.reports: list[UserReport] = []  # this read's, until the writer takes them
        # Open orders as this writer last wrote them. Settlement is the only writer of a record once the
        # engine has seen the order, so what it wrote is what is stored: no read before each event.
        self.records: dict[tuple[int, int], OrderRecord] = {}

    def apply(self, event, ts: int) -> str:
        handler = getattr(self, f"_on_{type(event).__name__}", None)
        mark = len(self.reports)
        try:
            return handler(event, ts) if handler else "ignored"
        except Exception:
            del self.reports[mark:]  # the retry reports it again
            raise

    def take_reports(self) -> list[UserReport]:
        reports, self.reports = self.reports, []
        return reports

    def _record(self, account: int, order_id: int) -> OrderRecord | None:
        cached = self.records.get((account, order_id))
        return cached if cached is not None else self.orders.get(account, self.symbol.name, order_id)

    def _remember(self, afters) -> None:
        for after in afters:
            key = (after.account, after.order_id)
            if not after.is_open:
                self.records.pop(key, None)
                continue
            if key not in self.records and len(self.records) >= RECORD_CACHE_SIZE:
                self.records.clear()  # rare; the next events of those orders read them again
            self.records[key] = after

    def _report(self, after: OrderRecord, execution: str, ts: int, seq: int, assets: tuple[str, ...],
                fill: Fill | None = None, **fields) -> UserReport:
        report = user_data.execution_report(self.symbol, after, execution, ts, seq, fill, **fields)
        return UserReport(after.account, after.order_id, report, assets)

    def _settle(self, entry, items: list[dict], reports: list[UserReport], afters=(), always_claim: bool = False
                ) -> str:
        """Write once; queue the reports of the write that happened: "applied", "redelivered" or "repeated".

        `afters` are the records as the write leaves them: remembered when it applied, forgotten otherwise
        (the store holds something else, which the next event reads).
        """
        claimed = self.stash.claim(reports) if self.stash is not None and (reports or always_claim) else None
        if self.orders.settle(entry, items):
            self.reports += reports
            self._remember(afters)
            return "applied"
        for after in afters:
            self.records.pop((after.account, after.order_id), None)
        if claimed is not None:
            self.reports += claimed
            return "redelivered"
        return "repeated"

    def _on_OrderAccepted(self, e: OrderAccepted, ts: int) -> str:
        record = self._record(e.account, e.order_id)
        if record is None:
            return "unknown order"
        working = None if record.is_stop else e.ts or ts
        update = self.orders.status_update(record, OrderStatus.NEW, ts, from_statuses=[OrderStatus.PENDING_NEW],
                                           working_time=working)
        after = replace(record, status=OrderStatus.NEW, update_time=ts,
                        working_time=record.working_time if working is None else working)
        return self._settle(None, [update], [self._report(after, user_data.NEW, ts, e.seq, (record.hold_asset,))],
                            (after,))

    def _on_StopTriggered(self, e: StopTriggered, ts: int) -> str:
        record = self._record(e.account, e.order_id)
        if record is None:
            return "unknown order"
        working = e.ts or ts
        update = self.orders.status_update(record, record.status, ts, working_time=working)
        # Binance tells the owner with a second NEW: the order is now working (`w`, `W`).
        after = replace(record, update_time=ts, working_time=working)
        return self._settle(None, [update], [self._report(after, user_data.NEW, ts, e.seq, (record.hold_asset,))],
                            (after,))

    def _on_TradeExecuted(self, t: TradeExecuted, ts: int) -> str:
        maker = self._record(t.maker_account, t.maker_order_id)
        taker = self._record(t.taker_account, t.taker_order_id)
        if maker is None or taker is None:
            return "unknown order"
        ts = t.ts or ts
        entry, base_fee, quote_fee = trade_entry(
            self.symbol, t, self.commission(t.maker_account), self.commission(t.taker_account), ts
        )
        items, afters, reports = [], [], []
        quote = t.price * t.qty
        base, quote_asset = self.symbol.base.name, self.symbol.quote.name
        for record, remaining, is_maker in ((maker, t.maker_remaining, True), (taker, t.taker_remaining, False)):
            used = used_by_fill(self.symbol, record.side, t)
            quote_only = not is_maker and record.qty == 0
            status = OrderStatus.FILLED if remaining == 0 and not quote_only else OrderStatus.PARTIALLY_FILLED
            items.append(self.orders.fill_update(record, t.trade_id, t.qty, quote, used, ts, status))
            after = replace(record, executed=record.executed + t.qty, cum_quote=record.cum_quote + quote,
                            hold_used=record.hold_used + used, status=status, update_time=ts, last_trade_id=t.trade_id)
            buyer = record.side is Side.BUY
            fill = Fill(t.trade_id, t.price, t.qty, base_fee if buyer else quote_fee, base if buyer else quote_asset,
                        is_maker)
            reports.append(self._report(after, user_data.TRADE, ts, t.seq, (base, quote_asset), fill))
            afters.append(after)
        items += self.orders.trade_items(self.symbol.name, t.trade_id, self._trade_sides(t, base_fee, quote_fee))
        outcome = self._settle(entry, items, reports, afters)
        # A finished order's leftover in its own transaction: the trade's already moves the same balances.
        for after in afters:
            if not after.is_open:
                self._release_leftover(after, ts, known=outcome == "applied")
        return outcome

    def _trade_sides(self, t: TradeExecuted, base_fee: int, quote_fee: int) -> list[dict]:
        taker_buys = t.taker_side is Side.BUY
        sides = []
        for account, order_id, is_buyer in (
            (t.taker_account, t.taker_order_id, taker_buys),
            (t.maker_account, t.maker_order_id, not taker_buys),
        ):
            sides.append({
                "side": "BUY" if is_buyer else "SELL",
                "account": account,
                "symbol": self.symbol.name,
                "id": t.trade_id,
                "orderId": order_id,
                "price": t.price,
                "qty": t.qty,
                "quoteQty": t.price * t.qty,
                "commission": base_fee if is_buyer else quote_fee,
                "commissionAsset": self.symbol.base.name if is_buyer else self.symbol.quote.name,
                "time": t.ts,
                "isBuyer": is_buyer,
                "isMaker": account == t.maker_account and order_id == t.maker_order_id,
            })
        return sides

    def _leftover(self, record: OrderRecord, ts: int):
        return release_leftover(self.symbol.name, record.order_id, record.account,
                                Hold(record.hold_asset, record.hold_amount), record.hold_used, ts)

    def _release_leftover(self, after: OrderRecord, ts: int, known: bool) -> None:
        """Give back what a finished order still holds; idempotent (the release's entry id is the order's).

        `known`: `after` is what this writer just stored. Otherwise (a redelivery: a crash may have come
        between the two writes) the stored record decides.
        """
        record = after if known else self.orders.get(after.account, self.symbol.name, after.order_id)
        if record is None or record.is_open:
            return
        entry = self._leftover(record, ts)
        if entry is not None:
            self.orders.settle(entry, [])

    def _finish(self, account: int, order_id: int, status: OrderStatus, ts: int, report, prevented: int = 0,
                always_claim: bool = False) -> str:
        """End an order; `report(after)` gives the reports of its record after the event."""
        record = self._record(account, order_id)
        if record is None:
            return "unknown order"
        update = self.orders.status_update(record, status, ts, from_statuses=OPEN, prevented=prevented)
        after = replace(record, status=status, update_time=ts, prevented_qty=record.prevented_qty + prevented)
        # The end and the release of the leftover in one transaction (they touch different items).
        outcome = self._settle(self._leftover(after, ts), [update], report(after), (after,), always_claim)
        if outcome != "applied":
            self._release_leftover(after, ts, known=False)
        return outcome

    def _on_OrderExpired(self, e: OrderExpired, ts: int) -> str:
        execution = user_data.TRADE_PREVENTION if e.status is OrderStatus.EXPIRED_IN_MATCH else user_data.EXPIRED
        return self._finish(e.account, e.order_id, e.status, ts, lambda after: [
            self._report(after, execution, ts, e.seq, (after.hold_asset,), last_prevented=e.prevented_qty)],
            prevented=e.prevented_qty)

    def _on_OrderCanceled(self, e: OrderCanceled, ts: int) -> str:
        ts = e.ts or ts
        return self._finish(e.account, e.order_id, OrderStatus.CANCELED, ts, lambda after: [
            self._report(after, user_data.CANCELED, ts, e.seq, (after.hold_asset,),
                         orig_client_order_id=after.client_order_id)])

    def _on_OrderRejected(self, e: OrderRejected, ts: int) -> str:
        record = self._record(e.account, e.order_id)
        if record is None or record.status is not OrderStatus.PENDING_NEW:
            return "not a new order"  # a rejected cancel or amend: the order itself is unchanged
        # No report: the client got the rejection from the REST call, and the order never existed for it.
        return self._finish(e.account, e.order_id, OrderStatus.REJECTED, ts, lambda after: [])

    def _on_QuoteOrderFilled(self, e: QuoteOrderFilled, ts: int) -> str:
        """An order by quote amount learns it is FILLED after its last fill: that fill's report says so."""
        last = next((r for r in reversed(self.reports) if r.order_id == e.order_id and r.account == e.account
                     and r.report["x"] == user_data.TRADE), None)

        def report(after: OrderRecord) -> list[UserReport]:
            # Its last fill was reported in an earlier read: the final status comes on its own.
            return [] if last is not None else [self._report(after, user_data.EXPIRED, ts, e.seq, (after.hold_asset,))]

        outcome = self._finish(e.account, e.order_id, OrderStatus.FILLED, ts, report, always_claim=True)
        if last is not None and outcome != "repeated":
            last.report.update(X=str(OrderStatus.FILLED), w=False)
        return outcome

    def _on_OrderAmended(self, e: OrderAmended, ts: int) -> str:
        record = self._record(e.account, e.order_id)
        if record is None:
            return "unknown order"
        ts = e.ts or ts
        # The hold shrinks with the quantity: a seller's by the lots, a buyer's by price times lots.
        freed_lots = e.old_qty - e.new_qty
        freed = (self.symbol.qty_units(freed_lots) if record.side is Side.SELL
                 else self.symbol.quote_units(record.price * freed_lots))
        status = OrderStatus.FILLED if e.remaining == 0 else record.status
        update = self.orders.status_update(record, status, ts, qty=e.new_qty, hold_amount=record.hold_amount - freed)
        entry = release(f"release:{self.symbol.name}:{e.order_id}:amend:{e.seq}", str(record.account),
                        record.hold_asset, freed, ts) if freed > 0 else None
        after = replace(record, status=status, update_time=ts, qty=e.new_qty, hold_amount=record.hold_amount - freed)
        outcome = self._settle(entry, [update], [self._report(after, user_data.REPLACED, ts, e.seq,
                                                              (record.hold_asset,))], (after,))
        if not after.is_open or outcome != "applied":
            self._release_leftover(after, ts, known=outcome == "applied")
        return outcome

    def _on_PreventedMatch(self, e: PreventedMatch, ts: int) -> str:
        return "ignored"  # the expiry it causes arrives as OrderExpired


class SettlementWriter:
    """Reads every owned symbol's events with one consumer group and settles them in order."""

    def __init__(self, client: redis.Redis, settlements: dict[str, SymbolSettlement], consumer: str = "writer-1",
                 block_ms: int = 1000) -> None:
        self.client = client
        self.settlements = settlements
        self.consumer = consumer
        self.block_ms = block_ms
        for name, settlement in settlements.items():
            if settlement.stash is None:
                settlement.stash = ReportStash(client, name)
            try:
                client.xgroup_create(events_key(name), GROUP, id="0", mkstream=True)
            except redis.ResponseError as e:
                if "BUSYGROUP" not in str(e):
                    raise

    def step(self, pending: bool = False) -> int:
        """One read: pending (unacknowledged, after a crash) entries first, then new ones."""
        streams = {events_key(name): ("0" if pending else ">") for name in self.settlements}
        reply = self.client.xreadgroup(GROUP, self.consumer, streams, count=200,
                                       block=None if pending else self.block_ms)
        handled = 0
        for key, entries in reply or ():
            symbol = key.split("{", 1)[1].split("}", 1)[0]
            done = [entry_id for entry_id, fields in entries if self._settle_entry(symbol, entry_id, fields)]
            self._commit(symbol, done)
            handled += len(entries)
        return handled

    def _settle_entry(self, symbol: str, entry_id: str, fields: dict) -> bool:
        """Settle one entry; False leaves it pending for a retry."""
        ts = int(entry_id.split("-", 1)[0])
        settlement = self.settlements[symbol]
        settlement.stash.entry_id = entry_id
        try:
            event = event_from_dict(json.loads(fields["event"]))
            outcome = settlement.apply(event, ts)
            log.debug("settled %s %s: %s", symbol, entry_id, outcome)
        except Exception:
            attempts = self.client.hincrby(f"castle:{{{symbol}}}:settlement:attempts", entry_id, 1)
            if attempts < MAX_ATTEMPTS:
                log.exception("settlement of %s %s failed (attempt %d); will retry", symbol, entry_id, attempts)
                return False
            log.error("settlement of %s %s failed %d times: dead-lettered", symbol, entry_id, attempts)
            self.client.xadd(f"castle:{{{symbol}}}:settlement:dead", {"entry_id": entry_id, **fields})
        return True

    def _commit(self, symbol: str, done: list[str]) -> None:
        """Reports, acknowledgements and the stash's end in one MULTI (one slot): all, or the entries come again."""
        settlement = self.settlements[symbol]
        finished = {settlement.stash.key(entry_id) for entry_id in done}  # a failed entry's stash waits for its retry
        reports = settlement.take_reports()
        stashed = [key for key in settlement.stash.take_keys() if key in finished]
        if not done and not reports:
            return
        pipe = self.client.pipeline(transaction=True)
        for report in reports:
            user_data_stream.append(pipe, symbol, report.account, report.report, report.assets)
        if done:
            pipe.xack(events_key(symbol), GROUP, *done)
        if stashed:
            pipe.delete(*stashed)
        pipe.execute()

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set() and self.step(pending=True):
            pass
        while not stop.is_set():
            self.step()
            self.step(pending=True)  # retries of failed entries


def bootstrap(settings: EngineSettings) -> SettlementWriter:
    symbols = default_symbols()
    dynamodb = boto3.client("dynamodb")
    ledger = DynamoLedger(dynamodb, os.environ["BALANCES_TABLE"])
    orders = DynamoOrders(dynamodb, os.environ["ORDERS_TABLE"], os.environ["TRADES_TABLE"], ledger)
    commissions = AccountCommissions(os.environ.get("ACCOUNTS_TABLE", ""))
    settlements = {name: SymbolSettlement(symbols[name], orders, commissions) for name in settings.symbols}
    return SettlementWriter(connect(settings.redis_url), settlements)


class AccountCommissions:
    """Each account's maker/taker rates from its profile, cached a minute (rates change rarely)."""

    def __init__(self, accounts_table: str, ttl_s: float = 60.0) -> None:
        self.ttl_s = ttl_s
        self._cache: dict[int, tuple[float, Commission]] = {}
        self._accounts = None
        if accounts_table:
            from castle.adapters.dynamo_accounts import DynamoAccounts

            self._accounts = DynamoAccounts(accounts_table, envelope=None)

    def __call__(self, account: int) -> Commission:
        now = time.monotonic()
        hit = self._cache.get(account)
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        profile = self._accounts.profile(account) if self._accounts is not None else None
        commission = profile.commission if profile is not None else Commission()
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[account] = (now, commission)
        return commission


def run(settings: EngineSettings, stop: threading.Event) -> None:
    writer = bootstrap(settings)
    log.info("settlement writer ready: %s", ", ".join(writer.settlements))
    writer.run(stop)
    log.info("settlement writer stopped")


def main() -> int:
    return run_process("settlement writer", run, required_env=("ORDERS_TABLE", "TRADES_TABLE", "BALANCES_TABLE"))

if __name__ == "__main__":
    sys.exit(main())
