"""What the futures API service needs from the world: the engine's journal, the settled records, the marks.

Adapters implement these (castle/adapters/dynamo_futures.py, redis_streams);
tests give in-memory fakes through the same interfaces.
"""

from __future__ import annotations

from typing import Protocol

from castle.futures.records import AccountView, FundingRecord, FuturesOrderRecord, IncomeRecord, TradeRecord


class FuturesJournal(Protocol):
    def next_order_id(self) -> int:
        """A fresh order id for the futures market (one counter for every contract)."""

    def next_tran_id(self) -> int:
        """A fresh transfer id (TransferIn/TransferOut, Binance's tranId)."""

    def call(self, command: dict, timeout_s: float) -> dict | None:
        """Append a command (castle.futures.codec's dict) and wait for the engine's reply.

        The reply is {"command_id", "seq", "events": [event dicts]} or {"command_id", "error": {code, msg}};
        None when no reply came in time (then the command may still run: Binance's -1007).
        """

    def depth(self, symbol: str, limit: int):
        """The contract's mirrored book: castle.book.DepthSnapshot in ticks and lots of its book symbol."""


class FuturesRecords(Protocol):
    def order(self, account: int, symbol: str, order_id: int) -> FuturesOrderRecord | None: ...

    def order_by_client_id(self, account: int, symbol: str, client_order_id: str) -> FuturesOrderRecord | None: ...

    def open_orders(self, account: int, symbol: str | None = None) -> list[FuturesOrderRecord]: ...

    def all_orders(self, account: int, symbol: str, from_id: int = 0, limit: int = 500) -> list[FuturesOrderRecord]:
        """Orders of one symbol with order id >= from_id, oldest first."""

    def trades(self, account: int, symbol: str, from_id: int = 0, limit: int = 500) -> list[TradeRecord]:
        """Fills of one symbol with trade id >= from_id, oldest first."""

    def income(self, account: int, limit: int = 1000) -> list[IncomeRecord]:
        """The account's income records, oldest first (the caller filters by type, symbol and time)."""

    def account(self, account: int) -> AccountView:
        """Wallet (the ledger's UM:<id> balance), settings, positions and open orders."""

    def funding_rates(self, symbol: str, limit: int = 100) -> list[FundingRecord]:
        """The symbol's settled funding events, oldest first."""


class MarkPrices(Protocol):
    def marks(self) -> dict[str, tuple[int, int, int, int]]:
        """symbol -> (mark, index, last funding rate, next funding time), as the mark-price feed last wrote them."""
