"""The engine makes no reference cycles, so the matching process can pace its cyclic GC (collector.py)."""

import gc

import pytest
from castle.matching import MatchingEngine
from castle.snapshot import restore, take_snapshot
from castle.symbols import default_symbols
from matching_container.collector import PacedCollector

from tests.engine_journal import journal


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
    for cmd in journal(7, 5_000):
        engine.submit(cmd)
    engine.book.take_diff()
    restore(engine.symbol, take_snapshot(engine)).state_hash()
    del engine

    assert gc.collect() == 0


def test_the_command_mix_reaches_trades_stops_rejections_and_prevented_matches(collector_off):
    engine = MatchingEngine(default_symbols()["BTCUSDT"])
    kinds = {type(e).__name__ for cmd in journal(7, 5_000) for e in engine.submit(cmd)}

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
