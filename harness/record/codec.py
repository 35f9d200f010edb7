"""Dataclasses to JSON and back, from their fields' types: a record's format is its dataclasses.

A field added to a dataclass is written and read with no other change; a value of the wrong type
is an error naming where it is (a record that cannot be read is listed as such, never read as
something else); a field a record lacks takes its default, so older records still load.
"""

import dataclasses
import types
import typing
from typing import Any, Union


class CodecError(ValueError):
    """A value that does not fit its field; the message says where."""


def to_data(value: Any) -> Any:
    """A dataclass (nested ones, tuples, dicts) as JSON-ready data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: to_data(getattr(value, field.name)) for field in _fields(value)}
    if isinstance(value, list | tuple):
        return [to_data(item) for item in value]
    if isinstance(value, dict):
        return {str(key): to_data(item) for key, item in value.items()}
    return value


def from_data(kind: Any, data: Any, where: str) -> Any:
    """`data` read as a value of type `kind`; CodecError naming `where` when it does not fit."""
    origin = typing.get_origin(kind)
    if origin in (Union, types.UnionType):
        options = typing.get_args(kind)
        if data is None and type(None) in options:
            return None
        problems = []
        for option in (option for option in options if option is not type(None)):
            try:
                return from_data(option, data, where)
            except CodecError as error:
                problems.append(str(error))
        raise CodecError(problems[0] if len(problems) == 1 else f"{where}: {data!r} fits no type")
    if kind is Any:
        return data
    if dataclasses.is_dataclass(kind):
        return _dataclass(kind, data, where)
    if origin in (tuple, list):  # tuple[X, ...] or list[X]: the only sequences written
        item = typing.get_args(kind)[0]
        if not isinstance(data, list):
            raise CodecError(f"{where}: {data!r} is not a list")
        return origin(from_data(item, value, f"{where}[{n}]") for n, value in enumerate(data))
    if origin is dict:
        key_kind, value_kind = typing.get_args(kind)
        if not isinstance(data, dict):
            raise CodecError(f"{where}: {data!r} is not an object")
        return {
            from_data(key_kind, key, where): from_data(value_kind, value, f"{where}.{key}")
            for key, value in data.items()
        }
    return _scalar(kind, data, where)


def _scalar(kind: Any, data: Any, where: str) -> Any:
    if kind is float and isinstance(data, int | float) and not isinstance(data, bool):
        return float(data)
    if kind is int and isinstance(data, int) and not isinstance(data, bool):
        return data
    if kind is str and isinstance(data, str):
        return data
    if kind is bool and isinstance(data, bool):
        return data
    if kind is int and isinstance(data, str) and data.isdigit():  # a JSON object's key
        return int(data)
    name = getattr(kind, "__name__", str(kind))
    raise CodecError(f"{where}: {data!r} is not of type {name}")


def fields_from_data(kind: Any, data: dict[str, Any], where: str) -> dict[str, Any]:
    """The fields of dataclass `kind` that `data` holds, each read as its type (others ignored)."""
    hints = typing.get_type_hints(kind)
    return {
        field.name: from_data(hints[field.name], data[field.name], _join(where, field))
        for field in _fields(kind)
        if field.name in data
    }


def _dataclass(kind: Any, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise CodecError(f"{where}: {data!r} is not an object")
    values = fields_from_data(kind, data, where)
    for field in _fields(kind):
        required = field.default is dataclasses.MISSING
        if required and field.default_factory is dataclasses.MISSING and field.name not in values:
            raise CodecError(f"{_join(where, field)}: missing")
    return kind(**values)


def _fields(value: Any) -> list[dataclasses.Field]:
    return [field for field in dataclasses.fields(value) if field.init]


def _join(where: str, field: dataclasses.Field) -> str:
    return f"{where}.{field.name}" if where else field.name
