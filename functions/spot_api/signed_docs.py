"""OpenAPI for the signed routes, from pydantic models of Binance's parameters.

The signed routes cannot declare their parameters to Powertools: Binance
takes them from the query string and a form body alike, and the signature
covers the raw bytes, so the handlers read them as sent and parse them with
Binance's own errors (castle.order_entry, castle.trading). These models say
the same in the OpenAPI document; a unit test keeps them and the parsers in step.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

API_KEY_SCHEME = "binanceApiKey"  # X-MBX-APIKEY, declared in the document's components
Decimal = Annotated[str, Field(pattern=r"^[0-9]{1,20}(\.[0-9]{1,20})?$", examples=["0.01000000"])]
ClientOrderId = Annotated[str, Field(pattern=r"^[.A-Za-z0-9_-]{1,36}$")]
Symbol = Annotated[str, Field(pattern=r"^[A-Z0-9-_.]{1,20}$", examples=["BTCUSDT"])]


class Signed(BaseModel):
    """SIGNED (TRADE and USER_DATA): HMAC-SHA256 (or Ed25519) over the query string followed by the body."""

    recvWindow: Annotated[int | None, Field(gt=0, le=60_000, description="ms; default 5000")] = None
    timestamp: Annotated[int, Field(description="ms since the epoch; within recvWindow of the server's time")]
    signature: Annotated[str, Field(description="hex HMAC-SHA256, or base64 Ed25519, of the request's parameters")]


class NewOrder(Signed):
    symbol: Symbol
    side: Literal["BUY", "SELL"]
    type: Literal["LIMIT", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT",
                  "LIMIT_MAKER"]
    timeInForce: Literal["GTC", "IOC", "FOK"] | None = None
    quantity: Decimal | None = None
    quoteOrderQty: Annotated[Decimal | None, Field(description="MARKET only: spend (BUY) or raise (SELL) this")] = None
    price: Decimal | None = None
    newClientOrderId: ClientOrderId | None = None
    stopPrice: Annotated[Decimal | None, Field(description="STOP_LOSS*, TAKE_PROFIT*: the trigger")] = None
    icebergQty: Annotated[Decimal | None, Field(description="LIMIT (GTC) and LIMIT_MAKER: the visible part")] = None
    newOrderRespType: Literal["ACK", "RESULT", "FULL"] | None = None
    selfTradePreventionMode: Literal["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"] | None = None


class TestOrder(NewOrder):
    computeCommissionRates: bool | None = None


class OrderRef(Signed):
    """One of orderId or origClientOrderId."""

    symbol: Symbol
    orderId: int | None = None
    origClientOrderId: ClientOrderId | None = None


class CancelOrder(OrderRef):
    newClientOrderId: Annotated[ClientOrderId | None, Field(description="the cancel's own id")] = None


class CancelReplace(NewOrder):
    cancelReplaceMode: Literal["STOP_ON_FAILURE", "ALLOW_FAILURE"]
    cancelOrderId: int | None = None
    cancelOrigClientOrderId: ClientOrderId | None = None


class OpenOrders(Signed):
    symbol: Annotated[Symbol | None, Field(description="all symbols when omitted")] = None


class CancelOpenOrders(Signed):
    symbol: Symbol


class AllOrders(Signed):
    symbol: Symbol
    orderId: Annotated[int | None, Field(description="from this order id on")] = None
    limit: Annotated[int | None, Field(ge=1, le=1000, description="default 500")] = None


class MyTrades(Signed):
    symbol: Symbol
    orderId: int | None = None
    fromId: Annotated[int | None, Field(description="from this trade id on")] = None
    limit: Annotated[int | None, Field(ge=1, le=1000, description="default 500")] = None


class Account(Signed):
    omitZeroBalances: bool | None = None


class Commission(Signed):
    symbol: Symbol


class ListenKey(BaseModel):
    listenKey: str


class NoParameters(BaseModel):
    pass


def _property_schema(schema: dict) -> dict:
    """A field's JSON schema without the `null` of an optional parameter (absent is how it is left out)."""
    alternatives = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
    if len(alternatives) == 1:
        rest = {k: v for k, v in schema.items() if k != "anyOf"}
        return {**alternatives[0], **rest}
    return schema


SIGNING = ("recvWindow", "timestamp", "signature")


def _fields(schema: dict) -> list[tuple[str, dict]]:
    """The route's own parameters first, the signing ones last (as Binance's docs list them)."""
    props = schema["properties"]
    return [(k, v) for k, v in props.items() if k not in SIGNING] + [(k, props[k]) for k in SIGNING if k in props]


def parameters(model: type[BaseModel]) -> list[dict]:
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    out = []
    for name, prop in _fields(schema):
        prop = _property_schema(prop)
        prop.pop("title", None)
        description = prop.pop("description", None)
        parameter = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if description:
            parameter["description"] = description
        out.append(parameter)
    return out


def signed(model: type[BaseModel], summary: str, *, form: bool = False, api_key_only: bool = False) -> dict[str, Any]:
    """The route decorator's OpenAPI arguments: the parameters in the query (or, for POST, a form body)."""
    if form:
        schema = model.model_json_schema()
        schema["properties"] = {k: _property_schema(v) for k, v in _fields(schema)}
        extensions = {"requestBody": {"required": True, "content": {
            "application/x-www-form-urlencoded": {"schema": schema}}}}
    else:
        extensions = {"parameters": parameters(model)}
    description = (model.__doc__ or "").strip() if not api_key_only else "USER_STREAM: the API key only."
    return {
        "summary": summary,
        "description": description,
        "security": [{API_KEY_SCHEME: []}],
        "openapi_extensions": extensions,
    }
