"""functions/ws_api through its event fixtures, on a moto ConnectionsTable built from template.yaml.

The connections poster is a fake that records frames (the real one is tested
in test_ws_connections.py); DynamoSubscriptions is the real adapter on moto.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
import yaml
from moto import mock_aws

from functions.ws_api import app

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
TABLE_KEYS = ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode")


class _AnyTag(yaml.SafeLoader):
    pass


_AnyTag.add_multi_constructor("!", lambda loader, suffix, node: None)


def create_connections_table(name: str = "castle-connections"):
    """The ConnectionsTable exactly as template.yaml declares its keys and indexes."""
    resources = yaml.load((ROOT / "template.yaml").read_text(), Loader=_AnyTag)["Resources"]
    props = resources["ConnectionsTable"]["Properties"]
    table = boto3.resource("dynamodb", region_name="us-east-1").create_table(
        TableName=name, **{k: props[k] for k in TABLE_KEYS if k in props}
    )
    table.wait_until_exists()
    return table


@dataclass
class FakeLambdaContext:
    function_name: str = "WebSocketApiFunction"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:WebSocketApiFunction"
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 10_000


@dataclass
class RecordingPoster:
    frames: list[tuple[str, dict]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    def post(self, connection_id: str, frame: dict) -> bool:
        self.frames.append((connection_id, frame))
        return True

    def delete(self, connection_id: str) -> None:
        self.deleted.append(connection_id)


@pytest.fixture
def world(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("CONNECTIONS_TABLE", "castle-connections")
    with mock_aws():
        table = create_connections_table()
        real_store = app.store
        real_store.cache_clear()
        poster = RecordingPoster()
        monkeypatch.setattr(app, "poster", lambda _ctx: poster)
        yield table, poster
        real_store.cache_clear()


def event(fixture: str, **changes) -> dict:
    body = json.loads((EVENTS / f"{fixture}.json").read_text())
    body.update(changes)
    return body


def invoke(body: dict) -> dict:
    return app.lambda_handler(body, FakeLambdaContext())


def message(text: str) -> dict:
    return event("ws_default_subscribe", body=text)


def connection_id() -> str:
    return event("ws_connect")["requestContext"]["connectionId"]


def test_connect_stores_the_streams_of_the_url(world):
    assert invoke(event("ws_connect")) == {"statusCode": 200}
    assert app.store().session(connection_id()).streams == ("btcusdt@depth", "btcusdt@trade")


def test_connect_with_a_malformed_stream_opens_without_it(world):
    # Binance connects whatever the URL names (ccxt opens /ws/0, then SUBSCRIBEs).
    odd = event("ws_connect", queryStringParameters={"streams": "btcusdt@depth/BTCUSDT@trade/0"})
    assert invoke(odd) == {"statusCode": 200}
    assert app.store().session(connection_id()).streams == ("btcusdt@depth",)


def test_connect_with_more_than_1024_streams_is_refused_and_stores_connects_only(world):
    many = "/".join(f"btcusdt@kline_{i}" for i in range(1025))
    assert invoke(event("ws_connect", queryStringParameters={"streams": many})) == {"statusCode": 400}
    table, _ = world
    assert [i["PK"] for i in table.scan()["Items"]] == ["IP#203.0.113.7"]


def test_connect_without_streams_is_a_bare_ws_connection(world):
    assert invoke(event("ws_connect", queryStringParameters=None)) == {"statusCode": 200}
    assert app.store().session(connection_id()).streams == ()


def test_subscribe_answers_binances_result_frame_and_stores_the_streams(world):
    _, poster = world
    invoke(event("ws_connect"))
    assert invoke(event("ws_default_subscribe")) == {"statusCode": 200}
    assert poster.frames == [(connection_id(), {"result": None, "id": 1})]
    assert app.store().session(connection_id()).streams == (
        "btcusdt@depth",
        "btcusdt@kline_1m",
        "btcusdt@trade",
        "ethusdt@aggTrade",
    )


def test_list_subscriptions_answers_the_stored_streams(world):
    _, poster = world
    invoke(event("ws_connect"))
    invoke(message('{"method":"LIST_SUBSCRIPTIONS","id":"q1"}'))
    assert poster.frames[-1][1] == {"result": ["btcusdt@depth", "btcusdt@trade"], "id": "q1"}


def test_combined_follows_the_connect_url_and_set_property(world):
    _, poster = world
    invoke(event("ws_connect", queryStringParameters={"streams": "btcusdt@trade", "combined": "true"}))
    invoke(message('{"method":"GET_PROPERTY","params":["combined"],"id":1}'))
    invoke(message('{"method":"SET_PROPERTY","params":["combined",false],"id":2}'))
    invoke(message('{"method":"GET_PROPERTY","params":["combined"],"id":3}'))
    assert [f for _, f in poster.frames] == [
        {"result": True, "id": 1},
        {"result": None, "id": 2},
        {"result": False, "id": 3},
    ]


def test_malformed_json_gets_binances_code_3_frame(world):
    _, poster = world
    invoke(event("ws_connect"))
    assert invoke(event("ws_default_malformed")) == {"statusCode": 200}
    (_, frame) = poster.frames[-1]
    assert frame["error"]["code"] == 3 and frame["error"]["msg"].startswith("Invalid JSON: ")


def test_subscribers_of_a_stream_are_found_through_the_index(world):
    invoke(event("ws_connect"))
    other = event("ws_connect")
    other["requestContext"] = {**other["requestContext"], "connectionId": "OtherConnId0="}
    other["queryStringParameters"] = {"streams": "btcusdt@trade"}
    invoke(other)
    assert sorted(app.store().subscribers("btcusdt@trade")) == sorted([connection_id(), "OtherConnId0="])
    assert app.store().subscribers("btcusdt@depth") == [connection_id()]


def test_disconnect_deletes_every_item_of_the_connection(world):
    table, _ = world
    invoke(event("ws_connect"))
    invoke(event("ws_default_subscribe"))
    assert invoke(event("ws_disconnect")) == {"statusCode": 200}
    assert [i for i in table.scan()["Items"] if i["PK"].startswith("CONN#")] == []


def test_a_storage_failure_becomes_an_error_frame_not_an_exception(world, monkeypatch):
    _, poster = world

    class BrokenStore:
        def session(self, _):
            raise RuntimeError("dynamodb is down")

    monkeypatch.setattr(app, "store", lambda: BrokenStore())
    assert invoke(event("ws_default_subscribe")) == {"statusCode": 500}
    assert poster.frames[-1][1] == {"error": app.UNKNOWN_ERROR}


def test_a_failing_connect_is_refused_without_raising(world, monkeypatch):
    monkeypatch.setenv("CONNECTIONS_TABLE", "no-such-table")
    app.store.cache_clear()
    assert invoke(event("ws_connect")) == {"statusCode": 500}


def test_connect_with_a_listen_key_opens_the_accounts_user_stream(world):
    key = "pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81va65sdf19v8a65a1"[:60]
    assert invoke(event("ws_connect", queryStringParameters={"streams": key})) == {"statusCode": 200}
    assert app.store().subscribers(f"listenKey@{key}") == [connection_id()]
    assert app.store().session(connection_id()).streams == ()  # LIST_SUBSCRIPTIONS shows no market stream


def message_at(text: str, received_ms: int) -> dict:
    body = message(text)
    body["requestContext"] = {**body["requestContext"], "requestTimeEpoch": received_ms}
    return body


LIST = '{"method":"LIST_SUBSCRIPTIONS","id":1}'
T0 = 1_735_689_600_000


def test_five_messages_in_one_second_are_all_answered(world):
    _, poster = world
    invoke(event("ws_connect"))
    for i in range(5):
        invoke(message_at(LIST, T0 + i * 150))
    assert len(poster.frames) == 5 and poster.deleted == []


def test_a_sixth_message_in_one_second_closes_the_connection_unanswered(world):
    _, poster = world
    invoke(event("ws_connect"))
    for i in range(6):
        invoke(message_at(LIST, T0 + i * 150))
    assert len(poster.frames) == 5
    assert poster.deleted == [connection_id()]


def test_the_message_count_starts_again_each_second(world):
    _, poster = world
    invoke(event("ws_connect"))
    for second in range(3):
        for i in range(5):
            invoke(message_at(LIST, T0 + second * 1000 + i * 100))
    assert len(poster.frames) == 15 and poster.deleted == []


def test_a_flooding_connection_does_not_limit_another(world):
    _, poster = world
    invoke(event("ws_connect"))
    other = event("ws_connect")
    other["requestContext"] = {**other["requestContext"], "connectionId": "OtherConnId0="}
    invoke(other)
    for i in range(7):
        invoke(message_at(LIST, T0 + i))
    calm = message_at(LIST, T0 + 10)
    calm["requestContext"] = {**calm["requestContext"], "connectionId": "OtherConnId0="}
    invoke(calm)
    assert poster.deleted == [connection_id(), connection_id()]
    assert poster.frames[-1][0] == "OtherConnId0="


def connect_from(address: str | None, connection: str) -> dict:
    body = event("ws_connect")
    body["requestContext"] = {**body["requestContext"], "connectionId": connection}
    if address:
        body["headers"] = {**(body.get("headers") or {}), "X-Viewer-Address": address}
    return body


def test_the_301st_connect_from_one_address_in_five_minutes_is_refused(world):
    statuses = [invoke(connect_from("198.51.100.1", f"c{i}"))["statusCode"] for i in range(301)]
    assert statuses == [200] * 300 + [429]
    assert invoke(connect_from("198.51.100.2", "other"))["statusCode"] == 200


def test_connects_count_per_viewer_address_else_per_source_ip(world):
    table, _ = world
    invoke(connect_from("198.51.100.1", "a"))
    invoke(connect_from(None, "b"))
    assert sorted(i["PK"] for i in table.scan()["Items"] if i["PK"].startswith("IP#")) == [
        "IP#198.51.100.1", "IP#203.0.113.7"]


def test_messages_of_a_connection_without_a_record_are_answered_not_limited(world):
    _, poster = world  # no $connect stored (it failed, or the TTL took it): nothing to count against
    for i in range(7):
        invoke(message_at(LIST, T0 + i))
    assert len(poster.frames) == 7 and poster.deleted == []
