"""The wire format between the grader and a student's process: JSON values, with numbers JSON
cannot hold (NaN, infinities) tagged as the strings "nan", "inf" and "-inf", and arrays, tuples and
random generators tagged as objects.

Both sides use this module. The grader imports it; the sandboxed student process cannot import the
kit, so ``student_process`` sends this file's source ahead of ``runner.py``'s. It therefore needs
nothing but the standard library and numpy, and it binds what it uses before any student code runs,
so that a student who patches numpy cannot change how a value is described.

- grader to student: ``encode_arg`` (here) and ``decode_arg`` (there);
- student to grader: ``encode_result`` (there) and ``untag`` (here, see ``outcome.Outcome``).
"""

import math
from dataclasses import dataclass

import numpy as np

_ndarray = np.ndarray
_generic = np.generic
_view = np.ndarray.view
_tolist = np.ndarray.tolist
_isfinite = math.isfinite
_float, _int, _bool, _str, _tuple, _list, _dict, _type = float, int, bool, str, tuple, list, dict, type
MAX_ELEMENTS = 200_000  # larger arrays are described by dtype and shape only
MAX_TEXT = 300  # longer strings and messages are cut


@dataclass(frozen=True)
class Seeded:
    """An argument that stands for ``numpy.random.default_rng(seed)`` in the student's process."""

    seed: int


def tag_number(x):
    """``x``, or its tag if JSON cannot hold it."""
    if _type(x) is _float and not _isfinite(x):
        return "nan" if x != x else ("inf" if x > 0 else "-inf")
    return x


def tag(data):
    """Nested lists of numbers with every non-finite float tagged."""
    if _type(data) is _list:
        return [tag(item) for item in data]
    return tag_number(data)


def untag(data):
    """The inverse of ``tag``: nested lists of numbers with tags turned back into floats."""
    if isinstance(data, list):
        return [untag(item) for item in data]
    return float(data) if isinstance(data, str) else data


# -- grader to student ------------------------------------------------------------------------


def encode_arg(value):
    """JSON-safe form of a call argument (runs in the grader)."""
    if isinstance(value, Seeded):
        return {"__rng__": value.seed}
    if isinstance(value, np.ndarray):
        return {"__ndarray__": tag(value.tolist()), "dtype": str(value.dtype)}
    if isinstance(value, np.generic):
        return encode_arg(value.item())
    if isinstance(value, float):
        return {"__float__": tag_number(value)} if not math.isfinite(value) else value
    if isinstance(value, tuple):
        return {"__tuple__": [encode_arg(v) for v in value]}
    if isinstance(value, list):
        return [encode_arg(v) for v in value]
    return value


def decode_arg(value):
    """A call argument rebuilt from ``encode_arg``'s form (runs in the student's process)."""
    if isinstance(value, dict):
        if "__ndarray__" in value:
            return np.array(untag(value["__ndarray__"]), dtype=value["dtype"])
        if "__rng__" in value:
            return np.random.default_rng(value["__rng__"])
        if "__float__" in value:
            return float(value["__float__"])
        if "__tuple__" in value:
            return tuple(decode_arg(v) for v in value["__tuple__"])
    if isinstance(value, list):
        return [decode_arg(v) for v in value]
    return value


# -- student to grader ------------------------------------------------------------------------


def encode_result(value, depth=0):
    """Tagged plain data describing ``value`` (runs in the student's process); it never calls a
    method the student could override. ``outcome.Outcome`` rebuilds it in the grader."""
    kind = _type(value)
    if depth > 3:
        return {"type": "too deep"}
    if value is None:
        return {"type": "None"}
    if kind in (_bool, _int):
        return {"type": kind.__name__, "value": value}
    if kind is _float:
        return {"type": "float", "value": tag_number(value)}
    if kind is _str:
        return {"type": "str", "value": value[:MAX_TEXT]}
    if kind in (_tuple, _list):
        if len(value) > 64:
            return {"type": kind.__name__, "length": len(value), "items": None}
        return {"type": kind.__name__, "items": [encode_result(item, depth + 1) for item in value]}
    if isinstance(value, _generic):
        name = "numpy." + kind.__name__
        try:
            return {"type": name, "value": tag_number(value.item())}
        except Exception:
            return {"type": name}
    if isinstance(value, _ndarray):
        base = _view(value, _ndarray)  # the plain array underneath, whatever the subclass claims
        name = "ndarray" if kind is _ndarray else "ndarray subclass " + kind.__name__
        info = {"type": name, "dtype": str(base.dtype), "shape": list(base.shape)}
        if base.size <= MAX_ELEMENTS and base.dtype.kind in "biuf":
            info["data"] = tag(_tolist(base))
        return info
    return {"type": "object", "name": kind.__module__ + "." + kind.__name__}
