"""castle.auth: Binance's request security, with Binance's own documented examples.

The HMAC examples (rest-api.md, "SIGNED Endpoint Examples for POST
/api/v3/order") must reproduce byte for byte. Binance does not publish the
private key behind its Ed25519 example, so that one is checked with the RFC
8032 test key: the same payload, signed, base64'd and percent-encoded as
Binance's Ed25519 example shows.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from castle import errors
from castle.accounts import Commission
from castle.adapters.ed25519 import CryptographyEd25519
from castle.auth import (
    ApiKeyRecord,
    KeyType,
    Permission,
    SignedRequest,
    authenticate,
    client_ip,
    parse_form,
    percent_encode,
    request_params,
)
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
EXAMPLE = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
EXAMPLE_SIG = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
MIXED_QUERY = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC"
MIXED_BODY = "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
MIXED_SIG = "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"
NOW = 1499827319559 + 100
FORM = {"content-type": "application/x-www-form-urlencoded"}

# RFC 8032 section 7.1, TEST 1.
ED_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
ED_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
ED_EMPTY_SIG = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)
ED_API_KEY = "4yNzx3yWC5bS6YTwEkSRaC0nRmSQIIStAUOh1b6kqaBrTLIhjCpI5lJH8q8R8WNO"
ED_PAYLOAD = "symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&quantity=1&price=0.2&timestamp=1668481559918&recvWindow=5000"


class Keys:
    def __init__(self, *records: ApiKeyRecord) -> None:
        self.records = {r.api_key: r for r in records}

    def get(self, api_key: str) -> ApiKeyRecord | None:
        return self.records.get(api_key)


def hmac_key(**fields) -> ApiKeyRecord:
    base = dict(
        api_key=API_KEY, account_id=7, permissions=frozenset({Permission.READ, Permission.TRADE}),
        key_type=KeyType.HMAC_SHA256, created_at=0, secret=SECRET, commission=Commission(50_000, 70_000),
    )
    return ApiKeyRecord(**{**base, **fields})


ED_KEY = ApiKeyRecord(ED_API_KEY, 8, frozenset({Permission.TRADE}), KeyType.ED25519, 0, public_key=ED_PUBLIC)


def parsed(query: str) -> list[tuple[str, str]]:
    """What API Gateway hands the function for this raw query string."""
    return parse_form(query)


def request(query: str = "", body: str = "", api_key: str | None = API_KEY, ip: str = "1.2.3.4", **headers):
    all_headers = {**({"x-mbx-apikey": api_key} if api_key else {}), **({} if not body else FORM), **headers}
    return SignedRequest(parsed(query), body, all_headers, ip)


def auth(req: SignedRequest, permission: Permission = Permission.TRADE, now: int = NOW, keys=None, **kw):
    return authenticate(req, permission, keys or Keys(hmac_key(), ED_KEY), now, CryptographyEd25519(), **kw)


# ---------------------------------------------------------------- Binance's HMAC examples
def test_binance_hmac_example_signature_reproduces_byte_for_byte():
    assert hmac.new(SECRET, EXAMPLE.encode(), hashlib.sha256).hexdigest() == EXAMPLE_SIG
    assert hmac.new(SECRET, (MIXED_QUERY + MIXED_BODY).encode(), hashlib.sha256).hexdigest() == MIXED_SIG


def test_example_1_all_parameters_in_the_body_authenticates():
    caller = auth(request(body=f"{EXAMPLE}&signature={EXAMPLE_SIG}"))
    assert (caller.account_id, caller.api_key, caller.commission) == (7, API_KEY, Commission(50_000, 70_000))


def test_example_2_all_parameters_in_the_query_string_authenticates():
    assert auth(request(query=f"{EXAMPLE}&signature={EXAMPLE_SIG}")).account_id == 7


def test_example_3_mixed_query_and_body_signs_them_with_no_separator():
    assert auth(request(query=MIXED_QUERY, body=f"{MIXED_BODY}&signature={MIXED_SIG}")).account_id == 7
    assert auth(request(query=f"{MIXED_QUERY}&signature={MIXED_SIG}", body=MIXED_BODY)).account_id == 7


def test_hmac_signature_is_not_case_sensitive():
    assert auth(request(query=f"{EXAMPLE}&signature={EXAMPLE_SIG.upper()}")).account_id == 7


def test_parameters_are_verified_in_the_order_sent_never_resorted():
    reordered = "&".join(sorted(EXAMPLE.split("&")))
    with pytest.raises(errors.CastleError) as e:
        auth(request(query=f"{reordered}&signature={EXAMPLE_SIG}"))
    assert e.value == errors.invalid_signature() and e.value.http_status == 400


def test_a_signature_over_percent_encoded_values_authenticates():
    query = "symbol=BTCUSDT&newClientOrderId=a%2Fb%20c&timestamp=1499827319559"
    sig = hmac.new(SECRET, query.encode(), hashlib.sha256).hexdigest()
    assert auth(request(query=f"{query}&signature={sig}")).account_id == 7


def test_a_signature_over_unencoded_values_authenticates():
    raw = 'symbols=["BTCUSDT","ETHUSDT"]&timestamp=1499827319559'
    sig = hmac.new(SECRET, raw.encode(), hashlib.sha256).hexdigest()
    sent = "symbols=" + percent_encode('["BTCUSDT","ETHUSDT"]') + "&timestamp=1499827319559"
    assert auth(request(query=f"{sent}&signature={sig}")).account_id == 7


# ---------------------------------------------------------------- Ed25519
def test_the_ed25519_adapter_accepts_the_rfc_8032_vector_and_nothing_else():
    verifier = CryptographyEd25519()
    assert verifier.verify(ED_PUBLIC, ED_EMPTY_SIG, b"")
    assert not verifier.verify(ED_PUBLIC, ED_EMPTY_SIG, b"x")
    assert not verifier.verify(b"short", ED_EMPTY_SIG, b"")


def ed25519_signature(payload: str) -> str:
    return base64.b64encode(Ed25519PrivateKey.from_private_bytes(ED_SEED).sign(payload.encode())).decode()


def test_binance_ed25519_example_request_authenticates_with_its_signature_percent_encoded():
    now = 1668481559918 + 10
    signature = percent_encode(ed25519_signature(ED_PAYLOAD))
    req = request(query=f"{ED_PAYLOAD}&signature={signature}", api_key=ED_API_KEY)
    assert auth(req, now=now).account_id == 8


def test_ed25519_signature_with_an_unencoded_plus_still_authenticates():
    now = 1668481559918 + 10
    raw = ed25519_signature(ED_PAYLOAD)
    req = SignedRequest(parsed(ED_PAYLOAD) + [("signature", raw.replace("+", " "))], "", {"x-mbx-apikey": ED_API_KEY}, "")
    assert auth(req, now=now).account_id == 8


def test_ed25519_signature_over_other_parameters_is_rejected():
    now = 1668481559918 + 10
    signature = percent_encode(ed25519_signature(ED_PAYLOAD))
    tampered = ED_PAYLOAD.replace("quantity=1", "quantity=9")
    with pytest.raises(errors.CastleError) as e:
        auth(request(query=f"{tampered}&signature={signature}", api_key=ED_API_KEY), now=now)
    assert e.value == errors.invalid_signature()


# ---------------------------------------------------------------- API key, IP, permissions
def test_a_signed_request_without_an_api_key_is_2014_with_401():
    with pytest.raises(errors.CastleError) as e:
        auth(request(query=f"{EXAMPLE}&signature={EXAMPLE_SIG}", api_key=None))
    assert (e.value.code, e.value.msg, e.value.http_status) == (-2014, "API-key format invalid.", 401)


def test_an_unknown_api_key_is_2015_with_401():
    with pytest.raises(errors.CastleError) as e:
        auth(request(query=f"{EXAMPLE}&signature={EXAMPLE_SIG}", api_key="nope"))
    assert (e.value.code, e.value.msg, e.value.http_status) == (
        -2015,
        "Invalid API-key, IP, or permissions for action.",
        401,
    )


def test_a_key_without_the_endpoints_permission_is_2015():
    keys = Keys(hmac_key(permissions=frozenset({Permission.READ})))
    with pytest.raises(errors.CastleError) as e:
        auth(request(query=f"{EXAMPLE}&signature={EXAMPLE_SIG}"), Permission.TRADE, keys=keys)
    assert e.value == errors.rejected_api_key()


@pytest.mark.parametrize(("allow", "ip", "ok"), [
    (("1.2.3.4",), "1.2.3.4", True),
    (("10.0.0.0/8",), "10.9.8.7", True),
    (("1.2.3.4",), "1.2.3.5", False),
    (("1.2.3.4",), "not-an-ip", False),
])
def test_the_ip_allow_list(allow, ip, ok):
    keys = Keys(hmac_key(ip_allowlist=allow))
    req = request(query=f"{EXAMPLE}&signature={EXAMPLE_SIG}", ip=ip)
    if ok:
        assert auth(req, keys=keys).account_id == 7
    else:
        with pytest.raises(errors.CastleError) as e:
            auth(req, keys=keys)
        assert e.value == errors.rejected_api_key()


def test_a_user_stream_request_needs_only_the_api_key():
    assert auth(request(), Permission.READ, signed=False).account_id == 7


# ---------------------------------------------------------------- timing security
def signed(query: str) -> SignedRequest:
    return request(query=f"{query}&signature={hmac.new(SECRET, query.encode(), hashlib.sha256).hexdigest()}")


@pytest.mark.parametrize(("ts", "window", "now", "error"), [
    (1000, None, 6000, None),  # exactly recvWindow old
    (1000, None, 6001, errors.invalid_timestamp_window()),
    (1000, "10000", 11000, None),
    (1000, "0.5", 1000, None),
    (1000, "0.5", 1001, errors.invalid_timestamp_window()),
    (1000, "60000", 61000, None),
    (1000, "60001", 1000, errors.bad_recv_window()),
    (1000, None, 1, None),  # 999 ms ahead of the server
    (1000, None, 0, errors.invalid_timestamp_ahead()),  # 1000 ms ahead
    (1499827319559000, None, 1499827319560, None),  # microseconds
    (1499827319559000, None, 1499827325000, errors.invalid_timestamp_window()),
])
def test_timestamp_within_recv_window(ts, window, now, error):
    query = f"timestamp={ts}" + (f"&recvWindow={window}" if window else "")
    if error is None:
        assert auth(signed(query), now=now).account_id == 7
    else:
        with pytest.raises(errors.CastleError) as e:
            auth(signed(query), now=now)
        assert e.value == error and e.value.http_status == 400


def test_recv_window_over_60000_is_1131_with_binances_text():
    with pytest.raises(errors.CastleError) as e:
        auth(signed("timestamp=1000&recvWindow=60001"), now=1000)
    assert (e.value.code, e.value.msg) == (-1131, "recvWindow must be less than 60000")


def test_missing_and_malformed_timestamps():
    with pytest.raises(errors.CastleError) as e:
        auth(signed("symbol=BTCUSDT"))
    assert e.value == errors.mandatory_param("timestamp")
    with pytest.raises(errors.CastleError) as e:
        auth(signed("timestamp=12a"))
    assert e.value.code == -1100


def test_a_missing_signature_is_1102():
    with pytest.raises(errors.CastleError) as e:
        auth(request(query="timestamp=1499827319559"))
    assert e.value == errors.mandatory_param("signature")


# ---------------------------------------------------------------- parameters
def test_params_merge_query_and_form_body_and_the_query_wins():
    req = request(query="a=1&b=2", body="b=3&c=4")
    assert request_params(req) == {"a": "1", "b": "2", "c": "4"}


def test_a_json_body_brings_no_parameters():
    req = SignedRequest(parsed("a=1"), "{}", {"content-type": "application/json"}, "")
    assert request_params(req) == {"a": "1"}


def test_a_duplicate_parameter_is_1101():
    with pytest.raises(errors.CastleError) as e:
        request_params(request(query="a=1&a=2"))
    assert e.value == errors.duplicate_parameter("a")


def test_client_ip_trusts_only_our_own_hops():
    assert client_ip("9.9.9.9", "6.6.6.6, 1.2.3.4", 0) == "9.9.9.9"
    assert client_ip("6.6.6.6", "6.6.6.6, 1.2.3.4", 1) == "1.2.3.4"  # a forged left entry is ignored
    assert client_ip("9.9.9.9", None, 1) == "9.9.9.9"
    assert client_ip("9.9.9.9", "1.2.3.4", 2) == "1.2.3.4"
