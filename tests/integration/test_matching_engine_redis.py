"""The matching engine runner end to end against a real redis-server.

Commands go in through the journal stream exactly as the gateway will write
them; the tests read the events stream, the replies and the depth mirror.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from castle.adapters.redis_streams import (
    RedisBookMirror,
    RedisCommandStream,
    RedisEventLog,
    checkpoint_key,
    command_key,
)
from castle.codec import command_to_dict
from castle.orders import CancelOrder, PlaceOrder, Side
from matching_container.engine import bootstrap
from matching_container.settings import EngineSettings

from tests.integration.engine_process import serve_one_order

ROOT = Path(__file__).resolve().parents[2]
SYMBOL = "BTCUSDT"
BUY, SELL = Side.BUY, Side.SELL

pytestmark = pytest.mark.integration


def place(order_id: int, account: int, side: Side, price: int, qty: int) -> dict:
    return command_to_dict(PlaceOrder(order_id, account, side, price=price, qty=qty, ts=1_700_000_000_000))


@pytest.fixture
def settings(redis_url, redis_client) -> EngineSettings:
    return EngineSettings(redis_url=redis_url, symbols=(SYMBOL, "ETHUSDT"), block_ms=50)


@pytest.fixture
def engine(settings, redis_client):
    """A runner in a background thread, as the container runs it; stopped and joined after the test."""
    stop = threading.Event()
    runner = bootstrap(settings, redis_client)
    thread = threading.Thread(target=runner.run, args=(stop,), daemon=True)
    thread.start()
    yield runner
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()


@pytest.fixture
def commands(redis_client) -> RedisCommandStream:
    return RedisCommandStream(redis_client)


def test_placed_order_is_acknowledged_through_its_reply_key(engine, commands):
    reply = commands.call(SYMBOL, place(1, 7, BUY, 3_000_000, 100), timeout_s=5)

    assert reply["seq"] == 1
    assert [e["type"] for e in reply["events"]] == ["OrderAccepted"]
    assert reply["events"][0] == {
        "type": "OrderAccepted", "seq": 1, "order_id": 1, "account": 7, "side": "BUY",
        "price": 3_000_000, "qty": 100, "ts": 1_700_000_000_000,
    }


def test_crossing_orders_trade_and_every_event_lands_on_the_events_stream(engine, commands, redis_client):
    commands.call(SYMBOL, place(1, 7, SELL, 3_000_000, 100))
    reply = commands.call(SYMBOL, place(2, 8, BUY, 3_000_100, 40))

    assert [e["type"] for e in reply["events"]] == ["OrderAccepted", "TradeExecuted"]
    events = RedisEventLog(redis_client).read(SYMBOL)
    assert [(e["type"], e["seq"]) for _, e in events] == [
        ("OrderAccepted", 1), ("OrderAccepted", 2), ("TradeExecuted", 2),
    ]
    trade = events[-1][1]
    assert (trade["price"], trade["qty"], trade["maker_remaining"], trade["taker_side"]) == (3_000_000, 40, 60, "BUY")
    entry = redis_client.xrange(f"castle:{{{SYMBOL}}}:events")[-1][1]
    assert entry["command_id"] == reply["command_id"] and entry["seq"] == "2"


def test_depth_mirror_follows_the_book_with_its_last_update_id(engine, commands, redis_client):
    commands.call(SYMBOL, place(1, 7, BUY, 2_999_000, 100))
    commands.call(SYMBOL, place(2, 7, BUY, 2_999_500, 50))
    commands.call(SYMBOL, place(3, 8, SELL, 3_001_000, 30))
    commands.call(SYMBOL, place(4, 9, SELL, 2_999_500, 50))  # takes the best bid level entirely

    depth = RedisBookMirror(redis_client).depth(SYMBOL, limit=10)

    assert depth.last_update_id == 4
    assert depth.bids == [(2_999_000, 100)]
    assert depth.asks == [(3_001_000, 30)]


def test_cancel_removes_the_level_from_the_mirror(engine, commands, redis_client):
    commands.call(SYMBOL, place(1, 7, SELL, 3_001_000, 30))
    reply = commands.call(SYMBOL, command_to_dict(CancelOrder(1, 7, ts=1)))

    assert [e["type"] for e in reply["events"]] == ["OrderCanceled"]
    depth = RedisBookMirror(redis_client).depth(SYMBOL)
    assert (depth.last_update_id, depth.asks) == (2, [])


def test_symbols_are_independent_books_with_their_own_sequence(engine, commands):
    commands.call(SYMBOL, place(1, 7, BUY, 3_000_000, 100))
    reply = commands.call("ETHUSDT", place(1, 7, BUY, 200_000, 10))

    assert reply["seq"] == 1 and reply["events"][0]["type"] == "OrderAccepted"


def test_malformed_command_gets_an_error_reply_and_the_engine_keeps_going(engine, commands):
    bad = commands.call(SYMBOL, {"command": "PlaceOrder", "order_id": "one"})
    good = commands.call(SYMBOL, place(1, 7, BUY, 3_000_000, 100))

    assert bad["error"] == {"code": -1000, "msg": "Malformed command."}
    assert good["seq"] == 1


def test_restart_replays_the_journal_and_publishes_nothing_twice(settings, redis_client, commands):
    commands.send(SYMBOL, place(1, 7, SELL, 3_000_000, 100))
    commands.send(SYMBOL, place(2, 8, BUY, 3_000_000, 30))
    first = bootstrap(settings, redis_client)
    first.recover()
    commands.send(SYMBOL, place(3, 9, BUY, 3_000_000, 20))  # accepted while the engine was down

    second = bootstrap(settings, redis_client)
    second.recover()

    events = RedisEventLog(redis_client).read(SYMBOL)
    assert [e["seq"] for _, e in events] == [1, 2, 2, 3, 3]
    assert second.engines[SYMBOL].state_hash() != first.engines[SYMBOL].state_hash()
    assert redis_client.hget(checkpoint_key(SYMBOL), "seq") == "3"
    depth = RedisBookMirror(redis_client).depth(SYMBOL)
    assert (depth.last_update_id, depth.asks) == (3, [(3_000_000, 50)])


def test_container_entry_point_serves_commands_and_stops_on_sigterm(redis_url, redis_client):
    out = serve_one_order(redis_url, redis_client)
    assert '"message": "stopped"' in out
    assert redis_client.xlen(command_key(SYMBOL)) == 1
