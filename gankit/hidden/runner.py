"""The student's side of hidden grading: runs a submission's code and answers calls with plain data.

This file runs in the sandboxed student process, started as ``python -I -c <this source>``: it must
not import the kit (the kit is not visible there). It reads one JSON request per line on stdin
and writes one JSON reply per line on stdout:

    {"op": "setup", "modules": {name: source}, "cells": [source, ...], "skip": [index, ...]}
        -> {"op": "cell", "index": i, "error": null | "TypeName: message"}  (one per cell)
        -> {"op": "ready"}
    {"op": "call", "function": name, "args": [...], "kwargs": {...}}
        -> {"op": "result", "value": <encoded>}  or  {"op": "result", "error": {...}}

Values are encoded as tagged plain data (see ``encode``); the grading process decodes and judges
them. Whatever the student's code does to this process, only such data ever leaves it.
"""

import io
import json
import math
import os
import sys
import types
import warnings

import numpy as np

# Taken before any student code runs, so that patching numpy cannot change how values are encoded.
_ndarray = np.ndarray
_view = np.ndarray.view
_tolist = np.ndarray.tolist
_isfinite = math.isfinite
_dumps = json.dumps
_loads = json.loads
_float, _int, _bool, _str, _tuple, _list, _type = float, int, bool, str, tuple, list, type
_MAX_ELEMENTS = 200_000
_MAX_TEXT = 300


def _number(x):
    # JSON has no NaN or infinity; tag them as strings.
    if _type(x) is _float and not _isfinite(x):
        return "nan" if x != x else ("inf" if x > 0 else "-inf")
    return x


def _nested(data):
    if _type(data) is _list:
        return [_nested(item) for item in data]
    return _number(data)


def encode(value, depth=0):
    """Tagged plain data describing ``value``; never calls methods the student could override."""
    kind = _type(value)
    if depth > 3:
        return {"type": "too deep"}
    if value is None:
        return {"type": "None"}
    if kind in (_bool, _int):
        return {"type": kind.__name__, "value": value}
    if kind is _float:
        return {"type": "float", "value": _number(value)}
    if kind is _str:
        return {"type": "str", "value": value[:_MAX_TEXT]}
    if kind in (_tuple, _list):
        if len(value) > 64:
            return {"type": kind.__name__, "length": len(value), "items": None}
        return {"type": kind.__name__, "items": [encode(item, depth + 1) for item in value]}
    if isinstance(value, np.generic):
        name = "numpy." + kind.__name__
        try:
            return {"type": name, "value": _number(value.item())}
        except Exception:
            return {"type": name}
    if isinstance(value, _ndarray):
        base = _view(value, _ndarray)  # the plain array underneath, whatever the subclass claims
        name = "ndarray" if kind is _ndarray else "ndarray subclass " + kind.__name__
        info = {"type": name, "dtype": str(base.dtype), "shape": list(base.shape)}
        if base.size <= _MAX_ELEMENTS and base.dtype.kind in "biuf":
            info["data"] = _nested(_tolist(base))
        return info
    return {"type": "object", "name": kind.__module__ + "." + kind.__name__}


def decode_arg(value):
    """Arguments arrive as plain JSON, with arrays and generators tagged."""
    if isinstance(value, dict):
        if "__ndarray__" in value:
            return np.array(_nested_floats(value["__ndarray__"]), dtype=value["dtype"])
        if "__rng__" in value:
            return np.random.default_rng(value["__rng__"])
        if "__float__" in value:
            return float(value["__float__"])
        if "__tuple__" in value:
            return tuple(decode_arg(v) for v in value["__tuple__"])
    if isinstance(value, list):
        return [decode_arg(v) for v in value]
    return value


def _nested_floats(data):
    if isinstance(data, list):
        return [_nested_floats(item) for item in data]
    return float(data) if isinstance(data, str) else data


class _Anything:
    """Stands in for matplotlib and IPython: every attribute and call quietly does nothing."""

    def __getattr__(self, name):
        return self

    def __call__(self, *args, **kwargs):
        return self

    def __iter__(self):
        return iter((self, self))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _install_stand_ins():
    anything = _Anything()
    for name in (
        "matplotlib",
        "matplotlib.pyplot",
        "mpl_toolkits",
        "mpl_toolkits.mplot3d",
        "IPython",
        "IPython.display",
    ):
        module = types.ModuleType(name)
        module.__getattr__ = lambda attr, anything=anything: anything
        sys.modules[name] = module


def _python_only(source):
    """Drop IPython magics and shell escapes: they mean nothing outside a kernel."""
    if source.lstrip().startswith("%%"):
        return ""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.split("\n"))


def _describe(exc):
    return _type(exc).__name__ + ": " + _str(exc)[:_MAX_TEXT]


def main():
    # Requests and replies keep private copies of stdin and stdout; the student's code gets
    # /dev/null for both, so its prints and input() cannot mix with the protocol.
    requests = os.fdopen(os.dup(0), "r")
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    sys.stdin = io.StringIO()
    sys.stdout = sys.stderr = io.StringIO()
    namespace = {"__name__": "__main__", "get_ipython": _Anything()}
    for line in requests:
        request = _loads(line)
        if request["op"] == "setup":
            _install_stand_ins()
            for name, source in request.get("modules", {}).items():
                module = types.ModuleType(name)
                exec(compile(source, name + ".py", "exec"), module.__dict__)
                sys.modules[name] = module
            for index, source in enumerate(request["cells"]):
                error = None
                if index in request.get("skip", ()):
                    error = "skipped: it did not finish in time before"
                else:
                    try:
                        exec(compile(_python_only(source), f"cell {index}", "exec"), namespace)
                    except BaseException as exc:  # a broken cell costs only what it defines
                        error = _describe(exc)
                replies.write(_dumps({"op": "cell", "index": index, "error": error}) + "\n")
                sys.stdout = sys.stderr = io.StringIO()
            replies.write(_dumps({"op": "ready"}) + "\n")
        elif request["op"] == "call":
            function = namespace.get(request["function"])
            try:
                if function is None:
                    raise NameError(f"name {request['function']!r} is not defined")
                args = [decode_arg(a) for a in request["args"]]
                kwargs = {k: decode_arg(v) for k, v in request.get("kwargs", {}).items()}
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    value = function(*args, **kwargs)
                reply = {"op": "result", "value": encode(value)}
                reply["warnings"] = [_type(w.message).__name__ + ": " + _str(w.message)[:_MAX_TEXT] for w in caught[:5]]
            except BaseException as exc:
                reply = {
                    "op": "result",
                    "error": {"type": _type(exc).__name__, "message": _str(exc)[:_MAX_TEXT]},
                }
            sys.stdout = sys.stderr = io.StringIO()
            try:
                text = _dumps(reply, allow_nan=False)
            except Exception as exc:
                text = _dumps(
                    {
                        "op": "result",
                        "error": {"type": "UnencodableResult", "message": _describe(exc)},
                    }
                )
            replies.write(text + "\n")


if __name__ == "__main__":
    main()
