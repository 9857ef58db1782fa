"""castle.streams: Binance's stream names and live-subscription protocol, frame by frame.

Expected texts are Binance's (web-socket-streams.md, "Error Messages").
"""

from __future__ import annotations

import json

import pytest
from castle.streams import (
    CONNECTS_PER_IP,
    LIFETIME_OVER,
    MAX_STREAMS,
    MESSAGES_PER_CONNECTION,
    PONG_TIMEOUT,
    Heartbeat,
    Session,
    is_valid_stream,
    parse_stream_list,
    respond,
)
from castle.symbols import default_symbols

SYMBOLS = frozenset(default_symbols())
EMPTY = Session()
METHODS = "`SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`"


def frame(request: dict | str, session: Session = EMPTY) -> dict:
    text = request if isinstance(request, str) else json.dumps(request)
    return respond(text, session, SYMBOLS).frame


@pytest.mark.parametrize(
    "name",
    [
        "btcusdt@depth",
        "btcusdt@depth@100ms",
        "ethusdt@depth5",
        "ethusdt@depth10@100ms",
        "bnbusdt@depth20",
        "btcusdt@trade",
        "btcusdt@aggTrade",
        "btcusdt@kline_1s",
        "btcusdt@kline_1M",
        "ethbtc@miniTicker",
        "ethbtc@ticker",
        "ethbtc@bookTicker",
        "!miniTicker@arr",
    ],
)
def test_binance_stream_names_are_valid(name):
    assert is_valid_stream(name, SYMBOLS)


@pytest.mark.parametrize(
    "name",
    [
        "BTCUSDT@trade",  # Binance: symbols in stream names are lowercase
        "dogeusdt@trade",  # not listed here
        "btcusdt@depth15",
        "btcusdt@depth@500ms",
        "btcusdt@kline_2m",
        "btcusdt@aggtrade",
        "btcusdt",
        "@trade",
        "btcusdt@trade@100ms",
        "!ticker@arr",
        "",
        7,
        None,
    ],
)
def test_malformed_or_unknown_stream_names_are_invalid(name):
    assert not is_valid_stream(name, SYMBOLS)


def test_connect_streams_split_on_slashes_and_drop_duplicates():
    assert parse_stream_list("btcusdt@depth/btcusdt@trade/btcusdt@depth", SYMBOLS) == [
        "btcusdt@depth",
        "btcusdt@trade",
    ]
    assert parse_stream_list(None, SYMBOLS) == []


def test_connect_drops_bad_stream_names_as_binance_connects_anyway():
    assert parse_stream_list("btcusdt@trade/btcusdt@nope/0/BTCUSDT@depth", SYMBOLS) == ["btcusdt@trade"]


def test_connect_with_more_than_1024_streams_is_refused():
    with pytest.raises(ValueError, match="1024"):
        parse_stream_list("/".join(f"x{i}" for i in range(MAX_STREAMS + 1)), SYMBOLS)


def test_five_messages_a_second_pass_and_the_sixth_goes_over():
    limit = MESSAGES_PER_CONNECTION
    assert [limit.exceeded(n) for n in range(1, 7)] == [False] * 5 + [True]


def test_message_windows_are_whole_seconds():
    limit = MESSAGES_PER_CONNECTION
    assert limit.window(1_000) == limit.window(1_999) != limit.window(2_000)


def test_connect_windows_are_five_minutes_and_expire_after_theirs():
    limit = CONNECTS_PER_IP
    assert (limit.limit, limit.window(299_999), limit.window(300_000)) == (300, 0, 1)
    assert limit.expires_at(1) == 600 + 60


def test_subscribe_answers_null_result_with_the_id_and_adds_only_new_streams():
    answer = respond(
        json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade", "btcusdt@depth"], "id": 1}),
        Session(("btcusdt@depth",)),
        SYMBOLS,
    )
    assert answer.frame == {"result": None, "id": 1}
    assert answer.subscribe == ["btcusdt@aggTrade"] and answer.unsubscribe == []


def test_unsubscribe_removes_only_streams_the_connection_has():
    answer = respond(
        json.dumps({"method": "UNSUBSCRIBE", "params": ["btcusdt@depth", "ethusdt@trade"], "id": 312}),
        Session(("btcusdt@depth",)),
        SYMBOLS,
    )
    assert answer.frame == {"result": None, "id": 312}
    assert answer.unsubscribe == ["btcusdt@depth"]


