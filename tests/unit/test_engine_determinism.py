"""Determinism: the same commands give the same events and the same state (replay after a crash)."""

import copy

from castle import events as ev
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
from castle.symbols import default_symbols

P = 3_000_000
ALICE, BOB, CAROL = 1, 2, 3
BUY, SELL = Side.BUY, Side.SELL


def journal():
    """A journal touching every command type and most order types."""
    return [
        PlaceOrder(1, BOB, SELL, price=P, qty=300, ts=1_000),
        PlaceOrder(2, CAROL, SELL, price=P + 1, qty=1000, iceberg_qty=100, ts=2_000),
        PlaceOrder(3, ALICE, BUY, price=P - 1, qty=200, client_order_id="a", ts=3_000),
        PlaceOrder(4, ALICE, BUY, OrderType.MARKET, qty=150, ts=4_000),
        PlaceOrder(5, ALICE, SELL, OrderType.STOP_LOSS, qty=100, stop_price=P - 5, ts=5_000),
        PlaceOrder(6, BOB, BUY, price=P + 1, qty=400, tif=TimeInForce.IOC, ts=6_000),
        AmendOrder(3, ALICE, 150, ts=7_000),
        PlaceOrder(7, CAROL, BUY, price=P + 1, qty=50, stp=StpMode.EXPIRE_BOTH, ts=8_000),
        PlaceOrder(8, BOB, SELL, price=P - 5, qty=400, ts=9_000),
        CancelReplace(CancelOrder(3, ALICE), PlaceOrder(9, ALICE, BUY, price=P - 6, qty=10, ts=10_000)),
        PlaceOrder(10, ALICE, BUY, OrderType.MARKET, quote_qty=P * 77, ts=61_000),
        CancelOrder(2, CAROL, ts=62_000),
        CancelAllOrders(BOB, ts=63_000),
    ]


def run(commands):
    engine = MatchingEngine(default_symbols()["BTCUSDT"])
    log = [ev.to_dict(e) for c in commands for e in engine.submit(c)]
    return log, engine


def test_replaying_a_journal_gives_identical_events():
    assert run(journal())[0] == run(journal())[0]


def test_replaying_a_journal_gives_an_identical_state_hash():
    assert run(journal())[1].state_hash() == run(journal())[1].state_hash()


def test_state_hash_changes_when_the_book_changes():
    log, engine = run(journal())
    before = engine.state_hash()
    engine.submit(PlaceOrder(99, ALICE, BUY, price=P - 100, qty=1, ts=70_000))
    assert engine.state_hash() != before


def test_the_journal_exercises_trades_stops_and_prevention():
    kinds = {e["type"] for e in run(journal())[0]}
    assert {
        "TradeExecuted",
        "StopTriggered",
        "PreventedMatch",
        "OrderAmended",
        "OrderCanceled",
        "OrderExpired",
    } <= kinds


def test_events_round_trip_through_their_dict_form():
    log, _ = run(journal())
    assert [ev.to_dict(ev.from_dict(d)) for d in log] == log


def test_event_dicts_hold_only_plain_values():
    log, _ = run(journal())
    plain = (int, str, type(None), bool)
    assert all(isinstance(v, plain) for d in log for v in d.values())


def test_submitting_commands_does_not_change_them():
    commands = journal()
    before = copy.deepcopy(commands)
    run(commands)
    assert [repr(c) for c in commands] == [repr(c) for c in before]


def test_amending_a_parked_stop_does_not_change_the_journaled_command():
    commands = [PlaceOrder(1, ALICE, BUY, OrderType.STOP_LOSS, qty=100, stop_price=P), AmendOrder(1, ALICE, 50)]
    first, _ = run(commands)
    replay, _ = run(commands)  # the same command objects, as a journal in memory would hold them
    assert replay == first


def engine_after(commands):
    return run(commands)[1]


def test_state_hash_tells_apart_books_that_differ_in_client_order_ids():
    a = engine_after([PlaceOrder(1, ALICE, BUY, price=P, qty=100, client_order_id="x")])
    b = engine_after([PlaceOrder(1, ALICE, BUY, price=P, qty=100, client_order_id="y")])
    assert a.state_hash() != b.state_hash()


def test_state_hash_tells_apart_engines_with_different_average_prices():
    def trades(first_qty, second_qty):
        return [
            PlaceOrder(1, BOB, SELL, price=P - 100, qty=first_qty),
            PlaceOrder(2, CAROL, BUY, price=P - 100, qty=first_qty),
            PlaceOrder(3, BOB, SELL, price=P, qty=second_qty),
            PlaceOrder(4, CAROL, BUY, price=P, qty=second_qty),
        ]

    a, b = engine_after(trades(100, 1)), engine_after(trades(1, 100))
    hashes = a.state_hash(), b.state_hash()
    probe = PlaceOrder(5, ALICE, BUY, price=5 * P - 5, qty=1)  # within 5x the average for b only
    assert type(a.submit(probe)[0]) is not type(b.submit(copy.copy(probe))[0])  # they behave differently...
    assert hashes[0] != hashes[1]  # ...so their hashes must differ
