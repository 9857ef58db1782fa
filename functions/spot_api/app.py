"""Spot REST API (`/api/v3/*`), Binance's shapes. Thin: routes, then the domain.

Errors are mapped once: a `CastleError` becomes Binance's `{"code", "msg"}`
with its HTTP status; anything else is logged and becomes -1000, because an
unhandled exception would restart the local cloud's worker.
"""

from __future__ import annotations

import json
import time
from functools import cache
from typing import Annotated

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, Server
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from castle import errors
from castle.adapters.http_errors import install_binance_errors
from castle.symbols import default_symbols, exchange_info

import accounts  # spot_api's own modules, top-level as Lambda loads them
import market
import security
import trading
from signed_docs import API_KEY_SCHEME

logger = Logger()
tracer = Tracer()
app = APIGatewayRestResolver(enable_validation=True)
app.use(middlewares=[security.rate_limit])  # REQUEST_WEIGHT / ORDERS and their headers, for every route
app.include_router(accounts.router)  # account, account/commission, userDataStream
app.include_router(market.router)  # public market data: depth, trades, aggTrades, klines, avgPrice, tickers
app.include_router(trading.router)  # orders: new, test, query, cancel, cancelReplace, openOrders, allOrders, myTrades

SYMBOLS = default_symbols()
SYMBOLS_PATTERN = r'^\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\]$'


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@app.get("/api/v3/ping")
def ping() -> dict:
    return {}


@app.get("/api/v3/time")
def server_time() -> dict:
    return {"serverTime": now_ms()}


@app.get("/api/v3/exchangeInfo")
def get_exchange_info(
    symbol: Annotated[str | None, Query()] = None,
    symbols: Annotated[str | None, Query()] = None,
) -> dict:
    if symbol is not None and symbols is not None:
        raise errors.param_not_required("symbols")
    only = [symbol] if symbol is not None else parse_symbol_list(symbols) if symbols is not None else None
    return exchange_info(SYMBOLS, now_ms(), only)


def parse_symbol_list(text: str) -> list[str]:
    """Binance's `symbols=["BTCUSDT","BNBUSDT"]`: a JSON array of names."""
    try:
        names = json.loads(text)
    except ValueError:
        names = None
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise errors.illegal_chars("symbols", SYMBOLS_PATTERN)
    return names


@app.get("/openapi.json", include_in_schema=False)
def openapi_json() -> dict:
    """The OpenAPI 3.1 document of these routes (the edge's /docs reads it: local/edge.py, CloudFront)."""
    return openapi_document()


@cache
def openapi_document() -> dict:
    """Built once per warm Lambda: the routes do not change while it runs."""
    return json.loads(app.get_openapi_json_schema(
        title="Castle",
        version="0.1.0",
        description="Binance's spot REST API, served by Castle.",
        servers=[Server(url="/", description="this edge")],
        security_schemes={API_KEY_SCHEME: APIKey(name="X-MBX-APIKEY", in_=APIKeyIn.header,
                                                 description="the API key, for signed and USER_STREAM routes")},
    ))


install_binance_errors(app, logger)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    started = time.perf_counter()
    response = app.resolve(event, context)
    logger.info(
        "request",
        method=event.get("httpMethod"),
        path=event.get("path"),
        status=response["statusCode"],
        ms=round((time.perf_counter() - started) * 1000, 3),
    )
    return response
