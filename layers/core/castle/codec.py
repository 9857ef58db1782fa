"""The wire form of engine commands and events: plain dicts of str/int/None.

Commands travel from the gateway to the matching engine through the command
stream (the journal), so decoding is strict: a replay must rebuild exactly
the command that was accepted. Enums are their string values, quantities and
prices stay integers (ticks, lots), and `command` names the dataclass
(not `type`: that is `PlaceOrder`'s order type).
Events already have a wire form (`castle.events.to_dict`/`from_dict`); this
module re-exports it so that adapters import one codec.
"""

from __future__ import annotations

from dataclasses import MISSING, fields
from enum import StrEnum

from castle.events import Event
from castle.events import from_dict as event_from_dict
from castle.events import to_dict as event_to_dict
from castle.orders import (
    AmendOrder,
    CancelAllOrders,
    CancelOrder,
    CancelReplace,
    CancelReplaceMode,
    Command,
    OrderType,
    PlaceOrder,
    Side,
    StpMode,
    TimeInForce,
)

__all__ = ["CodecError", "command_from_dict", "command_to_dict", "event_from_dict", "event_to_dict"]

COMMAND_TYPES: dict[str, type] = {
    cls.__name__: cls for cls in (PlaceOrder, CancelOrder, CancelAllOrders, AmendOrder, CancelReplace)
}
ENUM_FIELDS: dict[str, type[StrEnum]] = {
    "side": Side,
    "type": OrderType,
    "tif": TimeInForce,
    "stp": StpMode,
    "mode": CancelReplaceMode,
}
NESTED_FIELDS: dict[str, type] = {"cancel": CancelOrder, "place": PlaceOrder}
TEXT_FIELDS = frozenset({"client_order_id"})


class CodecError(ValueError):
    """A command on the wire that does not decode: a bug upstream, never a client error."""


def command_to_dict(command: Command) -> dict:
    return {"command": type(command).__name__, **_fields_to_dict(command)}


def command_from_dict(data: dict) -> Command:
    if not isinstance(data, dict):
        raise CodecError("a command must be an object")
    data = dict(data)
    name = data.pop("command", None)
    cls = COMMAND_TYPES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise CodecError(f"unknown command {name!r}")
    return _build(cls, data)


def _fields_to_dict(obj) -> dict:
    out = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if f.name in NESTED_FIELDS:
            value = _fields_to_dict(value)
        elif isinstance(value, StrEnum):
            value = value.value
        out[f.name] = value
    return out


def _build(cls: type, data: dict):
    known = {f.name: f for f in fields(cls)}
    extra = set(data) - set(known)
    if extra:
        raise CodecError(f"{cls.__name__}: unknown fields {sorted(extra)}")
    kwargs = {}
    for name, f in known.items():
        if name not in data:
            if f.default is MISSING and f.default_factory is MISSING:
                raise CodecError(f"{cls.__name__}: missing field {name!r}")
            continue
        kwargs[name] = _decode_field(cls, name, data[name])
    return cls(**kwargs)


def _decode_field(cls: type, name: str, value):
    if name in NESTED_FIELDS:
        if not isinstance(value, dict):
            raise CodecError(f"{cls.__name__}.{name}: expected an object")
        return _build(NESTED_FIELDS[name], value)
    if value is None:
        return None
    if name in ENUM_FIELDS:
        try:
            return ENUM_FIELDS[name](value)
        except ValueError:
            raise CodecError(f"{cls.__name__}.{name}: invalid value {value!r}") from None
    if name in TEXT_FIELDS:
        if not isinstance(value, str):
            raise CodecError(f"{cls.__name__}.{name}: expected a string")
        return value
    if not isinstance(value, int) or isinstance(value, bool):
        raise CodecError(f"{cls.__name__}.{name}: expected an integer")
    return value


def events_to_dicts(events: list[Event]) -> list[dict]:
    return [event_to_dict(e) for e in events]
