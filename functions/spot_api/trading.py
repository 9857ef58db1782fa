"""The signed order routes (TRADE and USER_DATA): thin, over castle.trading.Trading."""

from __future__ import annotations

from functools import cache

from aws_lambda_powertools.event_handler.api_gateway import Router

from castle.adapters.bootstrap import trading_service
from castle.auth import Permission
from castle.trading import Trading
from security import admit_order, authenticate, request_params

router = Router()


@cache
def trading() -> Trading:
    """Wired once per warm Lambda."""
    return trading_service()


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
