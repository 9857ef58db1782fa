"""The stream gateway on a real redis-server, in-process, with frames put on the bus as the publisher does."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest
from aiohttp import WSMsgType

from castle.adapters.redis_frames import RedisFrameBus, market_channel, user_channel
from castle.adapters.redis_listen_keys import RedisListenKeys
from castle.streams import LIFETIME_OVER, PONG_TIMEOUT
from castle.symbols import default_symbols
from matching_container.gateway import SLOW_CONSUMER, TOO_MANY_MESSAGES, GatewayConfig, GatewayServer

pytestmark = pytest.mark.integration
TRADE = "btcusdt@trade"


@pytest.fixture
def gateway(redis_url, redis_client):
    servers = []

    def start(**overrides) -> str:
        config = GatewayConfig(redis_url=redis_url, symbols=frozenset(default_symbols()), host="127.0.0.1", port=0,
                               **{"listen_key_check_s": 0.2, **overrides})
        server = GatewayServer(config)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


def publish_when_heard(client, channel: str, frames: list[str], timeout_s: float = 5.0) -> None:
    """Publish once the gateway subscribed: Redis drops what no one listens to."""
    bus = RedisFrameBus(client)
    deadline = time.monotonic() + timeout_s
    while not client.pubsub_numsub(channel)[0][1]:
        assert time.monotonic() < deadline, f"no one subscribed to {channel}"
        time.sleep(0.01)
    bus.publish([(channel, f) for f in frames])


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


async def texts(ws, n: int) -> list:
    return [json.loads((await ws.receive(timeout=5)).data) for _ in range(n)]


def test_a_published_frame_reaches_raw_and_combined_subscribers_each_in_its_shape(gateway, redis_client):
    url = gateway()

    async def scenario():
        async with aiohttp.ClientSession() as s:
            raw = await s.ws_connect(f"{url}/ws/{TRADE}")
            combined = await s.ws_connect(f"{url}/stream?streams={TRADE}")
            await asyncio.to_thread(publish_when_heard, redis_client, market_channel(TRADE), ['{"e":"trade","t":1}'])
            got = (await texts(raw, 1), await texts(combined, 1))
            await raw.close()
            await combined.close()
            return got

    assert run(scenario()) == ([{"e": "trade", "t": 1}], [{"stream": TRADE, "data": {"e": "trade", "t": 1}}])


def test_a_burst_over_several_streams_arrives_in_the_order_it_was_published(gateway, redis_client):
    url = gateway()
    depth = "btcusdt@depth@100ms"

    async def scenario():
        async with aiohttp.ClientSession() as s, s.ws_connect(f"{url}/stream?streams={TRADE}/{depth}") as ws:
            await asyncio.to_thread(publish_when_heard, redis_client, market_channel(depth), [])
            frames = [(market_channel(TRADE if i % 3 else depth), json.dumps({"n": i})) for i in range(500)]
            await asyncio.to_thread(publish_when_heard, redis_client, market_channel(TRADE), [])
            await asyncio.to_thread(RedisFrameBus(redis_client).publish, frames)
            return [(f["stream"], f["data"]["n"]) for f in await texts(ws, 500)]

    got = run(scenario())
    assert got == [(TRADE if i % 3 else depth, i) for i in range(500)]


def test_subscribe_answers_before_the_streams_first_frame_and_unsubscribe_stops_it(gateway, redis_client):
    url = gateway()

    async def scenario():
        async with aiohttp.ClientSession() as s, s.ws_connect(f"{url}/ws") as ws:
            await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": [TRADE], "id": 7}))
            answer = await texts(ws, 1)
            await asyncio.to_thread(publish_when_heard, redis_client, market_channel(TRADE), ['{"t":1}'])
            first = await texts(ws, 1)
            await ws.send_str(json.dumps({"method": "UNSUBSCRIBE", "params": [TRADE], "id": 8}))
            await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 9}))
            after = await texts(ws, 2)
            RedisFrameBus(redis_client).publish([(market_channel(TRADE), '{"t":2}')])
            await ws.send_str(json.dumps({"method": "GET_PROPERTY", "params": ["combined"], "id": 10}))
            return answer, first, after, await texts(ws, 1)

    answer, first, after, last = run(scenario())
    assert answer == [{"result": None, "id": 7}] and first == [{"t": 1}]
    assert after == [{"result": None, "id": 8}, {"result": [], "id": 9}]
    assert last == [{"result": False, "id": 10}]  # and not {"t": 2}: no longer subscribed


def test_the_bus_knows_who_listens_while_they_are_connected(gateway, redis_client):
    url = gateway()
    bus = RedisFrameBus(redis_client)

    async def scenario():
        async with aiohttp.ClientSession() as s:
            ws = await s.ws_connect(f"{url}/ws/{TRADE}/ethusdt@depth@100ms")
            await ws.send_str('{"method":"LIST_SUBSCRIPTIONS","id":1}')
            await ws.receive(timeout=5)
            during = await asyncio.to_thread(bus.listening)
            await ws.close()
            await asyncio.sleep(0.3)
            return during, await asyncio.to_thread(bus.listening)

    during, after = run(scenario())
    assert during == ({TRADE, "ethusdt@depth@100ms"}, set()) and after == (set(), set())


def test_set_property_combined_wraps_the_next_frames(gateway, redis_client):
    url = gateway()

    async def scenario():
        async with aiohttp.ClientSession() as s, s.ws_connect(f"{url}/ws/{TRADE}") as ws:
            await ws.send_str('{"method":"SET_PROPERTY","params":["combined",true],"id":1}')
            answer = await texts(ws, 1)
            await asyncio.to_thread(publish_when_heard, redis_client, market_channel(TRADE), ['{"t":3}'])
            return answer, await texts(ws, 1)

    assert run(scenario()) == ([{"result": None, "id": 1}], [{"stream": TRADE, "data": {"t": 3}}])


def test_a_consumer_that_falls_behind_is_disconnected_and_the_others_get_everything(gateway, redis_client):
    url = gateway(buffer_limit=100_000)
    big = json.dumps({"pad": "x" * 60_000})

    async def scenario():
        async with aiohttp.ClientSession() as s:
            slow = await s.ws_connect(f"{url}/ws/{TRADE}", max_msg_size=0)
            fast = await s.ws_connect(f"{url}/ws/{TRADE}", max_msg_size=0)
            counted = asyncio.create_task(count_until_close(fast, 300))
            await asyncio.to_thread(publish_when_heard, redis_client, market_channel(TRADE), [big] * 300)
            fast_got = await counted
            await asyncio.sleep(1.0)  # the slow one has not read a thing: its queue overflowed
            while True:
                msg = await slow.receive(timeout=10)
                if msg.type != WSMsgType.TEXT:
                    break
            return fast_got, (slow.close_code, msg.extra)

    fast_got, slow_end = run(scenario())
    assert fast_got == 300 and slow_end == SLOW_CONSUMER


async def count_until_close(ws, n: int) -> int:
    got = 0
    while got < n:
        msg = await ws.receive(timeout=10)
        if msg.type != WSMsgType.TEXT:
            break
        got += 1
    return got


def test_the_sixth_message_in_a_second_disconnects(gateway):
    url = gateway()

    async def scenario():
        async with aiohttp.ClientSession() as s, s.ws_connect(f"{url}/ws") as ws:
            for i in range(6):
                await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
            answers = []
            while True:
                msg = await ws.receive(timeout=5)
                if msg.type != WSMsgType.TEXT:
                    return answers, (ws.close_code, msg.extra)
                answers.append(json.loads(msg.data)["id"])

    answers, end = run(scenario())
    assert answers == [0, 1, 2, 3, 4] and end == TOO_MANY_MESSAGES


def test_the_301st_connect_from_one_address_in_five_minutes_is_refused(gateway):
    url = gateway()
    address = f"203.0.113.{int(time.time()) % 250 + 1}"

    async def scenario():
        statuses = []
        async with aiohttp.ClientSession() as s:
            for _ in range(301):
                try:
                    ws = await s.ws_connect(f"{url}/ws", headers={"X-Viewer-Address": address})
                except aiohttp.WSServerHandshakeError as e:
                    statuses.append(e.status)
                else:
                    statuses.append(101)
                    await ws.close()
            other = await s.ws_connect(f"{url}/ws", headers={"X-Viewer-Address": "203.0.113.251"})
            await other.close()
        return statuses

    statuses = run(scenario())
    assert statuses[:300] == [101] * 300 and statuses[300] == 429


def test_a_connect_url_with_more_than_1024_streams_is_refused(gateway):
    url = gateway()
    names = "/".join(f"btcusdt@kline_{i}" for i in range(1025))

    async def scenario():
        async with aiohttp.ClientSession() as s:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await s.ws_connect(f"{url}/ws/{names}")
            return refused.value.status

    assert run(scenario()) == 400


def test_a_client_that_does_not_answer_pings_is_closed_after_the_pong_timeout(gateway):
    url = gateway(ping_interval_s=0.2, pong_timeout_s=0.7)

    async def scenario():
        async with aiohttp.ClientSession() as s, s.ws_connect(f"{url}/ws/{TRADE}", autoping=False) as ws:
            pings = 0
            while True:
                msg = await ws.receive(timeout=5)
                if msg.type != WSMsgType.PING:
                    return pings, (ws.close_code, msg.extra)
                pings += 1

    pings, end = run(scenario())
    assert pings >= 2 and end == PONG_TIMEOUT


def test_a_client_that_answers_pings_lives_until_the_connection_lifetime(gateway):
    url = gateway(ping_interval_s=0.2, pong_timeout_s=0.7, lifetime_s=1.5)

    async def scenario():
        async with aiohttp.ClientSession() as s, s.ws_connect(f"{url}/ws/{TRADE}", autoping=True) as ws:
            opened = time.monotonic()
            msg = await ws.receive(timeout=5)
            return (ws.close_code, msg.extra), time.monotonic() - opened

    end, lived_s = run(scenario())
    assert end == LIFETIME_OVER and lived_s > 1.2


def test_a_client_ping_is_answered_with_its_payload(gateway):
    url = gateway()

    async def scenario():
        async with aiohttp.ClientSession() as s, s.ws_connect(f"{url}/ws", autoping=False) as ws:
            await ws.ping(b"are you there")
            msg = await ws.receive(timeout=5)
            return msg.type, msg.data

    assert run(scenario()) == (WSMsgType.PONG, b"are you there")


def test_a_listen_key_connection_gets_its_accounts_frames_then_expired_when_the_key_closes(gateway, redis_client):
    url = gateway()
    keys = RedisListenKeys(redis_client)
    key = keys.create(42)

    async def scenario():
        async with aiohttp.ClientSession() as s, s.ws_connect(f"{url}/ws/{key}") as ws:
            await asyncio.to_thread(publish_when_heard, redis_client, user_channel(42), ['{"e":"executionReport"}'])
            report = await texts(ws, 1)
            await asyncio.to_thread(keys.close, 42, key)
            expired = await texts(ws, 1)
            return report, expired, await asyncio.to_thread(RedisFrameBus(redis_client).listening)

    report, expired, listening = run(scenario())
    assert report == [{"e": "executionReport"}]
    assert expired[0]["e"] == "listenKeyExpired" and expired[0]["listenKey"] == key
    assert listening == (set(), set())  # its account's channel is no longer heard


def test_an_unknown_listen_key_hears_listen_key_expired_at_once_combined_by_its_name(gateway):
    url = gateway()
    key = "A" * 60

    async def scenario():
        async with aiohttp.ClientSession() as s, s.ws_connect(f"{url}/stream?streams={key}") as ws:
            return await texts(ws, 1)

    [frame] = run(scenario())
    assert frame["stream"] == key and frame["data"]["e"] == "listenKeyExpired"


def test_health_counts_the_connections(gateway):
    url = gateway().replace("ws://", "http://")

    async def scenario():
        async with aiohttp.ClientSession() as s, s.ws_connect(f"{url}/ws/{TRADE}"):
            async with s.get(f"{url}/health") as r:
                return r.status, await r.json()

    status, body = run(scenario())
    assert status == 200 and body["connections"] == 1 and body["channels"] == 1


def test_a_connect_while_redis_cannot_count_it_is_a_503_with_binances_error(redis_url):
    import redis.asyncio as aioredis
    from aiohttp.test_utils import TestServer

    from matching_container.gateway import Gateway

    gateway = Gateway(GatewayConfig(redis_url=redis_url, symbols=frozenset(default_symbols())))
    gateway.redis = aioredis.Redis.from_url("redis://127.0.0.1:9")  # the discard port: the counter's Redis is gone

    async def scenario():
        async with TestServer(gateway.app()) as server, aiohttp.ClientSession() as s:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await s.ws_connect(server.make_url(f"/ws/{TRADE}"))
            async with s.get(server.make_url("/ws"), headers={"Upgrade": "websocket", "Connection": "Upgrade",
                                                             "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                                                             "Sec-WebSocket-Version": "13"}) as r:
                return refused.value.status, await r.json()

    status, body = run(scenario())
    assert status == 503 and body["code"] == -1001


def test_a_subscribe_is_answered_only_once_the_bus_has_the_subscription(gateway, redis_client):
    url = gateway()
    bus = RedisFrameBus(redis_client)

    async def scenario():
        async with aiohttp.ClientSession() as s, s.ws_connect(f"{url}/ws") as ws:
            heard = []
            for i, name in enumerate(("btcusdt@depth", "ethusdt@trade", "btcusdt@bookTicker")):
                await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": [name], "id": i}))
                assert await texts(ws, 1) == [{"result": None, "id": i}]
                # Published the moment the answer arrives, with no wait: it must be heard.
                await asyncio.to_thread(bus.publish, [(market_channel(name), json.dumps({"n": i}))])
                heard += await texts(ws, 1)
            return heard

    assert run(scenario()) == [{"n": 0}, {"n": 1}, {"n": 2}]


def test_a_connect_url_is_live_when_the_handshake_completes(gateway, redis_client):
    url = gateway()
    bus = RedisFrameBus(redis_client)

    async def scenario():
        heard = []
        async with aiohttp.ClientSession() as s:
            for i in range(20):
                name = TRADE if i % 2 else "btcusdt@depth@100ms"
                async with s.ws_connect(f"{url}/ws/{name}") as ws:
                    await asyncio.to_thread(bus.publish, [(market_channel(name), json.dumps({"n": i}))])
                    heard += await texts(ws, 1)
        return heard

    assert run(scenario()) == [{"n": i} for i in range(20)]
