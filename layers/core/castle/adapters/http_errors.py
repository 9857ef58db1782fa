"""Binance's error answers for a Powertools REST resolver, installed once per API.

A `CastleError` becomes `{"code", "msg"}` with its HTTP status; a request that
fails validation is -1130; an unknown route is 404 -1020; anything else is
logged and answered -1000, never a raw 500 (an unhandled exception would also
restart the local cloud's warm worker).
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from castle import errors
from castle.errors import CastleError


def binance_error(error: CastleError, status: int | None = None) -> Response:
    return Response(status or error.http_status, content_types.APPLICATION_JSON, error.to_dict())


def install_binance_errors(app, logger) -> None:
    @app.exception_handler(CastleError)
    def on_castle_error(error: CastleError) -> Response:
        return binance_error(error)

    @app.exception_handler(RequestValidationError)
    def on_invalid_request(error: RequestValidationError) -> Response:
        first = error.errors()[0] if error.errors() else {}
        return binance_error(errors.invalid_parameter(str(first.get("loc", ("", "parameter"))[-1])))

    @app.not_found
    def on_not_found(_: NotFoundError) -> Response:
        return binance_error(errors.unsupported_operation(), 404)

    @app.exception_handler(Exception)
    def on_unexpected(error: Exception) -> Response:
        logger.exception("unhandled error")
        return binance_error(errors.unknown())
