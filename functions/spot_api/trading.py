"""The signed order routes (TRADE and USER_DATA): thin, over castle.trading.Trading."""

from __future__ import annotations

import os
import time
from functools import cache

from aws_lambda_powertools.event_handler.api_gateway import Router

from castle.auth import Permission
from castle.symbols import default_symbols
from castle.trading import Trading
from security import admit_order, authenticate, request_params

router = Router()
REPLY_TIMEOUT_S = 5.0


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@cache
def trading() -> Trading:
    """Wired once per warm Lambda: DynamoDB for orders and the ledger, Redis for the engine."""
    import boto3
    import redis

    from castle.adapters.dynamo_ledger import DynamoLedger
    from castle.adapters.dynamo_orders import DynamoOrders
    from castle.adapters.redis_streams import RedisEngine

    dynamodb = boto3.client("dynamodb")
    ledger = DynamoLedger(dynamodb, os.environ["BALANCES_TABLE"])
    orders = DynamoOrders(dynamodb, os.environ["ORDERS_TABLE"], os.environ["TRADES_TABLE"], ledger)
    # Its own client: replies are awaited with BLPOP, longer than the rate limiter's 1 s socket timeout.
    engine = RedisEngine(redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True, socket_timeout=10))
    return Trading(default_symbols(), orders, engine, now_ms, reply_timeout_s=REPLY_TIMEOUT_S)


def _caller_and_params(permission: Permission):
    event = router.current_event
    return authenticate(event, permission), request_params(event)


@router.post("/api/v3/order")
def new_order() -> dict:
    caller, params = _caller_and_params(Permission.TRADE)
    admit_order(caller)
    return trading().place(caller.account_id, params, caller.commission)


@router.post("/api/v3/order/test")
def test_order() -> dict:
    caller, params = _caller_and_params(Permission.TRADE)
    return trading().test_order(caller.account_id, params, caller.commission)


@router.get("/api/v3/order")
def query_order() -> dict:
    caller, params = _caller_and_params(Permission.READ)
    return trading().query(caller.account_id, params)


@router.delete("/api/v3/order")
def cancel_order() -> dict:
    caller, params = _caller_and_params(Permission.TRADE)
    return trading().cancel(caller.account_id, params)


@router.post("/api/v3/order/cancelReplace")
def cancel_replace() -> dict:
    caller, params = _caller_and_params(Permission.TRADE)
    admit_order(caller)
    return trading().cancel_replace(caller.account_id, params, caller.commission)


@router.get("/api/v3/openOrders")
def open_orders() -> list:
    caller, params = _caller_and_params(Permission.READ)
    return trading().open_orders(caller.account_id, params)


@router.delete("/api/v3/openOrders")
def cancel_open_orders() -> list:
    caller, params = _caller_and_params(Permission.TRADE)
    return trading().cancel_all(caller.account_id, params)


@router.get("/api/v3/allOrders")
def all_orders() -> list:
    caller, params = _caller_and_params(Permission.READ)
    return trading().all_orders(caller.account_id, params)


@router.get("/api/v3/myTrades")
def my_trades() -> list:
    caller, params = _caller_and_params(Permission.READ)
    return trading().my_trades(caller.account_id, params)
