"""Typed parameter specifications for catalog blocks.

A spec knows its default, its range or choices, and how to check a value that came from a file, a URL or a
widget. ``check`` returns the normalised value or raises ``ParamError`` with a message naming the value.
Inferred sizes (``in_features`` and friends) are ``inferred=True`` with default None: the input fixes them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Any


class ParamError(ValueError):
    """A parameter value that is the wrong type or out of range."""


class Kind(str, Enum):
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    CHOICE = "choice"
    INTS = "ints"  # a list of ints (shapes, dims)
    INT_OR_TUPLE = "int_or_tuple"  # kernel sizes, strides: 3 or [3, 5] (and ``words``: a conv's "same")
    TEXT = "text"  # a short note, never code: what an imported Unsupported node stands for
    FLOATS = "floats"  # a list of finite numbers: the values of a tensor an imported model computed once


@dataclass(frozen=True)
class Param:
    name: str
    kind: Kind
    default: Any
    doc: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] = ()
    inferred: bool = False  # follows from the input; None means "infer it"
    optional: bool = False  # None is a legal value meaning "not used" (e.g. max_norm)
    min_len: int = 0
    max_len: int = 8
    key: bool = False  # shown on the node face
    words: tuple[str, ...] = ()  # names an int-or-tuple also takes, as torch does (a conv's padding="same")

    def check(self, value: Any) -> Any:
        """Return ``value`` normalised (tuples become lists), or raise ParamError."""
        if value is None:
            if self.inferred or self.optional:
                return None
            raise ParamError(f"{self.name} needs a value")
        checker = _CHECKERS[self.kind]
        return checker(self, value)

    def describe_range(self) -> str:
        if self.kind is Kind.CHOICE:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        lo = "" if self.minimum is None else f"≥ {self.minimum:g}"
        hi = "" if self.maximum is None else f"≤ {self.maximum:g}"
        numbers = " and ".join(p for p in (lo, hi) if p) or "any value"
        return f"{numbers}, or {' or '.join(repr(w) for w in self.words)}" if self.words else numbers


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_bounds(spec: Param, value: float) -> None:
    if spec.minimum is not None and value < spec.minimum:
        raise ParamError(f"{spec.name}={value!r} is too small: it must be {spec.describe_range()}")
    if spec.maximum is not None and value > spec.maximum:
        raise ParamError(f"{spec.name}={value!r} is too large: it must be {spec.describe_range()}")


def _check_int(spec: Param, value: Any) -> int:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        value = int(value)
    if not _is_int(value):
        raise ParamError(f"{spec.name}={value!r} must be a whole number")
    _check_bounds(spec, value)
    return value


def _check_float(spec: Param, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParamError(f"{spec.name}={value!r} must be a number")
    value = float(value)
    if not math.isfinite(value):
        raise ParamError(f"{spec.name}={value!r} must be a finite number")
    _check_bounds(spec, value)
    return value


def _check_bool(spec: Param, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ParamError(f"{spec.name}={value!r} must be true or false")
    return value


def _check_choice(spec: Param, value: Any) -> Any:
    if value not in spec.choices or isinstance(value, bool) != isinstance(spec.choices[0], bool):
        raise ParamError(f"{spec.name}={value!r} is not allowed: it must be {spec.describe_range()}")
    return value


def _check_ints(spec: Param, value: Any) -> list[int]:
    if _is_int(value) and spec.min_len <= 1:  # one size, as torch takes it (a block's `$d_model`)
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise ParamError(f"{spec.name}={value!r} must be a list of whole numbers")
    if not spec.min_len <= len(value) <= spec.max_len:
        raise ParamError(
            f"{spec.name}={list(value)!r} must have between {spec.min_len} and {spec.max_len} entries"
        )
    return [_check_int(spec, v) for v in value]


def _check_floats(spec: Param, value: Any) -> list[float]:
    if not isinstance(value, (list, tuple)):
        raise ParamError(f"{spec.name} must be a list of numbers")
    if not spec.min_len <= len(value) <= spec.max_len:
        raise ParamError(f"{spec.name} must have between {spec.min_len} and {spec.max_len} numbers, not {len(value)}")
    return [_check_float(spec, v) for v in value]


def _check_int_or_tuple(spec: Param, value: Any) -> int | list[int] | str:
    if isinstance(value, str) and spec.words:
        if value not in spec.words:
            raise ParamError(f"{spec.name}={value!r} must be a whole number, a list of them, or "
                             f"{' or '.join(repr(w) for w in spec.words)}")
        return value
    if isinstance(value, (list, tuple)):
        return _check_ints(spec, value)
    return _check_int(spec, value)


def _check_text(spec: Param, value: Any) -> str:
    if not isinstance(value, str) or len(value) > spec.max_len:
        raise ParamError(f"{spec.name} must be text of at most {spec.max_len} characters")
    return value


_CHECKERS = {
    Kind.INT: _check_int,
    Kind.FLOAT: _check_float,
    Kind.BOOL: _check_bool,
    Kind.CHOICE: _check_choice,
    Kind.INTS: _check_ints,
    Kind.INT_OR_TUPLE: _check_int_or_tuple,
    Kind.TEXT: _check_text,
    Kind.FLOATS: _check_floats,
}


# Small constructors keep catalog entries short and readable.
def Int(name: str, default: int | None, doc: str = "", lo: int | None = None, hi: int | None = None, **kw: Any) -> Param:
    return Param(name, Kind.INT, default, doc, minimum=lo, maximum=hi, **kw)


def Float(name: str, default: float | None, doc: str = "", lo: float | None = None, hi: float | None = None, **kw: Any) -> Param:
    return Param(name, Kind.FLOAT, default, doc, minimum=lo, maximum=hi, **kw)


def Bool(name: str, default: bool, doc: str = "", **kw: Any) -> Param:
    return Param(name, Kind.BOOL, default, doc, **kw)


def Choice(name: str, default: Any, choices: tuple[Any, ...], doc: str = "", **kw: Any) -> Param:
    return Param(name, Kind.CHOICE, default, doc, choices=choices, **kw)


def Ints(name: str, default: list[int] | None, doc: str = "", lo: int | None = None, hi: int | None = None, **kw: Any) -> Param:
    return Param(name, Kind.INTS, default, doc, minimum=lo, maximum=hi, **kw)


def IntOrTuple(name: str, default: int | None, doc: str = "", lo: int | None = None, hi: int | None = None, **kw: Any) -> Param:
    return Param(name, Kind.INT_OR_TUPLE, default, doc, minimum=lo, maximum=hi, max_len=kw.pop("max_len", 3), **kw)


def Text(name: str, default: str, doc: str = "", max_len: int = 500, **kw: Any) -> Param:
    return Param(name, Kind.TEXT, default, doc, max_len=max_len, **kw)


def Floats(name: str, default: list[float], doc: str = "", max_len: int = 8, **kw: Any) -> Param:
    return Param(name, Kind.FLOATS, default, doc, max_len=max_len, **kw)
