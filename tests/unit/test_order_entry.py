"""Order entry: Binance's new-order parameters, and the error each bad one gets."""

from __future__ import annotations

import pytest
from castle.errors import CastleError
from castle.order_entry import parse_new_order, parse_order_ref
from castle.orders import OrderType, Side, StpMode, TimeInForce
from castle.symbols import default_symbols

BTCUSDT = default_symbols()["BTCUSDT"]


def order(**params):
    return parse_new_order(BTCUSDT, params, order_id=7, account=1, ts=1000, default_client_id="gen123")


def limit(**overrides):
    params = {"side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01", "price": "30000"}
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def rejected(params) -> tuple[int, str]:
    with pytest.raises(CastleError) as info:
        order(**params)
    return info.value.code, info.value.msg


def test_limit_order_becomes_a_command_in_ticks_and_lots():
    new = order(**limit())
    cmd = new.command
    assert (cmd.side, cmd.type, cmd.tif) == (Side.BUY, OrderType.LIMIT, TimeInForce.GTC)
    assert cmd.price == 3_000_000  # 30000 / 0.01
    assert cmd.qty == 1_000  # 0.01 / 0.00001
    assert cmd.stp is StpMode.EXPIRE_MAKER  # Binance's default for the symbol
    assert new.resp_type == "FULL"


def test_generated_client_id_is_answered_but_not_sent_to_the_engine():
    new = order(**limit())
    assert new.client_order_id == "gen123"
    assert new.command.client_order_id is None


def test_clients_own_client_id_goes_to_the_engine():
    new = order(**limit(newClientOrderId="x-ccxt_0123456789abcdef0123456789ab"))
    assert new.command.client_order_id == new.client_order_id == "x-ccxt_0123456789abcdef0123456789ab"


def test_market_order_by_quote_quantity_is_a_budget_in_tick_lots():
    new = order(side="BUY", type="MARKET", quoteOrderQty="100")
    # 100 USDT / (0.01 * 0.00001) = 1e9 tick*lot units
    assert new.command.quote_qty == 1_000_000_000
    assert new.command.qty is None


def test_non_limit_orders_default_to_ack_response():
    new = order(side="SELL", type="STOP_LOSS", quantity="0.01", stopPrice="29000")
    assert new.resp_type == "ACK"
    assert new.command.stop_price == 2_900_000


@pytest.mark.parametrize(
    ("params", "code", "msg"),
    [
        (limit(side=None), -1102, "Mandatory parameter 'side' was not sent, was empty/null, or malformed."),
        (limit(side="HOLD"), -1117, "Invalid side."),
        (limit(type="LIMITED"), -1116, "Invalid orderType."),
        (limit(timeInForce=None), -1102, "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed."),
        (limit(timeInForce="GTX"), -1115, "Invalid timeInForce."),
        (limit(price=None), -1102, "Mandatory parameter 'price' was not sent, was empty/null, or malformed."),
        (limit(quantity=None), -1102, "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed."),
        (limit(quantity=""), -1102, "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed."),
    ],
)
def test_missing_or_unknown_parameters_get_binance_errors(params, code, msg):
    assert rejected(params) == (code, msg)


@pytest.mark.parametrize("bad", ["-1", "1e3", "abc", "1.2.3", " 1", "+1", "0x10", "1,5", "NaN"])
def test_malformed_quantity_is_illegal_characters(bad):
    code, msg = rejected(limit(quantity=bad))
    assert code == -1100
    assert msg.startswith("Illegal characters found in parameter 'quantity'")


def test_malformed_price_is_illegal_characters():
    code, msg = rejected(limit(price="30000.0.0"))
    assert (code, msg.split(";")[0]) == (-1100, "Illegal characters found in parameter 'price'")


def test_zero_quantity_is_invalid_quantity():
    assert rejected(limit(quantity="0")) == (-1013, "Invalid quantity.")


def test_zero_price_is_invalid_price():
    assert rejected(limit(price="0.00")) == (-1013, "Invalid price.")


