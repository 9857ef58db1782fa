"""The account and admin handlers with their event fixtures (the files `sam local invoke` takes).

Authentication fails before any store is touched, so these need no AWS; the
full paths run on the local cloud (tests/e2e/test_accounts_auth.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from castle import errors
from functions.admin_api import app as admin_app
from functions.spot_api import app as spot_app
from tests.unit.test_auth import NOW, SECRET, Keys, hmac_key
from tests.lambda_context import FakeLambdaContext

EVENTS = Path(__file__).resolve().parents[2] / "events"


def invoke(module, fixture: str) -> tuple[int, dict, dict]:
    event = json.loads((EVENTS / f"{fixture}.json").read_text())
    response = module.lambda_handler(event, FakeLambdaContext())
    return response["statusCode"], response["multiValueHeaders"], json.loads(response["body"])


def test_account_without_an_api_key_is_2014_with_401():
    status, _, body = invoke(spot_app, "spot_account_no_api_key")
    assert (status, body) == (401, {"code": -2014, "msg": "API-key format invalid."})


def test_the_admin_api_without_its_token_configured_refuses_everything(monkeypatch):
    monkeypatch.delenv("CASTLE_ADMIN_TOKEN", raising=False)
    status, _, body = invoke(admin_app, "admin_create_account")
    assert (status, body["code"]) == (401, -1002)


def test_the_admin_api_refuses_a_wrong_token(monkeypatch):
    monkeypatch.setenv("CASTLE_ADMIN_TOKEN", "another-token")
    status, _, body = invoke(admin_app, "admin_create_account")
    assert (status, body) == (401, {"code": -1002, "msg": "You are not authorized to execute this request."})


@pytest.mark.parametrize("fixture", ["spot_account", "spot_user_data_stream_start", "admin_create_account"])
def test_fixtures_are_api_gateway_proxy_events_for_their_routes(fixture):
    event = json.loads((EVENTS / f"{fixture}.json").read_text())
    assert event["requestContext"]["resourcePath"] == event["resource"]
    assert event["httpMethod"] in ("GET", "POST") and event["path"].startswith(("/api/v3/", "/sapi/v1/castle/admin/"))


def commission_request(pairs: list[tuple[str, str]], api_key: bool = True) -> dict:
    """GET /api/v3/account/commission with these query parameters, in this order."""
    event = json.loads((EVENTS / "spot_account.json").read_text())
    event["path"] = event["resource"] = event["requestContext"]["resourcePath"] = "/api/v3/account/commission"
    event["queryStringParameters"] = dict(pairs)
    event["multiValueQueryStringParameters"] = {k: [v for n, v in pairs if n == k] for k, _ in pairs}
    if not api_key:
        del event["headers"]["X-MBX-APIKEY"]
        event["multiValueHeaders"].pop("X-MBX-APIKEY", None)
    return event


@pytest.fixture
def signed_world(monkeypatch):
    """The spot app's security with one HMAC key and the clock at NOW; the requests it parses, listed."""
    security = spot_app.security  # the module the spot app imports (as Lambda loads it)
    parses = []
    parse = security.signed_request
    monkeypatch.setattr(security, "signed_request", lambda event: parses.append(event) or parse(event))
    monkeypatch.setattr(security, "api_keys", lambda: Keys(hmac_key()))
    monkeypatch.setattr(security, "now_ms", lambda: NOW)
    return parses


def signed(query: str) -> list[tuple[str, str]]:
    pairs = [tuple(p.split("=")) for p in query.split("&")]
    return [*pairs, ("signature", hmac.new(SECRET, query.encode(), hashlib.sha256).hexdigest())]


def answer(event: dict) -> tuple[int, dict]:
    response = spot_app.lambda_handler(event, FakeLambdaContext())
    return response["statusCode"], json.loads(response["body"])


def test_a_signed_request_is_parsed_once_for_its_rate_limit_its_signature_and_its_route(signed_world):
    status, body = answer(commission_request(signed(f"symbol=BTCUSDT&timestamp={NOW}")))
    assert (status, body["symbol"]) == (200, "BTCUSDT")
    assert len(signed_world) == 1


def test_a_signed_request_with_a_name_sent_twice_is_1101(signed_world):
    status, body = answer(commission_request(signed(f"symbol=BTCUSDT&symbol=ETHUSDT&timestamp={NOW}")))
    assert (status, body) == (400, errors.duplicate_parameter("symbol").to_dict())


def test_a_name_sent_twice_without_an_api_key_is_still_2014(signed_world):
    status, body = answer(commission_request(signed(f"symbol=BTCUSDT&symbol=ETHUSDT&timestamp={NOW}"), api_key=False))
    assert (status, body["code"]) == (401, -2014)
