"""Conditional orders (STOP, TAKE_PROFIT, their _MARKET forms, TRAILING_STOP_MARKET): parked until triggered.

Binance: a conditional order holds no margin and is not in the book until its
trigger fires; then it is placed as a LIMIT (STOP, TAKE_PROFIT) or MARKET order
and checked like any new order. The trigger watches the last trade price
(workingType CONTRACT_PRICE) or the mark price (MARK_PRICE):
- STOP / STOP_MARKET: a BUY fires when the price rises to the stop, a SELL when it falls to it;
- TAKE_PROFIT / TAKE_PROFIT_MARKET: the other way round;
- TRAILING_STOP_MARKET: once the price reaches the activation price (at once
  without one), a SELL tracks the highest price since and fires when the price
  falls `callbackRate` below it; a BUY tracks the lowest and fires `callbackRate` above.
With priceProtect, a trigger fires only while |mark - last| / mark <= triggerProtect.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from castle import errors
from castle.futures.commands import FuturesOrder, FuturesOrderType, WorkingType
from castle.futures.contracts import RATE_ONE
from castle.orders import Side


def rises(cmd: FuturesOrder) -> bool:
    """Whether the order fires on a rising price (a stop buy, a take-profit sell)."""
    return cmd.type.is_stop == (cmd.side is Side.BUY)


@dataclass(slots=True)
class Parked:
    cmd: FuturesOrder
    time: int
    active: bool = True  # a trailing stop before its activation price is inactive
    extreme: int = 0  # a trailing stop's best price since activation

    def trailing_trigger(self) -> int:
        rate = self.cmd.callback_rate or 0
        if self.cmd.side is Side.SELL:
            return self.extreme * (RATE_ONE - rate) // RATE_ONE
        return -((-self.extreme * (RATE_ONE + rate)) // RATE_ONE)


def check_not_triggered(cmd: FuturesOrder, price: int | None) -> None:
    """-2021 for a trigger the current price already meets (and a trailing activation already passed)."""
    if price is None:
        return
    if cmd.type is FuturesOrderType.TRAILING_STOP_MARKET:
        at = cmd.activation_price
        if at is not None and (price >= at if cmd.side is Side.SELL else price <= at):
            raise errors.would_immediately_trigger()
        return
    stop = cmd.stop_price
    if (price >= stop) if rises(cmd) else (price <= stop):
        raise errors.would_immediately_trigger()


class ConditionalBook:
    """Parked orders per (symbol, working type), in heaps by trigger price; trailing stops apart."""

    def __init__(self) -> None:
        self.orders: dict[int, Parked] = {}
        self._rise: dict[tuple[str, WorkingType], list[tuple[int, int]]] = {}  # (stop, id): fires when price >= stop
        self._fall: dict[tuple[str, WorkingType], list[tuple[int, int]]] = {}  # (-stop, id): fires when price <= stop
        self._trailing: dict[tuple[str, WorkingType], list[int]] = {}
        self.per_symbol: dict[str, int] = {}  # parked orders per symbol: a price with none to fire costs nothing
        self.per_account: dict[tuple[int, str], int] = {}  # per (account, symbol): MAX_NUM_ORDERS

    def park(self, cmd: FuturesOrder, price: int | None, ts: int) -> Parked:
        parked = Parked(cmd, ts)
        key = (cmd.symbol, cmd.working_type)
        if cmd.type is FuturesOrderType.TRAILING_STOP_MARKET:
            parked.active = cmd.activation_price is None
            parked.extreme = price or 0
            self._trailing.setdefault(key, []).append(cmd.order_id)
        elif rises(cmd):
            heapq.heappush(self._rise.setdefault(key, []), (cmd.stop_price, cmd.order_id))
        else:
            heapq.heappush(self._fall.setdefault(key, []), (-cmd.stop_price, cmd.order_id))
        self.orders[cmd.order_id] = parked
        self._count(cmd, 1)
        return parked

    def _count(self, cmd: FuturesOrder, delta: int) -> None:
        self.per_symbol[cmd.symbol] = self.per_symbol.get(cmd.symbol, 0) + delta
        key = (cmd.account, cmd.symbol)
        self.per_account[key] = self.per_account.get(key, 0) + delta

    def count(self, account: int, symbol: str) -> int:
        return self.per_account.get((account, symbol), 0)

    def remove(self, order_id: int) -> Parked | None:
        """Forget an order; heap entries of removed orders are dropped lazily."""
        parked = self.orders.pop(order_id, None)
        if parked is not None:
            self._count(parked.cmd, -1)
            if parked.cmd.type is FuturesOrderType.TRAILING_STOP_MARKET:
                self._trailing[(parked.cmd.symbol, parked.cmd.working_type)].remove(order_id)
        return parked

    def trailing_in_order(self) -> list[Parked]:
        """Trailing stops in the order a price checks them (per symbol and working type, then as parked)."""
        return [self.orders[i] for key in sorted(self._trailing) for i in self._trailing[key]]

    def of(self, account: int, symbol: str | None = None) -> list[Parked]:
        return [p for p in self.orders.values() if p.cmd.account == account and symbol in (None, p.cmd.symbol)]

    def fire(self, symbol: str, working: WorkingType, price: int, protected_ok: bool = True) -> list[FuturesOrder]:
        """Remove and return the orders this price triggers, in trigger-price then id order."""
        key = (symbol, working)
        fired: list[FuturesOrder] = []
        held: list[tuple[list, tuple[int, int]]] = []
        rise = self._rise.get(key)
        while rise and rise[0][0] <= price:
            entry = heapq.heappop(rise)
            self._take(entry[1], rise, entry, fired, held, protected_ok)
        fall = self._fall.get(key)
        while fall and -fall[0][0] >= price:
            entry = heapq.heappop(fall)
            self._take(entry[1], fall, entry, fired, held, protected_ok)
        for heap, entry in held:  # price-protected orders wait for the mark and last to converge
            heapq.heappush(heap, entry)
        for order_id in list(self._trailing.get(key, ())):
            parked = self.orders[order_id]
            if self._trail(parked, price) and (protected_ok or not parked.cmd.price_protect):
                self.remove(order_id)
                fired.append(parked.cmd)
        return fired

    def _take(self, order_id: int, heap: list, entry: tuple, fired: list, held: list, protected_ok: bool) -> None:
        parked = self.orders.get(order_id)
        if parked is None:
            return  # canceled earlier
        if parked.cmd.price_protect and not protected_ok:
            held.append((heap, entry))
            return
        del self.orders[order_id]
        self._count(parked.cmd, -1)
        fired.append(parked.cmd)

    @staticmethod
    def _trail(parked: Parked, price: int) -> bool:
        cmd = parked.cmd
        sell = cmd.side is Side.SELL
        if not parked.active:
            if (price >= cmd.activation_price) if sell else (price <= cmd.activation_price):
                parked.active, parked.extreme = True, price
            return False
        if (price > parked.extreme) if sell else (price < parked.extreme):
            parked.extreme = price
            return False
        return price <= parked.trailing_trigger() if sell else price >= parked.trailing_trigger()
