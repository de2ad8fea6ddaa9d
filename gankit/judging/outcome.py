"""What a call into a student's process returned, rebuilt in the grader as a value it can judge.

``Outcome.from_reply`` reads the plain data ``codec.encode_result`` made in the student's process. Only
numbers, strings, lists and tags cross the boundary, so an object that lies about equality or a
patched library in the student's process cannot reach a comparison made here.
"""

from __future__ import annotations

import builtins
import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from gankit.judging.codec import untag

NUMERIC_DTYPES = {
    "float64",
    "float32",
    "float16",
    "int64",
    "int32",
    "int16",
    "int8",
    "uint8",
    "bool",
}


# Names a student's code cannot choose: the built-in exceptions and warnings, numpy's own, and the
# grader's. Any other name (an exception class defined in the student's code can be called
# anything, a probe value included) is never shown.
PUBLIC_NAMES = frozenset(
    [name for name, value in vars(builtins).items() if isinstance(value, type) and issubclass(value, BaseException)]
    + ["LinAlgError", "AxisError", "ComplexWarning", "Timeout", "Crashed", "UnencodableResult", "UnreadableReply"]
)
OWN_CLASS = "an exception of a class defined in your code"
_PUBLIC_OBJECTS = {
    "builtins.dict": "a dict",
    "builtins.set": "a set",
    "builtins.complex": "a complex number",
    "builtins.bytes": "bytes",
    "builtins.generator": "a generator",
    "builtins.function": "a function",
    "builtins.range": "a range",
}
_MAX_COUNT = 8  # counts a student's code chooses are shown up to this; beyond, only "more than"


def _text(value: Any) -> str:
    """A word of a reply as text: only a string is taken as it is (another value says nothing)."""
    return value if isinstance(value, str) else "?"


def public_name(name: str | None, fallback: str = OWN_CLASS) -> str:
    """``name`` if the student's code cannot have chosen it, else ``fallback``."""
    return name if name in PUBLIC_NAMES else fallback


def public_warning(text: str) -> str:
    """A warning as feedback may show it: its built-in category, never its message."""
    category = text.split(":", 1)[0].strip()
    return f"a {category}" if category in PUBLIC_NAMES else "a warning of a class defined in your code"


@dataclass(frozen=True)
class Outcome:
    """What one call returned (or raised), rebuilt from plain data."""

    kind: str  # the Python type's name ("float", "ndarray", "tuple", ...) or "error"
    value: Any = None
    error_type: str | None = None
    error_message: str = ""
    warnings: tuple[str, ...] = ()

    @classmethod
    def from_reply(cls, reply: dict[str, Any]) -> Outcome:
        """The outcome ``reply`` describes; "unreadable" when any part of it cannot be read (its
        error and warnings are the student's process's words too, of any type and nesting)."""
        try:
            if "error" in reply:
                error = reply["error"] if isinstance(reply["error"], dict) else {}
                return cls(
                    "error", error_type=_text(error.get("type", "Error")), error_message=_text(error.get("message", ""))
                )
            decoded = cls._decode(reply.get("value", {}))
            caught = reply.get("warnings") or []
            if isinstance(caught, list) and caught:
                return dataclasses.replace(decoded, warnings=tuple(_text(w) for w in caught[:5]))
            return decoded
        except Exception:  # noqa: BLE001 - whatever the reply holds, it is the student's doing
            return cls("unreadable")

    @classmethod
    def _decode(cls, data: Any) -> Outcome:
        """The value ``data`` describes; "unreadable" for anything that cannot be rebuilt (a float
        that is not one, an int past a float's range, ragged or too deeply nested lists): the
        reply is the student's process's, so what it holds is the student's doing, never an error
        of the grader's."""
        try:
            return cls._rebuild(data)
        except Exception:  # noqa: BLE001 - RecursionError, OverflowError, ValueError, TypeError, ...
            return cls("unreadable")

    @classmethod
    def _rebuild(cls, data: Any) -> Outcome:
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            return cls("unreadable")
        kind = data["type"]
        if kind in ("float", "int", "bool", "str") or kind.startswith("numpy."):
            value = data.get("value")
            return cls(kind, float(value) if isinstance(value, str) and kind != "str" else value)
        if kind == "None":
            return cls(kind, None)
        if kind in ("tuple", "list"):
            items = data.get("items")
            return cls(kind, None if items is None else tuple(cls._rebuild(item) for item in items))
        if kind.startswith("ndarray"):
            dtype, shape = str(data.get("dtype")), tuple(data.get("shape", ()))
            if "data" in data and dtype in NUMERIC_DTYPES:
                array = np.array(untag(data["data"]), dtype=dtype).reshape(shape)
                return cls(kind, array)
            return cls(kind, None, error_message=f"dtype {dtype}, shape {shape}")
        return cls(kind, data.get("name"))

    # -- views for the checks ----------------------------------------------------------------

    @property
    def raised(self) -> bool:
        return self.kind == "error"

    def as_array(self) -> np.ndarray | None:
        """The value as a float array if it is numeric (a tuple of numbers counts), else None:
        also when it cannot be one (an int past a float's range, ragged tuples), which is the
        student's value's doing, judged as "not numbers"."""
        try:
            return self._as_array()
        except Exception:  # noqa: BLE001 - OverflowError, ValueError, TypeError, RecursionError, ...
            return None

    def _as_array(self) -> np.ndarray | None:
        if self.kind in ("tuple", "list") and self.value is not None:
            parts = [item._as_array() for item in self.value]
            if parts and all(p is not None for p in parts):
                return np.array(parts, dtype=float)
            return None
        if self.kind.startswith("ndarray") and isinstance(self.value, np.ndarray):
            return self.value.astype(float)
        if self.kind in ("float", "int", "bool") or self.kind.startswith("numpy."):
            return np.array(float(self.value))
        return None

    def describe(self) -> str:
        """A short description of the value's form, safe to show whatever the student's code did.

        Nothing the student's code can choose freely reaches it (an exception's message or class
        name, a class's name, an array's shape, a long container's length): those could carry the
        probe inputs out in the feedback. Only fixed words, built-in names and small counts do.
        """
        if self.raised:
            return public_name(self.error_type)
        if self.kind.startswith("ndarray"):
            kind = "ndarray" if self.kind == "ndarray" else "ndarray subclass"
            if isinstance(self.value, np.ndarray):
                return f"an {kind} of dtype {self.value.dtype} with {self.value.ndim} dimensions"[:80]
            return f"an {kind} of a dtype that is not a plain number"
        if self.kind in ("tuple", "list"):
            size = len(self.value) if self.value is not None else None
            count = f"{size}" if size is not None and size <= _MAX_COUNT else f"more than {_MAX_COUNT}"
            return f"a {self.kind} of {count} items"
        if self.kind == "object":
            return _PUBLIC_OBJECTS.get(str(self.value), "an object of another type")
        if self.kind == "unreadable":
            return "a value that could not be read back"
        if self.kind in ("float", "int", "bool", "str", "None") or self.kind in {f"numpy.{t}" for t in NUMERIC_DTYPES}:
            return f"a {self.kind}"
        return "a value of another type"
