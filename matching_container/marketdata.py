"""The market-data projector: `python -m matching_container.marketdata`.

Consumes each symbol's `castle:{SYMBOL}:events` with its own consumer group
(`marketdata`, through castle.adapters.redis_consumer), applies
castle.marketdata's projection, and stores trades,
aggTrades, klines and its own state with the XACK in one MULTI. So a crash at
any point (kill -9 included) is harmless: on start it reclaims the group's
pending entries, re-reads them, and the projection's cursor skips whatever a
redelivery repeats. Runs next to the engine (same task, second container).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterable

import redis

from castle.adapters.redis_consumer import RedisConsumer
from castle.adapters.redis_keys import events_key, shard_of
from castle.adapters.redis_marketdata import RedisMarketDataStore
from castle.adapters.redis_streams import connect
from castle.marketdata.projection import MarketDataProjection
from matching_container.process import run_process
from matching_container.settings import EngineSettings

log = logging.getLogger("castle.marketdata")


class Projector:
    def __init__(
        self,
        client: redis.Redis,
        symbols: Iterable[str],
        group: str = "marketdata",
        consumer: str = "projector",
        block_ms: int = 1000,
        count: int = 1000,
    ) -> None:
        self.client = client
        self.store = RedisMarketDataStore(client)
        self.block_ms = block_ms
        self.symbols = list(symbols)
        # From the start of each stream: the projection is rebuilt from history.
        self.reader = RedisConsumer(client, group, consumer, {events_key(s): "0" for s in self.symbols}, count=count)
        self.projections: dict[str, MarketDataProjection] = {}

    def recover(self) -> None:
        """Load each symbol's state, take over the group's pending entries, and apply them."""
        self.reader.create_groups()
        for symbol in self.symbols:
            self.projections[symbol] = MarketDataProjection(self.store.load_state(symbol))
        self.reader.reclaim()
        while self._read(pending=True):  # our pending entries, oldest first
            pass
        log.info("recovered: %s", ", ".join(f"{s}@{p.state.cursor}" for s, p in self.projections.items()))

    def step(self) -> int:
        """Apply one read of new entries; returns how many entries it handled."""
        return self._read(block_ms=self.block_ms)

    def catch_up(self) -> None:
        """Apply everything the stream holds now, without waiting."""
        while self._read():
            pass

    def _read(self, pending: bool = False, block_ms: int | None = None) -> int:
        handled = 0
        for batch in self.reader.read(pending, block_ms):
            self.apply(shard_of(batch.stream), batch.entries)
            handled += len(batch.entries)
        return handled

    def apply(self, symbol: str, entries: list[tuple[str, dict]]) -> None:
        projection = self.projections[symbol]
        for entry_id, fields in entries:
            if fields is None:  # trimmed from the stream while pending: nothing to apply
                continue
            try:
                event = json.loads(fields["event"])
            except (KeyError, ValueError):
                log.error("malformed event %s on %s", entry_id, symbol)
                continue
            projection.apply(entry_id, event)
        changes = projection.take_changes()
        try:
            self.reader.commit(events_key(symbol), [e[0] for e in entries],
                               lambda pipe: self.store.stage(pipe, symbol, changes, projection.state))
        except redis.RedisError:
            # Nothing was stored: forget what was applied in memory; the entries stay pending.
            self.projections[symbol] = MarketDataProjection(self.store.load_state(symbol))
            raise

    def run(self, stop: threading.Event) -> None:
        self.recover()
        log.info("ready: %s (group %s, consumer %s)", ", ".join(self.projections), self.reader.group,
                 self.reader.consumer)
        while not stop.is_set():
            try:
                self.step()
            except redis.RedisError:
                log.exception("redis error; retrying from the pending entries")
                stop.wait(1.0)
                if not stop.is_set():
                    self.recover()
        log.info("stopped")


def bootstrap(settings: EngineSettings, client=None) -> Projector:
    client = client or connect(settings.redis_url)
    return Projector(client, settings.symbols, consumer=settings.md_consumer, block_ms=settings.block_ms,
                     count=settings.batch_size)


def main() -> int:
    return run_process("market-data projector", lambda settings, stop: bootstrap(settings).run(stop))


if __name__ == "__main__":
    sys.exit(main())
