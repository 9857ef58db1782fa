"""Binance's market-stream protocol at the edge, one behaviour per test: error frames, limits, heartbeat.

Raw `websockets` clients through the session's edge (the stream gateway
answers), and, for the heartbeat, a second gateway with fast timings on the
same Redis, behind a second edge. Expected texts are Binance's (web-socket-streams.md).
"""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest
import websockets
from aiohttp import WSMsgType

from castle.streams import LIFETIME_OVER, PONG_TIMEOUT
from castle.symbols import default_symbols
from local.edge import EdgeConfig, EdgeServer
from local.processes import free_port
from matching_container.gateway import GatewayConfig, GatewayServer

METHODS = "`SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`"


def ws_url(base: str, path: str) -> str:
    return base.replace("http://", "ws://") + path


async def ask(url: str, text: str) -> dict:
    """One request on a fresh connection: Binance's answer frame."""
    async with websockets.connect(url) as ws:
        await ws.send(text)
        return json.loads(await asyncio.wait_for(ws.recv(), 15))


def answer(cloud, text: str, path: str = "/ws") -> dict:
    return asyncio.run(ask(ws_url(cloud.edge_url, path), text))


# ------------------------------------------------------------------ errors
def test_an_unknown_method_is_code_2_naming_the_expected_variants(local_cloud):
    frame = answer(local_cloud, '{"method":"SUBSCRIBED","params":[],"id":1}')
    assert frame == {"error": {"code": 2, "msg": f"Invalid request: unknown variant `SUBSCRIBED`, expected one of "
                                                  f"{METHODS} at line 1 column 22"}}


def test_a_malformed_stream_name_is_rejected_with_the_request_id(local_cloud):
    frame = answer(local_cloud, '{"method":"SUBSCRIBE","params":["BTCUSDT@trade"],"id":7}')
    assert frame == {"error": {"code": 2, "msg": "Invalid request: invalid stream"}, "id": 7}


def test_an_id_that_is_not_an_integer_or_short_string_is_rejected(local_cloud):
    frame = answer(local_cloud, '{"method":"LIST_SUBSCRIPTIONS","id":1.5}')
    assert frame == {"error": {"code": 2, "msg": "Invalid request: request ID must be an unsigned integer"}}


def test_invalid_json_is_code_3_with_its_position(local_cloud):
    frame = answer(local_cloud, "hello")
    assert frame == {"error": {"code": 3, "msg": "Invalid JSON: expected value at line 1 column 1"}}


def test_an_unknown_property_is_code_0_with_the_id(local_cloud):
    frame = answer(local_cloud, '{"method":"GET_PROPERTY","params":["colour"],"id":4}')
    assert frame == {"error": {"code": 0, "msg": "Unknown property", "id": 4}, "id": 4}


def test_a_connection_survives_its_bad_requests(local_cloud):
    async def scenario():
        async with websockets.connect(ws_url(local_cloud.edge_url, "/ws/btcusdt@trade")) as ws:
            for text in ("nope", '{"method":"SUBSCRIBE","params":["x@y"],"id":1}', '[]'):
                await ws.send(text)
                assert "error" in json.loads(await asyncio.wait_for(ws.recv(), 15))
            await ws.send('{"method":"LIST_SUBSCRIPTIONS","id":2}')
            return json.loads(await asyncio.wait_for(ws.recv(), 15))

    assert asyncio.run(scenario()) == {"result": ["btcusdt@trade"], "id": 2}


# ------------------------------------------------------------------ limits
def test_a_connect_url_with_a_bad_stream_name_still_connects_with_the_good_ones(local_cloud):
    frame = answer(local_cloud, '{"method":"LIST_SUBSCRIPTIONS","id":1}', "/ws/btcusdt@trade/BTCUSDT@depth/0")
    assert frame == {"result": ["btcusdt@trade"], "id": 1}


def test_a_connect_url_with_more_than_1024_streams_is_refused(local_cloud):
    path = "/stream?streams=" + "/".join(str(i) for i in range(1025))
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        asyncio.run(ask(ws_url(local_cloud.edge_url, path), "{}"))
    assert 400 <= refused.value.response.status_code < 500


