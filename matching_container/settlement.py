"""The settlement writer: the engine's events -> orders, trades and the ledger, each exactly once.

A consumer group (`settlement`) on every symbol's events stream. Each event is
applied with one conditional DynamoDB transaction and acknowledged only after
it succeeded, so a crash redelivers it and the conditions make the second
application a no-op. An event that keeps failing (a bug) goes to the
symbol's dead-letter stream after a few tries instead of blocking the symbol.

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

import boto3
import redis

from castle.adapters.dynamo_ledger import DynamoLedger
from castle.adapters.dynamo_orders import DynamoOrders
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
from matching_container.process import run_process
from matching_container.settings import EngineSettings

log = logging.getLogger("castle.settlement")
GROUP = "settlement"
MAX_ATTEMPTS = 5
OPEN = [OrderStatus.PENDING_NEW, OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED]


class SymbolSettlement:
    """Applies one symbol's events. Pure decisions come from castle.settlement; this wires them to storage."""

    def __init__(self, symbol: Symbol, orders: DynamoOrders, commission: Callable[[int], Commission]) -> None:
        self.symbol = symbol
        self.orders = orders
        self.commission = commission

    def apply(self, event, ts: int) -> str:
        handler = getattr(self, f"_on_{type(event).__name__}", None)
        return handler(event, ts) if handler else "ignored"

    def _record(self, account: int, order_id: int) -> OrderRecord | None:
        return self.orders.get(account, self.symbol.name, order_id)

    def _on_OrderAccepted(self, e: OrderAccepted, ts: int) -> str:
        record = self._record(e.account, e.order_id)
        if record is None:
            return "unknown order"
        working = None if record.is_stop else e.ts or ts
        update = self.orders.status_update(record, OrderStatus.NEW, ts, from_statuses=[OrderStatus.PENDING_NEW],
                                           working_time=working)
        return "applied" if self.orders.settle(None, [update]) else "repeated"

    def _on_StopTriggered(self, e: StopTriggered, ts: int) -> str:
        record = self._record(e.account, e.order_id)
        if record is None:
            return "unknown order"
        update = self.orders.status_update(record, record.status, ts, working_time=e.ts or ts)
        return "applied" if self.orders.settle(None, [update]) else "repeated"

    def _on_TradeExecuted(self, t: TradeExecuted, ts: int) -> str:
        maker = self._record(t.maker_account, t.maker_order_id)
        taker = self._record(t.taker_account, t.taker_order_id)
        if maker is None or taker is None:
            return "unknown order"
        ts = t.ts or ts
        entry, base_fee, quote_fee = trade_entry(
            self.symbol, t, self.commission(t.maker_account), self.commission(t.taker_account), ts
        )
        items, finished = [], []
        quote = t.price * t.qty
        for record, remaining, is_maker in ((maker, t.maker_remaining, True), (taker, t.taker_remaining, False)):
            used = used_by_fill(self.symbol, record.side, t)
            quote_only = not is_maker and record.qty == 0
            status = OrderStatus.FILLED if remaining == 0 and not quote_only else OrderStatus.PARTIALLY_FILLED
            items.append(self.orders.fill_update(record, t.trade_id, t.qty, quote, used, ts, status))
            if status is OrderStatus.FILLED:
                finished.append(record)
        items += self.orders.trade_items(self.symbol.name, t.trade_id, self._trade_sides(t, base_fee, quote_fee))
        outcome = "applied" if self.orders.settle(entry, items) else "repeated"
        for record in finished:  # also after a redelivery: a crash may have come between the two writes
            self._release_if_final(record.account, record.order_id, ts)
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

    def _release_if_final(self, account: int, order_id: int, ts: int) -> None:
        """Give back what a finished order still holds; idempotent (the release's entry id is the order's)."""
        record = self._record(account, order_id)
        if record is None or record.is_open:
            return
        entry = release_leftover(self.symbol.name, record.order_id, record.account,
                                 Hold(record.hold_asset, record.hold_amount), record.hold_used, ts)
        if entry is not None:
            self.orders.settle(entry, [])

    def _finish(self, account: int, order_id: int, status: OrderStatus, ts: int, prevented: int = 0,
                allow_filled: bool = False) -> str:
        record = self._record(account, order_id)
        if record is None:
            return "unknown order"
        allowed = OPEN + ([OrderStatus.FILLED] if allow_filled else [])
        update = self.orders.status_update(record, status, ts, from_statuses=allowed, prevented=prevented)
        outcome = "applied" if self.orders.settle(None, [update]) else "repeated"
        self._release_if_final(account, order_id, ts)
        return outcome

    def _on_OrderExpired(self, e: OrderExpired, ts: int) -> str:
        return self._finish(e.account, e.order_id, e.status, ts, prevented=e.prevented_qty)

    def _on_OrderCanceled(self, e: OrderCanceled, ts: int) -> str:
        return self._finish(e.account, e.order_id, OrderStatus.CANCELED, e.ts or ts)

    def _on_OrderRejected(self, e: OrderRejected, ts: int) -> str:
        record = self._record(e.account, e.order_id)
        if record is None or record.status is not OrderStatus.PENDING_NEW:
            return "not a new order"  # a rejected cancel or amend: the order itself is unchanged
        return self._finish(e.account, e.order_id, OrderStatus.REJECTED, ts)

    def _on_QuoteOrderFilled(self, e: QuoteOrderFilled, ts: int) -> str:
        return self._finish(e.account, e.order_id, OrderStatus.FILLED, ts)

    def _on_OrderAmended(self, e: OrderAmended, ts: int) -> str:
        record = self._record(e.account, e.order_id)
        if record is None:
            return "unknown order"
        # The hold shrinks with the quantity: a seller's by the lots, a buyer's by price times lots.
        freed_lots = e.old_qty - e.new_qty
        freed = (self.symbol.qty_units(freed_lots) if record.side is Side.SELL
                 else self.symbol.quote_units(record.price * freed_lots))
        status = OrderStatus.FILLED if e.remaining == 0 else record.status
        update = self.orders.status_update(record, status, e.ts or ts, qty=e.new_qty,
                                           hold_amount=record.hold_amount - freed)
        entry = release(f"release:{self.symbol.name}:{e.order_id}:amend:{e.seq}", str(record.account),
                        record.hold_asset, freed, ts) if freed > 0 else None
        outcome = "applied" if self.orders.settle(entry, [update]) else "repeated"
        self._release_if_final(e.account, e.order_id, ts)
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
        for name in settlements:
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
            for entry_id, fields in entries:
                self._settle_entry(symbol, key, entry_id, fields)
                handled += 1
        return handled

    def _settle_entry(self, symbol: str, key: str, entry_id: str, fields: dict) -> None:
        ts = int(entry_id.split("-", 1)[0])
        try:
            event = event_from_dict(json.loads(fields["event"]))
            outcome = self.settlements[symbol].apply(event, ts)
            log.debug("settled %s %s: %s", symbol, entry_id, outcome)
        except Exception:
            attempts = self.client.hincrby(f"castle:{{{symbol}}}:settlement:attempts", entry_id, 1)
            if attempts < MAX_ATTEMPTS:
                log.exception("settlement of %s %s failed (attempt %d); will retry", symbol, entry_id, attempts)
                return
            log.error("settlement of %s %s failed %d times: dead-lettered", symbol, entry_id, attempts)
            self.client.xadd(f"castle:{{{symbol}}}:settlement:dead", {"entry_id": entry_id, **fields})
        self.client.xack(key, GROUP, entry_id)

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
