"""The consumer-group adapter on a real redis-server: groups, pending first, retries and dead letters,
and the XACK in the caller's MULTI."""

from __future__ import annotations

import pytest
import redis

from castle.adapters.redis_consumer import RedisConsumer
from castle.adapters.redis_keys import attempts_key, dead_letter_key, events_key, user_data_key

pytestmark = pytest.mark.integration
EVENTS, USERDATA = events_key("BTCUSDT"), user_data_key("BTCUSDT")


def consumer(client, name: str = "c1", **kw) -> RedisConsumer:
    reader = RedisConsumer(client, "g", name, {EVENTS: "0", USERDATA: "$"}, **kw)
    reader.create_groups()
    return reader


def test_groups_start_where_told_and_creating_them_again_is_harmless(redis_client):
    redis_client.xadd(EVENTS, {"n": "history"})
    redis_client.xadd(USERDATA, {"n": "before the group"})
    reader = consumer(redis_client)
    reader.create_groups()  # every start does it: BUSYGROUP is fine
    redis_client.xadd(USERDATA, {"n": "after"})
    batches = reader.read()
    assert {b.stream: [f["n"] for _, f in b.entries] for b in batches} == {EVENTS: ["history"], USERDATA: ["after"]}


def test_a_dead_consumers_pending_entries_are_reclaimed_and_read_before_new_ones(redis_client):
    first = consumer(redis_client, "dead")
    old = [redis_client.xadd(EVENTS, {"n": str(i)}) for i in range(3)]
    first.read()  # read, never acked: the consumer died
    redis_client.xadd(EVENTS, {"n": "new"})
    second = consumer(redis_client, "alive", count=2)
    second.reclaim()  # two at a time: it takes them all
    pending = second.read(pending=True)
    assert pending[0].ids == old[:2] and pending[0].shard == "BTCUSDT"
    second.commit(EVENTS, pending[0].ids)
    assert second.read(pending=True)[0].ids == old[2:]
    assert redis_client.xpending(EVENTS, "g")["consumers"] == [{"name": "alive", "pending": 1}]


def test_outputs_and_the_ack_commit_together_or_not_at_all(redis_client):
    reader = consumer(redis_client)
    entry = redis_client.xadd(EVENTS, {"n": "1"})
    batch = reader.read()[0]

    def broken(pipe) -> None:  # an output, then a command Redis refuses to queue: EXEC runs nothing
        pipe.set("castle:{BTCUSDT}:out", "1")
        pipe.execute_command("NOSUCHCOMMAND")

    with pytest.raises(redis.ResponseError):
        reader.commit(batch.stream, batch.ids, broken)
    assert redis_client.get("castle:{BTCUSDT}:out") is None and reader.read(pending=True)[0].ids == [entry]
    reader.commit(batch.stream, batch.ids, lambda pipe: pipe.set("castle:{BTCUSDT}:out", "1"))
    assert redis_client.get("castle:{BTCUSDT}:out") == "1" and reader.read(pending=True) == []


def test_an_entry_that_keeps_failing_is_dead_lettered_on_its_last_attempt(redis_client):
    reader = consumer(redis_client, max_attempts=3)
    entry = redis_client.xadd(EVENTS, {"event": "{}"})
    fields = reader.read()[0].entries[0][1]
    assert [reader.failed(EVENTS, entry, fields) for _ in range(3)] == [(1, False), (2, False), (3, True)]
    assert redis_client.hget(attempts_key("BTCUSDT", "g"), entry) == "3"
    assert [f for _, f in redis_client.xrange(dead_letter_key("BTCUSDT", "g"))] == [{"entry_id": entry, "event": "{}"}]


def test_the_settlement_keys_are_the_ones_settlement_spells():
    assert attempts_key("BTCUSDT", "settlement") == "castle:{BTCUSDT}:settlement:attempts"
    assert dead_letter_key("BTCUSDT", "settlement") == "castle:{BTCUSDT}:settlement:dead"
