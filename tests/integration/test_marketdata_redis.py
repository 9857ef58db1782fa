"""The market-data projector and its Redis store against a real redis-server.

The engine runs in-process on the same Redis (commands in through the journal),
so the projector consumes exactly the events stream the container writes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from castle.adapters.redis_marketdata import RedisMarketDataReader, md_key
from castle.adapters.redis_streams import RedisCommandStream, events_key
from castle.codec import command_to_dict
from castle.marketdata import views
from castle.orders import PlaceOrder, Side
from castle.symbols import default_symbols
from matching_container.engine import bootstrap as engine_bootstrap
from matching_container.marketdata import Projector
from matching_container.settings import EngineSettings

ROOT = Path(__file__).resolve().parents[2]
SYMBOL = "BTCUSDT"
BTC = default_symbols()[SYMBOL]
T = 1_700_000_040_000  # a minute's open
P = 3_000_000
BUY, SELL = Side.BUY, Side.SELL

pytestmark = pytest.mark.integration


@pytest.fixture
def engine(redis_url, redis_client):
    runner = engine_bootstrap(EngineSettings(redis_url=redis_url, symbols=(SYMBOL,), block_ms=50), redis_client)
    runner.recover()
    return runner


@pytest.fixture
def trade(engine, redis_client):
    """Place orders through the journal and let the engine process them."""
    commands = RedisCommandStream(redis_client)
    ids = iter(range(1, 10_000))

    def place(side: Side, price: int, qty: int, account: int, ts: int = T) -> None:
        commands.send(SYMBOL, command_to_dict(PlaceOrder(next(ids), account, side, price=price, qty=qty, ts=ts)))
        while engine.step():
            pass

    return place


def projector(client, **kw) -> Projector:
    return Projector(client, [SYMBOL], block_ms=10, **kw)


def dump(client) -> dict:
    """Every market-data key of the symbol, as stored."""
    out = {}
    for key in sorted(client.scan_iter(md_key(SYMBOL, "*"))):
        kind = client.type(key)
        out[key] = client.get(key) if kind == "string" else client.zrange(key, 0, -1, withscores=True)
    return out


def make_trades(trade) -> None:
    trade(SELL, P, 100, account=2)
    trade(SELL, P, 50, account=2)
    trade(SELL, P + 100, 200, account=2)
    trade(BUY, P + 100, 180, account=3, ts=T + 1_000)
    trade(BUY, P + 50, 10, account=1, ts=T + 2_000)
    trade(SELL, P + 50, 10, account=2, ts=T + 61_000)


def test_the_projector_stores_what_the_rest_api_reads(redis_client, trade):
    make_trades(trade)
    proj = projector(redis_client)
    proj.recover()
    proj.catch_up()
    reader = RedisMarketDataReader(redis_client)
    assert [t.id for t in reader.recent_trades(SYMBOL, 500)] == [1, 2, 3, 4]
    assert [t.id for t in reader.recent_trades(SYMBOL, 2)] == [3, 4]
    assert [(a.id, a.first_id, a.last_id) for a in reader.agg_trades(SYMBOL, 500)] == [(1, 1, 2), (2, 3, 3), (3, 4, 4)]
    assert [a.id for a in reader.agg_trades(SYMBOL, 500, from_id=2)] == [2, 3]
    assert [a.id for a in reader.agg_trades(SYMBOL, 500, start=T + 1_001)] == [3]
    assert [a.id for a in reader.agg_trades(SYMBOL, 1, start=T, end=T + 61_000)] == [1]
    candles, before = reader.klines(SYMBOL, "1m", T, T + 60_000)
    assert before is None
    assert [views.kline_row(BTC, "1m", k)[:9] for k in candles] == [
        [T, "30000.00000000", "30001.00000000", "30000.00000000", "30001.00000000", "0.00180000", T + 59_999,
         "54.00030000", 3],
        [T + 60_000, "30000.50000000", "30000.50000000", "30000.50000000", "30000.50000000", "0.00010000",
         T + 119_999, "3.00005000", 1],
    ]
    assert reader.last_trade(SYMBOL).price == P + 50
    assert reader.book_top(SYMBOL) == (None, (P + 100, 170))
    assert redis_client.xpending(events_key(SYMBOL), "marketdata")["pending"] == 0


def test_new_events_are_applied_as_they_come(redis_client, trade):
    proj = projector(redis_client)
    proj.recover()
    trade(SELL, P, 100, account=2)
    trade(BUY, P, 40, account=3)
    assert proj.step() > 0
    assert [t.qty for t in RedisMarketDataReader(redis_client).recent_trades(SYMBOL, 10)] == [40]


def test_a_redelivery_of_the_whole_stream_changes_nothing(redis_client, trade):
    make_trades(trade)
    first = projector(redis_client)
    first.recover()
    first.catch_up()
    before = dump(redis_client)
    redis_client.xgroup_setid(events_key(SYMBOL), "marketdata", "0")  # every entry delivered again
    again = projector(redis_client)
    again.recover()
    again.catch_up()
    assert dump(redis_client) == before


def test_entries_read_but_never_committed_are_reclaimed_on_restart(redis_client, trade):
    make_trades(trade)
    # A projector that crashed after its read: entries pending for another consumer, nothing stored.
    redis_client.xgroup_create(events_key(SYMBOL), "marketdata", id="0")
    redis_client.xreadgroup("marketdata", "crashed", {events_key(SYMBOL): ">"}, count=5)
    assert redis_client.xpending(events_key(SYMBOL), "marketdata")["pending"] == 5
    proj = projector(redis_client)
    proj.recover()
    proj.catch_up()
    assert redis_client.xpending(events_key(SYMBOL), "marketdata")["pending"] == 0
    assert [t.id for t in RedisMarketDataReader(redis_client).recent_trades(SYMBOL, 10)] == [1, 2, 3, 4]


def test_kill_9_and_restart_gives_the_same_projection(redis_url, redis_client, trade):
    env = {**os.environ, "REDIS_URL": redis_url, "CASTLE_SYMBOLS": SYMBOL, "CASTLE_BLOCK_MS": "20",
           "CASTLE_BATCH_SIZE": "3", "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "core"), str(ROOT)])}

    def start():
        return subprocess.Popen([sys.executable, "-m", "matching_container.marketdata"], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    proc = start()
    for i in range(30):
        trade(SELL, P + i, 10, account=2, ts=T + i * 7_000)
        trade(BUY, P + i, 10, account=3, ts=T + i * 7_000)
        if i in (8, 19):
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc = start()
    deadline = time.monotonic() + 20
    reader = RedisMarketDataReader(redis_client)
    while reader.state(SYMBOL).last_trade is None or reader.state(SYMBOL).last_trade.id < 30:
        assert time.monotonic() < deadline, "the projector did not catch up"
        time.sleep(0.05)
    proc.terminate()
    proc.wait(timeout=5)
    after_kills = dump(redis_client)
    # The same stream projected by one uninterrupted run, from scratch.
    for key in redis_client.scan_iter(md_key(SYMBOL, "*")):
        redis_client.delete(key)
    redis_client.xgroup_destroy(events_key(SYMBOL), "marketdata")
    fresh = projector(redis_client)
    fresh.recover()
    fresh.catch_up()
    assert dump(redis_client) == after_kills
    assert [t.id for t in reader.recent_trades(SYMBOL, 1000)] == list(range(1, 31))
