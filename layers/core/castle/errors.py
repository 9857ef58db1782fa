"""One catalogue of errors, in Binance's codes and texts.

Clients (ccxt, python-binance) map errors to exceptions by code *and* text, so
the texts here are copied exactly. The domain raises `CastleError`; the edge
maps it once to `{"code": ..., "msg": ...}` and the HTTP status.
"""

from __future__ import annotations


class CastleError(Exception):
    """A rejection with Binance's code, message and HTTP status."""

    __slots__ = ("code", "msg", "http_status")

    def __init__(self, code: int, msg: str, http_status: int = 400) -> None:
        super().__init__(f"{code} {msg}")
        self.code = code
        self.msg = msg
        self.http_status = http_status

    def to_dict(self) -> dict:
        data = getattr(self, "data", None)  # cancel-replace failures carry both halves' results
        return {"code": self.code, "msg": self.msg} if data is None else {"code": self.code, "msg": self.msg,
                                                                           "data": data}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CastleError) and (self.code, self.msg) == (other.code, other.msg)

    def __hash__(self) -> int:
        return hash((self.code, self.msg))

    def __repr__(self) -> str:
        return f"CastleError({self.code}, {self.msg!r})"


# 10xx: general
def unknown(detail: str = "An unknown error occurred while processing the request.") -> CastleError:
    return CastleError(-1000, detail, 500)


def unsupported_operation() -> CastleError:
    return CastleError(-1020, "This operation is not supported.")


def invalid_timestamp_window() -> CastleError:
    return CastleError(-1021, "Timestamp for this request is outside of the recvWindow.")


