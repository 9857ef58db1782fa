"""Wiring, once: the trading service with its real adapters, from the environment.

The spot API's order routes and the reconciler build the same service; the
environment names are the ones template.yaml gives every function.
"""

from __future__ import annotations

import os
import time

from castle.symbols import default_symbols
from castle.trading import Trading

REPLY_TIMEOUT_S = 5.0


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def trading_service(reply_timeout_s: float = REPLY_TIMEOUT_S) -> Trading:
    import boto3
    import redis

    from castle.adapters.dynamo_ledger import DynamoLedger
    from castle.adapters.dynamo_orders import DynamoOrders
    from castle.adapters.redis_streams import RedisEngine

    dynamodb = boto3.client("dynamodb")
    ledger = DynamoLedger(dynamodb, os.environ["BALANCES_TABLE"])
    orders = DynamoOrders(dynamodb, os.environ["ORDERS_TABLE"], os.environ["TRADES_TABLE"], ledger)
    # Replies are awaited with BLPOP: the socket timeout must outlast the wait.
    client = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True, socket_timeout=reply_timeout_s + 5)
    return Trading(default_symbols(), orders, RedisEngine(client), now_ms, reply_timeout_s=reply_timeout_s)