def test_a_connection_over_5_messages_a_second_is_disconnected(local_cloud):
    async def scenario():
        async with websockets.connect(ws_url(local_cloud.edge_url, "/ws")) as ws:
            for i in range(20):
                await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
            answers = []
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                while True:
                    answers.append(json.loads(await asyncio.wait_for(ws.recv(), 15)))
            return answers

    answers = asyncio.run(scenario())
    assert 5 <= len(answers) < 20
    assert [a["id"] for a in answers] == list(range(len(answers)))


def test_a_connection_at_5_messages_a_second_is_not_disconnected(local_cloud):
    async def scenario():
        async with websockets.connect(ws_url(local_cloud.edge_url, "/ws")) as ws:
            answers = []
            for i in range(8):
                started = time.monotonic()
                await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
                answers.append(json.loads(await asyncio.wait_for(ws.recv(), 15)))
                await asyncio.sleep(max(0.0, 0.34 - (time.monotonic() - started)))  # 3 a second
            return answers

    assert [a["id"] for a in asyncio.run(scenario())] == list(range(8))


def test_a_flooding_connection_does_not_disturb_another(local_cloud):
    async def scenario():
        url = ws_url(local_cloud.edge_url, "/ws")
        async with websockets.connect(url) as flood, websockets.connect(url) as calm:
            for i in range(20):
                await flood.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
            await calm.send('{"method":"LIST_SUBSCRIPTIONS","id":"calm"}')
            reply = json.loads(await asyncio.wait_for(calm.recv(), 15))
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                while True:
                    await asyncio.wait_for(flood.recv(), 15)
            await calm.send('{"method":"LIST_SUBSCRIPTIONS","id":"after"}')
            return reply, json.loads(await asyncio.wait_for(calm.recv(), 15))

    assert asyncio.run(scenario()) == ({"result": [], "id": "calm"}, {"result": [], "id": "after"})


# --------------------------------------------------------------- heartbeat
@pytest.fixture
def fast_edge(local_cloud):
    """A second gateway with Binance's heartbeat sped up, behind a second edge."""
    gateway = GatewayServer(GatewayConfig(redis_url=local_cloud.redis_url, symbols=frozenset(default_symbols()),
                                          host="127.0.0.1", port=0, ping_interval_s=0.3, pong_timeout_s=1.0,
                                          lifetime_s=4.0))
    edge = EdgeServer(EdgeConfig(rest_url=local_cloud.rest_url, ws_url=gateway.start(), port=free_port()))
    url = edge.start()
    yield url
    edge.stop()
    gateway.stop()


async def until_close(ws) -> tuple[int, object, int]:
    """Read until the close frame: its code, its reason, and how many pings came first."""
    pings = 0
    while True:
        msg = await ws.receive(timeout=15)
        if msg.type == WSMsgType.PING:
            pings += 1
        elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED):
            return ws.close_code, msg.extra, pings


def test_a_client_that_does_not_answer_pings_is_disconnected(fast_edge):
    async def scenario():
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(ws_url(fast_edge, "/ws/btcusdt@trade"), autoping=False) as ws:
                return await until_close(ws)

    code, reason, pings = asyncio.run(scenario())
    assert (code, reason) == PONG_TIMEOUT and pings >= 2


def test_a_client_that_answers_pings_lives_until_the_connection_lifetime(fast_edge):
    async def scenario():
        async with websockets.connect(ws_url(fast_edge, "/ws/btcusdt@trade")) as ws:  # websockets pongs by itself
            opened = time.monotonic()
            await ws.send('{"method":"LIST_SUBSCRIPTIONS","id":1}')
            assert json.loads(await asyncio.wait_for(ws.recv(), 15)) == {"result": ["btcusdt@trade"], "id": 1}
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 15)
            return ws.close_code, ws.close_reason, time.monotonic() - opened

    code, reason, lived_s = asyncio.run(scenario())
    assert (code, reason) == LIFETIME_OVER and lived_s > 2.5