def invalid_timestamp_ahead() -> CastleError:
    return CastleError(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")


def invalid_signature() -> CastleError:
    return CastleError(-1022, "Signature for this request is not valid.")


def unsupported_order_combination() -> CastleError:
    return CastleError(-1014, "Unsupported order combination.")


# 11xx: request issues
def illegal_chars(param: str, legal: str = r"^([0-9]{1,20})(\.[0-9]{1,20})?$") -> CastleError:
    return CastleError(-1100, f"Illegal characters found in parameter '{param}'; legal range is '{legal}'.")


def duplicate_parameter(param: str) -> CastleError:
    return CastleError(-1101, f"Duplicate values for a parameter detected. ('{param}')")


def mandatory_param(param: str) -> CastleError:
    return CastleError(-1102, f"Mandatory parameter '{param}' was not sent, was empty/null, or malformed.")


def one_of_params(a: str, b: str) -> CastleError:
    return CastleError(-1102, f"Param '{a}' or '{b}' must be sent, but both were empty/null!")


def param_not_required(param: str) -> CastleError:
    return CastleError(-1106, f"Parameter '{param}' sent when not required.")


def too_much_precision(param: str) -> CastleError:
    return CastleError(-1111, f"Parameter '{param}' has too much precision.")


def invalid_tif() -> CastleError:
    return CastleError(-1115, "Invalid timeInForce.")


def invalid_order_type() -> CastleError:
    return CastleError(-1116, "Invalid orderType.")


def invalid_side() -> CastleError:
    return CastleError(-1117, "Invalid side.")


def invalid_symbol() -> CastleError:
    return CastleError(-1121, "Invalid symbol.")


def invalid_parameter(param: str) -> CastleError:
    return CastleError(-1130, f"Data sent for parameter '{param}' is not valid.")


# -1013: the filter failures and invalid values
def filter_failure(name: str) -> CastleError:
    return CastleError(-1013, f"Filter failure: {name}")


def invalid_quantity() -> CastleError:
    return CastleError(-1013, "Invalid quantity.")


def invalid_price() -> CastleError:
    return CastleError(-1013, "Invalid price.")


def invalid_stop_price() -> CastleError:
    return CastleError(-1013, "Stop price is invalid.")


# 20xx: matching engine rejections (Binance's texts under -2010 / -2011)
def would_take() -> CastleError:
    return CastleError(-2010, "Order would immediately match and take.")


def would_trigger() -> CastleError:
    return CastleError(-2010, "Order would trigger immediately.")


def duplicate_order() -> CastleError:
    return CastleError(-2010, "Duplicate order sent.")


def insufficient_balance() -> CastleError:
    return CastleError(-2010, "Account has insufficient balance for requested action.")


def iceberg_exceeds_qty() -> CastleError:
    return CastleError(-2010, "IcebergQty exceeds QTY.")


def market_closed() -> CastleError:
    return CastleError(-2010, "Market is closed.")


def unknown_order() -> CastleError:
    return CastleError(-2011, "Unknown order sent.")


def order_does_not_exist() -> CastleError:
    return CastleError(-2013, "Order does not exist.")


def amend_increase() -> CastleError:
    return CastleError(-2038, "Order amend (quantity increase) is not supported.")


def cancel_replace_failed() -> CastleError:
    return CastleError(-2022, "Order cancel-replace failed.")


def cancel_replace_partially_failed() -> CastleError:
    return CastleError(-2021, "Order cancel-replace partially failed.")


def optional_params_bad_combo() -> CastleError:
    return CastleError(-1128, "Combination of optional parameters invalid.")


# market data (GET /api/v3/klines, aggTrades, ticker)
def invalid_interval() -> CastleError:
    return CastleError(-1120, "Invalid interval.")


def lookup_interval_too_big(hours: int = 1) -> CastleError:
    return CastleError(-1127, f"More than {hours} hours between startTime and endTime.")


def invalid_ticker_type() -> CastleError:
    return CastleError(-1139, "Invalid ticker type.")


# Authentication and rate limits (castle.auth, castle.ratelimits). Binance's texts and statuses.
def unauthorized() -> CastleError:
    return CastleError(-1002, "You are not authorized to execute this request.", 401)


def too_much_weight(limit: int) -> CastleError:
    return CastleError(
        -1003,
        f"Too much request weight used; current limit is {limit} request weight per 1 MINUTE. "
        "Please use WebSocket Streams for live updates to avoid bans.",
        429,
    )


def ip_banned(until_ms: int) -> CastleError:
    return CastleError(
        -1003,
        f"Way too much request weight used; IP banned until {until_ms}. "
        "Please use WebSocket Streams for live updates to avoid bans.",
        418,
    )


def too_many_orders(limit: int, interval: str) -> CastleError:
    return CastleError(-1015, f"Too many new orders; current limit is {limit} orders per {interval}.", 429)


def listen_key_not_found() -> CastleError:
    return CastleError(-1125, "This listenKey does not exist.")


def bad_recv_window() -> CastleError:
    return CastleError(-1131, "recvWindow must be less than 60000")


def api_key_format_invalid() -> CastleError:
    return CastleError(-2014, "API-key format invalid.", 401)


def rejected_api_key() -> CastleError:
    return CastleError(-2015, "Invalid API-key, IP, or permissions for action.", 401)


# USDⓈ-M futures (castle.futures). Texts from Binance's futures error-code page, byte for byte:
# ccxt matches the message before the code.
def margin_insufficient() -> CastleError:
    return CastleError(-2019, "Margin is insufficient.")


def reduce_only_rejected() -> CastleError:
    return CastleError(-2022, "ReduceOnly Order is rejected.")


def max_open_orders_exceeded() -> CastleError:
    return CastleError(-2025, "Reach max open order limit.")


def max_leverage_ratio() -> CastleError:
    return CastleError(-2027, "Exceeded the maximum allowable position at current leverage.")


def futures_price_greater_than_max() -> CastleError:
    return CastleError(-4002, "Price greater than max price.")


def futures_qty_less_than_min() -> CastleError:
    return CastleError(-4004, "Quantity less than min quantity.")


def futures_qty_greater_than_max() -> CastleError:
    return CastleError(-4005, "Quantity greater than max quantity.")


def futures_price_less_than_min() -> CastleError:
    return CastleError(-4013, "Price less than min price.")


def futures_price_not_on_tick() -> CastleError:
    return CastleError(-4014, "Price not increased by tick size.")


def futures_price_above_multiplier_cap() -> CastleError:
    return CastleError(-4016, "Price is higher than mark price multiplier cap.")


def futures_qty_not_on_step() -> CastleError:
    return CastleError(-4023, "Qty not increased by step size.")


def futures_price_below_multiplier_floor() -> CastleError:
    return CastleError(-4024, "Price is lower than mark price multiplier floor.")


def invalid_leverage(leverage: object) -> CastleError:
    return CastleError(-4028, f"Leverage {leverage} is not valid")


def no_need_to_change_margin_type() -> CastleError:
    return CastleError(-4046, "No need to change margin type.")


def margin_type_open_orders() -> CastleError:
    return CastleError(-4047, "Margin type cannot be changed if there exists open orders.")


def margin_type_position_exists() -> CastleError:
    return CastleError(-4048, "Margin type cannot be changed if there exists position.")


def isolated_margin_only() -> CastleError:
    return CastleError(-4049, "Add margin only support for isolated position.")


def cross_balance_insufficient() -> CastleError:
    return CastleError(-4050, "Cross balance insufficient.")


def isolated_balance_insufficient() -> CastleError:
    return CastleError(-4051, "Isolated balance insufficient.")


def position_margin_no_position() -> CastleError:
    return CastleError(-4054, "Cannot add position margin: position is 0.")


def amount_must_be_positive() -> CastleError:
    return CastleError(-4055, "Amount must be positive.")


def position_side_not_match() -> CastleError:
    return CastleError(-4061, "Order's position side does not match user's setting.")


def futures_min_notional(notional: str) -> CastleError:
    return CastleError(-4164, f"Order's notional must be no smaller than {notional} (unless you choose reduce only)")


def post_only_rejected() -> CastleError:
    return CastleError(-5022, "Due to the order could not be executed as maker, the Post Only order will be rejected.")


def would_immediately_trigger() -> CastleError:
    return CastleError(-2021, "Order would immediately trigger.")


def fok_rejected() -> CastleError:
    return CastleError(-5021, "Due to the order could not be filled immediately, the FOK order has been rejected.")


def no_need_to_change_position_side() -> CastleError:
    return CastleError(-4059, "No need to change position side.")


def position_side_open_orders() -> CastleError:
    return CastleError(-4067, "Position side cannot be changed if there exists open orders.")


def position_side_positions() -> CastleError:
    return CastleError(-4068, "Position side cannot be changed if there exists position.")


def transfer_insufficient() -> CastleError:
    return CastleError(-5013, "Asset transfer failed: insufficient balance")


def no_mark_price() -> CastleError:
    """Castle's: funding or a mark-priced check before the contract's first mark."""
    return CastleError(-1000, "No mark price yet for this symbol.", 503)
