"""The market-data publisher on a real redis-server, with the engine in-process; what it puts on the bus is recorded."""

from __future__ import annotations

import json

import pytest

from castle.adapters.redis_streams import RedisCommandStream
from castle.codec import command_to_dict
from castle.orders import PlaceOrder, Side
from castle.symbols import default_symbols
from matching_container.engine import bootstrap as engine_bootstrap
from castle.adapters.redis_frames import PREFIX, RedisFrameBus, market_channel, user_channel
from matching_container.publisher import Publisher, Routes
from matching_container.settings import EngineSettings

SYMBOL = "BTCUSDT"
BTC = default_symbols()[SYMBOL]
P = 3_000_000

pytestmark = pytest.mark.integration
DEFAULT_ROUTES = Routes({"btcusdt@trade", "btcusdt@depth@100ms", "btcusdt@aggTrade"})


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def world(redis_url, redis_client):
    import time

    engine = engine_bootstrap(EngineSettings(redis_url=redis_url, symbols=(SYMBOL,), block_ms=50), redis_client)
    engine.recover()
    commands = RedisCommandStream(redis_client)
    ids = iter(range(1, 10_000))
    sent: list[tuple[str, dict]] = []
    clock = Clock()
    clock.now = time.time()

    class Bus(RedisFrameBus):
        def publish(self, frames):
            sent.extend((channel.removeprefix(PREFIX), json.loads(data)) for channel, data in frames)
            super().publish(frames)

    def publisher(routes: Routes | None = DEFAULT_ROUTES) -> Publisher:
        """`routes`: who listens, fixed; None: who listens on the bus, as the process reads it."""
        pub = Publisher(redis_client, [BTC], clock=clock, block_ms=10,
                        listening=None if routes is None else (lambda: routes))
        pub.bus = Bus(redis_client)
        pub.recover()
        return pub

    def place(side: Side, price: int, qty: int, account: int) -> None:
        ts = int(clock.now * 1000)
        commands.send(SYMBOL, command_to_dict(PlaceOrder(next(ids), account, side, price=price, qty=qty, ts=ts)))
        while engine.step():
            pass

    def tick(pub: Publisher) -> None:
        pub._read(">", block=None)
        clock.now += 0.2
        pub.tick_depth(slow=False)
        pub.flush()

    return publisher, place, tick, sent


def test_a_fill_goes_out_as_trade_and_agg_trade_each_on_its_streams_channel(world):
    publisher, place, tick, sent = world
    pub = publisher()
    place(Side.SELL, P, 300, 1)
    place(Side.BUY, P, 100, 2)
    tick(pub)
    trades = [m for c, m in sent if c == "btcusdt@trade"]
    assert [(t["e"], t["p"], t["q"], t["m"]) for t in trades] == [("trade", "30000.00000000", "0.00100000", False)]
    aggs = [m for c, m in sent if c == "btcusdt@aggTrade"]
    assert aggs[0]["a"] == 1 and aggs[0]["q"] == "0.00100000"


def test_a_stream_no_one_listens_to_is_not_computed(world):
    publisher, place, tick, sent = world
    pub = publisher(Routes({"btcusdt@aggTrade"}))
    place(Side.SELL, P, 300, 1)
    place(Side.BUY, P, 100, 2)
    tick(pub)
    assert {c for c, _ in sent} == {"btcusdt@aggTrade"}


def test_depth_diffs_are_contiguous_and_match_the_mirror(world, redis_client):
    from castle.adapters.redis_streams import RedisBookMirror

    publisher, place, tick, sent = world
    pub = publisher()
    tick(pub)  # loads the replica
    place(Side.SELL, P + 10, 300, 1)
    tick(pub)
    place(Side.BUY, P - 10, 200, 2)
    place(Side.BUY, P + 10, 100, 2)
    tick(pub)
    diffs = [m for c, m in sent if c == "btcusdt@depth@100ms"]
    assert len(diffs) == 2 and diffs[1]["U"] == diffs[0]["u"] + 1
    assert diffs[1]["a"] == [["30000.10000000", "0.00200000"]] and diffs[1]["b"] == [["29999.90000000", "0.00200000"]]
    assert diffs[1]["u"] == RedisBookMirror(redis_client).depth(SYMBOL, 10).last_update_id


