"""local/edge.py against fake upstream APIs on real loopback sockets.

Each test builds its world in one `asyncio.run`: a fake REST API and a fake
WebSocket API (aiohttp apps that record what reached them), the edge in front,
and a plain aiohttp client playing the Binance client.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer
from yarl import URL

from local.edge import LIFETIME_OVER, PONG_TIMEOUT, EdgeConfig, EdgeServer, Heartbeat, create_app


@dataclass
class Upstream:
    """What the fake APIs saw."""

    requests: list[dict] = field(default_factory=list)
    connects: list[str] = field(default_factory=list)
    ws_closed: asyncio.Event = field(default_factory=asyncio.Event)
    ws_close_code: int | None = None


def fake_rest(seen: Upstream) -> web.Application:
    async def record(request: web.Request) -> web.Response:
        seen.requests.append(
            {
                "method": request.method,
                "raw_path": request.raw_path,
                "body": await request.read(),
                "headers": dict(request.headers),
            }
        )
        if request.path.endswith("/teapot"):
            return web.json_response(
                {"code": -1121, "msg": "Invalid symbol."}, status=400, headers={"X-Mbx-Used-Weight": "7"}
            )
        return web.json_response({"ok": True}, headers={"X-Mbx-Used-Weight": "1"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    return app


def fake_ws(seen: Upstream) -> web.Application:
    async def connect(request: web.Request) -> web.StreamResponse:
        seen.connects.append(request.rel_url.raw_query_string)
        if "bad" in request.rel_url.raw_query_string:
            return web.Response(status=400, text="Forbidden")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                if msg.data == "close-4000":
                    await ws.close(code=4000)
                    break
                await ws.send_str(f"echo:{msg.data}")
            elif msg.type == WSMsgType.BINARY:
                await ws.send_bytes(msg.data[::-1])
        seen.ws_close_code = ws.close_code
        seen.ws_closed.set()
        return ws

    app = web.Application()
    app.router.add_get("/_aws/execute-api/castlews/ws", connect)
    return app


@contextlib.asynccontextmanager
async def world(health=None, max_body_bytes: int = 1 << 20, rest_up: bool = True, **edge) -> AsyncIterator:
    seen = Upstream()
    async with TestServer(fake_rest(seen)) as rest, TestServer(fake_ws(seen)) as wsapi:
        rest_url = str(rest.make_url("/_aws/execute-api/castlerest/v1"))
        if not rest_up:
            rest_url = "http://127.0.0.1:9/_aws/execute-api/castlerest/v1"  # the discard port: refused
        ws_url = str(wsapi.make_url("/_aws/execute-api/castlews/ws")).replace("http://", "ws://")
        config = EdgeConfig(rest_url=rest_url, ws_url=ws_url, health=health, max_body_bytes=max_body_bytes, **edge)
        async with TestServer(create_app(config)) as edge, aiohttp.ClientSession() as client:
            yield seen, edge, client


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_query_string_reaches_the_rest_api_byte_for_byte():
    # ccxt sends timestamp first; the signature covers this exact text, encoding included.
    query = "timestamp=1700000000000&symbol=BTCUSDT&price=0.1%30&note=a+b%2Fc&recvWindow=10000&signature=ab%2B"

    async def scenario():
        async with world() as (seen, edge, client):
            async with client.get(URL(f"{edge.make_url('/api/v3/order')}?{query}", encoded=True)) as r:
                assert r.status == 200
            assert seen.requests[0]["raw_path"] == f"/_aws/execute-api/castlerest/v1/api/v3/order?{query}"

    run(scenario())


def test_delete_with_a_form_body_passes_with_its_headers():
    async def scenario():
        async with world() as (seen, edge, client):
            body = b"symbol=BTCUSDT&orderId=7&timestamp=1&signature=ff"
            headers = {"X-MBX-APIKEY": "key-1", "Content-Type": "application/x-www-form-urlencoded"}
            async with client.delete(edge.make_url("/api/v3/order"), data=body, headers=headers) as r:
                assert r.status == 200
            got = seen.requests[0]
            assert (got["method"], got["body"]) == ("DELETE", body)
            assert got["headers"]["X-MBX-APIKEY"] == "key-1"
            assert got["headers"]["Content-Type"] == "application/x-www-form-urlencoded"

    run(scenario())


def test_get_with_json_content_type_and_no_body_passes_unchanged():
    async def scenario():
        async with world() as (seen, edge, client):
            async with client.get(
                edge.make_url("/sapi/v1/bswap/pools"), headers={"Content-Type": "application/json"}
            ) as r:
                assert r.status == 200
            got = seen.requests[0]
            assert got["body"] == b"" and got["headers"]["Content-Type"] == "application/json"
            assert got["raw_path"] == "/_aws/execute-api/castlerest/v1/sapi/v1/bswap/pools"

    run(scenario())


def test_the_client_address_is_forwarded_for_rate_limits():
    async def scenario():
        async with world() as (seen, edge, client):
            async with client.get(edge.make_url("/fapi/v1/ping"), headers={"X-Forwarded-For": "198.51.100.1"}):
                pass
            assert seen.requests[0]["headers"]["X-Forwarded-For"] == "198.51.100.1, 127.0.0.1"

    run(scenario())


def test_status_body_and_headers_come_back_from_the_rest_api():
    async def scenario():
        async with world() as (_, edge, client):
            async with client.get(edge.make_url("/api/v3/teapot")) as r:
                assert r.status == 400
                assert await r.json() == {"code": -1121, "msg": "Invalid symbol."}
                assert r.headers["X-Mbx-Used-Weight"] == "7"

    run(scenario())


def test_an_unknown_path_is_binances_unsupported_operation():
    async def scenario():
        async with world() as (_, edge, client):
            async with client.post(edge.make_url("/v2/whatever")) as r:
                assert r.status == 404
                assert await r.json() == {"code": -1020, "msg": "This operation is not supported."}

    run(scenario())


def test_a_body_over_the_limit_is_api_gateways_413():
    async def scenario():
        async with world(max_body_bytes=1024) as (seen, edge, client):
            async with client.post(edge.make_url("/api/v3/order"), data=b"x" * 2048) as r:
                assert r.status == 413
                assert await r.json() == {"message": "Request Too Long"}

            async def chunks():
                for _ in range(4):
                    yield b"y" * 512

            async with client.post(edge.make_url("/api/v3/order"), data=chunks()) as r:  # no Content-Length
                assert r.status == 413
            assert seen.requests == []

    run(scenario())


def test_a_rest_api_that_is_down_is_a_502_with_a_clear_message():
    async def scenario():
        async with world(rest_up=False) as (_, edge, client):
            async with client.get(edge.make_url("/api/v3/ping")) as r:
                assert r.status == 502
                body = await r.json()
                assert body["code"] == -1001 and "REST API is unreachable" in body["detail"]

    run(scenario())


def test_ws_path_streams_connect_upstream_with_a_streams_query_and_frames_pipe_both_ways():
    async def scenario():
        async with world() as (seen, edge, client):
            async with client.ws_connect(edge.make_url("/ws/btcusdt@trade")) as ws:
                await ws.send_str('{"method":"LIST_SUBSCRIPTIONS","id":1}')
                assert (await ws.receive()).data == 'echo:{"method":"LIST_SUBSCRIPTIONS","id":1}'
                await ws.send_bytes(b"\x01\x02")
                assert (await ws.receive()).data == b"\x02\x01"
            assert seen.connects == ["streams=btcusdt@trade"]
            await asyncio.wait_for(seen.ws_closed.wait(), 5)  # the client's close reached the API
            assert seen.ws_close_code == 1000

    run(scenario())


def test_several_path_streams_and_the_combined_stream_url():
    async def scenario():
        async with world() as (seen, edge, client):
            async with client.ws_connect(edge.make_url("/ws/btcusdt@trade/ethusdt@depth")):
                pass
            async with client.ws_connect(URL(f"{edge.make_url('/stream')}?streams=a@trade/b@depth", encoded=True)):
                pass
            async with client.ws_connect(edge.make_url("/ws")):
                pass
            assert seen.connects == ["streams=btcusdt@trade/ethusdt@depth", "streams=a@trade/b@depth&combined=true", ""]

    run(scenario())


def test_the_apis_close_code_reaches_the_client():
    async def scenario():
        async with world() as (_, edge, client):
            async with client.ws_connect(edge.make_url("/ws/btcusdt@trade")) as ws:
                await ws.send_str("close-4000")
                msg = await ws.receive()
                assert msg.type == WSMsgType.CLOSE and ws.close_code == 4000

    run(scenario())


def test_a_refused_connect_is_a_failed_handshake():
    async def scenario():
        async with world() as (_, edge, client):
            try:
                await client.ws_connect(edge.make_url("/ws/bad@stream"))
            except aiohttp.WSServerHandshakeError as e:
                assert e.status == 400
            else:
                raise AssertionError("the handshake should fail")

    run(scenario())


def test_more_open_streams_than_the_rest_pool_holds_connect_and_rest_still_answers():
    # Each stream holds its upstream connection; the REST pool has 256 slots.
    async def scenario():
        async with world() as (seen, edge, _), aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as client:
            streams = await asyncio.gather(*(client.ws_connect(edge.make_url("/ws/btcusdt@trade")) for _ in range(300)))
            try:
                async with client.get(edge.make_url("/api/v3/ping")) as r:
                    assert r.status == 200
                await streams[-1].send_str("last")
                assert (await streams[-1].receive()).data == "echo:last"
                assert len(seen.connects) == 300
            finally:
                await asyncio.gather(*(ws.close() for ws in streams))

    run(scenario())


def test_openapi_is_3_1_with_the_spot_paths():
    async def scenario():
        async with world() as (_, edge, client):
            async with client.get(edge.make_url("/openapi.json")) as r:
                assert r.status == 200
                doc = await r.json()
            assert doc["openapi"].startswith("3.1")
            assert {"/api/v3/ping", "/api/v3/time", "/api/v3/exchangeInfo"} <= set(doc["paths"])
            assert doc["info"]["title"] == "Castle"

    run(scenario())


def test_openapi_documents_the_signed_routes_parameters_and_the_api_key_header():
    async def scenario():
        async with world() as (_, edge, client):
            async with client.get(edge.make_url("/openapi.json")) as r:
                return await r.json()

    doc = run(scenario())
    new_order = doc["paths"]["/api/v3/order"]["post"]
    form = new_order["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert {"symbol", "side", "type", "quantity", "timestamp", "signature"} <= set(form["required"]) | set(
        form["properties"]) and {"symbol", "side", "type", "timestamp", "signature"} <= set(form["required"])
    cancel = {p["name"]: p for p in doc["paths"]["/api/v3/order"]["delete"]["parameters"]}
    assert cancel["symbol"]["required"] and not cancel["orderId"]["required"] and cancel["orderId"]["in"] == "query"
    assert new_order["security"] == [{"binanceApiKey": []}]
    assert doc["components"]["securitySchemes"]["binanceApiKey"]["name"] == "X-MBX-APIKEY"


def test_docs_serve_swagger_ui_from_local_files():
    async def scenario():
        async with world() as (_, edge, client):
            async with client.get(edge.make_url("/docs")) as r:
                assert r.status == 200 and r.content_type == "text/html"
                html = await r.text()
            assert "/openapi.json" in html and "https://" not in html  # no CDN
            async with client.get(edge.make_url("/docs/swagger-ui-bundle.js")) as r:
                assert r.status == 200 and len(await r.read()) > 100_000

    run(scenario())


def test_health_is_ok_when_every_component_is():
    async def scenario():
        async with world(health=lambda: {"redis": {"status": "ok"}, "engine": {"status": "ok"}}) as (_, edge, client):
            async with client.get(edge.make_url("/health")) as r:
                assert r.status == 200
                assert (await r.json())["status"] == "ok"

    run(scenario())


def test_health_is_degraded_with_a_503_when_a_component_is_down():
    def boom():
        raise RuntimeError("no ministack")

    async def scenario():
        async with world(health=lambda: {"redis": {"status": "ok"}, "engine": {"status": "down"}}) as (_, edge, client):
            async with client.get(edge.make_url("/health")) as r:
                assert r.status == 503
                body = await r.json()
                assert body["status"] == "degraded" and body["components"]["engine"] == {"status": "down"}
        async with world(health=boom) as (_, edge, client):
            async with client.get(edge.make_url("/health")) as r:
                assert r.status == 503

    run(scenario())


def test_the_threaded_server_starts_on_a_port_and_stops_cleanly():
    server = EdgeServer(EdgeConfig(rest_url="http://127.0.0.1:9", ws_url="ws://127.0.0.1:9", port=0))
    url = server.start()
    try:

        async def probe():
            async with aiohttp.ClientSession() as client, client.get(f"{url}/health") as r:
                return r.status

        assert asyncio.run(probe()) == 200
    finally:
        server.stop()
    assert server._thread is None


# ------------------------------------------------------- Binance's heartbeat
def beat(**changes) -> Heartbeat:
    return Heartbeat(**{"ping_interval_s": 20.0, "pong_timeout_s": 60.0, "lifetime_s": 86400.0, "opened_at": 0.0,
                        **changes})


def test_the_heartbeat_pings_every_interval_and_not_before():
    heartbeat = beat()
    assert heartbeat.ping(19.9) is None
    assert heartbeat.ping(20.0) is not None
    assert heartbeat.ping(39.9) is None and heartbeat.ping(40.0) is not None


def test_a_pong_echoing_a_ping_keeps_the_connection_for_another_minute():
    heartbeat = beat()
    payload = heartbeat.ping(20.0)
    heartbeat.pong(payload, 21.0)
    assert heartbeat.expired(80.9) is None and heartbeat.expired(81.0) == PONG_TIMEOUT


def test_no_pong_within_a_minute_ends_the_connection():
    heartbeat = beat()
    heartbeat.ping(20.0)
    heartbeat.ping(40.0)
    assert heartbeat.expired(59.9) is None and heartbeat.expired(60.0) == PONG_TIMEOUT


def test_an_unsolicited_pong_does_not_prevent_disconnection():
    heartbeat = beat()
    heartbeat.ping(20.0)
    heartbeat.pong(b"", 30.0)
    heartbeat.pong(b"12345", 31.0)
    assert heartbeat.expired(60.0) == PONG_TIMEOUT


def test_a_connection_ends_at_its_lifetime_whatever_its_pongs():
    heartbeat = beat(lifetime_s=100.0)
    heartbeat.pong(heartbeat.ping(80.0), 80.0)
    assert heartbeat.expired(100.0) == LIFETIME_OVER


def test_the_heartbeat_waits_until_the_next_thing_due():
    assert beat().wait(5.0) == 15.0
    assert beat(pong_timeout_s=10.0).wait(5.0) == 5.0


FAST = {"ws_ping_interval_s": 0.2, "ws_pong_timeout_s": 0.7}


def test_a_client_that_answers_pings_stays_connected():
    async def scenario():
        async with world(**FAST) as (_, edge, client):
            async with client.ws_connect(edge.make_url("/ws/btcusdt@trade"), autoping=True) as ws:
                reading = asyncio.create_task(ws.receive())  # aiohttp answers pings while it reads
                await asyncio.sleep(1.5)
                assert not reading.done()
                await ws.send_str("still here")
                assert (await reading).data == "echo:still here"

    run(scenario())


def test_a_client_that_never_pongs_is_closed_after_the_pong_timeout():
    async def scenario():
        async with world(**FAST) as (seen, edge, client):
            async with client.ws_connect(edge.make_url("/ws/btcusdt@trade"), autoping=False) as ws:
                pings = 0
                while True:
                    msg = await ws.receive(timeout=5)
                    if msg.type != WSMsgType.PING:
                        break
                    pings += 1
                assert msg.type == WSMsgType.CLOSE and (ws.close_code, msg.extra) == PONG_TIMEOUT
                assert pings >= 2
            await asyncio.wait_for(seen.ws_closed.wait(), 5)  # and the API heard the connection end

    run(scenario())


def test_a_client_sending_only_unsolicited_pongs_is_closed():
    async def scenario():
        async with world(**FAST) as (_, edge, client):
            async with client.ws_connect(edge.make_url("/ws/btcusdt@trade"), autoping=False) as ws:
                while True:
                    await ws.pong(b"")
                    msg = await ws.receive(timeout=5)
                    if msg.type != WSMsgType.PING:
                        break
                assert msg.type == WSMsgType.CLOSE and ws.close_code == PONG_TIMEOUT[0]

    run(scenario())


def test_a_connection_is_closed_when_its_lifetime_is_over():
    async def scenario():
        async with world(ws_ping_interval_s=0.2, ws_lifetime_s=1.0) as (_, edge, client):
            async with client.ws_connect(edge.make_url("/ws/btcusdt@trade"), autoping=True) as ws:
                msg = await ws.receive(timeout=5)
                assert msg.type == WSMsgType.CLOSE and (ws.close_code, msg.extra) == LIFETIME_OVER

    run(scenario())


def test_a_client_ping_is_answered_with_its_payload():
    async def scenario():
        async with world() as (_, edge, client):
            async with client.ws_connect(edge.make_url("/ws/btcusdt@trade"), autoping=False) as ws:
                await ws.ping(b"are you there")
                msg = await ws.receive(timeout=5)
                assert (msg.type, msg.data) == (WSMsgType.PONG, b"are you there")

    run(scenario())


def test_the_timings_come_from_the_environment():
    config = EdgeConfig.from_env({"CASTLE_WS_PING_S": "1", "CASTLE_WS_PONG_TIMEOUT_S": "3", "CASTLE_WS_LIFETIME_S": "9"})
    assert (config.ws_ping_interval_s, config.ws_pong_timeout_s, config.ws_lifetime_s) == (1.0, 3.0, 9.0)
