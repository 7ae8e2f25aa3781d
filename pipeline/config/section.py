"""One params.yaml section made into its dataclass, strictly: a key the dataclass does not declare is an error
naming the section and the key; a key the dataclass declares without a default must be there; a key with a
default may be left out and takes it (the default params.yaml's comment states). Lists become tuples, nested
sections their dataclasses, so a setting is typed wherever it is read."""
from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from pipeline.params import load_params

T = TypeVar("T")


class ParamsError(ValueError):
    """params.yaml does not fit the dataclasses: the message names the section and the key."""


def load_section(cls: type[T], params: Mapping | None = None, section: str | None = None) -> T:
    """`cls` built from its section of `params` (default: params.yaml): `section`, default `cls.SECTION`."""
    params = load_params() if params is None else params
    section = section or cls.SECTION
    if section not in params:
        raise ParamsError(f"params.yaml lacks the section {section}")
    return build(cls, section, params[section])


def build(cls: type[T], section: str, values: Any) -> T:
    """`cls` from the mapping `values` of params.yaml's `section` ("tail", "data.scene")."""
    if not isinstance(values, Mapping):
        raise ParamsError(f"params.yaml: {section} must be a section of keys, not {values!r}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    if unknown := sorted(set(values) - set(fields)):
        raise ParamsError(f"params.yaml: {section} has no key {', '.join(unknown)} (its keys: {', '.join(fields)})")
    missing = [name for name, f in fields.items() if name not in values
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ParamsError(f"params.yaml: {section} lacks {', '.join(missing)}")
    hints = typing.get_type_hints(cls)
    return cls(**{name: _typed(hints[name], f"{section}.{name}", value) for name, value in values.items()})


def _typed(hint, key: str, value: Any) -> Any:
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in arguments:
            return None
        (hint,) = [a for a in arguments if a is not type(None)]
        return _typed(hint, key, value)
    if dataclasses.is_dataclass(hint):
        return build(hint, key, value)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ParamsError(f"params.yaml: {key} must be a list, not {value!r}")
        inner = arguments[0] if len(arguments) == 2 and arguments[1] is Ellipsis else None
        if inner is None and len(arguments) != len(value):
            raise ParamsError(f"params.yaml: {key} must hold {len(arguments)} values, not {value!r}")
        return tuple(_typed(inner or a, key, v) for a, v in zip(arguments if inner is None else [inner] * len(value),
                                                                 value))
    if origin is dict or hint is dict:
        if not isinstance(value, Mapping):
            raise ParamsError(f"params.yaml: {key} must be a section of keys, not {value!r}")
        return {k: _typed(arguments[1], f"{key}.{k}", v) if arguments else v for k, v in value.items()}
    if hint is bool:
        if not isinstance(value, bool):
            raise ParamsError(f"params.yaml: {key} must be true or false, not {value!r}")
        return value
    if hint in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (hint is int and value != int(value)):
            raise ParamsError(f"params.yaml: {key} must be {'an integer' if hint is int else 'a number'}, "
                              f"not {value!r}")
        return hint(value)
    if hint is str:
        if not isinstance(value, str):
            raise ParamsError(f"params.yaml: {key} must be text, not {value!r}")
        return value
    return value