def test_a_restarted_publisher_resumes_without_resending_and_with_a_gap_in_depth(world):
    publisher, place, tick, sent = world
    first = publisher()
    tick(first)
    place(Side.SELL, P, 300, 1)
    place(Side.BUY, P, 100, 2)
    tick(first)
    before = len([m for _, m in sent if m.get("e") == "trade"])
    last_u = [m for c, m in sent if m.get("e") == "depthUpdate"][-1]["u"]
    place(Side.BUY, P, 50, 2)  # while the publisher is down
    second = publisher()  # kill -9 and start: the group position and the projection state come from Redis
    tick(second)
    place(Side.BUY, P, 50, 2)
    tick(second)
    trades = [m for _, m in sent if m.get("e") == "trade"]
    assert [t["t"] for t in trades] == [1, 2, 3] and before == 1
    diffs = [m for c, m in sent if m.get("e") == "depthUpdate"]
    assert diffs[-1]["U"] > last_u + 1  # a gap: Binance's procedure makes the client resync


def test_user_data_goes_to_the_accounts_channel_then_its_position(world, redis_client):
    from castle.adapters import redis_user_data

    publisher, _, _, sent = world
    pub = publisher(None)
    pub.balances = lambda account: {"USDT": (99_700 * 10**8, 300 * 10**8), "BTC": (10**8, 0)}
    listener = redis_client.pubsub()
    listener.subscribe(user_channel(7), market_channel("btcusdt@trade"))
    pub.refresh_routes()  # who listens, from the bus: account 7 and one trade stream
    assert (pub.routes.streams, pub.routes.users) == ({"btcusdt@trade"}, {7})
    report = {"e": "executionReport", "i": 1, "x": "NEW"}
    redis_user_data.append(redis_client, SYMBOL, 7, report, ["USDT"])
    redis_user_data.append(redis_client, SYMBOL, 8, {**report, "i": 2}, ["USDT"])  # no one listens to account 8
    pub._read(">", block=None)
    pub.flush()
    listener.close()

    assert [c for c, _ in sent] == ["user:7", "user:7"]
    assert sent[0][1] == report
    assert sent[1][1]["e"] == "outboundAccountPosition" and sent[1][1]["B"] == [
        {"a": "USDT", "f": "99700.00000000", "l": "300.00000000"}]


def test_a_deposit_reaches_the_account_as_balance_update(world, redis_client):
    from castle.adapters import redis_user_data
    from castle.user_data import balance_update

    publisher, _, _, sent = world
    pub = publisher(Routes(users={9}))
    redis_user_data.append_wallet(redis_client, 9, balance_update("BTC", 5 * 10**8, 2, 1), ["BTC"])
    pub._read(">", block=None)
    pub.flush()
    assert [m["e"] for c, m in sent if c == "user:9"] == ["balanceUpdate", "outboundAccountPosition"]
    assert sent[0][1]["d"] == "5.00000000"


def test_a_new_listener_of_a_diff_stream_hears_nothing_until_the_book_changes_then_only_that(world):
    publisher, place, tick, sent = world
    listening = Routes()
    pub = publisher(None)
    pub.listening = lambda: listening
    tick(pub)
    place(Side.SELL, P + 10, 300, 1)  # while no one listens: the replica follows all the same
    tick(pub)
    listening = Routes({"btcusdt@depth@100ms"})
    tick(pub)
    tick(pub)
    assert sent == []  # nothing on connect: not the diff of a change from before
    place(Side.BUY, P - 10, 200, 2)
    tick(pub)
    assert [(m["b"], m["a"]) for _, m in sent] == [([["29999.90000000", "0.00200000"]], [])]
    listening = Routes({"btcusdt@depth"})  # a first listener of the 1 s diffs, and an order at once
    place(Side.BUY, P - 20, 100, 2)
    sent.clear()
    pub.tick_depth(slow=True)
    pub.flush()
    assert [(c, m["a"]) for c, m in sent] == [("btcusdt@depth", [["30000.10000000", "0.00300000"]])]
    assert sent[0][1]["b"] == [["29999.90000000", "0.00200000"], ["29999.80000000", "0.00100000"]]


def test_each_command_that_moves_the_top_goes_out_as_a_book_ticker_even_within_one_read(world):
    publisher, place, tick, sent = world
    pub = publisher(Routes({"btcusdt@bookTicker"}))
    place(Side.BUY, P - 10, 100, 1)
    place(Side.BUY, P, 100, 1)  # a better bid
    place(Side.SELL, P, 100, 2)  # taken: the best bid is back
    place(Side.BUY, P - 20, 100, 1)  # below the top: no bookTicker
    tick(pub)
    assert [(m["b"], m["B"], m["a"]) for _, m in sent] == [
        ("29999.90000000", "0.00100000", "0.00000000"), ("30000.00000000", "0.00100000", "0.00000000"),
        ("29999.90000000", "0.00100000", "0.00000000")]
