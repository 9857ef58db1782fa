"""The Redis adapters against a real redis-server: journal paging, mirror updates, replies."""

from __future__ import annotations

import json

import pytest

from castle.journal import CommandOutcome, JournalTrimmed, ShardBatch
from castle.adapters.redis_streams import RedisBookMirror, RedisCommandStream, RedisEventLog, reply_key
from castle.book import DepthDiff, DepthSnapshot

pytestmark = pytest.mark.integration


def test_replay_pages_through_the_whole_journal_in_order(redis_client):
    stream = RedisCommandStream(redis_client, ["BTCUSDT"], count=3)
    ids = [stream.send("BTCUSDT", {"n": n}) for n in range(10)]

    replayed = list(stream.replay("BTCUSDT"))

    assert [e.id for e in replayed] == ids
    assert [json.loads(e.payload)["n"] for e in replayed] == list(range(10))


def test_replay_after_an_entry_starts_just_after_it(redis_client):
    stream = RedisCommandStream(redis_client, ["BTCUSDT"], count=2)
    ids = [stream.send("BTCUSDT", {"n": n}) for n in range(5)]

    assert [e.id for e in stream.replay("BTCUSDT", after=ids[1])] == ids[2:]


def test_trim_keeps_the_entry_it_names_and_everything_after(redis_client):
    stream = RedisCommandStream(redis_client, ["BTCUSDT"])
    ids = [stream.send("BTCUSDT", {"n": n}) for n in range(5)]

    stream.trim("BTCUSDT", ids[2])

    assert [e.id for e in stream.replay("BTCUSDT", after=ids[2])] == ids[3:]
    assert redis_client.xlen("castle:{BTCUSDT}:cmd") == 3


def test_replay_that_needs_trimmed_entries_fails_loudly(redis_client):
    stream = RedisCommandStream(redis_client, ["BTCUSDT"])
    ids = [stream.send("BTCUSDT", {"n": n}) for n in range(5)]
    stream.trim("BTCUSDT", ids[2])

    with pytest.raises(JournalTrimmed):
        list(stream.replay("BTCUSDT"))
    with pytest.raises(JournalTrimmed):
        list(stream.replay("BTCUSDT", after=ids[1]))


def test_read_continues_after_seek(redis_client):
    stream = RedisCommandStream(redis_client, ["BTCUSDT"], block_ms=10)
    first = stream.send("BTCUSDT", {"n": 1})
    stream.send("BTCUSDT", {"n": 2}, reply_to="k")
    stream.seek("BTCUSDT", first)

    entries = stream.read()

    assert [(json.loads(e.payload)["n"], e.reply_to) for e in entries] == [(2, "k")]
    assert stream.read() == []


def test_mirror_applies_diffs_and_a_zero_quantity_removes_the_level(redis_client):
    mirror, log = RedisBookMirror(redis_client), RedisEventLog(redis_client)
    log.commit(ShardBatch("BTCUSDT", [], 2, "1-0", diff=DepthDiff(1, 2, bids=[(10, 5), (9, 1)], asks=[(11, 3)])))
    log.commit(ShardBatch("BTCUSDT", [], 3, "2-0", diff=DepthDiff(3, 3, bids=[(10, 0), (9, 4)], asks=[])))

    assert mirror.depth("BTCUSDT") == DepthSnapshot(3, [(9, 4)], [(11, 3)])


def test_snapshot_replaces_whatever_the_mirror_held(redis_client):
    mirror, log = RedisBookMirror(redis_client), RedisEventLog(redis_client)
    log.commit(ShardBatch("BTCUSDT", [], 5, "1-0", diff=DepthDiff(1, 5, bids=[(10, 5)], asks=[(11, 3)])))
    log.commit(ShardBatch("BTCUSDT", [], 7, "2-0", snapshot=DepthSnapshot(7, [(8, 1)], [])))

    assert mirror.depth("BTCUSDT") == DepthSnapshot(7, [(8, 1)], [])


def test_depth_limit_keeps_the_best_levels(redis_client):
    levels = DepthDiff(1, 1, bids=[(p, 1) for p in range(1, 11)], asks=[(p, 1) for p in range(20, 30)])
    RedisEventLog(redis_client).commit(ShardBatch("BTCUSDT", [], 1, "1-0", diff=levels))

    depth = RedisBookMirror(redis_client).depth("BTCUSDT", limit=2)

    assert (depth.bids, depth.asks) == ([(10, 1), (9, 1)], [(20, 1), (21, 1)])


def test_commit_pushes_replies_that_expire(redis_client):
    key = reply_key("BTCUSDT")
    outcome = CommandOutcome("1-0", 1, [{"type": "OrderAccepted", "seq": 1}], key)
    RedisEventLog(redis_client, reply_ttl_s=30).commit(ShardBatch("BTCUSDT", [outcome], 1, "1-0"))

    assert json.loads(redis_client.lpop(key)) == {"command_id": "1-0", "seq": 1, "events": [outcome.events[0]]}
    assert "{BTCUSDT}" in key


def test_checkpoint_is_written_with_the_batch(redis_client):
    log = RedisEventLog(redis_client)
    assert log.checkpoint("BTCUSDT") is None
    log.commit(ShardBatch("BTCUSDT", [], 4, "17-2"))
    assert log.checkpoint("BTCUSDT") == "17-2"
