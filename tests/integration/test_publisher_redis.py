"""The market-data publisher on a real redis-server, with the engine in-process and a fake poster."""

from __future__ import annotations

import json

import pytest

from castle.adapters.redis_streams import RedisCommandStream
from castle.codec import command_to_dict
from castle.orders import PlaceOrder, Side
from castle.symbols import default_symbols
from matching_container.engine import bootstrap as engine_bootstrap
from matching_container.publisher import Publisher, Routes
from matching_container.settings import EngineSettings

SYMBOL = "BTCUSDT"
BTC = default_symbols()[SYMBOL]
P = 3_000_000

pytestmark = pytest.mark.integration


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

    def publisher() -> Publisher:
        pub = Publisher(redis_client, [BTC], lambda conn, data: sent.append((conn, json.loads(data))), clock=clock,
                        block_ms=10)
        pub.routes = Routes({"btcusdt@trade": ["raw"], "btcusdt@depth@100ms": ["raw", "comb"],
                             "btcusdt@aggTrade": ["comb"]}, {"raw": False, "comb": True})
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

    return publisher, place, tick, sent


def test_a_fill_goes_out_as_trade_to_raw_and_combined_agg_trade(world):
    publisher, place, tick, sent = world
    pub = publisher()
    place(Side.SELL, P, 300, 1)
    place(Side.BUY, P, 100, 2)
    tick(pub)
    trades = [m for c, m in sent if c == "raw" and m.get("e") == "trade"]
    assert [(t["p"], t["q"], t["m"]) for t in trades] == [("30000.00000000", "0.00100000", False)]
    aggs = [m for c, m in sent if c == "comb" and m.get("stream") == "btcusdt@aggTrade"]
    assert aggs[0]["data"]["a"] == 1 and aggs[0]["data"]["q"] == "0.00100000"


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
    diffs = [m for c, m in sent if c == "raw" and m.get("e") == "depthUpdate"]
    assert len(diffs) == 2 and diffs[1]["U"] == diffs[0]["u"] + 1
    assert diffs[1]["a"] == [["30000.10000000", "0.00200000"]] and diffs[1]["b"] == [["29999.90000000", "0.00200000"]]
    assert diffs[1]["u"] == RedisBookMirror(redis_client).depth(SYMBOL, 10).last_update_id
    assert [m["stream"] for c, m in sent if c == "comb" and "stream" in m and m["stream"].endswith("100ms")] == [
        "btcusdt@depth@100ms"] * 2


def test_a_restarted_publisher_resumes_without_resending_and_with_a_gap_in_depth(world):
    publisher, place, tick, sent = world
    first = publisher()
    tick(first)
    place(Side.SELL, P, 300, 1)
    place(Side.BUY, P, 100, 2)
    tick(first)
    before = len([m for _, m in sent if m.get("e") == "trade"])
    last_u = [m for c, m in sent if c == "raw" and m.get("e") == "depthUpdate"][-1]["u"]
    place(Side.BUY, P, 50, 2)  # while the publisher is down
    second = publisher()  # kill -9 and start: the group position and the projection state come from Redis
    tick(second)
    place(Side.BUY, P, 50, 2)
    tick(second)
    trades = [m for _, m in sent if m.get("e") == "trade"]
    assert [t["t"] for t in trades] == [1, 2, 3] and before == 1
    diffs = [m for c, m in sent if c == "raw" and m.get("e") == "depthUpdate"]
    assert diffs[-1]["U"] > last_u + 1  # a gap: Binance's procedure makes the client resync


def test_a_closed_listen_key_gets_listen_key_expired_once(world, redis_client):
    from castle.adapters.redis_listen_keys import RedisListenKeys

    publisher, _, _, sent = world
    pub = publisher()
    keys = RedisListenKeys(redis_client)
    live, dead = keys.create(7), keys.create(8)
    keys.close(8, dead)
    pub.routes = Routes({f"listenKey@{live}": ["u1"], f"listenKey@{dead}": ["u2"]}, {"u1": False, "u2": False})
    pub.tick_tickers()
    pub.tick_tickers()
    assert [(c, m["e"], m["listenKey"]) for c, m in sent] == [("u2", "listenKeyExpired", dead)]


def test_user_data_goes_to_the_accounts_listen_keys_then_its_position(world, redis_client):
    from castle.adapters import redis_user_data
    from castle.adapters.redis_listen_keys import RedisListenKeys

    from matching_container.publisher import RouteRefresher

    class Store:
        def __init__(self, streams, combined):
            self.streams, self.combined = streams, combined

        def snapshot(self):
            return self.streams, self.combined

    publisher, _, _, sent = world
    pub = publisher()
    pub.balances = lambda account: {"USDT": (99_700 * 10**8, 300 * 10**8), "BTC": (10**8, 0)}
    keys = RedisListenKeys(redis_client)
    mine, other = keys.create(7), keys.create(8)
    store = Store({f"listenKey@{mine}": ["raw7", "comb7"], f"listenKey@{other}": ["raw8"]},
                  {"raw7": False, "comb7": True, "raw8": False})
    RouteRefresher(store, pub).refresh()
    report = {"e": "executionReport", "i": 1, "x": "NEW"}
    redis_user_data.append(redis_client, SYMBOL, 7, report, ["USDT"])
    pub._read(">", block=None)

    assert [m for c, m in sent if c == "raw8"] == []
    raw = [m for c, m in sent if c == "raw7"]
    assert raw[0] == report
    assert raw[1]["e"] == "outboundAccountPosition" and raw[1]["B"] == [
        {"a": "USDT", "f": "99700.00000000", "l": "300.00000000"}]
    combined = [m for c, m in sent if c == "comb7"]
    assert [m["stream"] for m in combined] == [mine, mine] and combined[0]["data"] == report


def test_a_deposit_reaches_the_account_as_balance_update(world, redis_client):
    from castle.adapters import redis_user_data
    from castle.adapters.redis_listen_keys import RedisListenKeys
    from castle.user_data import balance_update

    publisher, _, _, sent = world
    pub = publisher()
    key = RedisListenKeys(redis_client).create(9)
    pub.routes = Routes({f"listenKey@{key}": ["c9"]}, {"c9": False}, {9: [f"listenKey@{key}"]})
    redis_user_data.append_wallet(redis_client, 9, balance_update("BTC", 5 * 10**8, 2, 1), ["BTC"])
    pub._read(">", block=None)
    assert [m["e"] for c, m in sent if c == "c9"] == ["balanceUpdate", "outboundAccountPosition"]
    assert sent[0][1]["d"] == "5.00000000"
