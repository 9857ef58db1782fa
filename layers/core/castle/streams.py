"""Binance's market streams: the stream-name grammar and the live-subscription protocol.

Pure: a connection's state (its streams and its `combined` property) comes in,
and an `Answer` goes out: the frame to send back and the changes to store. The
WebSocket handler does the I/O around it.

Binance (web-socket-streams.md, "Live Subscribing/Unsubscribing to streams"):
requests are `{"method": ..., "params": [...], "id": ...}`; a success answers
`{"result": null | value, "id": id}`; a rejection answers Binance's error
objects (code 0 unknown property, 1 bad value type, 2 invalid request, 3
invalid JSON). `id` is a 64-bit signed integer, an alphanumeric string of at
most 36 characters, or null.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# ------------------------------------------------------------------ grammar
KLINE_INTERVALS = ("1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M")
# Per-symbol stream types (the text after "<symbol>@"), and the all-market streams.
SYMBOL_STREAMS = re.compile(
    r"(?:depth(?:5|10|20)?(?:@100ms)?|trade|aggTrade|kline_(?:" + "|".join(KLINE_INTERVALS) + r")"
    r"|miniTicker|ticker|bookTicker)"
)
MARKET_STREAMS = frozenset({"!miniTicker@arr"})
MAX_STREAMS = 1024  # Binance: "A single connection can listen to a maximum of 1024 streams."
METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")
ID_STRING = re.compile(r"[A-Za-z0-9]{1,36}")
INT64 = (-(2**63), 2**63 - 1)


def is_valid_stream(name: object, symbols: Iterable[str]) -> bool:
    """`btcusdt@depth@100ms`, `ethusdt@kline_1m`, `!miniTicker@arr`: lowercase symbol we list, known type."""
    if not isinstance(name, str):
        return False
    if name in MARKET_STREAMS:
        return True
    symbol, at, kind = name.partition("@")
    return bool(at) and symbol.islower() and symbol.upper() in symbols and SYMBOL_STREAMS.fullmatch(kind) is not None


LISTEN_KEY = re.compile(r"[A-Za-z0-9]{60}")


def listen_key_of(text: str | None) -> str | None:
    """`/ws/<listenKey>`: Binance's user data stream URL carries the 60-character key in the stream's place."""
    name = (text or "").strip("/")
    return name if LISTEN_KEY.fullmatch(name) else None


def parse_stream_list(text: str | None, symbols: Iterable[str]) -> list[str]:
    """The `streams=a/b/c` of a connect URL: the valid names, duplicates dropped, order kept.

    Binance opens a connection whatever the names in its URL, and a name it does
    not know simply never sends anything (an uppercase symbol is the classic
    "connected but no data"). ccxt relies on it: it connects to `/ws/0` and then
    SUBSCRIBEs. So a bad name is dropped, not refused. More than 1024 names
    raise `ValueError` (the connect is then refused).
    """
    names = list(dict.fromkeys(n for n in (text or "").split("/") if n))
    if len(names) > MAX_STREAMS:
        raise ValueError(f"more than {MAX_STREAMS} streams")
    symbols = frozenset(symbols)
    return [name for name in names if is_valid_stream(name, symbols)]


# ------------------------------------------------------------------ limits
@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `limit` events per fixed window of `window_s` seconds.

    The window is an integer, so a counter store needs only "add one to the
    count of window w": the first event of a new window starts at one.
    """

    limit: int
    window_s: int

    def window(self, now_ms: int) -> int:
        return now_ms // (self.window_s * 1000)

    def exceeded(self, count: int) -> bool:
        """`count`: events in the window so far, this one included."""
        return count > self.limit

    def expires_at(self, window: int) -> int:
        """Epoch seconds after which a window's counter is of no use (a TTL)."""
        return (window + 1) * self.window_s + 60


# Binance (web-socket-streams.md, "WebSocket Limits"): "WebSocket connections have a
# limit of 5 incoming messages per second ... A connection that goes beyond the limit
# will be disconnected", and "a limit of 300 connections per attempt every 5 minutes per IP".
MESSAGES_PER_CONNECTION = RateLimit(5, 1)
CONNECTS_PER_IP = RateLimit(300, 300)


# ----------------------------------------------------------------- protocol
@dataclass(frozen=True, slots=True)
class Session:
    """What the server knows about one connection."""

    streams: tuple[str, ...] = ()
    combined: bool = False


@dataclass(slots=True)
class Answer:
    """One request's outcome: the frame for the client, and what to store."""

    frame: dict
    subscribe: list[str] = field(default_factory=list)
    unsubscribe: list[str] = field(default_factory=list)
    combined: bool | None = None  # a new value for the property, if SET_PROPERTY changed it

    @property
    def ok(self) -> bool:
        return "error" not in self.frame


class ProtocolError(Exception):
    """A request Binance would reject; `id` is echoed when the request had a usable one."""

    def __init__(self, code: int, msg: str, request_id: object = None, has_id: bool = False) -> None:
        super().__init__(msg)
        self.code, self.msg, self.request_id, self.has_id = code, msg, request_id, has_id

    def frame(self) -> dict:
        frame: dict = {"error": {"code": self.code, "msg": self.msg}}
        if self.has_id:
            if self.code == 0:
                frame["error"]["id"] = self.request_id  # Binance's table shows it there for this one
            frame["id"] = self.request_id
        return frame


def invalid_request(detail: str, request_id: object = None, has_id: bool = False) -> ProtocolError:
    return ProtocolError(2, f"Invalid request: {detail}", request_id, has_id)


def _position(text: str, index: int) -> str:
    """serde_json's "line L column C" for a character index (1-based, as Binance reports it)."""
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return f"line {line} column {column}"


