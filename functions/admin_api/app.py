"""Castle's admin API (`/sapi/v1/castle/admin/...`): accounts, API keys and the faucet.

Every route needs the `X-Castle-Admin-Token` header equal to the stack's
AdminToken parameter (an empty parameter disables the API: -1002 for all).
The `castle` CLI is its client. Locally it is the testnet-style faucet; in
the cloud, an operator's tool. Funding is a balanced ledger entry from
EXTERNAL (castle.ledger.fund), applied once per `requestId` and asset.

- POST /accounts {"fund": {"USDT": "100000"}, "permissions": [...], "requestId"}
  -> {"accountId", "apiKey", "secretKey", "balances"}
- GET  /accounts/{id} -> GET /api/v3/account's shape
- POST /accounts/{id}/fund {"fund": {...}, "requestId"} -> {"accountId", "balances"}
- POST /accounts/{id}/keys {"permissions", "ed25519PublicKey", "ipAllowList"}
  -> {"accountId", "apiKey", "keyType", "secretKey" (HMAC only)}
- POST /audit -> the ledger audit, run now (castle.ledger_audit, as the schedule runs it):
  {"ts", "balanced", "assets": [{"asset", "held", "external", "totalsHeld", "balanced"}]}
"""

from __future__ import annotations

import hmac
import secrets
import string
import time
import uuid

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from castle import errors
from castle.accounts import BALANCE_SCALE, account_info
from castle.auth import Permission
from castle.adapters import redis_user_data
from castle.adapters.bootstrap import adapters
from castle.adapters.http_errors import binance_error, install_binance_errors
from castle.ledger import fund
from castle.ledger_audit import run_audit
from castle.money import format_units, parse_units
from castle.user_data import balance_update

logger = Logger()
app = APIGatewayRestResolver(enable_validation=True)
PREFIX = "/sapi/v1/castle/admin"
TOKEN_HEADER = "X-Castle-Admin-Token"
KEY_ALPHABET = string.ascii_letters + string.digits
ASSET = r"^[A-Z0-9]{1,20}$"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def new_key() -> str:
    """64 characters, as Binance's API and secret keys."""
    return "".join(secrets.choice(KEY_ALPHABET) for _ in range(64))


def accounts():
    return adapters().accounts


def ledger():
    return adapters().ledger


def ledger_totals():
    return adapters().ledger_totals


class Funding(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fund: dict[str, str] = Field(default_factory=dict)  # asset -> decimal amount
    requestId: str = Field(default_factory=lambda: str(uuid.uuid4()), min_length=1, max_length=64)


class NewAccount(Funding):
    permissions: list[Permission] = Field(default_factory=lambda: [Permission.READ, Permission.TRADE])


class NewKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    permissions: list[Permission] = Field(default_factory=lambda: [Permission.READ, Permission.TRADE])
    ed25519PublicKey: str | None = None
    ipAllowList: list[str] = Field(default_factory=list)


def admin_only(app, next_middleware) -> Response:
    """Every route, before its input is even validated: the admin token or -1002."""
    expected = adapters().settings.admin_token
    given = (app.current_event.headers or {}).get(TOKEN_HEADER) or ""
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        return binance_error(errors.unauthorized())
    return next_middleware(app)


app.use(middlewares=[admin_only])


def apply_funding(account_id: int, funding: Funding) -> None:
    """Check every asset first (a bad one funds none), then one ledger entry each, told to the user stream."""
    amounts = {}
    for asset, text in sorted(funding.fund.items()):
        if not _is_asset(asset):
            raise errors.illegal_chars("asset", ASSET)
        amounts[asset] = parse_units(text, BALANCE_SCALE, "amount")
        if amounts[asset] <= 0:
            raise errors.invalid_parameter("amount")
    for asset, amount in amounts.items():
        ts = now_ms()
        if ledger().apply(fund(f"faucet:{funding.requestId}:{account_id}:{asset}", str(account_id), asset, amount, ts)):
            tell_user_stream(account_id, balance_update(asset, amount, now_ms(), ts), asset)


def tell_user_stream(account_id: int, report: dict, asset: str) -> None:
    """A deposit's balanceUpdate for the account's listenKeys; the deposit stands even if Redis is away."""
    try:
        redis_user_data.append_wallet(redis_client(), account_id, report, [asset])
    except Exception:
        logger.exception("could not append the balanceUpdate", account=account_id, asset=asset)


def redis_client():
    return adapters().redis


def _is_asset(asset: str) -> bool:
    return 1 <= len(asset) <= 20 and asset.isascii() and asset.isalnum() and asset.upper() == asset


def balances(account_id: int) -> list[dict]:
    return [
        {"asset": a, "free": format_units(f, BALANCE_SCALE), "locked": format_units(lk, BALANCE_SCALE)}
        for a, (f, lk) in sorted(ledger().balances(str(account_id)).items())
    ]


def create_key(account_id: int, request: NewKey) -> dict:
    from castle.adapters.ed25519 import public_key_from_pem

    api_key = new_key()
    permissions = frozenset(request.permissions)
    ips = tuple(request.ipAllowList)
    if request.ed25519PublicKey:
        try:
            public_key = public_key_from_pem(request.ed25519PublicKey)
        except ValueError:
            raise errors.invalid_parameter("ed25519PublicKey") from None
        accounts().put_key(api_key, account_id, permissions, now_ms(), public_key=public_key, ip_allowlist=ips)
        return {"accountId": account_id, "apiKey": api_key, "keyType": "ED25519"}
    secret = new_key()
    accounts().put_key(api_key, account_id, permissions, now_ms(), secret=secret.encode(), ip_allowlist=ips)
    return {"accountId": account_id, "apiKey": api_key, "keyType": "HMAC_SHA256", "secretKey": secret}


def existing(account_id: int):
    profile = accounts().profile(account_id)
    if profile is None:
        raise errors.CastleError(-1130, "Data sent for parameter 'accountId' is not valid.", 404)
    return profile


@app.post(f"{PREFIX}/accounts")
def create_account(request: NewAccount) -> dict:
    profile = accounts().create_account(now_ms())
    key = create_key(profile.account_id, NewKey(permissions=request.permissions))
    apply_funding(profile.account_id, request)
    return {**key, "balances": balances(profile.account_id)}


@app.get(f"{PREFIX}/accounts/<account_id>")
def show_account(account_id: int) -> dict:
    return account_info(existing(account_id), ledger().balances(str(account_id)))


@app.post(f"{PREFIX}/accounts/<account_id>/fund")
def fund_account(account_id: int, request: Funding) -> dict:
    existing(account_id)
    apply_funding(account_id, request)
    return {"accountId": account_id, "balances": balances(account_id)}


@app.post(f"{PREFIX}/accounts/<account_id>/keys")
def add_key(account_id: int, request: NewKey) -> dict:
    existing(account_id)
    return create_key(account_id, request)


@app.post(f"{PREFIX}/audit")
def audit_now() -> dict:
    report = run_audit(ledger(), ledger_totals(), now_ms())
    logger.info("ledger audit", balanced=report["balanced"], assets=len(report["assets"]))
    return report


# ---------------------------------------------------------------- errors, once
install_binance_errors(app, logger)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    response = app.resolve(event, context)
    logger.info("request", method=event.get("httpMethod"), path=event.get("path"), status=response["statusCode"])
    return response
