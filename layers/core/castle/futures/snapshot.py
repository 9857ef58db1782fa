"""Futures engine snapshots: the whole market (accounts, working and parked orders, marks, books) as JSON data.

As spot's (castle.snapshot): a restored engine must *behave* as the original,
so `state_hash()` matches and replaying the journal after the snapshot's
command gives the same events. Each contract's book is spot's snapshot; the
risk state around the books is written out field by field. Parked orders keep
their trailing state and the order trailing stops are checked in.
"""

from __future__ import annotations

from castle.futures.accounts import FuturesAccount, Leg, SymbolSettings
from castle.futures.brackets import BracketBook
from castle.futures.codec import command_from_dict, command_to_dict
from castle.futures.commands import FuturesOrderType
from castle.futures.conditional import Parked
from castle.futures.contracts import PerpetualContract
from castle.futures.engine import FuturesEngine
from castle.futures.margin import MarginType
from castle.futures.positions import Position, PositionSide
from castle.futures.working import Working
from castle.snapshot import restore as restore_book
from castle.snapshot import take_snapshot as book_snapshot

FORMAT = 1


def take_snapshot(engine: FuturesEngine) -> dict:
    return {
        "format": FORMAT,
        "seq": engine.seq,
        "accounts": [_account(a) for a in sorted(engine.accounts.values(), key=lambda a: a.id)],
        "orders": [_working(w) for _, w in sorted(engine.orders.items())],
        "parked": [[command_to_dict(p.cmd), p.time, p.active, p.extreme]
                   for p in _parked_in_order(engine)],
        "marks": sorted([s, m, engine.indexes.get(s, m)] for s, m in engine.marks.items()),
        "funding_rates": sorted(engine.funding_rates.items()),
        "transfers": sorted(engine.transfers),
        "books": {name: book_snapshot(book) for name, book in sorted(engine.books.items())},
    }


def restore(contracts: dict[str, PerpetualContract], brackets: BracketBook, data: dict) -> FuturesEngine:
    if data.get("format") != FORMAT:
        raise ValueError(f"not a format-{FORMAT} futures snapshot")
    engine = FuturesEngine(contracts, brackets)
    engine.seq = data["seq"]
    for name, book in data["books"].items():
        engine.books[name] = restore_book(engine.books[name].symbol, book)
    for raw in data["accounts"]:
        account = engine.account(raw["id"])
        account.wallet, account.dual = raw["wallet"], raw["dual"]
        for symbol, leverage, margin_type in raw["settings"]:
            account.settings[symbol] = SymbolSettings(leverage, MarginType(margin_type))
        for symbol, side, amount, cost, flow, realized, iso, bids, asks, closing, orders in raw["legs"]:
            position = Position(symbol, PositionSide(side), amount, cost, flow, realized)
            account.legs[(symbol, PositionSide(side))] = Leg(position, iso, bids, asks, closing, orders)
    for raw in data["orders"]:
        cmd = command_from_dict(raw["cmd"])
        working = Working(cmd, FuturesOrderType(raw["orig_type"]), raw["qty"], raw["closing"], raw["time"],
                          raw["executed"], raw["cum_quote"], raw["realized"], raw["status"], raw["value"],
                          raw["update_time"], raw["market"])
        engine.orders[cmd.order_id] = working
        if working.closing:
            key = (cmd.symbol, cmd.side)
            engine.reduce_only_makers[key] = engine.reduce_only_makers.get(key, 0) + 1
    for raw_cmd, time, active, extreme in data["parked"]:
        cmd = command_from_dict(raw_cmd)
        parked = engine.conditional.park(cmd, None, time)
        parked.active, parked.extreme = active, extreme
    for symbol, mark, index in data["marks"]:
        engine.marks[symbol], engine.indexes[symbol] = mark, index
    engine.funding_rates = dict(data["funding_rates"])
    engine.transfers = set(data["transfers"])
    return engine


def _account(a: FuturesAccount) -> dict:
    return {
        "id": a.id, "wallet": a.wallet, "dual": a.dual,
        "settings": sorted([s, v.leverage, str(v.margin_type)] for s, v in a.settings.items()),
        "legs": sorted([s, str(k), leg.position.amount, leg.position.cost, leg.position.flow, leg.position.realized,
                        leg.isolated_wallet, leg.bids, leg.asks, leg.closing_qty, leg.orders]
                       for (s, k), leg in a.legs.items()),
    }


def _working(w: Working) -> dict:
    return {"cmd": command_to_dict(w.cmd), "orig_type": str(w.orig_type), "qty": w.qty, "closing": w.closing,
            "time": w.time, "executed": w.executed, "cum_quote": w.cum_quote, "realized": w.realized,
            "status": w.status, "value": w.value, "update_time": w.update_time, "market": w.market}


def _parked_in_order(engine: FuturesEngine) -> list[Parked]:
    """Parked orders, trailing stops last in the order they are checked, so that parking them again keeps it."""
    book = engine.conditional
    others = [p for _, p in sorted(book.orders.items()) if p.cmd.type is not FuturesOrderType.TRAILING_STOP_MARKET]
    return others + book.trailing_in_order()