def test_price_off_the_tick_fails_price_filter():
    assert rejected(limit(price="30000.005")) == (-1013, "Filter failure: PRICE_FILTER")


def test_price_above_max_fails_price_filter():
    assert rejected(limit(price="1000000.01")) == (-1013, "Filter failure: PRICE_FILTER")


def test_quantity_off_the_step_fails_lot_size():
    assert rejected(limit(quantity="0.000015")) == (-1013, "Filter failure: LOT_SIZE")


def test_quantity_finer_than_eight_decimals_is_too_much_precision():
    assert rejected(limit(quantity="0.000000001")) == (-1111, "Parameter 'quantity' has too much precision.")


def test_notional_below_minimum_fails_notional():
    # 0.0001 BTC * 30000 = 3 USDT < 5
    assert rejected(limit(quantity="0.0001")) == (-1013, "Filter failure: NOTIONAL")


def test_notional_exactly_at_minimum_passes():
    assert order(**limit(quantity="0.0001", price="50000")).command.qty == 10


def test_market_needs_quantity_or_quote_quantity():
    assert rejected({"side": "BUY", "type": "MARKET"}) == (
        -1102,
        "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!",
    )


def test_market_with_both_quantity_and_quote_quantity_is_rejected():
    code, _ = rejected({"side": "BUY", "type": "MARKET", "quantity": "0.01", "quoteOrderQty": "10"})
    assert code == -1106


def test_market_with_a_price_is_rejected():
    assert rejected({"side": "BUY", "type": "MARKET", "quantity": "0.01", "price": "1"}) == (
        -1106,
        "Parameter 'price' sent when not required.",
    )


def test_market_with_time_in_force_is_rejected():
    code, msg = rejected({"side": "BUY", "type": "MARKET", "quantity": "0.01", "timeInForce": "GTC"})
    assert (code, msg) == (-1106, "Parameter 'timeInForce' sent when not required.")


def test_stop_order_needs_a_stop_price():
    code, msg = rejected({"side": "SELL", "type": "STOP_LOSS_LIMIT", "quantity": "0.01", "price": "1", "timeInForce": "GTC"})
    assert (code, msg) == (-1102, "Mandatory parameter 'stopPrice' was not sent, was empty/null, or malformed.")


def test_limit_with_a_stop_price_is_rejected():
    assert rejected(limit(stopPrice="29000"))[0] == -1106


def test_iceberg_needs_gtc():
    assert rejected(limit(timeInForce="IOC", icebergQty="0.001")) == (-1014, "Unsupported order combination.")


def test_iceberg_not_smaller_than_quantity_is_rejected():
    assert rejected(limit(icebergQty="0.01")) == (-2010, "IcebergQty exceeds QTY.")


def test_iceberg_in_too_many_parts_fails_iceberg_parts():
    # 0.01 / 0.0005 = 20 parts > 10
    assert rejected(limit(icebergQty="0.0005")) == (-1013, "Filter failure: ICEBERG_PARTS")


def test_unknown_stp_mode_is_rejected():
    assert rejected(limit(selfTradePreventionMode="DECREMENTAL"))[0] == -1130


def test_bad_client_order_id_is_illegal_characters():
    code, msg = rejected(limit(newClientOrderId="has spaces"))
    assert code == -1100 and "newClientOrderId" in msg


def test_unknown_response_type_is_rejected():
    assert rejected(limit(newOrderRespType="ALL"))[0] == -1130


def test_cancel_needs_order_id_or_client_id():
    with pytest.raises(CastleError) as info:
        parse_order_ref({})
    assert (info.value.code, info.value.msg) == (
        -1102,
        "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
    )


def test_cancel_with_non_numeric_order_id_is_illegal_characters():
    with pytest.raises(CastleError) as info:
        parse_order_ref({"orderId": "12a"})
    assert info.value.code == -1100


def test_cancel_reference_parses_both_forms():
    assert parse_order_ref({"orderId": "42"}) == (42, None)
    assert parse_order_ref({"origClientOrderId": "abc"}) == (None, "abc")
