"""In-memory stand-ins for the DynamoDB adapters, behind the same ports, with the same conditions.

`MemoryLedger` and `MemoryOrders` keep what `DynamoLedger` and `DynamoOrders`
keep and refuse what they refuse: an entry applied twice, a user balance that
would go below zero (-2010, nothing written), a fill of a trade the order has
already taken, a status change of an order no longer in the expected status,
a trade row written twice. tests/unit/test_settle_events.py runs one flow on
both and checks that they end in the same state.
"""

from __future__ import annotations

from dataclasses import replace

from castle import errors
from castle.ledger import SYSTEM_ACCOUNTS, Bucket, LedgerEntry
from castle.order_records import OrderRecord
from castle.orders import FINAL_STATUSES
from castle.settle_events import OrderChange, SettlementStep, TradeSide


class MemoryLedger:
    def __init__(self) -> None:
        self.entries: dict[str, LedgerEntry] = {}
        self.buckets: dict[tuple[str, str], dict[Bucket, int]] = {}

    def refuses(self, entry: LedgerEntry | None) -> bool:
        """True if applied before; raises -2010 if a user bucket would go negative."""
        if entry is None:
            return False
        if entry.entry_id in self.entries:
            return True
        for (account, asset), change in entry.changes().items():
            if account in SYSTEM_ACCOUNTS:
                continue
            bucket = self.buckets.get((account, asset), {Bucket.FREE: 0, Bucket.LOCKED: 0})
            if any(bucket[b] + change[b] < 0 for b in (Bucket.FREE, Bucket.LOCKED)):
                raise errors.insufficient_balance()
        return False

    def post(self, entry: LedgerEntry | None) -> None:
        if entry is None:
            return
        self.entries[entry.entry_id] = entry
        for key, change in entry.changes().items():
            bucket = self.buckets.setdefault(key, {Bucket.FREE: 0, Bucket.LOCKED: 0})
            for b in (Bucket.FREE, Bucket.LOCKED):
                bucket[b] += change[b]

    def apply(self, entry: LedgerEntry | None) -> bool:
        if self.refuses(entry):
            return False
        self.post(entry)
        return True

    def balances(self, account: str) -> dict[str, tuple[int, int]]:
        return {asset: (b[Bucket.FREE], b[Bucket.LOCKED]) for (acc, asset), b in self.buckets.items() if acc == account}

    def all_balances(self) -> dict[tuple[str, str], int]:
        return {key: b[Bucket.FREE] + b[Bucket.LOCKED] for key, b in self.buckets.items()}


class MemoryOrders:
    """The order records and trade rows, and settlement's port (`get`, `write`)."""

    def __init__(self, ledger: MemoryLedger) -> None:
        self.ledger = ledger
        self.records: dict[tuple[int, str, int], OrderRecord] = {}
        self.trades: dict[tuple[str, int, str], TradeSide] = {}

    def create_pending(self, record: OrderRecord, hold: LedgerEntry | None) -> None:
        key = (record.account, record.symbol, record.order_id)
        if key in self.records or self.ledger.refuses(hold):
            raise RuntimeError(f"order {record.order_id} already exists: order ids must be unique")
        self.ledger.post(hold)
        self.records[key] = replace(record)

    def get(self, account: int, symbol: str, order_id: int) -> OrderRecord | None:
        record = self.records.get((account, symbol, order_id))
        return None if record is None else replace(record)

    def write(self, step: SettlementStep) -> bool:
        if self.ledger.refuses(step.entry):
            return False
        if not all(self._allows(change) for change in step.changes):
            return False
        if any((t.symbol, t.id, t.side) in self.trades for t in step.trades):
            return False
        self.ledger.post(step.entry)
        for change in step.changes:
            self._change(change)
        for trade in step.trades:
            self.trades[(trade.symbol, trade.id, trade.side)] = trade
        return True

    def _allows(self, change: OrderChange) -> bool:
        stored = self.records.get(_key(change.after))
        if stored is None:
            return False
        if change.trade_id:
            return stored.last_trade_id < change.trade_id
        allowed = change.from_statuses or tuple(s for s in type(stored.status) if s not in FINAL_STATUSES)
        return stored.status in allowed

    def _change(self, change: OrderChange) -> None:
        """As DynamoDB's update expressions do: fills add their deltas, other changes set what changed."""
        after = change.after
        stored = self.records[_key(after)]
        common = {"status": after.status, "update_time": after.update_time}
        if change.trade_id:
            added = {name: getattr(stored, name) + change.delta(name) for name in ("executed", "cum_quote", "hold_used")}
            self.records[_key(after)] = replace(stored, last_trade_id=change.trade_id, **added, **common)
            return
        prevented = stored.prevented_qty + change.delta("prevented_qty")
        self.records[_key(after)] = replace(stored, prevented_qty=prevented, **change.settings(), **common)


def _key(record: OrderRecord) -> tuple[int, str, int]:
    return record.account, record.symbol, record.order_id
