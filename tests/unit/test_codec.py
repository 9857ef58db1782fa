"""castle.codec: commands and events survive the wire exactly, and bad input is refused."""

from __future__ import annotations

import json

import pytest

from castle.codec import CodecError, command_from_dict, command_to_dict, event_from_dict, event_to_dict
from castle.events import OrderExpired, TradeExecuted
from castle.orders import (
    AmendOrder,
    CancelAllOrders,
    CancelOrder,
    CancelReplace,
    CancelReplaceMode,
    OrderStatus,
    OrderType,
    PlaceOrder,
    Side,
    StpMode,
    TimeInForce,
)

COMMANDS = [
    PlaceOrder(1, 7, Side.BUY, price=3_000_000, qty=100, ts=5),
    PlaceOrder(2, 7, Side.SELL, OrderType.MARKET, quote_qty=10**12, tif=TimeInForce.IOC, stp=StpMode.NONE),
    PlaceOrder(3, 8, Side.BUY, OrderType.STOP_LOSS_LIMIT, price=10, qty=1, stop_price=11, iceberg_qty=None,
               client_order_id="x" * 32),
    CancelOrder(1, 7, ts=9),
    CancelAllOrders(7, ts=9),
    AmendOrder(1, 7, new_qty=50, ts=9),
    CancelReplace(CancelOrder(1, 7), PlaceOrder(4, 7, Side.BUY, price=1, qty=1), CancelReplaceMode.ALLOW_FAILURE),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: type(c).__name__)
def test_every_command_round_trips_through_json(command):
    wire = json.loads(json.dumps(command_to_dict(command)))
    assert command_from_dict(wire) == command


def test_enums_travel_as_strings_and_amounts_as_ints():
    wire = command_to_dict(COMMANDS[0])
    assert wire["command"] == "PlaceOrder"
    assert (wire["side"], wire["type"], wire["tif"], wire["stp"]) == ("BUY", "LIMIT", "GTC", "EXPIRE_MAKER")
    assert wire["price"] == 3_000_000 and type(wire["price"]) is int


def test_defaults_fill_in_when_optional_fields_are_absent():
    cmd = command_from_dict({"command": "PlaceOrder", "order_id": 1, "account": 2, "side": "SELL"})
    assert cmd == PlaceOrder(1, 2, Side.SELL)


@pytest.mark.parametrize(
    "wire",
    [
        {"command": "Nope"},
        {"order_id": 1, "account": 2},
        {"command": "CancelOrder", "order_id": 1},
        {"command": "CancelOrder", "order_id": 1, "account": 2, "extra": 1},
        {"command": "CancelOrder", "order_id": "1", "account": 2},
        {"command": "CancelOrder", "order_id": 1.0, "account": 2},
        {"command": "CancelOrder", "order_id": True, "account": 2},
        {"command": "PlaceOrder", "order_id": 1, "account": 2, "side": "buy"},
        {"command": "PlaceOrder", "order_id": 1, "account": 2, "side": "BUY", "client_order_id": 5},
        {"command": "CancelReplace", "cancel": [], "place": {}},
        [],
    ],
)
def test_malformed_commands_are_refused(wire):
    with pytest.raises(CodecError):
        command_from_dict(wire)


def test_events_round_trip_with_their_enums():
    for event in (
        TradeExecuted(3, 1, 100, 5, 1, 7, 0, 2, 8, 0, Side.SELL, 99),
        OrderExpired(4, 2, 8, 5, OrderStatus.EXPIRED_IN_MATCH, 5),
    ):
        assert event_from_dict(json.loads(json.dumps(event_to_dict(event)))) == event
