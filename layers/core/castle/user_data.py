"""The user data stream: an account's own changes, as Binance pushes them to its listenKey.

Settlement knows each order's state after every engine event (it writes it),
so it builds the `executionReport` here, from the order's record after the
event. The publisher delivers it to the account's listenKey connections,
followed by an `outboundAccountPosition` of the assets the event moved; a
deposit or withdrawal is a `balanceUpdate`. Amounts come in as integer units and
leave formatted as Binance prints them.

Binance (user-data-stream.md): execution types NEW, CANCELED, REPLACED (an
amend that keeps priority), REJECTED, TRADE, EXPIRED and TRADE_PREVENTION (an
expiry by self-trade prevention, with status EXPIRED_IN_MATCH). An order the
engine rejects at placement never existed for the client (the REST call got
the error), so it gets no report.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from castle.accounts import BALANCE_SCALE
from castle.money import format_units
from castle.order_records import OrderRecord
from castle.orders import OrderStatus
from castle.symbols import Symbol

NEW, CANCELED, REPLACED, TRADE, EXPIRED, TRADE_PREVENTION = (
    "NEW", "CANCELED", "REPLACED", "TRADE", "EXPIRED", "TRADE_PREVENTION")


@dataclass(frozen=True, slots=True)
class Fill:
    """One side of a trade, as its order's owner sees it."""

    trade_id: int
    price: int  # ticks
    qty: int  # lots
    commission: int  # 1e-8 units of commission_asset
    commission_asset: str
    is_maker: bool


def _amount(units: int) -> str:
    return format_units(units, BALANCE_SCALE)


def execution_report(
    symbol: Symbol, order: OrderRecord, execution: str, ts: int, execution_id: int, fill: Fill | None = None, *,
    orig_client_order_id: str = "", last_prevented: int = 0,
) -> dict:
    """Binance's `executionReport` for `order` as it stands after the event (its record after settlement)."""
    status = order.status if order.status is not OrderStatus.PENDING_NEW else OrderStatus.NEW
    working = order.working_time if order.working_time >= 0 else (-1 if order.is_stop else order.time)
    report = {
        "e": "executionReport",
        "E": ts,
        "s": order.symbol,
        "c": order.client_order_id,
        "S": str(order.side),
        "o": str(order.type),
        "f": str(order.tif),
        "q": symbol.format_qty(order.qty),
        "p": symbol.format_price(order.price),
        "P": symbol.format_price(order.stop_price),
        "F": symbol.format_qty(order.iceberg_qty),
        "g": -1,
        "C": orig_client_order_id,
        "x": execution,
        "X": str(status),
        "r": "NONE",
        "i": order.order_id,
        "l": symbol.format_qty(fill.qty if fill else 0),
        "z": symbol.format_qty(order.executed),
        "L": symbol.format_price(fill.price if fill else 0),
        "n": _amount(fill.commission) if fill else "0",
        "N": fill.commission_asset if fill else None,
        "T": ts,
        "t": fill.trade_id if fill else -1,
        "I": execution_id,
        "w": order.is_open and working >= 0,
        "m": fill.is_maker if fill else False,
        "M": False,
        "O": order.time,
        "Z": symbol.format_quote(order.cum_quote),
        "Y": symbol.format_quote(fill.price * fill.qty if fill else 0),
        "Q": symbol.format_quote(order.quote_qty),
    }
    if working >= 0:
        report["W"] = working
    report["V"] = str(order.stp)
    if execution == TRADE_PREVENTION:
        report["A"] = symbol.format_qty(order.prevented_qty)
        report["B"] = symbol.format_qty(last_prevented)
    return report


def account_position(balances: Mapping[str, tuple[int, int]], assets: Iterable[str], ts: int, updated: int) -> dict:
    """`outboundAccountPosition`: free and locked of the assets an event may have changed."""
    rows = []
    for asset in sorted(set(assets)):
        free, locked = balances.get(asset, (0, 0))
        rows.append({"a": asset, "f": _amount(free), "l": _amount(locked)})
    return {"e": "outboundAccountPosition", "E": ts, "u": updated, "B": rows}


def balance_update(asset: str, delta: int, ts: int, cleared: int) -> dict:
    """`balanceUpdate`: a deposit (positive) or withdrawal (negative), in 1e-8 units."""
    return {"e": "balanceUpdate", "E": ts, "a": asset, "d": _amount(delta), "T": cleared}
