"""Accounts, keys and Binance authentication on the local cloud, through the edge, as a user would.

An account is made with the `castle` CLI (the admin API), then read with
GET /api/v3/account signed with HMAC and with Ed25519. Every bad credential
gets Binance's exact error and changes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from urllib.parse import quote, urlencode

import pytest

from tests.e2e.conftest import castle
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat



def call(cloud, method: str, path: str, query: str = "", headers: dict | None = None, body: str = ""):
    url = f"{cloud.edge_url}{path}" + (f"?{query}" if query else "")
    request = urllib.request.Request(url, data=body.encode() or None, method=method, headers=headers or {})
    if body:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, dict(r.headers), json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read())


def hmac_query(secret: str, **params) -> str:
    query = urlencode({**params, "timestamp": params.get("timestamp", int(time.time() * 1000))})
    return f"{query}&signature={hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()}"


@pytest.fixture(scope="module")
def trader(local_cloud) -> dict:
    return castle(local_cloud, "account", "create", "--fund", "USDT=100000", "--fund", "BTC=5")


def balances(body: dict) -> dict:
    return {b["asset"]: (b["free"], b["locked"]) for b in body["balances"]}


def test_the_cli_creates_a_funded_account_with_an_hmac_key(trader):
    assert set(trader) == {"accountId", "apiKey", "secretKey"}
    assert isinstance(trader["accountId"], int) and len(trader["apiKey"]) == 64 == len(trader["secretKey"])


def test_account_signed_with_hmac_has_binances_shape_and_the_rate_limit_header(local_cloud, trader):
    status, headers, body = call(
        local_cloud, "GET", "/api/v3/account", hmac_query(trader["secretKey"], recvWindow=10000),
        {"X-MBX-APIKEY": trader["apiKey"], "Content-Type": "application/json"},
    )
    assert status == 200, body
    assert body["commissionRates"] == {"maker": "0.00100000", "taker": "0.00100000", "buyer": "0.00000000",
                                       "seller": "0.00000000"}
    assert (body["makerCommission"], body["accountType"], body["uid"]) == (10, "SPOT", trader["accountId"])
    assert balances(body) == {"BTC": ("5.00000000", "0.00000000"), "USDT": ("100000.00000000", "0.00000000")}
    assert int(headers["X-MBX-USED-WEIGHT-1M"]) >= 20


def test_account_signed_with_ed25519(local_cloud, trader):
    private = Ed25519PrivateKey.generate()
    pem = private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    key = castle(local_cloud, "keys", "create", "--account", str(trader["accountId"]), "--permissions", "read",
                 "--ed25519-public-key", pem)
    assert key["keyType"] == "ED25519" and "secretKey" not in key
    query = urlencode({"timestamp": int(time.time() * 1000)})
    signature = quote(base64.b64encode(private.sign(query.encode())).decode(), safe="")
    status, _, body = call(local_cloud, "GET", "/api/v3/account", f"{query}&signature={signature}",
                           {"X-MBX-APIKEY": key["apiKey"]})
    assert status == 200 and body["uid"] == trader["accountId"]


@pytest.mark.parametrize(("case", "status", "code", "msg"), [
    ("no key", 401, -2014, "API-key format invalid."),
    ("unknown key", 401, -2015, "Invalid API-key, IP, or permissions for action."),
    ("bad signature", 400, -1022, "Signature for this request is not valid."),
    ("stale timestamp", 400, -1021, "Timestamp for this request is outside of the recvWindow."),
    ("future timestamp", 400, -1021, "Timestamp for this request was 1000ms ahead of the server's time."),
    ("recvWindow too big", 400, -1131, "recvWindow must be less than 60000"),
])
def test_bad_credentials_get_binances_errors_and_change_nothing(local_cloud, trader, case, status, code, msg):
    secret, now = trader["secretKey"], int(time.time() * 1000)
    headers = {"X-MBX-APIKEY": trader["apiKey"]}
    query = hmac_query(secret)
    if case == "no key":
        headers = {}
    elif case == "unknown key":
        headers = {"X-MBX-APIKEY": "x" * 64}
    elif case == "bad signature":
        query = hmac_query("not-the-secret")
    elif case == "stale timestamp":
        query = hmac_query(secret, timestamp=now - 10_000)
    elif case == "future timestamp":
        query = hmac_query(secret, timestamp=now + 5_000)
    elif case == "recvWindow too big":
        query = hmac_query(secret, recvWindow=60001)
    before = castle(local_cloud, "account", "show", "--account", str(trader["accountId"]))
    got = call(local_cloud, "GET", "/api/v3/account", query, headers)
    assert (got[0], got[2]) == (status, {"code": code, "msg": msg})
    assert castle(local_cloud, "account", "show", "--account", str(trader["accountId"]))["balances"] == before["balances"]


def test_an_ip_allow_list_holds_even_against_a_forged_forwarded_for(local_cloud, trader):
    key = castle(local_cloud, "keys", "create", "--account", str(trader["accountId"]), "--ip", "10.1.2.3")
    headers = {"X-MBX-APIKEY": key["apiKey"], "X-Forwarded-For": "10.1.2.3"}
    status, _, body = call(local_cloud, "GET", "/api/v3/account", hmac_query(key["secretKey"]), headers)
    assert (status, body["code"]) == (401, -2015)


def test_a_read_only_key_cannot_trade(local_cloud, trader):
    key = castle(local_cloud, "keys", "create", "--account", str(trader["accountId"]), "--permissions", "read")
    query = hmac_query(key["secretKey"], symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                       quantity="0.001", price="10000")
    status, _, body = call(local_cloud, "POST", "/api/v3/order", query, {"X-MBX-APIKEY": key["apiKey"]})
    assert (status, body["code"]) == (401, -2015)


def test_funding_through_the_cli_adds_to_the_balance(local_cloud, trader):
    account = str(trader["accountId"])
    funded = castle(local_cloud, "account", "fund", "--account", account, "--fund", "ETH=1.5")
    assert {"asset": "ETH", "free": "1.50000000", "locked": "0.00000000"} in funded["balances"]


def test_listen_key_create_keepalive_close(local_cloud, trader):
    headers = {"X-MBX-APIKEY": trader["apiKey"]}
    status, _, body = call(local_cloud, "POST", "/api/v3/userDataStream", headers=headers)
    assert status == 200 and len(body["listenKey"]) == 60
    key = body["listenKey"]
    assert call(local_cloud, "PUT", "/api/v3/userDataStream", f"listenKey={key}", headers=headers)[2] == {}
    assert call(local_cloud, "DELETE", "/api/v3/userDataStream", body=f"listenKey={key}", headers=headers)[2] == {}
    status, _, body = call(local_cloud, "PUT", "/api/v3/userDataStream", f"listenKey={key}", headers=headers)
    assert (status, body) == (400, {"code": -1125, "msg": "This listenKey does not exist."})


def test_the_admin_api_refuses_a_wrong_token(local_cloud):
    status, _, body = call(local_cloud, "GET", "/sapi/v1/castle/admin/accounts/100001",
                           headers={"X-Castle-Admin-Token": "wrong"})
    assert (status, body["code"]) == (401, -1002)
