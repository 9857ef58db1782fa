"""Futures commands and events as JSON-ready dicts: the futures journal's and events stream's wire form.

Strict on the way in, as castle.codec is for spot: an unknown command or
field, a missing field, or a value of the wrong kind raises `CodecError`,
so a malformed journal entry is refused loudly rather than half-read.
"""

from __future__ import annotations

from dataclasses import MISSING, fields
from enum import StrEnum

from castle.codec import CodecError
from castle.futures import events as fevents
from castle.futures.commands import (
    AdjustIsolatedMargin,
    FuturesCancel,
    FuturesCancelAll,
    FuturesOrder,
    FuturesOrderType,
    FuturesTimeInForce,
    SetLeverage,
    SetMarginType,
    SetPositionMode,
    SettleFunding,
    TransferIn,
    TransferOut,
    UpdateMarks,
    WorkingType,
)
from castle.futures.margin import MarginType
from castle.futures.positions import PositionSide
from castle.orders import Side, StpMode

COMMAND_TYPES = {cls.__name__: cls for cls in (
    FuturesOrder, FuturesCancel, FuturesCancelAll, SetLeverage, SetMarginType, SetPositionMode,
    AdjustIsolatedMargin, TransferIn, TransferOut, UpdateMarks, SettleFunding)}
ENUMS = {"side": Side, "type": FuturesOrderType, "tif": FuturesTimeInForce, "position_side": PositionSide,
         "working_type": WorkingType, "stp": StpMode, "margin_type": MarginType}
TEXT = {"symbol", "client_order_id"}
FLAGS = {"reduce_only", "close_position", "price_protect", "add", "dual"}


def command_to_dict(command) -> dict:
    out = {"command": type(command).__name__}
    for f in fields(command):
        value = getattr(command, f.name)
        if isinstance(value, StrEnum):
            value = value.value
        elif f.name == "prices":
            value = {symbol: list(pair) for symbol, pair in value.items()}
        out[f.name] = value
    return out


def command_from_dict(data) -> object:
    if not isinstance(data, dict):
        raise CodecError("a command must be an object")
    data = dict(data)
    name = data.pop("command", None)
    cls = COMMAND_TYPES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise CodecError(f"unknown futures command {name!r}")
    known = {f.name: f for f in fields(cls)}
    extra = set(data) - set(known)
    if extra:
        raise CodecError(f"{name}: unknown fields {sorted(extra)}")
    kwargs = {}
    for field_name, f in known.items():
        if field_name not in data:
            if f.default is MISSING and f.default_factory is MISSING:
                raise CodecError(f"{name}: missing field {field_name!r}")
            continue
        kwargs[field_name] = _decode(name, field_name, data[field_name])
    return cls(**kwargs)


def _decode(cls: str, name: str, value):
    if value is None:
        return None
    if name in ENUMS:
        try:
            return ENUMS[name](value)
        except ValueError:
            raise CodecError(f"{cls}.{name}: invalid value {value!r}") from None
    if name in TEXT:
        if not isinstance(value, str):
            raise CodecError(f"{cls}.{name}: expected a string")
        return value
    if name in FLAGS:
        if not isinstance(value, bool):
            raise CodecError(f"{cls}.{name}: expected a boolean")
        return value
    if name == "prices":
        if not isinstance(value, dict) or not all(
                isinstance(p, list) and len(p) == 2 and all(_is_int(x) for x in p) for p in value.values()):
            raise CodecError(f"{cls}.prices: expected {{symbol: [mark, index]}}")
        return {symbol: (p[0], p[1]) for symbol, p in value.items()}
    if not _is_int(value):
        raise CodecError(f"{cls}.{name}: expected an integer")
    return value


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


event_to_dict = fevents.to_dict
event_from_dict = fevents.from_dict
