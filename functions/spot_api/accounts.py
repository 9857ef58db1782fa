"""Signed account routes: `account`, `account/commission` and the listenKey of `userDataStream`.

Binance's shapes (castle.accounts); authentication and weights come from
security.py. Balances are the ledger's (DynamoLedger), in 8-decimal strings.
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from castle import errors
from castle.accounts import account_info, commission_info
from castle.adapters.bootstrap import adapters
from castle.auth import Permission
from castle.symbols import default_symbols
import security
import signed_docs as docs
from signed_docs import signed

router = APIGatewayRouter()
SYMBOLS = default_symbols()


def ledger():
    return adapters().ledger


def listen_keys():
    return adapters().listen_keys


@router.get("/api/v3/account", **signed(docs.Account, "Account information (USER_DATA)"))
def get_account() -> dict:
    caller = security.authenticate(router.current_event, Permission.READ)
    params = security.request_params(router.current_event)
    profile = security.accounts().profile(caller.account_id)
    if profile is None:
        raise errors.rejected_api_key()
    omit_zero = params.get("omitZeroBalances", "false").lower() == "true"
    return account_info(profile, ledger().balances(str(caller.account_id)), omit_zero)


@router.get("/api/v3/account/commission", **signed(docs.Commission, "Commission rates (USER_DATA)"))
def get_commission() -> dict:
    caller = security.authenticate(router.current_event, Permission.READ)
    symbol = security.request_params(router.current_event).get("symbol")
    if not symbol:
        raise errors.mandatory_param("symbol")
    if symbol not in SYMBOLS:
        raise errors.invalid_symbol()
    return commission_info(symbol, caller.commission)


@router.post("/api/v3/userDataStream", **signed(docs.NoParameters, "Start a user data stream", api_key_only=True))
def start_user_data_stream() -> dict:
    caller = security.authenticate(router.current_event, Permission.READ, signed=False)
    return {"listenKey": listen_keys().create(caller.account_id)}


@router.put("/api/v3/userDataStream", **signed(docs.ListenKey, "Keep a user data stream alive", api_key_only=True))
def keepalive_user_data_stream() -> dict:
    caller = security.authenticate(router.current_event, Permission.READ, signed=False)
    if not listen_keys().keepalive(caller.account_id, _listen_key()):
        raise errors.listen_key_not_found()
    return {}


@router.delete("/api/v3/userDataStream", **signed(docs.ListenKey, "Close a user data stream", api_key_only=True))
def close_user_data_stream() -> dict:
    caller = security.authenticate(router.current_event, Permission.READ, signed=False)
    if not listen_keys().close(caller.account_id, _listen_key()):
        raise errors.listen_key_not_found()
    return {}


def _listen_key() -> str:
    key = security.request_params(router.current_event).get("listenKey")
    if not key:
        raise errors.mandatory_param("listenKey")
    return key
