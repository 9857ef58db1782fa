"""Engine snapshots: everything a restarted engine needs, as plain JSON data.

Crash recovery loads the latest snapshot, then replays the journal's commands
after `seq`. So a snapshot must restore *behaviour*, not just the depth:
queue order within each level (price-time priority), iceberg slices, parked
stops with their trigger order, the rolling average price and the id
counters. `state_hash()` of the restored engine equals the original's.
"""

from __future__ import annotations

from castle.codec import command_from_dict, command_to_dict
from castle.matching import MatchingEngine
from castle.orders import Side, resting_order
from castle.stats import AveragePrice
from castle.symbols import Symbol

FORMAT = 1


def take_snapshot(engine: MatchingEngine) -> dict:
    book = engine.book
    rise, fall = engine.trigger_queues()
    return {
        "format": FORMAT,
        "symbol": engine.symbol.name,
        "seq": engine.seq,
        "trade_id": engine.trade_id,
        "prevented_match_id": engine.prevented_match_id,
        "flushed_update_id": book.flushed_id,
        # Queue order matters: orders are listed level by level, front of the queue first.
        "orders": [
            [o.id, o.account, o.side.value, o.price, o.qty, o.remaining, o.visible, o.iceberg, o.time, o.client_id]
            for o in book.orders()
        ],
        "stops": [command_to_dict(engine.stops[oid]) for oid in sorted(engine.stops)],
        "rise": [list(entry) for entry in rise],
        "fall": [list(entry) for entry in fall],
        "avg_price": engine.avg_price.to_dict(),
    }


def restore(symbol: Symbol, data: dict) -> MatchingEngine:
    if data.get("format") != FORMAT or data.get("symbol") != symbol.name:
        raise ValueError(f"snapshot is not a format-{FORMAT} snapshot of {symbol.name}")
    engine = MatchingEngine(symbol)
    engine.seq = data["seq"]
    engine.book.update_id = data["seq"]
    engine.trade_id = data["trade_id"]
    engine.prevented_match_id = data["prevented_match_id"]
    for oid, account, side, price, qty, remaining, visible, iceberg, time, client_id in data["orders"]:
        order = resting_order(oid, account, Side(side), price, qty, remaining, iceberg, time, client_id)
        order.visible = visible
        engine.rest(order)
    engine.book.mark_flushed(data["flushed_update_id"])
    # Each stop goes back with the seq it was parked with: that is its rank among stops one trade meets.
    parked_at = {oid: seq for _, seq, oid in data["rise"] + data["fall"]}
    for raw in data["stops"]:
        cmd = command_from_dict(raw)
        engine.park(cmd, parked_at[cmd.order_id])
    engine.avg_price = AveragePrice.from_dict(data["avg_price"])
    return engine
