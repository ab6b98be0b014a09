"""JSON for every protocol object, derived from its dataclass fields (nothing per type).

`Message.to_dict()` gives plain JSON values (enums as their values, nested objects as dicts);
`Message.from_dict()` rebuilds the object, nested messages and lists of them included, from
the field annotations. A request (`strict`) refuses fields it does not have and names the
ones missing, then validates itself on construction; a result ignores unknown fields, so an
older bot can read a newer runner's answers.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from enum import Enum
from typing import Any, ClassVar, Self

from model_runner.protocol.errors import InvalidRequest


class Message:
    """A dataclass that crosses the bot/runner boundary as JSON."""

    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]
    strict: ClassVar[bool] = False  # requests: unknown or missing fields are errors

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: object) -> Self:
        """Build from a JSON object; requests are checked field by field as they are built."""
        if not isinstance(data, dict):
            raise InvalidRequest(f"{_noun(cls)} must be a JSON object")
        hints = _hints(cls)
        known = {f.name: f for f in dataclasses.fields(cls) if f.init}
        if cls.strict:
            unknown = sorted(set(data) - set(known))
            if unknown:
                allowed = ", ".join(known) or "none"
                raise InvalidRequest(
                    f"{_noun(cls)} has no field {unknown[0]!r} (its fields: {allowed})",
                    field=unknown[0],
                )
            for name, spec in known.items():
                required = (
                    spec.default is dataclasses.MISSING
                    and spec.default_factory is dataclasses.MISSING
                )
                if required and data.get(name) is None:
                    raise InvalidRequest(f"{name} is required", field=name)
        values = {
            name: _decode(hints[name], value, name)
            for name, value in data.items()
            if name in known and not (value is None and cls.strict and _has_default(known[name]))
        }
        return cls(**values)


def _has_default(spec: dataclasses.Field[Any]) -> bool:
    return (
        spec.default is not dataclasses.MISSING or spec.default_factory is not dataclasses.MISSING
    )


def _noun(cls: type) -> str:
    """An operation by its name ("generate"), any other message by its class."""
    operation = getattr(cls, "name", None)
    return f"a {operation} request" if isinstance(operation, str) else cls.__name__


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    """The class's field annotations, resolved once."""
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _plain(value: Any) -> Any:
    if isinstance(value, Message):
        return value.to_dict()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def _decode(annotation: Any, value: Any, name: str) -> Any:
    """`value` as `annotation` says: nested messages built, everything else as given (the
    message's own checks judge scalars, so each error names the field and its range)."""
    if value is None:
        return None
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return _decode(options[0], value, name) if len(options) == 1 else value
    if origin is list and isinstance(value, list):
        (item,) = typing.get_args(annotation) or (Any,)
        return [_decode(item, entry, name) for entry in value]
    if isinstance(annotation, type) and issubclass(annotation, Message):
        if not isinstance(value, dict):
            raise InvalidRequest(f"{name} must be a JSON object", field=name)
        return annotation.from_dict(value)
    return value
