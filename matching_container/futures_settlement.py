"""The futures settlement writer: the futures market's events -> orders, positions, trades, income and the ledger.

A consumer group (`futures-settlement`) on `castle:{UM}:events`. Each entry is
settled by castle.futures.settle (pure) and written by the records adapter;
every write is idempotent (versioned records keep the newest, rows and ledger
entries are written once), so an entry is acknowledged only after its writes
landed, and a redelivery after a crash changes nothing. An entry that keeps
failing goes to the dead-letter stream after a few tries.

`python -m matching_container.futures_settlement` beside the futures engine.
"""

from __future__ import annotations

import json
import logging
import sys
import threading

from castle.adapters.redis_consumer import RedisConsumer
from castle.adapters.redis_keys import FUTURES_SHARD, events_key
from castle.futures.codec import event_from_dict
from castle.futures.settle import entry_version, settle
from matching_container.process import run_process

log = logging.getLogger("castle.futures.settlement")
GROUP = "futures-settlement"
MAX_ATTEMPTS = 5


class FuturesSettlementWriter:
    def __init__(self, client, records, consumer: str = "futures-settlement-1", block_ms: int = 1000) -> None:
        self.records = records  # castle.adapters.dynamo_futures.DynamoFuturesRecords (or the in-memory fake)
        self.block_ms = block_ms
        self.reader = RedisConsumer(client, GROUP, consumer, [events_key(FUTURES_SHARD)], count=200,
                                    max_attempts=MAX_ATTEMPTS)
        self.reader.create_groups()

    def step(self, pending: bool = False) -> int:
        handled = 0
        for batch in self.reader.read(pending=pending, block_ms=self.block_ms):
            done = [entry_id for entry_id, fields in batch.entries if self._settle(batch.stream, entry_id, fields)]
            if done:
                self.reader.commit(batch.stream, done)
            handled += len(batch.entries)
        return handled

    def _settle(self, stream: str, entry_id: str, fields) -> bool:
        try:
            event = event_from_dict(json.loads(fields["event"]))
            self.records.write(settle([(entry_version(entry_id), event)]))
        except Exception:
            attempts = self.reader.failed(stream, entry_id, fields)
            if not attempts.dead:
                log.exception("futures settlement of %s failed (attempt %d); will retry", entry_id, attempts.count)
                return False
            log.error("futures settlement of %s failed %d times: dead-lettered", entry_id, attempts.count)
        return True

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set() and self.step(pending=True):
            pass
        while not stop.is_set():
            self.step()
            self.step(pending=True)


def bootstrap(settings) -> FuturesSettlementWriter:
    from castle.adapters.bootstrap import Adapters
    from castle.adapters.redis_streams import connect

    return FuturesSettlementWriter(connect(settings.redis_url), Adapters(settings.stack).futures_records)


def run(settings, stop: threading.Event) -> None:
    writer = bootstrap(settings)
    log.info("futures settlement writer ready")
    writer.run(stop)
    log.info("futures settlement writer stopped")


def main() -> int:
    return run_process("futures settlement writer", run, required_env=("FUTURES_TABLE", "BALANCES_TABLE"))


if __name__ == "__main__":
    sys.exit(main())
