"""A futures market in a few lines: the engine, funded accounts, marks and orders by plain numbers."""

from __future__ import annotations

from itertools import count

from castle.futures.brackets import default_brackets
from castle.futures.commands import (
    FuturesCancel,
    FuturesOrder,
    FuturesOrderType,
    FuturesTimeInForce,
    TransferIn,
    UpdateMarks,
    WorkingType,
)
from castle.futures.contracts import default_contracts
from castle.futures.engine import FuturesEngine
from castle.futures.events import OrderRejected, OrderUpdated
from castle.futures.positions import PositionSide
from castle.orders import Side
from castle.symbols import units

T0 = 1_700_000_000_000


def u(text: str | int) -> int:
    return units(str(text))


class World:
    def __init__(self) -> None:
        self.engine = FuturesEngine(default_contracts(), default_brackets())
        self.ids = count(1)
        self.ts = T0
        self.log: list[tuple[object, list]] = []

    def submit(self, command) -> list:
        events = self.engine.submit(command)
        self.log.append((command, events))
        return events

    def fund(self, account: int, amount: str) -> list:
        return self.submit(TransferIn(account, next(self.ids), u(amount), self.ts))

    def mark(self, symbol: str, price: str) -> list:
        return self.submit(UpdateMarks({symbol: (u(price), u(price))}, self.ts))

    def order(self, account: int, side: str, qty: str | None, price: str | None = None, *, symbol: str = "BTCUSDT",
              type: str | None = None, tif: str = "GTC", reduce_only: bool = False, position_side: str = "BOTH",
              stop: str | None = None, working: str = "CONTRACT_PRICE", close_position: bool = False,
              activation: str | None = None, callback: str | None = None) -> list:
        kind = FuturesOrderType(type or ("LIMIT" if price is not None else "MARKET"))
        cmd = FuturesOrder(
            symbol, next(self.ids), account, Side(side), kind, None if qty is None else u(qty),
            None if price is None else u(price), FuturesTimeInForce(tif), PositionSide(position_side), reduce_only,
            close_position, None if stop is None else u(stop), WorkingType(working),
            None if activation is None else u(activation), None if callback is None else u(callback) // 100,
            ts=self.ts)
        return self.submit(cmd)

    def cancel(self, account: int, order_id: int, symbol: str = "BTCUSDT") -> list:
        return self.submit(FuturesCancel(symbol, order_id, account, self.ts))

    def leg(self, account: int, symbol: str = "BTCUSDT", side: str = "BOTH"):
        return self.engine.account(account).leg(symbol, PositionSide(side))

    def position(self, account: int, symbol: str = "BTCUSDT", side: str = "BOTH") -> int:
        return self.leg(account, symbol, side).position.amount

    def wallet(self, account: int) -> int:
        return self.engine.account(account).wallet

    def available(self, account: int) -> int:
        return self.engine.valuation(self.engine.account(account)).available


def rejected(events: list) -> tuple[int, str] | None:
    for e in events:
        if isinstance(e, OrderRejected):
            return e.code, e.msg
        if type(e).__name__ == "CommandRejected":
            return e.code, e.msg
    return None


def statuses(events: list) -> list[tuple[int, str]]:
    return [(e.order.order_id, e.order.status) for e in events if isinstance(e, OrderUpdated)]


def order_id(events: list) -> int:
    return next(e.order.order_id for e in events if isinstance(e, OrderUpdated))
