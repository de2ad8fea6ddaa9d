"""The student's side of hidden grading: runs a submission's code and answers calls with plain data.

This file runs in the sandboxed student process, started as ``python -I -c <source>``, the source
being ``codec.py``'s and then this file's: the kit is not visible there, so nothing here imports it.
It reads one JSON request per line on stdin and writes one JSON reply per line on stdout:

    {"op": "setup", "modules": {name: source}, "cells": [source, ...], "skip": [index, ...]}
        -> {"op": "cell", "index": i, "error": null | "TypeName: message"}  (one per cell)
        -> {"op": "ready"}
    {"op": "call", "function": name, "args": [...], "kwargs": {...}}
        -> {"op": "result", "value": <encoded>}  or  {"op": "result", "error": {...}}

Values are encoded as tagged plain data (see ``codec.py``); the grading process decodes and judges
them. Whatever the student's code does to this process, only such data ever leaves it.
"""

import io
import json
import os
import sys
import types
import warnings

# The codec (``codec.py``) comes first in the sandbox, where the kit cannot be imported; the import
# below serves readers, linters and tests that load this file in the grader.
if "encode_result" not in globals():
    from gankit.judging.codec import MAX_TEXT, decode_arg, encode_result

# Taken before any student code runs, so that patching json cannot change the protocol.
_dumps = json.dumps
_loads = json.loads
_str, _type = str, type


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
    return _type(exc).__name__ + ": " + _str(exc)[:MAX_TEXT]


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
    try:  # what every notebook of the course imports, loaded before the code arrives (see prestart)
        import numpy  # noqa: F401
    except ImportError:
        pass
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
                reply = {"op": "result", "value": encode_result(value)}
                reply["warnings"] = [_type(w.message).__name__ + ": " + _str(w.message)[:MAX_TEXT] for w in caught[:5]]
            except BaseException as exc:
                reply = {
                    "op": "result",
                    "error": {"type": _type(exc).__name__, "message": _str(exc)[:MAX_TEXT]},
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
