"""In-memory stand-ins for the futures ports: a journal that runs the real engine, and records kept by settle()."""

from __future__ import annotations

from itertools import count

from castle.futures.brackets import default_brackets
from castle.futures.codec import command_from_dict, event_from_dict, event_to_dict
from castle.futures.contracts import default_contracts
from castle.futures.engine import FuturesEngine
from castle.futures.records import (
    AccountView,
    FundingRecord,
    FuturesOrderRecord,
    IncomeRecord,
    PositionRecord,
    SymbolConfigRecord,
    TradeRecord,
    wallet_account,
)
from castle.futures.settle import FuturesSettlement, settle_command
from castle.ledger import Bucket, LedgerEntry


class MemoryFuturesRecords:
    """The store's rules in memory: versioned records keep the newest, rows and entries are written once."""

    def __init__(self) -> None:
        self.orders: dict[tuple[int, str, int], FuturesOrderRecord] = {}
        self.positions: dict[tuple[int, str, str], PositionRecord] = {}
        self.configs: dict[tuple[int, str], SymbolConfigRecord] = {}
        self.trade_rows: dict[tuple[int, str, int, bool], TradeRecord] = {}
        self.incomes: dict[tuple[int, int], IncomeRecord] = {}
        self.fundings: dict[tuple[str, int], FundingRecord] = {}
        self.balances: dict[tuple[str, str], int] = {}
        self.entries: set[str] = set()

    # -- settlement's side
    def write(self, s: FuturesSettlement) -> None:
        for r in s.orders:
            self._newest(self.orders, (r.order.account, r.order.symbol, r.order.order_id), r)
        for r in s.positions:
            self._newest(self.positions, (r.account, r.symbol, r.position_side), r)
        for r in s.configs:
            self._newest(self.configs, (r.account, r.symbol), r)
        for t in s.trades:
            self.trade_rows.setdefault((t.account, t.symbol, t.trade_id, t.maker), t)
        for i in s.income:
            self.incomes.setdefault((i.account, i.tran_id), i)
        for f in s.funding:
            self.fundings.setdefault((f.symbol, f.funding_time), f)
        for entry in s.entries:
            self.post(entry)

    def post(self, entry: LedgerEntry) -> None:
        if entry.entry_id in self.entries:
            return
        self.entries.add(entry.entry_id)
        for p in entry.postings:
            assert p.bucket is Bucket.FREE
            self.balances[(p.account, p.asset)] = self.balances.get((p.account, p.asset), 0) + p.amount

    @staticmethod
    def _newest(table: dict, key, record) -> None:
        old = table.get(key)
        if old is None or old.version < record.version:
            table[key] = record

    # -- FuturesRecords
    def order(self, account, symbol, order_id):
        return self.orders.get((account, symbol, order_id))

    def order_by_client_id(self, account, symbol, client_order_id):
        return next((r for (a, s, _), r in sorted(self.orders.items())
                     if a == account and s == symbol and r.order.client_order_id == client_order_id), None)

    def open_orders(self, account, symbol=None):
        return [r for (a, s, _), r in sorted(self.orders.items())
                if a == account and symbol in (None, s) and r.is_open]

    def all_orders(self, account, symbol, from_id=0, limit=500):
        return [r for (a, s, oid), r in sorted(self.orders.items())
                if a == account and s == symbol and oid >= from_id][:limit]

    def trades_of(self, account, symbol):
        return [t for (a, s, _, _), t in sorted(self.trade_rows.items()) if a == account and s == symbol]

    def trades(self, account, symbol, from_id=0, limit=500):
        return [t for t in self.trades_of(account, symbol) if t.trade_id >= from_id][:limit]

    def income(self, account, limit=1000):
        return [i for (a, _), i in sorted(self.incomes.items()) if a == account][:limit]

    def account(self, account):
        configs = {s: c for (a, s), c in self.configs.items() if a == account and s}
        mode = self.configs.get((account, ""))
        return AccountView(
            wallet=self.balances.get((wallet_account(account), "USDT"), 0),
            dual=mode.dual if mode else False,
            configs=configs,
            positions=[p for (a, _, _), p in sorted(self.positions.items()) if a == account],
            open_orders=self.open_orders(account),
        )

    def funding_rates(self, symbol, limit=100):
        return [f for (s, _), f in sorted(self.fundings.items()) if s == symbol][:limit]


class EngineJournal:
    """The journal, the engine and settlement in one call: what the API sees, without Redis or DynamoDB."""

    def __init__(self, records: MemoryFuturesRecords, engine: FuturesEngine | None = None) -> None:
        self.engine = engine or FuturesEngine(default_contracts(), default_brackets())
        self.records = records
        self.order_ids = count(1)
        self.tran_ids = count(1)
        self.sent: list[dict] = []

    def next_order_id(self) -> int:
        return next(self.order_ids)

    def next_tran_id(self) -> int:
        return next(self.tran_ids)

    def call(self, command: dict, timeout_s: float) -> dict | None:
        self.sent.append(command)
        events = self.engine.submit(command_from_dict(command))
        wire = [event_to_dict(e) for e in events]
        self.records.write(settle_command(self.engine.seq, [event_from_dict(e) for e in wire]))
        return {"command_id": f"{len(self.sent)}-0", "seq": self.engine.seq, "events": wire}

    def depth(self, symbol: str, limit: int):
        return self.engine.books[symbol].depth(limit)


class FixedMarks:
    def __init__(self, marks: dict[str, tuple[int, int, int, int]] | None = None) -> None:
        self.values = marks or {}

    def marks(self):
        return dict(self.values)
