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
import sys
import threading
import time
from collections.abc import Callable

import redis

from castle.accounts import Commission
from castle.adapters import redis_user_data as user_data_stream
from castle.adapters.bootstrap import Adapters
from castle.adapters.redis_consumer import RedisConsumer
from castle.adapters.redis_keys import events_key, report_stash_key
from castle.adapters.redis_streams import connect
from castle.codec import event_from_dict
from castle.order_records import OrderRecord
from castle.settle_events import (
    Decision,
    OrderKey,
    SettlementStore,
    UserReport,
    decide,
    finalized,
    leftover,
    parties,
)
from castle.symbols import Symbol, default_symbols
from matching_container.process import run_process
from matching_container.settings import EngineSettings

log = logging.getLogger("castle.settlement")
GROUP = "settlement"
MAX_ATTEMPTS = 5
RECORD_CACHE_SIZE = 200_000  # open orders remembered per symbol (about 200 MB at most)


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
        return report_stash_key(self.symbol, entry_id)

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
    """Applies one symbol's events: castle.settle_events decides, this stores each decision once."""

    def __init__(self, symbol: Symbol, orders: SettlementStore, commission: Callable[[int], Commission],
                 stash: ReportStash | None = None) -> None:
        self.symbol = symbol
        self.orders = orders
        self.commission = commission
        self.stash = stash  # None: a redelivered write reports nothing
        self.reports: list[UserReport] = []  # this read's, until the writer takes them
        # Open orders as this writer last wrote them. Settlement is the only writer of a record once the
        # engine has seen the order, so what it wrote is what is stored: no read before each event.
        self.records: dict[OrderKey, OrderRecord] = {}

    def apply(self, event, ts: int) -> str:
        mark = len(self.reports)
        try:
            records = {key: self._record(*key) for key in parties(event)}
            decision = decide(self.symbol, event, ts, records, self.commission, self.reports)
            return decision if isinstance(decision, str) else self._store(decision, ts)
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

    def _store(self, decision: Decision, ts: int) -> str:
        """Write once; queue the reports of the write that happened: "applied", "redelivered" or "repeated"."""
        reports = decision.reports
        claim = self.stash is not None and (reports or decision.always_claim)
        claimed = self.stash.claim(reports) if claim else None
        applied = self.orders.write(decision.step)
        if applied:
            self.reports += reports
            self._remember(decision.afters)
            outcome = "applied"
        else:
            # The store holds something else than what this writer expected: the next event reads it.
            for after in decision.afters:
                self.records.pop((after.account, after.order_id), None)
            if claimed is not None:
                self.reports += claimed
            outcome = "redelivered" if claimed is not None else "repeated"
        if decision.finalizes is not None and outcome != "repeated":
            finalized(decision.finalizes)
        for after in decision.finishing:
            if applied and (after.is_open or decision.releases):
                continue
            # A redelivery (a crash may have come between the two writes): the stored record decides.
            record = after if applied else self.orders.get(after.account, self.symbol.name, after.order_id)
            step = leftover(self.symbol, record, ts) if record is not None else None
            if step is not None:
                self.orders.write(step)
        return outcome


class SettlementWriter:
    """Reads every owned symbol's events with one consumer group and settles them in order."""

    def __init__(self, client: redis.Redis, settlements: dict[str, SymbolSettlement], consumer: str = "writer-1",
                 block_ms: int = 1000) -> None:
        self.client = client
        self.settlements = settlements
        self.block_ms = block_ms
        for name, settlement in settlements.items():
            if settlement.stash is None:
                settlement.stash = ReportStash(client, name)
        self.reader = RedisConsumer(client, GROUP, consumer, [events_key(name) for name in settlements], count=200,
                                    max_attempts=MAX_ATTEMPTS)
        self.reader.create_groups()

    def step(self, pending: bool = False) -> int:
        """One read: pending (unacknowledged, after a crash) entries first, then new ones."""
        handled = 0
        for batch in self.reader.read(pending=pending, block_ms=self.block_ms):
            done = [entry_id for entry_id, fields in batch.entries
                    if self._settle_entry(batch.stream, batch.shard, entry_id, fields)]
            self._commit(batch.stream, batch.shard, done)
            handled += len(batch.entries)
        return handled

    def _settle_entry(self, stream: str, symbol: str, entry_id: str, fields) -> bool:
        """Settle one entry; False leaves it pending for a retry."""
        ts = int(entry_id.split("-", 1)[0])
        settlement = self.settlements[symbol]
        settlement.stash.entry_id = entry_id
        try:
            event = event_from_dict(json.loads(fields["event"]))
            outcome = settlement.apply(event, ts)
            log.debug("settled %s %s: %s", symbol, entry_id, outcome)
        except Exception:
            attempts = self.reader.failed(stream, entry_id, fields)
            if not attempts.dead:
                log.exception("settlement of %s %s failed (attempt %d); will retry", symbol, entry_id, attempts.count)
                return False
            log.error("settlement of %s %s failed %d times: dead-lettered", symbol, entry_id, attempts.count)
        return True

    def _commit(self, stream: str, symbol: str, done: list[str]) -> None:
        """Reports, acknowledgements and the stash's end in one MULTI (one slot): all, or the entries come again."""
        settlement = self.settlements[symbol]
        finished = {settlement.stash.key(entry_id) for entry_id in done}  # a failed entry's stash waits for its retry
        reports = settlement.take_reports()
        stashed = [key for key in settlement.stash.take_keys() if key in finished]
        if not done and not reports:
            return

        def outputs(pipe) -> None:
            for report in reports:
                user_data_stream.append(pipe, symbol, report.account, report.report, report.assets)
            if stashed:
                pipe.delete(*stashed)

        self.reader.commit(stream, done, outputs)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set() and self.step(pending=True):
            pass
        while not stop.is_set():
            self.step()
            self.step(pending=True)  # retries of failed entries


def bootstrap(settings: EngineSettings) -> SettlementWriter:
    wiring = Adapters(settings.stack)
    symbols = default_symbols()
    commissions = AccountCommissions(wiring.profiles)
    settlements = {name: SymbolSettlement(symbols[name], wiring.orders, commissions) for name in settings.symbols}
    return SettlementWriter(connect(settings.redis_url), settlements)


class AccountCommissions:
    """Each account's maker/taker rates from its profile, cached a minute (rates change rarely)."""

    def __init__(self, profiles, ttl_s: float = 60.0) -> None:
        self.ttl_s = ttl_s
        self._cache: dict[int, tuple[float, Commission]] = {}
        self._accounts = profiles  # castle.adapters.dynamo_accounts.DynamoAccounts, or None: the default rates

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
