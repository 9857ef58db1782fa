"""The signed order routes (TRADE and USER_DATA): thin, over castle.trading.Trading."""

from __future__ import annotations

from functools import cache

from aws_lambda_powertools.event_handler.api_gateway import Router

from castle.adapters.bootstrap import trading_service
from castle.auth import Permission
from castle.trading import Trading
import signed_docs as docs
from security import admit_order, authenticate, request_params
from signed_docs import signed

router = Router()


@cache
def trading() -> Trading:
    """Wired once per warm Lambda."""
    return trading_service()


def _caller_and_params(permission: Permission):
    event = router.current_event
    return authenticate(event, permission), request_params(event)


@router.post("/api/v3/order", **signed(docs.NewOrder, "New order (TRADE)", form=True))
def new_order() -> dict:
    caller, params = _caller_and_params(Permission.TRADE)
    admit_order(caller)
    return trading().place(caller.account_id, params, caller.commission)


@router.post("/api/v3/order/test", **signed(docs.TestOrder, "Test new order (TRADE): validated, not sent", form=True))
def test_order() -> dict:
    caller, params = _caller_and_params(Permission.TRADE)
    return trading().test_order(caller.account_id, params, caller.commission)


@router.get("/api/v3/order", **signed(docs.OrderRef, "Query order (USER_DATA)"))
def query_order() -> dict:
    caller, params = _caller_and_params(Permission.READ)
    return trading().query(caller.account_id, params)


@router.delete("/api/v3/order", **signed(docs.CancelOrder, "Cancel order (TRADE)"))
def cancel_order() -> dict:
    caller, params = _caller_and_params(Permission.TRADE)
    return trading().cancel(caller.account_id, params)


@router.post("/api/v3/order/cancelReplace",
             **signed(docs.CancelReplace, "Cancel an order and place a new one (TRADE)", form=True))
def cancel_replace() -> dict:
    caller, params = _caller_and_params(Permission.TRADE)
    admit_order(caller)
    return trading().cancel_replace(caller.account_id, params, caller.commission)


@router.get("/api/v3/openOrders", **signed(docs.OpenOrders, "Current open orders (USER_DATA)"))
def open_orders() -> list:
    caller, params = _caller_and_params(Permission.READ)
    return trading().open_orders(caller.account_id, params)


@router.delete("/api/v3/openOrders", **signed(docs.CancelOpenOrders, "Cancel all open orders on a symbol (TRADE)"))
def cancel_open_orders() -> list:
    caller, params = _caller_and_params(Permission.TRADE)
    return trading().cancel_all(caller.account_id, params)


@router.get("/api/v3/allOrders", **signed(docs.AllOrders, "All orders (USER_DATA)"))
def all_orders() -> list:
    caller, params = _caller_and_params(Permission.READ)
    return trading().all_orders(caller.account_id, params)


@router.get("/api/v3/myTrades", **signed(docs.MyTrades, "Account trade list (USER_DATA)"))
def my_trades() -> list:
    caller, params = _caller_and_params(Permission.READ)
    return trading().my_trades(caller.account_id, params)
