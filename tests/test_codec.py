"""The wire format between the grader and a student's process, both ways (gankit/judging/codec.py)."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gankit.judging.codec import Seeded, decode_arg, encode_arg, encode_result
from gankit.judging.outcome import Outcome
from gankit.judging.student_process import RUNNER_SOURCE


def _across(data):
    """Through JSON as the pipe carries it: no NaN or infinity allowed on the wire."""
    return json.loads(json.dumps(data, allow_nan=False))


def test_arguments_arrive_as_they_left_nan_and_infinities_included():
    sent = (np.array([[1.5, np.nan], [np.inf, -np.inf]]), math.inf, -math.inf, (1, [2.0, math.nan]), "text", 3)
    received = [decode_arg(a) for a in _across([encode_arg(a) for a in sent])]
    array, pos, neg, pair, text, number = received
    assert array.dtype == np.float64 and array.shape == (2, 2)
    assert array[0, 0] == 1.5 and math.isnan(array[0, 1]) and array[1, 0] == math.inf and array[1, 1] == -math.inf
    assert pos == math.inf and neg == -math.inf
    assert pair[0] == 1 and pair[1][0] == 2.0 and math.isnan(pair[1][1]) and isinstance(pair, tuple)
    assert (text, number) == ("text", 3)


def test_a_seeded_argument_becomes_the_same_generator_in_the_student_process():
    (received,) = [decode_arg(a) for a in _across([encode_arg(Seeded(12345))])]
    assert received.normal(size=3).tolist() == np.random.default_rng(12345).normal(size=3).tolist()


def test_results_come_back_with_one_tagging_of_non_finite_numbers():
    value = (np.array([0.25, np.nan, np.inf]), float("-inf"), np.float32(0.5), None)
    outcome = Outcome.from_reply(_across({"value": encode_result(value)}))
    array, neg, single, nothing = outcome.value
    assert array.kind == "ndarray" and array.value[0] == 0.25 and math.isnan(array.value[1])
    assert array.value[2] == math.inf
    assert neg.value == -math.inf and single.kind == "numpy.float32" and single.value == 0.5
    assert nothing.kind == "None"


def test_an_array_subclass_crosses_as_its_plain_data_and_is_named():
    class Liar(np.ndarray):
        def __eq__(self, other):
            return True

    outcome = Outcome.from_reply(_across({"value": encode_result(np.array([3.0, 4.0]).view(Liar))}))
    assert outcome.kind == "ndarray subclass Liar"
    assert outcome.value.tolist() == [3.0, 4.0]


def test_the_student_process_source_runs_without_the_kit(tmp_path):
    """What the sandbox runs (the codec, then the runner) needs nothing but numpy: run it where
    only numpy's folder is on the path (no site processing, so not the kit's .pth file)."""
    source = tmp_path / "student_process.py"
    source.write_text(RUNNER_SOURCE)
    site = str(Path(np.__file__).parent.parent)
    bootstrap = (
        f"import sys, importlib.util; sys.path.append({site!r}); "
        "assert importlib.util.find_spec('gankit') is None, 'the kit is importable'; "
        f"exec(compile(open({str(source)!r}).read(), 'student_process', 'exec'))"
    )
    requests = [
        {"op": "setup", "cells": ["import numpy as np\ndef double(x):\n    return 2 * x\n"]},
        {"op": "call", "function": "double", "args": [encode_arg(np.array([1.0, np.nan]))]},
    ]
    # As the grader does: the server's control socket as its stdin and stdout, and a notebook's
    # two pipes handed over on it (see ``student_process._Server``).
    control, theirs = socket.socketpair()
    server = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", bootstrap], stdin=theirs, stdout=theirs, stderr=subprocess.PIPE, cwd="/"
    )
    theirs.close()
    requests_read, requests_write = os.pipe()
    replies_read, replies_write = os.pipe()
    socket.send_fds(control, [b"fork\n"], [requests_read, replies_write])
    for fd in (requests_read, replies_write):
        os.close(fd)
    with os.fdopen(requests_write, "w") as to_notebook:
        to_notebook.write("".join(json.dumps(r) + "\n" for r in requests))
    with os.fdopen(replies_read) as from_notebook:
        replies = [json.loads(line) for line in from_notebook]
    assert server.wait(timeout=60) == 0, server.stderr.read()[-2000:]  # unpooled: one notebook, then it exits
    control.close()
    server.stderr.close()
    assert replies[-2:][0] == {"op": "ready"}
    outcome = Outcome.from_reply(replies[-1])
    assert outcome.value[0] == 2.0 and math.isnan(outcome.value[1])


def test_a_float_subclass_is_not_taken_for_a_plain_float():
    """``float(...)`` is what the checks ask for: numpy's float64 (a subclass of float) is not it."""

    class Fussy(float):
        pass

    kinds = [Outcome.from_reply(_across({"value": encode_result(v)})).kind for v in (np.float64(0.5), Fussy(0.5))]
    assert kinds == ["numpy.float64", "object"]
    assert Outcome.from_reply(_across({"value": encode_result(0.5)})).kind == "float"


