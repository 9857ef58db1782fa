"""Binance's request authentication, pure: API keys, signatures, timing security.

How a SIGNED request is checked (Binance's "Request Security"):

1. `X-MBX-APIKEY` names the key. Missing: -2014. Unknown: -2015.
2. `timestamp` is mandatory; `recvWindow` defaults to 5000 and may not exceed
   60000 (-1131). Accepted when `timestamp < serverTime + 1000` and
   `serverTime - timestamp <= recvWindow`; otherwise -1021.
3. The signature covers *totalParams*: the query string concatenated with the
   request body, with no separator, exactly as sent (never re-sorted), minus the
   `signature` parameter itself. HMAC_SHA256 keys sign with the shared secret
   (hex, any case); ED25519 keys sign with their private key (base64). A
   mismatch is -1022.
4. The caller's IP must be in the key's allow-list, if it has one, and the key
   must carry the endpoint's permission: otherwise -2015.

API Gateway (REST, payload 1.0) hands the function the query string already
parsed, so the exact bytes are rebuilt from the parameters in their order of
arrival, in each encoding clients use (`signing_payloads`). Every candidate is
derived from the parameters the handler will act on, so a signature that
matches any of them authenticates exactly those parameters. The body is used
raw.

Nothing here does I/O: keys come through the `ApiKeys` port, Ed25519 through
the `Ed25519Verifier` port (castle.adapters.ed25519 implements it), and time is
passed in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Protocol

from castle import errors
from castle.accounts import Commission

API_KEY_HEADER = "x-mbx-apikey"
DEFAULT_RECV_WINDOW_MS = 5000
MAX_RECV_WINDOW_MS = 60000
MAX_CLOCK_AHEAD_MS = 1000
TIMESTAMP_PATTERN = "^[0-9]{1,20}$"


class Permission(StrEnum):
    READ = "read"  # USER_DATA and USER_STREAM endpoints
    TRADE = "trade"  # TRADE endpoints
    WITHDRAW = "withdraw"


class KeyType(StrEnum):
    HMAC_SHA256 = "HMAC_SHA256"
    ED25519 = "ED25519"


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """A key as authentication needs it (the HMAC secret already decrypted, in memory only)."""

    api_key: str
    account_id: int
    permissions: frozenset[Permission]
    key_type: KeyType
    created_at: int
    ip_allowlist: tuple[str, ...] = ()
    secret: bytes | None = None  # HMAC_SHA256: the shared secret
    public_key: bytes | None = None  # ED25519: the raw 32-byte public key
    commission: Commission = field(default_factory=Commission)


class ApiKeys(Protocol):
    def get(self, api_key: str) -> ApiKeyRecord | None: ...


class Ed25519Verifier(Protocol):
    def verify(self, public_key: bytes, signature: bytes, message: bytes) -> bool: ...


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """What authentication reads from an HTTP request.

    `query` is the parsed query string in order of arrival (API Gateway's
    multiValueQueryStringParameters), `body` the raw body text.
    """

    query: Sequence[tuple[str, str]]
    body: str
    headers: Mapping[str, str]  # names in lower case
    client_ip: str

    @property
    def api_key(self) -> str | None:
        return self.headers.get(API_KEY_HEADER)

    def form_body(self) -> list[tuple[str, str]]:
        """The body as form parameters; a JSON (or empty) body has none."""
        content_type = self.headers.get("content-type", "").split(";")[0].strip().lower()
        if not self.body or content_type not in ("", "application/x-www-form-urlencoded"):
            return []
        return parse_form(self.body)


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller: what the trading routes act for."""

    account_id: int
    api_key: str
    permissions: frozenset[Permission]
    commission: Commission


def request_params(request: SignedRequest) -> dict[str, str]:
    """The request's parameters: the query string and a form body, merged.

    Binance: parameters may come from either or both; one sent in both places
    takes the query string's value. The same name twice in one place is -1101.
    """
    params: dict[str, str] = {}
    for source in (request.query, request.form_body()):
        seen: set[str] = set()
        for name, value in source:
            if name in seen:
                raise errors.duplicate_parameter(name)
            seen.add(name)
            params.setdefault(name, value)
    return params


def signing_payloads(request: SignedRequest) -> list[bytes]:
    """totalParams candidates: the query string (rebuilt, see the module doc) + the raw body, no separator."""
    pairs = [(k, v) for k, v in request.query if k != "signature"]
    queries = dict.fromkeys(
        [
            "&".join(f"{percent_encode(k, plus=True)}={percent_encode(v, plus=True)}" for k, v in pairs),  # forms
            "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in pairs),  # RFC 3986 (Binance's docs)
            "&".join(f"{k}={v}" for k, v in pairs),  # sent unencoded
        ]
    )
    body = "&".join(part for part in request.body.split("&") if not part.startswith("signature=")) if request.body else ""
    return [(query + body).encode() for query in queries]


UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


def percent_encode(text: str, plus: bool = False) -> str:
    """RFC 3986 percent-encoding of UTF-8 (what urllib's quote/quote_plus do, here without urllib)."""
    out = []
    for char in text:
        if char in UNRESERVED:
            out.append(char)
        elif char == " " and plus:
            out.append("+")
        else:
            out.extend(f"%{b:02X}" for b in char.encode())
    return "".join(out)


