"""Snapshots restore behaviour: a restored engine continues exactly like the original."""

from __future__ import annotations

import ast
import json
import random
from pathlib import Path

import castle.snapshot
from castle.codec import event_to_dict
from castle.events import StopTriggered
from castle.matching import MatchingEngine
from castle.orders import CancelOrder, OrderType, PlaceOrder, Side, TimeInForce
from castle.snapshot import restore, take_snapshot
from castle.symbols import default_symbols

SYMBOL = default_symbols()["BTCUSDT"]
P = 3_000_000


def random_commands(seed: int, n: int, first_id: int = 1) -> list:
    rng = random.Random(seed)
    out, ids = [], []
    for i in range(n):
        oid = first_id + i
        roll = rng.random()
        side = rng.choice((Side.BUY, Side.SELL))
        account = rng.randint(1, 4)
        ts = 1_000 + oid * 7
        if roll < 0.5:
            out.append(
                PlaceOrder(
                    oid, account, side, price=P + rng.randint(-20, 20), qty=rng.randint(100, 900),
                    iceberg_qty=rng.choice((None, None, 150)), ts=ts,
                )
            )
            ids.append((oid, account))
        elif roll < 0.65 and ids:
            target, owner = rng.choice(ids)
            out.append(CancelOrder(target, owner, ts))
        elif roll < 0.8:
            out.append(PlaceOrder(oid, account, side, type=OrderType.MARKET, qty=rng.randint(200, 900), ts=ts))
        elif roll < 0.9:
            out.append(
                PlaceOrder(oid, account, side, price=P + rng.randint(-20, 20), qty=300, tif=TimeInForce.IOC, ts=ts)
            )
        else:
            stop_type = rng.choice((OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT_LIMIT))
            rising = (side is Side.BUY) == (stop_type is OrderType.STOP_LOSS_LIMIT)
            stop = P + (25 if rising else -25)
            out.append(
                PlaceOrder(oid, account, side, type=stop_type, price=stop, stop_price=stop, qty=300,
                           tif=TimeInForce.GTC, ts=ts)
            )
    return out


def test_restored_engine_has_the_same_state_hash():
    engine = MatchingEngine(SYMBOL)
    for cmd in random_commands(1, 400):
        engine.submit(cmd)
    restored = restore(SYMBOL, json.loads(json.dumps(take_snapshot(engine))))
    assert restored.state_hash() == engine.state_hash()


def test_restored_engine_continues_with_identical_events():
    engine = MatchingEngine(SYMBOL)
    for cmd in random_commands(2, 300):
        engine.submit(cmd)
    restored = restore(SYMBOL, json.loads(json.dumps(take_snapshot(engine))))
    for cmd in random_commands(3, 300, first_id=10_000):
        original = [event_to_dict(e) for e in engine.submit(cmd)]
        assert [event_to_dict(e) for e in restored.submit(cmd)] == original
    assert restored.state_hash() == engine.state_hash()


def test_restored_engine_continues_depth_diffs_without_a_gap():
    engine = MatchingEngine(SYMBOL)
    for cmd in random_commands(4, 100):
        engine.submit(cmd)
    last = engine.book.take_diff()
    restored = restore(SYMBOL, take_snapshot(engine))
    cmd = PlaceOrder(99_999, 9, Side.BUY, price=P - 500, qty=100, ts=10**7)
    restored.submit(cmd)
    assert restored.book.take_diff().first_update_id == last.last_update_id + 1


def test_snapshot_of_another_symbol_is_refused():
    data = take_snapshot(MatchingEngine(SYMBOL))
    try:
        restore(default_symbols()["ETHUSDT"], data)
    except ValueError:
        return
    raise AssertionError("restore accepted a snapshot of another symbol")


def test_a_restored_engine_triggers_stops_at_one_price_in_the_order_they_were_placed():
    engine = MatchingEngine(SYMBOL)
    engine.submit(PlaceOrder(1, 1, Side.SELL, price=P, qty=100, ts=1))
    engine.submit(PlaceOrder(2, 2, Side.BUY, price=P, qty=100, ts=2))
    stop = dict(type=OrderType.STOP_LOSS_LIMIT, price=P + 10, stop_price=P + 10, qty=100, tif=TimeInForce.GTC)
    for oid in (9, 5, 7):  # placed in this order; the ids say nothing of it
        engine.submit(PlaceOrder(oid, 3, Side.BUY, ts=oid, **stop))
    restored = restore(SYMBOL, json.loads(json.dumps(take_snapshot(engine))))
    restored.submit(PlaceOrder(20, 1, Side.SELL, price=P + 10, qty=100, ts=30))
    events = restored.submit(PlaceOrder(21, 2, Side.BUY, price=P + 10, qty=100, ts=31))
    assert [e.order_id for e in events if isinstance(e, StopTriggered)] == [9, 5, 7]


def test_snapshots_touch_no_private_field_or_method_of_the_engine():
    """The engine keeps its own bookkeeping: a snapshot reads and restores it through public methods."""
    tree = ast.parse(Path(castle.snapshot.__file__).read_text())
    private = sorted(
        {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr.startswith("_") and not n.attr.endswith("__")}
    )
    assert private == []
