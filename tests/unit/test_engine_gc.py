"""The engine makes no reference cycles, so the matching process can pace its cyclic GC (collector.py)."""

import gc
import random

import pytest
from castle.matching import MatchingEngine
from castle.orders import (
    AmendOrder,
    CancelAllOrders,
    CancelOrder,
    CancelReplace,
    OrderType,
    PlaceOrder,
    Side,
    StpMode,
    TimeInForce,
)
from castle.snapshot import restore, take_snapshot
from castle.symbols import default_symbols
from matching_container.collector import PacedCollector

P = 3_000_000
ACCOUNTS = range(1, 7)  # few accounts: self-trade prevention fires


def every_kind_of_command(n: int, seed: int = 7):
    """A seeded mix of every command and order type, rejections and stop triggers included."""
    rng = random.Random(seed)
    ids: list[tuple[int, int]] = []
    for i in range(1, n + 1):
        ts = 1_000 * i
        account = rng.choice(ACCOUNTS)
        side = rng.choice((Side.BUY, Side.SELL))
        price = P + rng.randint(-20, 20)
        r = rng.random()
        if r < 0.15 and ids:
            oid, owner = rng.choice(ids)
            yield CancelOrder(oid, owner if rng.random() < 0.9 else owner + 1, ts)
        elif r < 0.2 and ids:
            oid, owner = rng.choice(ids)
            yield AmendOrder(oid, owner, rng.randint(1, 300), ts)
        elif r < 0.23 and ids:
            oid, owner = rng.choice(ids)
            yield CancelReplace(CancelOrder(oid, owner, ts), PlaceOrder(i, owner, side, price=price, qty=50, ts=ts))
            ids.append((i, owner))
        elif r < 0.25:
            yield CancelAllOrders(account, ts)
        else:
            kind = rng.choice(list(OrderType))
            stop = P + rng.randint(-10, 10) if kind.is_stop else None
            yield PlaceOrder(
                i if rng.random() < 0.98 else max(1, i - 1),  # a few duplicate ids
                account,
                side,
                kind,
                price=price if kind.has_price else None,
                qty=rng.randint(1, 400) if kind is not OrderType.MARKET or rng.random() < 0.8 else None,
                quote_qty=None if kind is not OrderType.MARKET else P * rng.randint(50, 200),
                tif=rng.choice(list(TimeInForce)) if kind in (OrderType.LIMIT, OrderType.STOP_LOSS_LIMIT) else (
                    TimeInForce.GTC),
                stop_price=stop,
                iceberg_qty=rng.randint(5, 50) if kind is OrderType.LIMIT and rng.random() < 0.2 else None,
                stp=rng.choice(list(StpMode)),
                client_order_id=f"c{i}" if rng.random() < 0.1 else None,
                ts=ts,
            )
            ids.append((i, account))


@pytest.fixture
def collector_off():
    """Automatic collection off, everything that exists now frozen; restored afterwards."""
    gc.collect()
    gc.freeze()
    gc.disable()
    yield
    gc.unfreeze()
    gc.enable()


def test_every_command_type_frees_all_it_allocates_without_the_cyclic_collector(collector_off):
    engine = MatchingEngine(default_symbols()["BTCUSDT"])
    for cmd in every_kind_of_command(5_000):
        engine.submit(cmd)
    engine.book.take_diff()
    restore(engine.symbol, take_snapshot(engine)).state_hash()
    del engine

    assert gc.collect() == 0


def test_the_command_mix_reaches_trades_stops_rejections_and_prevented_matches(collector_off):
    engine = MatchingEngine(default_symbols()["BTCUSDT"])
    kinds = {type(e).__name__ for cmd in every_kind_of_command(5_000) for e in engine.submit(cmd)}

    assert {"TradeExecuted", "StopTriggered", "OrderRejected", "PreventedMatch", "OrderAmended"} <= kinds


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_paced_collector_switches_automatic_collection_off_until_it_stops():
    collector = PacedCollector(60, Clock())
    collector.start()
    try:
        assert not gc.isenabled()
    finally:
        collector.stop()
    assert gc.isenabled()


def test_paced_collector_frees_a_cycle_only_once_its_period_is_over():
    clock = Clock()
    collector = PacedCollector(60, clock)
    collector.start()
    try:
        cycle: list = []
        cycle.append(cycle)
        del cycle
        clock.now = 59.0
        collector.maybe_collect()
        clock.now = 60.0
        collector.maybe_collect()
    finally:
        collector.stop()

    assert (collector.stats.passes, collector.stats.found) == (1, 1)
