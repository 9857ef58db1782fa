"""Binance's market-stream WebSocket API: $connect, $disconnect and the live-subscription protocol.

Thin: `castle.streams` parses and answers, `DynamoSubscriptions` stores who
listens to what, and `ApiGatewayConnections` posts the answer back. It never
raises (an exception restarts the local cloud's worker and leaks its text to
the client), and it never returns a body (the local cloud would send it as an
extra frame; AWS would drop it without a route response).
"""

from __future__ import annotations

import os
import time
from functools import lru_cache

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from castle import streams
from castle.adapters.connections import ApiGatewayConnections
from castle.adapters.ports import FramePoster, SubscriptionStore
from castle.adapters.subscriptions import DynamoSubscriptions
from castle.symbols import default_symbols

logger = Logger()
SYMBOLS = frozenset(default_symbols())
VIEWER_HEADER = "x-viewer-address"
UNKNOWN_ERROR = {"code": -1000, "msg": "An unknown error occurred while processing the request."}


@lru_cache(maxsize=1)
def store() -> SubscriptionStore:
    return DynamoSubscriptions(boto3.resource("dynamodb").Table(os.environ["CONNECTIONS_TABLE"]))


def poster(request_context: dict) -> FramePoster:
    return ApiGatewayConnections.for_request(request_context)


def received_ms(request_context: dict) -> int:
    """When API Gateway received the frame (what Binance's per-second limit counts), else now."""
    epoch = request_context.get("requestTimeEpoch")
    return int(epoch) if isinstance(epoch, int | float) and epoch > 0 else int(time.time() * 1000)


def viewer_address(event: APIGatewayProxyEvent) -> str:
    """The client's IP: the edge (or CloudFront's viewer-request function) names it in X-Viewer-Address."""
    headers = {k.lower(): v for k, v in (event.headers or {}).items()}
    return headers.get(VIEWER_HEADER) or event.request_context.identity.source_ip or "unknown"


def on_connect(event: APIGatewayProxyEvent, connection_id: str, request_context: dict) -> tuple[int, str]:
    """Binance: `/ws/<a>/<b>` and `/stream?streams=a/b` (the edge passes `?streams=` and `combined=true`)."""
    limit, address = streams.CONNECTS_PER_IP, viewer_address(event)
    window = limit.window(received_ms(request_context))
    if limit.exceeded(store().count_connect(address, window, limit.expires_at(window))):
        return 429, f"{address}: over {limit.limit} connects in {limit.window_s}s"
    query = event.query_string_parameters or {}
    listen_key = streams.listen_key_of(query.get("streams"))
    if listen_key is not None:
        # Not checked here (Redis is in the VPC, this function is not): the publisher tells an unknown
        # or expired key `listenKeyExpired`.
        store().open_user_stream(connection_id, listen_key, int(time.time()), query.get("combined") == "true")
        return 200, "user data stream"
    try:
        names = streams.parse_stream_list(query.get("streams"), SYMBOLS)
    except ValueError as e:
        return 400, str(e)
    store().open(connection_id, names, query.get("combined") == "true", int(time.time()))
    return 200, f"{len(names)} streams"


def on_message(body: str, connection_id: str, request_context: dict) -> str:
    limit = streams.MESSAGES_PER_CONNECTION
    if limit.exceeded(store().count_message(connection_id, limit.window(received_ms(request_context)))):
        # Binance disconnects, with no answer to the message that went over.
        poster(request_context).delete(connection_id)
        return f"disconnected: over {limit.limit} messages per second"
    answer = streams.respond(body, store().session(connection_id), SYMBOLS)
    if answer.ok:
        store().apply(connection_id, answer.subscribe, answer.unsubscribe, answer.combined, int(time.time()))
    poster(request_context).post(connection_id, answer.frame)
    return "ok" if answer.ok else f"error {answer.frame['error']['code']}"


def on_failure(route: str, connection_id: str, request_context: dict) -> None:
    """Tell a client its request failed (Binance's -1000); $connect and $disconnect have no one to tell."""
    if route in ("$connect", "$disconnect"):
        return
    try:
        poster(request_context).post(connection_id, {"error": UNKNOWN_ERROR})
    except Exception:
        logger.exception("could not post the error frame")


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    started = time.perf_counter()
    request = APIGatewayProxyEvent(event)
    context_ = event.get("requestContext") or {}
    route = request.request_context.route_key or "$default"
    connection_id = request.request_context.connection_id or ""
    status = 200
    try:
        if route == "$connect":
            status, outcome = on_connect(request, connection_id, context_)
        elif route == "$disconnect":
            store().close(connection_id)
            outcome = "closed"
        else:
            outcome = on_message(request.body or "", connection_id, context_)
    except Exception:
        logger.exception("ws request failed", route=route)
        status, outcome = 500, "failed"
        on_failure(route, connection_id, context_)
    logger.info(
        "ws",
        route=route,
        connection_id=connection_id,
        status=status,
        outcome=outcome,
        ms=round((time.perf_counter() - started) * 1000, 3),
    )
    return {"statusCode": status}