def percent_decode(text: str) -> str:
    """application/x-www-form-urlencoded decoding: '+' is a space, %XX a UTF-8 byte."""
    raw = text.replace("+", " ").encode()
    out = bytearray()
    i = 0
    while i < len(raw):
        if raw[i] == 0x25 and _is_hex(raw[i + 1 : i + 3]):
            out.append(int(raw[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(raw[i])
            i += 1
    return out.decode("utf-8", errors="replace")


def _is_hex(pair: bytes) -> bool:
    return len(pair) == 2 and all(c in b"0123456789abcdefABCDEF" for c in pair)


def parse_form(body: str) -> list[tuple[str, str]]:
    """A form body's parameters in order, blanks kept (as API Gateway parses a query string)."""
    pairs = []
    for part in body.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((percent_decode(name), percent_decode(value)))
    return pairs


def check_timing(params: Mapping[str, str], now_ms: int) -> None:
    """Binance's timing security: -1102 / -1100 for a missing or malformed timestamp, -1131, -1021."""
    raw = params.get("timestamp")
    if not raw:
        raise errors.mandatory_param("timestamp")
    if not raw.isdigit() or len(raw) > 20:
        raise errors.illegal_chars("timestamp", TIMESTAMP_PATTERN)
    timestamp = Decimal(raw)
    if len(raw) >= 16:  # microseconds (Binance accepts both)
        timestamp /= 1000
    window = Decimal(DEFAULT_RECV_WINDOW_MS)
    if params.get("recvWindow"):
        try:
            window = Decimal(params["recvWindow"])
        except InvalidOperation:
            raise errors.illegal_chars("recvWindow") from None
        # Up to three decimals (microseconds), as Binance allows.
        if not window.is_finite() or window < 0 or window.as_tuple().exponent < -3:
            raise errors.illegal_chars("recvWindow")
        if window > MAX_RECV_WINDOW_MS:
            raise errors.bad_recv_window()
    if timestamp >= now_ms + MAX_CLOCK_AHEAD_MS:
        raise errors.invalid_timestamp_ahead()
    if now_ms - timestamp > window:
        raise errors.invalid_timestamp_window()


def verify_signature(key: ApiKeyRecord, signature: str, payloads: Sequence[bytes], ed25519: Ed25519Verifier) -> bool:
    if key.key_type is KeyType.HMAC_SHA256:
        if key.secret is None:
            return False
        given = signature.strip().lower()
        return any(
            hmac.compare_digest(hmac.new(key.secret, p, hashlib.sha256).hexdigest(), given) for p in payloads
        )
    if key.public_key is None:
        return False
    try:
        # A '+' sent without percent-encoding arrives as a space.
        raw = base64.b64decode(signature.replace(" ", "+"), validate=True)
    except (binascii.Error, ValueError):
        return False
    return any(ed25519.verify(key.public_key, raw, p) for p in payloads)


def ip_allowed(key: ApiKeyRecord, client_ip: str) -> bool:
    if not key.ip_allowlist:
        return True
    try:
        ip = ipaddress.ip_address(client_ip)
    except ValueError:
        return False
    for allowed in key.ip_allowlist:
        try:
            if ip in ipaddress.ip_network(allowed, strict=False):
                return True
        except ValueError:
            continue
    return False


def authenticate(
    request: SignedRequest,
    permission: Permission,
    keys: ApiKeys,
    now_ms: int,
    ed25519: Ed25519Verifier,
    signed: bool = True,
    params: Mapping[str, str] | None = None,
) -> Caller:
    """Authenticate one request (see the module doc); raises a CastleError with Binance's code.

    `signed=False` is for USER_STREAM endpoints (listenKey), which need only the API key.
    `params`: the request's `request_params`, when the caller already has them (one parse a request).
    """
    api_key = request.api_key
    if not api_key:
        raise errors.api_key_format_invalid()
    key = keys.get(api_key)
    if key is None:
        raise errors.rejected_api_key()
    if signed:
        if params is None:
            params = request_params(request)
        signature = params.get("signature")
        check_timing(params, now_ms)
        if not signature:
            raise errors.mandatory_param("signature")
        if not verify_signature(key, signature, signing_payloads(request), ed25519):
            raise errors.invalid_signature()
    if not ip_allowed(key, request.client_ip) or permission not in key.permissions:
        raise errors.rejected_api_key()
    return Caller(key.account_id, key.api_key, key.permissions, key.commission)


def client_ip(source_ip: str, forwarded_for: str | None, trusted_hops: int) -> str:
    """The caller's IP, as far as it can be trusted.

    `trusted_hops` is how many proxies we run in front of API Gateway, each of
    which appends the address it saw to X-Forwarded-For. With 0, the gateway's
    own `requestContext.identity.sourceIp` is the answer. With n > 0, the n-th
    entry from the right is: whatever a client wrote to the left of it is its
    own claim, and is ignored. The local edge (local/edge.py) is one hop, and
    ministack derives sourceIp from the *leftmost* entry, which a client can
    forge, so the local cloud deploys with TrustedProxyHops=1.
    """
    if trusted_hops <= 0 or not forwarded_for:
        return source_ip
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    if not hops:
        return source_ip
    return hops[-min(trusted_hops, len(hops))]