def test_list_subscriptions_returns_the_connections_streams():
    session = Session(("btcusdt@aggTrade",))
    assert frame({"method": "LIST_SUBSCRIPTIONS", "id": 3}, session) == {"result": ["btcusdt@aggTrade"], "id": 3}


def test_set_property_combined_changes_it_and_get_property_reads_it():
    answer = respond('{"method":"SET_PROPERTY","params":["combined",true],"id":5}', Session(), SYMBOLS)
    assert answer.frame == {"result": None, "id": 5} and answer.combined is True
    assert frame({"method": "GET_PROPERTY", "params": ["combined"], "id": 2}, Session(combined=True)) == {
        "result": True,
        "id": 2,
    }


@pytest.mark.parametrize("request_id", [0, -7, 2**63 - 1, "abc123", "A" * 36, None])
def test_ids_binance_accepts_are_echoed(request_id):
    assert frame({"method": "LIST_SUBSCRIPTIONS", "id": request_id}) == {"result": [], "id": request_id}


@pytest.mark.parametrize("request_id", [True, 1.5, 2**63, "with space", "A" * 37, [1], {}])
def test_unsupported_ids_are_rejected(request_id):
    assert frame({"method": "LIST_SUBSCRIPTIONS", "id": request_id}) == {
        "error": {"code": 2, "msg": "Invalid request: request ID must be an unsigned integer"}
    }


def test_a_missing_id_is_rejected():
    assert frame({"method": "LIST_SUBSCRIPTIONS"})["error"]["code"] == 2


def test_invalid_json_is_code_3_with_its_position():
    assert frame("hello") == {"error": {"code": 3, "msg": "Invalid JSON: expected value at line 1 column 1"}}


def test_an_unknown_method_names_the_expected_variants():
    assert frame('{"method":"SUBSCRIB","params":[],"id":1}') == {
        "error": {
            "code": 2,
            "msg": f"Invalid request: unknown variant `SUBSCRIB`, expected one of {METHODS} at line 1 column 20",
        }
    }


def test_a_missing_method_is_reported_at_the_end_of_the_request():
    assert frame('{"params":[],"id":1}') == {
        "error": {"code": 2, "msg": "Invalid request: missing field `method` at line 1 column 20"}
    }


def test_subscribing_to_an_invalid_stream_is_rejected_and_changes_nothing():
    answer = respond('{"method":"SUBSCRIBE","params":["btcusdt@trade","BTCUSDT@trade"],"id":9}', Session(), SYMBOLS)
    assert answer.frame == {"error": {"code": 2, "msg": "Invalid request: invalid stream"}, "id": 9}
    assert not answer.ok and answer.subscribe == []


def test_unknown_property_is_code_0_with_the_id():
    assert frame({"method": "GET_PROPERTY", "params": ["verbose"], "id": 4}) == {
        "error": {"code": 0, "msg": "Unknown property", "id": 4},
        "id": 4,
    }


def test_a_non_boolean_property_value_is_code_1():
    assert frame({"method": "SET_PROPERTY", "params": ["combined", "yes"], "id": 5}) == {
        "error": {"code": 1, "msg": "Invalid value type: expected Boolean"},
        "id": 5,
    }


@pytest.mark.parametrize("params", [[], [1], [None, True]])
def test_a_missing_or_non_string_property_name_is_rejected(params):
    assert frame({"method": "SET_PROPERTY", "params": params, "id": 5})["error"] == {
        "code": 2,
        "msg": "Invalid request: property name must be a string",
    }


def test_extra_parameters_are_rejected():
    assert frame({"method": "GET_PROPERTY", "params": ["combined", True], "id": 6})["error"] == {
        "code": 2,
        "msg": "Invalid request: too many parameters",
    }
    assert frame({"method": "LIST_SUBSCRIPTIONS", "params": ["x"], "id": 6})["error"]["code"] == 2


def test_a_connection_cannot_exceed_binances_stream_limit():
    session = Session(tuple(f"s{i}" for i in range(MAX_STREAMS)))
    answer = respond('{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":1}', session, SYMBOLS)
    assert answer.frame["error"]["code"] == 2 and answer.subscribe == []


@pytest.mark.parametrize(
    "text", ["", "[1]", "null", '"SUBSCRIBE"', '{"method":1,"id":1}', '{"method":"SUBSCRIBE","params":"x","id":1}']
)
def test_odd_frames_get_an_error_frame_not_an_exception(text):
    assert "error" in frame(text)



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
