"""Authentication and rate limits for every spot route, written once.

For the trading routes (a Powertools `Router` passes `router.current_event`):

    caller = authenticate(event, Permission.TRADE)     # -> castle.auth.Caller, or raises -2014/-2015/-1021/-1022/...
    params = request_params(event)                     # query + form body merged; -1101 on duplicates
    admit_order(caller)                                # counts the order (429 -1015 past 100/10s or 200000/day)

`authenticate(event, Permission.READ)` is for USER_DATA routes, and
`signed=False` for USER_STREAM ones (API key only). `admit_order` must be
called once per order-placing request (POST /api/v3/order and
order/cancelReplace), after authentication and before anything is written:
it charges the request's weight and the order in one Redis round trip.

A request is parsed once: `rate_limit` parses it (query string, body, headers,
the caller's IP, the merged parameters), and `authenticate` and
`request_params` read that parse.

`rate_limit` is the global middleware (app.use): every request is charged its
weight per IP per minute (castle.ratelimits) before its route runs, except an
order route, whose charge waits for `admit_order`; the answer carries
X-MBX-USED-WEIGHT-1M and, for orders, X-MBX-ORDER-COUNT-10S/-1D. Redis being
down never blocks trading: the request passes unlimited and it is logged.

The client IP is API Gateway's `requestContext.identity.sourceIp`, unless
CASTLE_TRUSTED_PROXY_HOPS (template parameter TrustedProxyHops) says how many
proxies of ours append to X-Forwarded-For: see castle.auth.client_ip.
"""

from __future__ import annotations

import base64
import contextvars
import time
from dataclasses import dataclass

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from castle import auth
from castle.adapters.bootstrap import adapters
from castle.auth import Caller, Permission, SignedRequest
from castle.errors import CastleError
from castle.ratelimits import Usage, is_order, request_weight

logger = Logger(child=True)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# ------------------------------------------------------------- wiring: castle.adapters.bootstrap, once per warm Lambda
def accounts():
    """castle.adapters.dynamo_accounts.DynamoAccounts (profiles and keys)."""
    return adapters().accounts


def api_keys() -> auth.ApiKeys:
    return adapters().api_keys


def ed25519() -> auth.Ed25519Verifier:
    return adapters().ed25519


def rate_limiter():
    return adapters().rate_limiter


# ------------------------------------------------------------------ requests
def _header(event: APIGatewayProxyEvent, name: str) -> str | None:
    return event.headers.get(name) if event.headers else None


def caller_ip(event: APIGatewayProxyEvent) -> str:
    source = event.request_context.identity.source_ip or ""
    return auth.client_ip(source, _header(event, "X-Forwarded-For"), adapters().settings.trusted_proxy_hops)


def signed_request(event: APIGatewayProxyEvent) -> SignedRequest:
    multi = event.multi_value_query_string_parameters or {}
    single = event.query_string_parameters or {}
    query = [(k, v) for k, values in multi.items() for v in values] if multi else list(single.items())
    body = event.body or ""
    if body and event.is_base64_encoded:
        body = base64.b64decode(body).decode("utf-8", errors="replace")
    headers = {k.lower(): v for k, v in (event.headers or {}).items()}
    return SignedRequest(query=query, body=body, headers=headers, client_ip=caller_ip(event))


@dataclass(frozen=True, slots=True)
class _Parsed:
    """One request, parsed once: the middleware's rate limit, authentication and the route all read it."""

    event: APIGatewayProxyEvent  # the event it was parsed from
    request: SignedRequest
    params: dict[str, str] | None  # None: a name sent twice in one place (-1101, raised where it is read)


_parsed: contextvars.ContextVar[_Parsed | None] = contextvars.ContextVar("castle_parsed_request", default=None)


def _parse(event: APIGatewayProxyEvent) -> _Parsed:
    request = signed_request(event)
    try:
        params = auth.request_params(request)
    except CastleError:
        params = None
    return _Parsed(event, request, params)


def parsed(event: APIGatewayProxyEvent) -> _Parsed:
    """The request as the middleware parsed it; parsed here when it did not (a route called without it)."""
    current = _parsed.get()
    return current if current is not None and current.event is event else _parse(event)


def request_params(event: APIGatewayProxyEvent) -> dict[str, str]:
    """The request's parameters from the query string and a form body (castle.auth.request_params)."""
    request = parsed(event)
    if request.params is None:
        return auth.request_params(request.request)  # raises the -1101 that set it aside
    return request.params


def authenticate(event: APIGatewayProxyEvent, permission: Permission, signed: bool = True) -> Caller:
    """Binance's authentication of this request (castle.auth.authenticate); raises Binance's errors."""
    request = parsed(event)
    return auth.authenticate(
        request.request, permission, api_keys(), now_ms(), ed25519(), signed=signed, params=request.params
    )


# -------------------------------------------------------------- rate limits
@dataclass(slots=True)
class _Charge:
    ip: str
    weight: int
    usage: Usage | None = None


_charge: contextvars.ContextVar[_Charge | None] = contextvars.ContextVar("castle_rate_charge", default=None)


def _run(charge: _Charge, account_id: int | None = None) -> Usage | None:
    try:
        charge.usage = rate_limiter().charge(charge.ip, charge.weight, now_ms(), account_id)
    except Exception:  # Redis down: never block trading over it
        logger.warning("rate limiter unavailable; request not counted", exc_info=True)
    return charge.usage


def admit_order(caller: Caller) -> None:
    """Charge this order-placing request's weight and one order for `caller`; raises 429/418 past a limit."""
    charge = _charge.get()
    if charge is None or charge.usage is not None:
        return  # outside the middleware (unit tests of a route) or already charged
    usage = _run(charge, caller.account_id)
    error = usage.error() if usage else None
    if error is not None:
        raise error


def _lenient_params(event: APIGatewayProxyEvent) -> dict[str, str]:
    try:
        return request_params(event)
    except CastleError:
        return dict(event.query_string_parameters or {})


def rate_limit(app, next_middleware) -> Response:
    """Global middleware: REQUEST_WEIGHT per IP per minute, and the usage headers on every answer."""
    event = app.current_event
    method, path = event.http_method, event.path
    request = _parse(event)
    # A request with a name sent twice is still charged: by its query string, as API Gateway parsed it.
    params = request.params if request.params is not None else dict(event.query_string_parameters or {})
    charge = _Charge(request.request.client_ip, request_weight(method, path, params))
    token = _charge.set(charge)
    parsed_token = _parsed.set(request)
    try:
        if not is_order(method, path):
            usage = _run(charge)
            error = usage.error() if usage else None
            if error is not None:
                return _with_usage(
                    Response(error.http_status, content_types.APPLICATION_JSON, error.to_dict()), usage
                )
        try:
            response = next_middleware(app)
        except CastleError as error:  # mapped here, so that a refusal carries the usage headers too
            response = Response(error.http_status, content_types.APPLICATION_JSON, error.to_dict())
        finally:
            if charge.usage is None:  # an order route that ended before admit_order: weight only
                _run(charge)
        return _with_usage(response, charge.usage)
    finally:
        _parsed.reset(parsed_token)
        _charge.reset(token)


def _with_usage(response: Response, usage: Usage | None) -> Response:
    if usage is not None:
        response.headers.update(usage.headers())
    return response
