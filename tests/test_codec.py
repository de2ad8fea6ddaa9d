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
from gankit.judging.outcome import OWN_CLASS, Outcome, public_name, public_warning
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


def test_results_are_cut_at_the_codecs_bounds_and_not_before():
    """Four levels of nesting, 64 items, 300 characters and 200,000 array elements cross in full;
    one more of any is cut (a student's value could otherwise fill the pipe or the grader's memory)."""
    assert encode_result([[[1.0]]]) == {
        "type": "list",
        "items": [{"type": "list", "items": [{"type": "list", "items": [{"type": "float", "value": 1.0}]}]}],
    }
    assert encode_result([[[[1.0]]]])["items"][0]["items"][0]["items"][0] == {
        "type": "list",
        "items": [{"type": "too deep"}],
    }
    assert encode_result(tuple(range(64))) == {
        "type": "tuple",
        "items": [{"type": "int", "value": i} for i in range(64)],
    }
    assert encode_result(list(range(65))) == {"type": "list", "length": 65, "items": None}
    assert encode_result("x" * 300) == {"type": "str", "value": "x" * 300}
    assert encode_result("y" * 301) == {"type": "str", "value": "y" * 300}
    full = encode_result(np.ones(200_000))
    assert full["shape"] == [200_000] and full["data"] == [1.0] * 200_000
    assert encode_result(np.ones(200_001)) == {"type": "ndarray", "dtype": "float64", "shape": [200_001]}


def test_plain_values_cross_with_their_type_and_arrays_only_of_numbers_with_their_data():
    assert encode_result(True) == {"type": "bool", "value": True}
    assert encode_result(-7) == {"type": "int", "value": -7}
    assert encode_result(None) == {"type": "None"}
    assert encode_result(np.array([True, False])) == {
        "type": "ndarray",
        "dtype": "bool",
        "shape": [2],
        "data": [True, False],
    }
    assert encode_result(np.array([1 + 2j])) == {"type": "ndarray", "dtype": "complex128", "shape": [1]}
    assert encode_result(np.array(["a"])) == {"type": "ndarray", "dtype": "<U1", "shape": [1]}
    assert encode_result({1: 2}) == {"type": "object", "name": "builtins.dict"}
    assert encode_result(np.int16(-3)) == {"type": "numpy.int16", "value": -3}
    assert encode_result(float("nan")) == {"type": "float", "value": "nan"}


def test_arguments_of_every_kind_are_encoded_as_plain_json():
    assert encode_arg(np.float32(0.5)) == 0.5 and type(encode_arg(np.int64(3))) is int
    assert encode_arg(math.nan) == {"__float__": "nan"} and encode_arg(-math.inf) == {"__float__": "-inf"}
    assert encode_arg(2.5) == 2.5
    assert encode_arg((1, np.array([2], dtype=np.int32))) == {"__tuple__": [1, {"__ndarray__": [2], "dtype": "int32"}]}
    assert encode_arg([math.inf, 1]) == [{"__float__": "inf"}, 1]
    assert encode_arg(Seeded(7)) == {"__rng__": 7}
    back = decode_arg(_across(encode_arg([np.array([1, 2], dtype=np.int32), (math.inf,)])))
    assert back[0].dtype == np.int32 and back[0].tolist() == [1, 2] and back[1] == (math.inf,)


def _value(data: dict) -> Outcome:
    return Outcome.from_reply(_across({"value": data}))


def test_a_value_is_described_by_fixed_words_and_counts_up_to_eight():
    """What feedback may say of a value: its built-in type, an array's dtype and number of
    dimensions, a container's size up to 8; never a class or count the student's code chose."""
    assert _value(encode_result(tuple(range(8)))).describe() == "a tuple of 8 items"
    assert _value(encode_result(list(range(9)))).describe() == "a list of more than 8 items"
    assert _value(encode_result(list(range(65)))).describe() == "a list of more than 8 items"
    assert _value(encode_result(np.zeros((2, 3)))).describe() == "an ndarray of dtype float64 with 2 dimensions"
    assert _value(encode_result(np.zeros(2).view(np.matrix))).describe().startswith("an ndarray subclass of dtype")
    assert _value(encode_result(np.array([1j]))).describe() == "an ndarray of a dtype that is not a plain number"
    assert _value(encode_result({1, 2})).describe() == "a set"
    assert _value(encode_result(Seeded(1))).describe() == "an object of another type"
    assert _value(encode_result(2.0)).describe() == "a float"
    assert _value(encode_result(None)).describe() == "a None"
    assert _value(encode_result(np.float32(1))).describe() == "a numpy.float32"
    assert _value({"type": "numpy.complex64"}).describe() == "a value of another type"


def test_errors_and_warnings_show_only_names_the_student_cannot_choose():
    assert (
        Outcome.from_reply({"error": {"type": "ZeroDivisionError", "message": "m"}}).describe() == "ZeroDivisionError"
    )
    assert Outcome.from_reply({"error": {"type": "Timeout"}}).describe() == "Timeout"
    own = Outcome.from_reply({"error": {"type": "HintIs42", "message": "42"}})
    assert own.raised and own.describe() == OWN_CLASS and own.error_message == "42"
    assert Outcome.from_reply({"error": "no dict"}) == Outcome("error", error_type="Error", error_message="")
    assert public_warning("RuntimeWarning: divide by zero encountered") == "a RuntimeWarning"
    assert public_warning("Probe0.25: x") == "a warning of a class defined in your code"
    assert public_name("Probe0.25", fallback="?") == "?" and public_name(None) == OWN_CLASS
    caught = [f"UserWarning: {i}" for i in range(7)]
    got = Outcome.from_reply({"value": {"type": "int", "value": 1}, "warnings": caught})
    assert got.warnings == tuple(caught[:5]) and got.value == 1 and not got.raised


def test_replies_are_rebuilt_as_the_values_they_describe():
    assert _value({"type": "float", "value": "-inf"}).value == -math.inf
    assert _value({"type": "str", "value": "inf"}).value == "inf"
    array = _value({"type": "ndarray", "dtype": "int32", "shape": [2, 2], "data": [1, 2, 3, 4]}).value
    assert array.dtype == np.int32 and array.tolist() == [[1, 2], [3, 4]]
    opaque = _value({"type": "ndarray", "dtype": "complex128", "shape": [1], "data": [1.0]})
    assert opaque.value is None and opaque.error_message == "dtype complex128, shape (1,)"
    assert _value({"type": "tuple", "length": 99, "items": None}).value is None
    assert _value({"type": "object", "name": "builtins.set"}).value == "builtins.set"
    assert _value({"no": "type"}).kind == "unreadable"


def test_numbers_and_tuples_of_numbers_are_judged_as_float_arrays():
    assert _value(encode_result((1, 2.5, True))).as_array().tolist() == [1.0, 2.5, 1.0]
    assert _value(encode_result(((1, 2), (3, 4)))).as_array().tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert _value(encode_result(())).as_array() is None
    assert _value(encode_result((1, "a"))).as_array() is None
    assert _value(encode_result(np.int8(-2))).as_array().tolist() == -2.0
    whole = _value(encode_result(np.array([1, 2], dtype=np.int64))).as_array()
    assert whole.dtype == np.float64 and whole.tolist() == [1.0, 2.0]
    assert _value(encode_result("1.0")).as_array() is None
    assert _value(encode_result(None)).as_array() is None
