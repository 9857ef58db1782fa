"""Order entry: Binance's `POST /api/v3/order` parameters into a `PlaceOrder`.

This is the gateway's validation stage, before any funds are held: parameter
presence and combinations per order type, strict number parsing, and the
symbol's static filters. What needs the engine's state (MAX_NUM_ORDERS,
PERCENT_PRICE_BY_SIDE, LIMIT_MAKER crossing, stop triggers) is checked there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from castle import errors
from castle.money import parse_units
from castle.orders import OrderType, PlaceOrder, Side, StpMode, TimeInForce
from castle.symbols import SCALE, Symbol

CLIENT_ID_PATTERN = r"^[\.A-Z\:/a-z0-9_-]{1,36}$"
_CLIENT_ID = re.compile(CLIENT_ID_PATTERN)

NEEDS_TIF = {OrderType.LIMIT, OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT_LIMIT}
NEEDS_PRICE = {OrderType.LIMIT, OrderType.LIMIT_MAKER, OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT_LIMIT}
NEEDS_STOP = {OrderType.STOP_LOSS, OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT, OrderType.TAKE_PROFIT_LIMIT}
MARKET_LIKE = {OrderType.MARKET, OrderType.STOP_LOSS, OrderType.TAKE_PROFIT}
ICEBERG_TYPES = {OrderType.LIMIT, OrderType.LIMIT_MAKER, OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT_LIMIT}
RESP_TYPES = ("ACK", "RESULT", "FULL")


@dataclass(frozen=True, slots=True)
class NewOrder:
    """A validated order: the engine command plus how the client wants the answer."""

    command: PlaceOrder
    symbol: Symbol
    resp_type: str
    client_order_id: str


def _enum(params: Mapping[str, str], name: str, enum_type, error):
    value = params.get(name)
    if value is None or value == "":
        raise errors.mandatory_param(name)
    try:
        return enum_type(value)
    except ValueError:
        raise error() from None


def _amount(params: Mapping[str, str], name: str) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    if value == "":
        raise errors.mandatory_param(name)
    return parse_units(value, SCALE, name)


def _not_sent(params: Mapping[str, str], *names: str) -> None:
    for name in names:
        if params.get(name) not in (None, ""):
            raise errors.param_not_required(name)


def parse_client_order_id(value: str | None, param: str = "newClientOrderId") -> str | None:
    if value is None:
        return None
    if not _CLIENT_ID.match(value):
        raise errors.illegal_chars(param, CLIENT_ID_PATTERN)
    return value


def parse_new_order(
    symbol: Symbol, params: Mapping[str, str], order_id: int, account: int, ts: int, default_client_id: str
) -> NewOrder:
    """Validate Binance's new-order parameters; raise `CastleError` on the first problem."""
    side = _enum(params, "side", Side, errors.invalid_side)
    order_type = _enum(params, "type", OrderType, errors.invalid_order_type)
    if order_type not in symbol.order_types:
        raise errors.unsupported_order_combination()

    tif = TimeInForce.GTC
    if order_type in NEEDS_TIF:
        tif = _enum(params, "timeInForce", TimeInForce, errors.invalid_tif)
    else:
        _not_sent(params, "timeInForce")

    price = _amount(params, "price")
    if order_type in NEEDS_PRICE:
        if price is None:
            raise errors.mandatory_param("price")
        if price == 0:
            raise errors.invalid_price()
        symbol.price_filter.check(price)
    elif price is not None:
        raise errors.param_not_required("price")

    stop_price = _amount(params, "stopPrice")
    if order_type in NEEDS_STOP:
        if stop_price is None:
            raise errors.mandatory_param("stopPrice")
        if stop_price == 0:
            raise errors.invalid_stop_price()
        symbol.price_filter.check(stop_price)
    elif stop_price is not None:
        raise errors.param_not_required("stopPrice")

    qty = _amount(params, "quantity")
    quote_qty = _amount(params, "quoteOrderQty")
    if order_type is OrderType.MARKET:
        if qty is None and quote_qty is None:
            raise errors.one_of_params("quantity", "quoteOrderQty")
        if qty is not None and quote_qty is not None:
            raise errors.param_not_required("quoteOrderQty")
    else:
        if quote_qty is not None:
            raise errors.param_not_required("quoteOrderQty")
        if qty is None:
            raise errors.mandatory_param("quantity")
    if qty is not None:
        if qty == 0:
            raise errors.invalid_quantity()
        symbol.lot_size.check(qty)
        if order_type in MARKET_LIKE:
            symbol.market_lot_size.check(qty)
    if quote_qty is not None:
        if quote_qty == 0:
            raise errors.invalid_quantity()
        symbol.notional.check(quote_qty, market=True)

    notional_price = price if price is not None else stop_price
    if qty is not None and notional_price is not None:
        symbol.notional.check(symbol.notional_of(notional_price, qty), market=order_type in MARKET_LIKE)

    iceberg = _amount(params, "icebergQty")
    if iceberg is not None:
        if order_type not in ICEBERG_TYPES or tif is not TimeInForce.GTC:
            raise errors.unsupported_order_combination()
        if iceberg == 0:
            raise errors.invalid_quantity()
        if iceberg >= qty:
            raise errors.iceberg_exceeds_qty()
        symbol.lot_size.check(iceberg)
        if -(-qty // iceberg) > symbol.iceberg_parts:
            raise errors.filter_failure("ICEBERG_PARTS")

    stp = symbol.default_stp
    if params.get("selfTradePreventionMode") not in (None, ""):
        try:
            stp = StpMode(params["selfTradePreventionMode"])
        except ValueError:
            raise errors.invalid_parameter("selfTradePreventionMode") from None
        if stp is not StpMode.NONE and stp not in symbol.allowed_stp:
            raise errors.invalid_parameter("selfTradePreventionMode")

    resp_type = params.get("newOrderRespType") or (
        "FULL" if order_type in (OrderType.MARKET, OrderType.LIMIT) else "ACK"
    )
    if resp_type not in RESP_TYPES:
        raise errors.invalid_parameter("newOrderRespType")

    # Only a client's own id goes to the engine (for its duplicate check); ours are unique already.
    own_client_id = parse_client_order_id(params.get("newClientOrderId"))
    command = PlaceOrder(
        order_id=order_id,
        account=account,
        side=side,
        type=order_type,
        price=None if price is None else symbol.to_ticks(price),
        qty=None if qty is None else symbol.to_lots(qty),
        tif=tif,
        quote_qty=None if quote_qty is None else symbol.quote_to_engine(quote_qty),
        stop_price=None if stop_price is None else symbol.to_ticks(stop_price),
        iceberg_qty=None if iceberg is None else symbol.to_lots(iceberg),
        stp=stp,
        client_order_id=own_client_id,
        ts=ts,
    )
    return NewOrder(command, symbol, resp_type, own_client_id or default_client_id)


def parse_order_ref(params: Mapping[str, str]) -> tuple[int | None, str | None]:
    """`orderId` or `origClientOrderId`, as cancel and query take them."""
    raw_id = params.get("orderId")
    client_id = params.get("origClientOrderId")
    if raw_id in (None, "") and client_id in (None, ""):
        raise errors.one_of_params("origClientOrderId", "orderId")
    order_id = None
    if raw_id not in (None, ""):
        if not raw_id.isdigit():
            raise errors.illegal_chars("orderId", "^[0-9]{1,20}$")
        order_id = int(raw_id)
    return order_id, parse_client_order_id(client_id or None, "origClientOrderId")