def _end_of(text: str) -> int:
    """The index of the last non-blank character: where serde stops at a missing field."""
    return max(len(text.rstrip()) - 1, 0)


def _valid_id(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return INT64[0] <= value <= INT64[1]
    return isinstance(value, str) and ID_STRING.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    params: list
    id: object


def parse_request(text: str) -> Request:
    """A text frame as Binance's stream server reads it; raises `ProtocolError` with Binance's message."""
    try:
        body = json.loads(text)
    except ValueError as e:
        reason = getattr(e, "msg", "expected value").replace("Expecting", "expected")
        reason = reason[:1].lower() + reason[1:]
        where = _position(text, getattr(e, "pos", 0))
        raise ProtocolError(3, f"Invalid JSON: {reason} at {where}") from None
    if not isinstance(body, dict):
        raise invalid_request(f"invalid type: {type(body).__name__}, expected a request object at {_position(text, 0)}")
    if "method" not in body:
        raise invalid_request(f"missing field `method` at {_position(text, _end_of(text))}")
    method = body["method"]
    if method not in METHODS:
        where = _method_end(text)
        expected = ", ".join(f"`{m}`" for m in METHODS)
        raise invalid_request(f"unknown variant `{method}`, expected one of {expected} at {where}")
    if "id" not in body or not _valid_id(body["id"]):
        raise invalid_request("request ID must be an unsigned integer")
    params = body.get("params", [])
    if params is None:
        params = []
    if not isinstance(params, list):
        raise invalid_request("params must be an array", body["id"], True)
    return Request(method, params, body["id"])


def _method_end(text: str) -> str:
    match = re.search(r'"method"\s*:\s*("(?:[^"\\]|\\.)*"|[^,}\s]+)', text)
    return _position(text, match.end() - 1 if match else 0)


def answer(request: Request, session: Session, symbols: Iterable[str]) -> Answer:
    """Binance's answer to one valid request, given the connection's state."""
    rid, params = request.id, request.params
    if request.method in ("SUBSCRIBE", "UNSUBSCRIBE"):
        symbols = frozenset(symbols)
        if not all(is_valid_stream(p, symbols) for p in params):
            raise invalid_request("invalid stream", rid, True)
        names = list(dict.fromkeys(params))
        if request.method == "UNSUBSCRIBE":
            gone = [n for n in names if n in session.streams]
            return Answer({"result": None, "id": rid}, unsubscribe=gone)
        new = [n for n in names if n not in session.streams]
        if len(session.streams) + len(new) > MAX_STREAMS:
            raise invalid_request(f"too many streams (at most {MAX_STREAMS} per connection)", rid, True)
        return Answer({"result": None, "id": rid}, subscribe=new)
    if request.method == "LIST_SUBSCRIPTIONS":
        if params:
            raise invalid_request("too many parameters", rid, True)
        return Answer({"result": list(session.streams), "id": rid})
    _check_property(params, rid)
    if request.method == "GET_PROPERTY":
        if len(params) > 1:
            raise invalid_request("too many parameters", rid, True)
        return Answer({"result": session.combined, "id": rid})
    if len(params) > 2:
        raise invalid_request("too many parameters", rid, True)
    value = params[1] if len(params) == 2 else None
    if not isinstance(value, bool):
        raise ProtocolError(1, "Invalid value type: expected Boolean", rid, True)
    return Answer({"result": None, "id": rid}, combined=value)


def _check_property(params: Sequence, rid: object) -> None:
    """`combined` is the only property (Binance: "the only property that can be set")."""
    if not params or not isinstance(params[0], str):
        raise invalid_request("property name must be a string", rid, True)
    if params[0] != "combined":
        raise ProtocolError(0, "Unknown property", rid, True)


def respond(text: str, session: Session, symbols: Iterable[str]) -> Answer:
    """Parse and answer one frame; every rejection becomes Binance's error frame."""
    try:
        return answer(parse_request(text), session, symbols)
    except ProtocolError as e:
        return Answer(e.frame())


# ---------------------------------------------------------------- heartbeat
PONG_TIMEOUT = (1008, "pong timeout")  # Castle's choice: Binance documents the rule, not the close frame
LIFETIME_OVER = (1001, "connection lifetime reached")


@dataclass
class Heartbeat:
    """Binance's keepalive for one client connection, on a clock the caller passes in (seconds).

    Binance: "When you receive a ping, you must send a pong with a copy of ping's
    payload", and "Unsolicited pong frames are allowed, but will not prevent
    disconnection": only a pong echoing a ping we sent counts.
    """

    ping_interval_s: float
    pong_timeout_s: float
    lifetime_s: float
    opened_at: float
    last_pong: float = 0.0
    next_ping: float = 0.0
    pending: set[bytes] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.last_pong = self.opened_at
        self.next_ping = self.opened_at + self.ping_interval_s

    def ping(self, now: float) -> bytes | None:
        """The payload of a ping due now, if one is."""
        if now < self.next_ping:
            return None
        self.next_ping = now + self.ping_interval_s
        payload = str(int(now * 1000)).encode()
        self.pending.add(payload)
        return payload

    def pong(self, payload: bytes | bytearray, now: float) -> None:
        if bytes(payload) in self.pending:
            self.pending.clear()
            self.last_pong = now

    def expired(self, now: float) -> tuple[int, str] | None:
        """The close code and reason, when the connection must end."""
        if now >= self.opened_at + self.lifetime_s:
            return LIFETIME_OVER
        if now >= self.last_pong + self.pong_timeout_s:
            return PONG_TIMEOUT
        return None

    def wait(self, now: float) -> float:
        """Seconds until something is due."""
        due = min(self.next_ping, self.last_pong + self.pong_timeout_s, self.opened_at + self.lifetime_s)
        return max(due - now, 0.0)
