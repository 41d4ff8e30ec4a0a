"""JSON in and out: the compact form ``JSON.stringify`` writes, and checked decoding.

Decoding is strict where the server reads clients (:func:`decode_client`) and
lenient where the dashboard reads any feed (:func:`typed`): a message of a type
this contract does not know is still data, only not a typed one.
"""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any, NamedTuple

from .errors import ErrorCode, ProtocolError
from .messages import CLIENT_KINDS, ClientMessage, Kind, Message, Resume, message_class

__all__ = ["decode", "decode_client", "encode", "kind_of", "known_kind", "load", "typed"]

Payload = dict[str, Any]


def encode(message: Message) -> str:
    """Serialise to the compact JSON that ``JSON.stringify`` would produce."""
    payload: Payload = {"type": message.KIND.value}
    for spec in _specs(type(message)):
        value = getattr(message, spec.name)
        if value is None:
            continue
        payload[spec.wire] = list(value) if isinstance(value, tuple) else value
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def load(data: str | bytes) -> Payload:
    """Parse one JSON object; :class:`ProtocolError` for anything else."""
    try:
        payload = json.loads(data)
    except RecursionError:
        raise ProtocolError(ErrorCode.BAD_JSON, "message is nested too deeply") from None
    except ValueError as exc:  # invalid JSON or UTF-8, or an integer too long to read
        raise ProtocolError(
            ErrorCode.BAD_JSON, f"message is not valid JSON ({exc}); send one JSON object"
        ) from None
    if not isinstance(payload, dict):
        raise ProtocolError(
            ErrorCode.BAD_MESSAGE,
            f"message must be a JSON object with a 'type', got {type(payload).__name__}",
        )
    return payload


def kind_of(payload: Payload) -> Kind:
    """The payload's ``type``; :class:`ProtocolError` if it has none or an unknown one."""
    name = payload.get("type")
    if not isinstance(name, str):
        raise ProtocolError(ErrorCode.BAD_MESSAGE, "message has no string 'type' field")
    kind = known_kind(payload)
    if kind is None:
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown message type {name!r}")
    return kind


_KINDS: dict[object, Kind] = {kind.value: kind for kind in Kind}


def known_kind(payload: Payload) -> Kind | None:
    """The payload's ``type`` if this contract knows it, else ``None`` (any feed's data)."""
    try:
        return _KINDS.get(payload.get("type"))
    except TypeError:  # a type that cannot be a key, such as a list
        return None


def decode(data: str | bytes) -> Message:
    """Decode any known message; fields it does not know are ignored.

    Raises :class:`ProtocolError` for invalid JSON, non-objects, unknown types and
    missing or mistyped fields.
    """
    payload = load(data)
    return _build(message_class(kind_of(payload)), payload)


def decode_client(data: str | bytes) -> ClientMessage:
    """Decode a client → server message, validating it fully."""
    payload = load(data)
    kind = kind_of(payload)
    if kind not in CLIENT_KINDS:
        allowed = ", ".join(sorted(k.value for k in CLIENT_KINDS))
        raise ProtocolError(
            ErrorCode.UNKNOWN_TYPE,
            f"{kind.value} is sent by the server, not accepted from clients; "
            f"clients may send {allowed}",
        )
    message = _build(message_class(kind), payload)
    if isinstance(message, Resume) and message.seq < 0:
        raise ProtocolError(ErrorCode.BAD_FIELD, "RESUME.seq must be 0 or more")
    return message  # type: ignore[return-value]


def typed(payload: Payload) -> Message | None:
    """The payload as a message of this contract, or ``None`` if it is not one.

    For readers of any feed: a payload with no ``type``, an unknown one, or fields
    that do not match is left to the caller as plain data.
    """
    kind = known_kind(payload)
    if kind is None:
        return None
    try:
        return _build(message_class(kind), payload)
    except ProtocolError:
        return None


# -- building a message from its payload ------------------------------------------------


class _Spec(NamedTuple):
    name: str  # the dataclass field
    wire: str  # its name on the wire
    expected: type
    optional: bool


# Field annotations are strings here (``from __future__ import annotations``).
_EXPECTED: dict[str, type] = {
    "str": str,
    "int": int,
    "str | None": str,
    "int | None": int,
    "bool | None": bool,
    "tuple[str, ...]": list,
}
_TYPE_NAMES = {str: "a string", int: "an integer", bool: "true or false", list: "a list"}


_SPECS: dict[type[Message], tuple[_Spec, ...]] = {}


def _specs(cls: type[Message]) -> tuple[_Spec, ...]:
    """Each wire field of ``cls``, worked out once rather than for every message."""
    specs = _SPECS.get(cls)
    if specs is None:
        specs = _SPECS[cls] = tuple(
            _Spec(f.name, f.metadata["wire"], _EXPECTED[str(f.type)], "None" in str(f.type))
            for f in fields(cls)
        )
    return specs


def _build(cls: type[Message], payload: Payload) -> Message:
    """Build ``cls`` from a wire payload, checking types; unknown fields are ignored."""
    values: dict[str, Any] = {}
    for spec in _specs(cls):
        if spec.wire not in payload:
            if spec.optional:
                continue
            raise ProtocolError(
                ErrorCode.BAD_FIELD, f"{cls.KIND.value} needs a '{spec.wire}' field"
            )
        value: Any = payload[spec.wire]
        expected = spec.expected
        if not _matches(value, expected):
            raise ProtocolError(
                ErrorCode.BAD_FIELD,
                f"{cls.KIND.value}.{spec.wire} must be {_TYPE_NAMES[expected]}, "
                f"got {_shown(value)}",
            )
        if expected is list:
            if not all(isinstance(item, str) for item in value):
                raise ProtocolError(
                    ErrorCode.BAD_FIELD, f"{cls.KIND.value}.{spec.wire} must list strings"
                )
            value = tuple(value)
        values[spec.name] = value
    return cls(**values)


def _matches(value: Any, expected: type) -> bool:
    """Whether ``value`` is of the ``expected`` JSON type (``true`` is no integer)."""
    return isinstance(value, expected) and not (expected is int and isinstance(value, bool))


SHOWN_LENGTH = 60  # of a bad value echoed in an ERROR


def _shown(value: Any) -> str:
    """A bad value as JSON fit to echo: short, and ASCII (a lone surrogate cannot be UTF-8)."""
    text = json.dumps(value)
    return text if len(text) <= SHOWN_LENGTH else text[: SHOWN_LENGTH - 1] + "…"
