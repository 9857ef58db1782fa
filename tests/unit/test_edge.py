"""local/edge.py against fake upstream APIs on real loopback sockets.

Each test builds its world in one `asyncio.run`: a fake REST API and a fake
stream gateway (aiohttp apps that record what reached them), the edge in front,
and a plain aiohttp client playing the Binance client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer
from yarl import URL

from functions.spot_api import app as spot_app
from local.edge import EdgeConfig, EdgeServer, create_app
from tests.lambda_context import FakeLambdaContext

EVENTS = Path(__file__).resolve().parents[2] / "events"
STAGE = "/_aws/execute-api/castlerest/v1"  # the REST API's stage, as ministack serves it


@dataclass
class Upstream:
    """What the fake APIs saw."""

    requests: list[dict] = field(default_factory=list)
    connects: list[str] = field(default_factory=list)
    ws_closed: asyncio.Event = field(default_factory=asyncio.Event)
    ws_close_code: int | None = None
    ws_headers: list[dict] = field(default_factory=list)


def spot_lambda(path: str) -> web.Response:
    """What the spot Lambda answers a GET of `path` (its own routes, as API Gateway hands them on)."""
    event = json.loads((EVENTS / "spot_openapi.json").read_text())
    event["path"] = event["resource"] = event["requestContext"]["resourcePath"] = path
    answer = spot_app.lambda_handler(event, FakeLambdaContext())
    headers = {k: v[-1] for k, v in answer["multiValueHeaders"].items()}
    return web.Response(status=answer["statusCode"], text=answer["body"], headers=headers)


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
        if request.path == f"{STAGE}/openapi.json":
            return spot_lambda("/openapi.json")
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
        seen.connects.append(request.rel_url.raw_path_qs)
        seen.ws_headers.append(dict(request.headers))
        if "bad" in request.rel_url.raw_path_qs:
            return web.Response(status=400, text="Forbidden")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                if msg.data == "close-4000":
                    await ws.close(code=4000, message=b"bye")
                    break
                if msg.data == "ping-me":
                    await ws.ping(b"gateway ping")
                    continue
                await ws.send_str(f"echo:{msg.data}")
            elif msg.type == WSMsgType.BINARY:
                await ws.send_bytes(msg.data[::-1])
        seen.ws_close_code = ws.close_code
        seen.ws_closed.set()
        return ws

    app = web.Application()
    app.router.add_get("/ws", connect)
    app.router.add_get("/ws/{tail:.*}", connect)
    app.router.add_get("/stream", connect)
    return app


@contextlib.asynccontextmanager
async def world(health=None, max_body_bytes: int = 1 << 20, rest_up: bool = True, **edge) -> AsyncIterator:
    seen = Upstream()
    async with TestServer(fake_rest(seen)) as rest, TestServer(fake_ws(seen)) as wsapi:
        rest_url = str(rest.make_url(STAGE))
        if not rest_up:
            rest_url = "http://127.0.0.1:9/_aws/execute-api/castlerest/v1"  # the discard port: refused
        ws_url = str(wsapi.make_url("")).rstrip("/").replace("http://", "ws://")
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


def test_ws_paths_reach_the_gateway_as_they_came_and_frames_pipe_both_ways():
    async def scenario():
        async with world() as (seen, edge, client):
            async with client.ws_connect(edge.make_url("/ws/btcusdt@trade")) as ws:
                await ws.send_str('{"method":"LIST_SUBSCRIPTIONS","id":1}')
                assert (await ws.receive()).data == 'echo:{"method":"LIST_SUBSCRIPTIONS","id":1}'
                await ws.send_bytes(b"\x01\x02")
                assert (await ws.receive()).data == b"\x02\x01"
            assert seen.connects == ["/ws/btcusdt@trade"]
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
            assert seen.connects == ["/ws/btcusdt@trade/ethusdt@depth", "/stream?streams=a@trade/b@depth", "/ws"]

    run(scenario())


def test_the_gateways_close_code_and_reason_reach_the_client():
    async def scenario():
        async with world() as (_, edge, client):
            async with client.ws_connect(edge.make_url("/ws/btcusdt@trade")) as ws:
                await ws.send_str("close-4000")
                msg = await ws.receive()
                assert msg.type == WSMsgType.CLOSE and (ws.close_code, msg.extra) == (4000, "bye")

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


def test_openapi_is_the_rest_apis_own_document_passed_through():
    async def scenario():
        async with world() as (seen, edge, client):
            async with client.get(edge.make_url("/openapi.json")) as r:
                assert r.status == 200 and r.content_type == "application/json"
            assert [q["raw_path"] for q in seen.requests] == [f"{STAGE}/openapi.json"]

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


# ------------------------------------------- the heartbeat passes through
def test_the_gateways_pings_reach_the_client_and_its_pongs_go_back():
    async def scenario():
        async with world() as (_, edge, client):
            async with client.ws_connect(edge.make_url("/ws/btcusdt@trade"), autoping=False) as ws:
                await ws.send_str("ping-me")
                msg = await ws.receive(timeout=5)
                assert (msg.type, msg.data) == (WSMsgType.PING, b"gateway ping")
                await ws.pong(msg.data)

    run(scenario())


def test_a_client_ping_is_answered_with_its_payload():
    async def scenario():
        async with world() as (_, edge, client):
            async with client.ws_connect(edge.make_url("/ws/btcusdt@trade"), autoping=False) as ws:
                await ws.ping(b"are you there")
                msg = await ws.receive(timeout=5)
                assert (msg.type, msg.data) == (WSMsgType.PONG, b"are you there")

    run(scenario())


# ------------------------------------------- the front door's byte tunnel
@contextlib.asynccontextmanager
async def threaded_world(gateway_up: bool = True) -> AsyncIterator:
    """The real EdgeServer (its front door on a real port) in front of the fake APIs."""
    seen = Upstream()
    async with TestServer(fake_rest(seen)) as rest, TestServer(fake_ws(seen)) as wsapi:
        ws_url = str(wsapi.make_url("")).rstrip("/").replace("http://", "ws://")
        if not gateway_up:
            ws_url = "ws://127.0.0.1:9"  # the discard port: refused
        config = EdgeConfig(rest_url=str(rest.make_url("/_aws/execute-api/castlerest/v1")), ws_url=ws_url, port=0)
        server = EdgeServer(config)
        url = await asyncio.to_thread(server.start)
        try:
            async with aiohttp.ClientSession() as client:
                yield seen, url, client
        finally:
            await asyncio.to_thread(server.stop)


def test_a_stream_connect_tunnels_to_the_gateway_with_frames_both_ways_and_its_close():
    async def scenario():
        async with threaded_world() as (seen, url, client):
            async with client.ws_connect(f"{url}/stream?streams=btcusdt@trade") as ws:
                await ws.send_str("hello")
                assert (await ws.receive(timeout=5)).data == "echo:hello"
                await ws.send_bytes(b"\x01\x02" * 40_000)
                assert (await ws.receive(timeout=5)).data == b"\x02\x01" * 40_000
                await ws.send_str("close-4000")
                msg = await ws.receive(timeout=5)
                assert msg.type == WSMsgType.CLOSE and (ws.close_code, msg.extra) == (4000, "bye")
            assert seen.connects == ["/stream?streams=btcusdt@trade"]

    run(scenario())


def test_the_tunnel_names_the_client_to_the_gateway_whatever_it_claims():
    async def scenario():
        async with threaded_world() as (seen, url, client):
            headers = {"X-Viewer-Address": "6.6.6.6", "X-Forwarded-For": "10.0.0.1"}
            async with client.ws_connect(f"{url}/ws/btcusdt@trade", headers=headers):
                pass
            got = seen.ws_headers[0]
            assert got["X-Viewer-Address"] == "127.0.0.1" and got["X-Forwarded-For"] == "10.0.0.1, 127.0.0.1"

    run(scenario())


def test_rest_on_the_front_doors_port_reaches_the_rest_api_byte_for_byte():
    async def scenario():
        async with threaded_world() as (seen, url, client):
            async with client.post(f"{url}/api/v3/order?symbol=BTCUSDT&b=1%2B2", data=b"quantity=1&price=2") as r:
                assert r.status == 200 and await r.json() == {"ok": True}
            async with client.get(f"{url}/health") as r:
                assert r.status == 200
            assert seen.requests[0]["raw_path"].endswith("/api/v3/order?symbol=BTCUSDT&b=1%2B2")
            assert seen.requests[0]["body"] == b"quantity=1&price=2"

    run(scenario())


def test_a_refused_stream_connect_is_the_gateways_own_answer():
    async def scenario():
        async with threaded_world() as (_, url, client):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await client.ws_connect(f"{url}/ws/bad@stream")
            return refused.value.status

    assert run(scenario()) == 400


def test_a_gateway_that_is_down_is_a_502_with_binances_error():
    async def scenario():
        async with threaded_world(gateway_up=False) as (_, url, client):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await client.ws_connect(f"{url}/ws/btcusdt@trade")
            async with client.get(f"{url}/ws", headers={"Upgrade": "websocket", "Connection": "Upgrade",
                                                        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                                                        "Sec-WebSocket-Version": "13"}) as r:
                body = await r.json()
            return refused.value.status, body["code"]

    assert run(scenario()) == (502, -1001)
