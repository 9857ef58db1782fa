"""The OpenAPI models of the signed routes say what the parsers really read (no parameter undocumented)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from castle.errors import CastleError

from tests.unit.test_trading_service import ALICE, service  # noqa: F401 (the fixture)

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "functions" / "spot_api"))
import signed_docs as docs  # noqa: E402


class Recording(dict):
    """Request parameters that remember every name the parser asked for."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.asked: set[str] = set()

    def get(self, key, default=None):
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.asked.add(key)
        return super().__getitem__(key)

    def __contains__(self, key) -> bool:
        self.asked.add(key)
        return super().__contains__(key)


def asked_by(call, params: dict) -> set[str]:
    recording = Recording(params)
    try:
        call(recording)
    except CastleError:
        pass
    return recording.asked


def documented(model) -> set[str]:
    return set(model.model_fields)


ORDER = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "price": "30000",
         "quantity": "0.01"}


@pytest.mark.parametrize("variant", [
    {}, {"type": "MARKET", "quoteOrderQty": "10"}, {"type": "STOP_LOSS_LIMIT", "stopPrice": "29000"},
    {"icebergQty": "0.001"}, {"newOrderRespType": "FULL", "selfTradePreventionMode": "NONE"},
])
def test_every_new_order_parameter_the_parser_reads_is_documented(service, variant):  # noqa: F811
    trading, _ = service
    asked = asked_by(lambda p: trading.place(ALICE, p, None), {**ORDER, **variant})
    assert asked - {"timestamp", "recvWindow", "signature"} <= documented(docs.NewOrder)


@pytest.mark.parametrize(("method", "model", "params"), [
    ("query", docs.OrderRef, {"symbol": "BTCUSDT", "orderId": "1"}),
    ("cancel", docs.CancelOrder, {"symbol": "BTCUSDT", "origClientOrderId": "x"}),
    ("open_orders", docs.OpenOrders, {}),
    ("cancel_all", docs.CancelOpenOrders, {"symbol": "BTCUSDT"}),
    ("all_orders", docs.AllOrders, {"symbol": "BTCUSDT", "limit": "5"}),
    ("my_trades", docs.MyTrades, {"symbol": "BTCUSDT", "fromId": "1"}),
])
def test_every_parameter_a_signed_route_reads_is_documented(service, method, model, params):  # noqa: F811
    trading, _ = service
    assert asked_by(lambda p: getattr(trading, method)(ALICE, p), params) <= documented(model)


def test_cancel_replace_parameters_are_documented(service):  # noqa: F811
    trading, _ = service
    params = {**ORDER, "cancelReplaceMode": "STOP_ON_FAILURE", "cancelOrderId": "1"}
    assert asked_by(lambda p: trading.cancel_replace(ALICE, p, None), params) <= documented(docs.CancelReplace)


def test_signed_parameters_come_last_and_timestamp_and_signature_are_required():
    names = [(p["name"], p["required"]) for p in docs.parameters(docs.AllOrders)]
    assert names[-3:] == [("recvWindow", False), ("timestamp", True), ("signature", True)]
    assert names[0] == ("symbol", True)
    assert all("null" not in str(p["schema"]) for p in docs.parameters(docs.MyTrades))
