"""Clients reach the deployed stack through the edge, in Binance's URL layout."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import aiohttp


def http(local_cloud, path: str, method: str = "GET", body: bytes | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(f"{local_cloud.edge_url}{path}", data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def test_ping_through_the_edge_reaches_the_spot_function(local_cloud):
    assert http(local_cloud, "/api/v3/ping") == (200, {})


def test_exchange_info_lists_the_symbols_with_binance_filters(local_cloud):
    status, body = http(local_cloud, "/api/v3/exchangeInfo?symbol=BTCUSDT")
    assert status == 200
    symbol = body["symbols"][0]
    assert symbol["symbol"] == "BTCUSDT"
    assert symbol["defaultSelfTradePreventionMode"] == "EXPIRE_MAKER"
    assert {f["filterType"] for f in symbol["filters"]} >= {"PRICE_FILTER", "LOT_SIZE", "NOTIONAL"}


def test_unknown_symbol_gets_binance_error(local_cloud):
    assert http(local_cloud, "/api/v3/exchangeInfo?symbol=NOPEUSDT") == (400, {"code": -1121, "msg": "Invalid symbol."})


def test_unknown_route_gets_a_json_404(local_cloud):
    status, body = http(local_cloud, "/nothing/here")
    assert status == 404
    assert body["code"] == -1020


def test_body_too_large_gets_api_gateways_413(local_cloud):
    assert http(local_cloud, "/api/v3/order", method="POST", body=b"x" * (2 << 20)) == (
        413,
        {"message": "Request Too Long"},
    )


def test_health_reports_every_component_ok(local_cloud):
    status, body = http(local_cloud, "/health")
    assert status == 200, body
    assert body["status"] == "ok"
    assert {"redis", "ministack", "matching", "stack", "rest-api"} <= set(body["components"])


def test_openapi_document_describes_the_spot_api(local_cloud):
    status, body = http(local_cloud, "/openapi.json")
    assert status == 200
    assert body["openapi"].startswith("3.1")
    assert "/api/v3/ping" in body["paths"]


async def _ws_session(url: str, frames: list[str]) -> list[dict]:
    answers = []
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url, timeout=aiohttp.ClientWSTimeout(ws_close=10)) as ws:
            for frame in frames:
                await ws.send_str(frame)
                message = await asyncio.wait_for(ws.receive(), timeout=20)
                answers.append(json.loads(message.data))
    return answers


def ws_url(local_cloud, path: str) -> str:
    return local_cloud.edge_url.replace("http://", "ws://") + path


def test_path_style_stream_subscribes_on_connect(local_cloud):
    answers = asyncio.run(
        _ws_session(ws_url(local_cloud, "/ws/btcusdt@trade"), ['{"method": "LIST_SUBSCRIPTIONS", "id": 3}'])
    )
    assert answers == [{"result": ["btcusdt@trade"], "id": 3}]


def test_subscribe_over_the_socket_answers_with_its_id(local_cloud):
    answers = asyncio.run(
        _ws_session(
            ws_url(local_cloud, "/ws"),
            [
                '{"method": "SUBSCRIBE", "params": ["ethusdt@depth"], "id": 1}',
                '{"method": "LIST_SUBSCRIPTIONS", "id": 2}',
            ],
        )
    )
    assert answers == [{"result": None, "id": 1}, {"result": ["ethusdt@depth"], "id": 2}]


def test_malformed_json_on_the_socket_gets_an_error_frame(local_cloud):
    [answer] = asyncio.run(_ws_session(ws_url(local_cloud, "/ws"), ["{not json"]))
    assert answer["error"]["code"] == 3