def _nested(depth: int, leaf):
    data = leaf
    for _ in range(depth):
        data = [data]
    return data


def _deep_items(depth: int) -> dict:
    data: dict = {"type": "float", "value": 1.0}
    for _ in range(depth):
        data = {"type": "tuple", "items": [data]}
    return data


@pytest.mark.parametrize(
    "value",
    [
        {"type": "float", "value": "not a number"},
        {"type": "numpy.float64", "value": "1e99999x"},
        {"type": "ndarray", "dtype": "int64", "shape": [1], "data": [10**30]},
        {"type": "ndarray", "dtype": "float64", "shape": [3], "data": [1.0, 2.0]},
        {"type": "ndarray", "dtype": "float64", "shape": [1], "data": _nested(100_000, 1.0)},
        {"type": "ndarray", "dtype": "float64", "shape": "abc", "data": [1.0]},
        _deep_items(100_000),
    ],
    ids=["float-text", "numpy-text", "int64-overflow", "ragged", "deep-data", "bad-shape", "deep-items"],
)
def test_a_reply_the_grader_cannot_rebuild_is_unreadable_never_an_error(value):
    """Whatever the student's process sends, rebuilding it never raises: it is "unreadable"."""
    got = Outcome.from_reply({"value": value})
    assert (
        got.kind == "unreadable" and got.as_array() is None and got.describe() == "a value that could not be read back"
    )


@pytest.mark.parametrize(
    "value",
    [
        {"type": "int", "value": 10**400},  # past a float's range
        {"type": "tuple", "items": [{"type": "float", "value": 1.0}, {"type": "int", "value": -(10**400)}]},
        {
            "type": "tuple",
            "items": [{"type": "list", "items": [{"type": "float", "value": 1.0}]}, {"type": "float", "value": 2.0}],
        },
    ],
    ids=["int-overflow", "tuple-overflow", "ragged-tuple"],
)
def test_a_value_that_is_no_float_array_is_judged_as_no_numbers(value):
    """Python can hold it, a float array cannot: ``as_array`` says None, as for any non-number."""
    got = Outcome.from_reply({"value": value})
    assert got.kind == value["type"] and got.as_array() is None


def test_an_error_or_warnings_of_any_shape_are_read_without_an_error():
    deep = _nested(900, "x")  # within what JSON parses, past what str() of it may walk
    assert Outcome.from_reply({"error": {"type": deep, "message": deep}}).error_type == "?"
    assert Outcome.from_reply({"error": {"type": "ValueError", "message": 3}}).describe() == "ValueError"
    got = Outcome.from_reply({"value": {"type": "float", "value": 1.0}, "warnings": [deep, "RuntimeWarning: x"]})
    assert got.warnings == ("?", "RuntimeWarning: x")
    assert Outcome.from_reply({"value": {"type": "float", "value": 1.0}, "warnings": {"a": 1}}).warnings == ()
