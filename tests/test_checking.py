"""The comparisons hidden checks are written with, and how a cell's verdict adds up its checks
(gankit/judging/checking.py and grader.py), tested without a student process."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from gankit.judging.checking import (
    CheckFailed,
    Probe,
    derive_seed,
    graded,
    is_float_array,
    is_python_float,
    is_tuple_of_floats,
    no_warnings,
    raises,
    require,
    same_values,
)
from gankit.judging.codec import Seeded, encode_result
from gankit.judging.grader import CellVerdict, CheckResult
from gankit.judging.outcome import Outcome

FEEDBACK = {"tried": "f on a probe", "expected": "the right values", "hint": "look again"}


def _got(value) -> Outcome:
    """What a student's function returning ``value`` looks like to the grader."""
    if isinstance(value, float):
        return Outcome("float", value)
    return Outcome("ndarray", np.asarray(value, dtype=float))


def _verdict(got, want, **options) -> CheckFailed | None:
    """The failure ``same_values`` raises for ``got`` against ``want``, or None if it passes."""
    try:
        same_values(_got(got), want, **FEEDBACK, **options)
    except CheckFailed as failure:
        return failure
    return None


@pytest.mark.parametrize(
    ("got", "want"),
    [
        (1.0 + 1e-7, 1.0),  # relative error 1e-7: a thousandth of the way to a looser 1e-6
        (3e-12 + 2e-10, 3e-12),  # near 0 the absolute tolerance (1e-12) decides
        ([0.5, 0.25 * (1 + 1e-8)], [0.5, 0.25]),
    ],
)
def test_a_value_off_by_more_than_the_default_tolerance_fails(got, want):
    """The default tolerances are rtol 1e-9 and atol 1e-12: anything off by more fails."""
    assert _verdict(got, want) is not None


def test_a_value_within_the_default_tolerance_passes():
    """Float rounding (a relative 1e-12) is no mistake."""
    assert _verdict(1.0 + 1e-12, 1.0) is None
    assert _verdict([0.5, 2.0 * (1 - 1e-12)], [0.5, 2.0]) is None


@pytest.mark.parametrize(("got", "want"), [([2.0], 2.0), ([2.0, 2.0, 2.0], [2.0]), ([[1.0, 2.0]], [1.0, 2.0])])
def test_an_answer_of_another_shape_fails_even_where_it_would_broadcast_to_the_right_values(got, want):
    """Equal values broadcast to the expected shape are still the wrong answer."""
    assert _verdict(got, want) is not None


def test_the_feedback_tells_different_kinds_of_difference_apart():
    """A sign error, a nan, an unexpected nonzero and a plain wrong value each read differently,
    as do arrays with different counts of wrong values."""
    scalars = {
        "opposite sign": _verdict(-2.0, 2.0),
        "wrong": _verdict(3.0, 2.0),
        "nan": _verdict(float("nan"), 2.0),
        "nonzero": _verdict(1.0, 0.0),
    }
    arrays = {
        "one wrong": _verdict([1.0, 2.0, 5.0], [1.0, 2.0, 3.0]),
        "two wrong": _verdict([1.0, 4.0, 5.0], [1.0, 2.0, 3.0]),
        "all negated": _verdict([-1.0, -2.0, -3.0], [1.0, 2.0, 3.0]),
    }
    words = {kind: failure.got for kind, failure in {**scalars, **arrays}.items()}
    assert len(set(words.values())) == len(words), words


def _results(*passed: bool, structural: tuple[bool, ...] = ()) -> list[CheckResult]:
    kinds = structural or (False,) * len(passed)
    return [
        CheckResult(f"check {i}", 1.0, structural=kind, failure=None if ok else CheckFailed("t", "e", "g", "h"))
        for i, (ok, kind) in enumerate(zip(passed, kinds, strict=True))
    ]


@pytest.mark.parametrize(("passed", "points"), [((True, False, False), 1.0), ((True, True, False), 2.0)])
def test_a_cells_score_is_its_points_split_by_weight_to_four_decimals(passed, points):
    """One or two of three equal checks earn a third or two thirds of the points, not a rounding of them."""
    verdict = CellVerdict("cell", points, _results(*passed))
    assert verdict.score == pytest.approx(points * sum(passed) / 3, abs=1e-4)


def test_a_check_that_crashed_earns_nothing_and_says_it_could_not_run():
    """A bug in a check is the grader's, but it must never hand out points."""
    crashed = CheckResult("crashed check", 1.0, internal_error="ZeroDivisionError: division by zero")
    verdict = CellVerdict("cell", 2.0, [*_results(True), crashed])
    assert not crashed.passed
    assert verdict.score == pytest.approx(1.0)
    assert "could not run" in verdict.feedback()


def test_a_seed_is_the_first_eight_bytes_of_the_parts_sha256_halved_so_regrades_draw_the_same():
    """Seeds must never change (a regrade would draw other inputs): SHA-256 of the NUL-joined parts,
    its first 8 bytes big-endian, shifted right once (63 bits)."""
    for parts in [("gan", "ex1", "ada", "test_share"), ("ab", "c"), ("a", "bc"), ("",)]:
        digest = hashlib.sha256("\0".join(parts).encode()).digest()
        assert derive_seed(*parts) == int.from_bytes(digest[:8], "big") // 2
    assert derive_seed("ab", "c") != derive_seed("a", "bc")


def test_a_probe_draws_from_its_seed_and_remembers_what_it_drew():
    """A probe's inputs are numpy's default generator from the seed, recorded so tests can look for them."""
    probe, rng = Probe(7), np.random.default_rng(7)
    drawn = probe.uniform(-2.0, 3.0, (2, 2))
    assert drawn.tolist() == rng.uniform(-2.0, 3.0, (2, 2)).tolist()
    assert probe.values == drawn.ravel().tolist()
    assert probe.choice(["a", "b", "c", "d"]) == "abcd"[int(rng.integers(4))]
    assert probe.generator() == Seeded(int(rng.integers(2**62)))
    assert probe.uniform(1.0, 2.0) == rng.uniform(1.0, 2.0) and len(probe.values) == 5


def test_graded_marks_a_check_with_its_cell_weight_kind_and_id():
    """Unless told otherwise a check weighs 1 and checks values (it is not structural)."""

    @graded("cell_a", check_id="id_a")
    def test_plain(student, reference, probe):
        """A plain check."""

    @graded("cell_b", 2.5, True, check_id="id_b")
    def test_form(student, reference, probe):
        """A structural check."""

    assert (test_plain.cell, test_plain.weight, test_plain.structural, test_plain.check_id) == (
        "cell_a",
        1.0,
        False,
        "id_a",
    )
    assert (test_form.cell, test_form.weight, test_form.structural, test_form.check_id) == ("cell_b", 2.5, True, "id_b")


def test_the_feedback_lists_what_was_tried_expected_and_got_with_a_mistake_only_when_one_is_named():
    """Each field on its own line, indented as asked; the likely mistake only when there is one."""
    plain = CheckFailed("tried this", "that", "something else", "think again").text(indent="  ")
    named = CheckFailed("tried this", "that", "something else", "think again", "a sign error").text()
    assert plain.splitlines() == [
        "  tried:    tried this",
        "  expected: that",
        "  got:      something else",
        "  hint:     think again",
    ]
    assert "likely mistake: a sign error" in named.splitlines()


def test_an_error_or_no_numbers_fails_and_a_reference_without_numbers_is_the_graders_bug():
    """A student's error or non-numeric answer is a failed check; a reference without numbers raises."""
    error = Outcome("error", error_type="ZeroDivisionError")
    with pytest.raises(CheckFailed, match="an error instead of a result"):
        same_values(error, 1.0, **FEEDBACK)
    with pytest.raises(CheckFailed, match="not numbers"):
        same_values(Outcome("str", "0.5"), 0.5, **FEEDBACK)
    with pytest.raises(RuntimeError):
        same_values(_got(0.5), Outcome("str", "0.5"), **FEEDBACK)


def test_a_mistake_is_named_only_when_exactly_one_known_mistake_gives_the_answer():
    """Values matching one named mistake name it; matching two, or none, name nothing."""
    want = [1.0, 2.0]
    mistakes = {"negated": [-1.0, -2.0], "doubled": [2.0, 4.0], "zero": [0.0, 0.0], "also zero": [0.0, 0.0]}
    assert _verdict([-1.0, -2.0], want, mistakes=mistakes).mistake == "negated"
    assert _verdict([2.0, 4.0 * (1 + 1e-8)], want, mistakes=mistakes).mistake == "doubled"
    assert _verdict([0.0, 0.0], want, mistakes=mistakes).mistake is None
    assert _verdict([5.0, 5.0], want, mistakes=mistakes).mistake is None
    assert _verdict([-1.0], [1.0], mistakes={"negated": [-1.0, -1.0]}) is not None


def test_python_float_and_the_other_comparisons_fail_exactly_when_they_should():
    """``python_float``, ``is_python_float``, ``no_warnings``, ``raises`` and ``require``."""
    assert _verdict(0.5, 0.5, python_float=True) is None
    with pytest.raises(CheckFailed, match="float"):
        same_values(Outcome("numpy.float64", 0.5), 0.5, python_float=True, **FEEDBACK)
    same_values(Outcome("numpy.float64", 0.5), 0.5, **FEEDBACK)
    is_python_float(Outcome("float", 0.5), tried="t")
    with pytest.raises(CheckFailed):
        is_python_float(Outcome("ndarray", np.array(0.5)), tried="t")
    no_warnings(Outcome("float", 0.5), tried="t", hint="h")
    with pytest.raises(CheckFailed, match="RuntimeWarning"):
        no_warnings(Outcome("float", 0.5, warnings=("RuntimeWarning: divide by zero",)), tried="t", hint="h")
    raises(Outcome("error", error_type="ValueError"), "ValueError", tried="t", hint="h")
    for got in (Outcome("float", 0.5), Outcome("error", error_type="TypeError")):
        with pytest.raises(CheckFailed):
            raises(got, "ValueError", tried="t", hint="h")
    require(True, tried="t", expected="e", got="g", hint="h")
    with pytest.raises(CheckFailed) as failed:
        require(False, tried="t", expected="e", got="g", hint="h", mistake="m")
    assert (failed.value.got, failed.value.mistake) == ("g", "m")


def _words(got, want) -> str:
    return _verdict(got, want).got


def test_the_same_kind_of_difference_reads_the_same_and_a_sign_error_says_so():
    """Feedback depends on the kind of difference, not on the (secret) values: a sign error
    mentions the sign whatever the signs are, a plain wrong value never does."""
    for flipped in ([-2.0, 2.0], [2.0, -2.0], [[1.0, -2.0], [1.0, 2.0]], [[-1.0, -2.0], [1.0, 2.0]]):
        assert "sign" in _words(*flipped), flipped
    for wrong in ([3.0, 2.0], [-5.0, -2.0], [[1.0, 5.0], [1.0, 2.0]], [[np.inf, 5.0], [1.0, 2.0]]):
        assert "sign" not in _words(*wrong), wrong
    assert _words(3.0, 2.0) == _words(-5.0, -2.0) != _words(1.0, 0.0)
    assert _words([np.inf, -2.0], [1.0, 2.0]) != _words([np.inf, 5.0], [1.0, 2.0])
    # nan where nan is expected is right; nan where a number is expected is counted as such.
    assert _words([np.nan, 5.0], [np.nan, 3.0]) == _words([1.0, 5.0], [1.0, 3.0])
    assert _words([np.nan, 5.0], [1.0, 3.0]) != _words([7.0, 5.0], [1.0, 3.0])
    assert _words([1.0, 2.0], [np.nan, 3.0]) == _words([7.0, 2.0], [1.0, 3.0])


def test_nan_where_nan_is_expected_passes():
    """An undefined value the reference also leaves undefined is right."""
    assert _verdict([np.nan, 1.0], [np.nan, 1.0]) is None


def test_a_mistake_of_another_shape_or_only_near_the_answer_is_not_named():
    """A known mistake is named only for values of the same shape, within a millionth."""
    shapes = {"a scalar": [-1.0], "a column": [[-1.0], [-1.0]]}
    assert _verdict([-1.0, -1.0], [1.0, 1.0], mistakes=shapes).mistake is None
    assert _verdict([2.0, 4.5], [1.0, 2.0], mistakes={"doubled": [2.0, 4.0]}).mistake is None


def test_outcomes_read_from_the_wire_compare_by_value():
    """Kinds and error names arrive as new strings from JSON: equal text is what counts."""
    number = Outcome.from_reply(json.loads('{"value": {"type": "float", "value": 0.5}}'))
    error = Outcome.from_reply(json.loads('{"error": {"type": "ValueError", "message": ""}}'))
    is_python_float(number, tried="t")
    raises(error, "ValueError", tried="t", hint="h")
    with pytest.raises(CheckFailed):
        raises(Outcome("error", error_type="ZeroDivisionError"), "ValueError", tried="t", hint="h")


def test_the_counts_in_the_feedback_follow_the_check_and_nan_is_mentioned_only_when_returned():
    """Rounding noise is not counted as a wrong value, a small error is; nan only when there is one."""
    assert _words([1.0 + 1e-13, 5.0], [1.0, 2.0]) == _words([1.0, 5.0], [1.0, 2.0])
    assert _words([1.0, 2.5, 9.0], [1.0, 2.0, 3.0]) != _words([1.0, 2.0, 9.0], [1.0, 2.0, 3.0])
    assert "nan" in _words([np.nan, 5.0], [1.0, 3.0]) and "nan" not in _words([7.0, 5.0], [1.0, 3.0])


def test_a_mistake_is_matched_by_shape_nan_included_and_the_first_warning_is_named():
    """One mistake of another shape is not named, a nan mistake is; the first of two warnings is shown."""
    assert _verdict([-1.0, -1.0], [1.0, 1.0], mistakes={"a scalar": [-1.0]}).mistake is None
    assert _verdict([np.nan, np.nan], [1.0, 2.0], mistakes={"undefined": [np.nan, np.nan]}).mistake == "undefined"
    warned = Outcome("float", 0.5, warnings=("RuntimeWarning: divide by zero", "UserWarning: later"))
    with pytest.raises(CheckFailed) as failed:
        no_warnings(warned, tried="t", hint="h")
    assert "RuntimeWarning" in failed.value.got and "UserWarning" not in failed.value.got
    for other in (Outcome("bool", True), Outcome("error", error_type="ValueError"), Outcome("int", 1)):
        with pytest.raises(CheckFailed):
            is_python_float(other, tried="t")


def test_a_float_array_is_judged_by_its_shape_only_when_one_is_asked_for():
    """The form checks: any float64 ndarray passes without a shape, only the asked shape with one."""
    is_float_array(Outcome("ndarray", np.zeros((2, 3))), tried="t")
    is_float_array(Outcome("ndarray", np.zeros(3)), tried="t", shape=(3,))
    is_float_array(Outcome.from_reply(json.loads(json.dumps({"value": encode_result(np.zeros(3))}))), tried="t")
    with pytest.raises(CheckFailed) as failed:
        is_float_array(Outcome("ndarray", np.zeros(4)), tried="t", shape=(3,), shape_text="one per input")
    assert failed.value.got == "an array of another shape" and "of shape one per input" in failed.value.expected
    with pytest.raises(CheckFailed):
        is_float_array(Outcome("ndarray", np.zeros(2)), tried="t", shape=(3,))  # fewer values fail too
    for other in (
        Outcome("ndarray", np.zeros(3, dtype=np.float32)),
        Outcome("ndarray subclass matrix", np.zeros(3)),
        Outcome("tuple", (Outcome("float", 0.0),)),
        Outcome("error", error_type="ValueError"),
    ):
        with pytest.raises(CheckFailed):
            is_float_array(other, tried="t")


def test_a_tuple_of_floats_needs_the_count_and_plain_floats():
    two = Outcome("tuple", (Outcome("float", 0.5), Outcome("float", 1.5)))
    is_tuple_of_floats(two, 2, tried="t")
    # as a student's reply arrives: its type names are strings read from JSON, not the literals here
    is_tuple_of_floats(Outcome.from_reply(json.loads(json.dumps({"value": encode_result((0.5, 1.5))}))), 2, tried="t")
    for count, got in (
        (3, two),
        (2, Outcome("list", two.value)),
        (2, Outcome("tuple", (Outcome("float", 0.5), Outcome("numpy.float64", 1.5)))),
        (2, Outcome("tuple", None)),
    ):
        with pytest.raises(CheckFailed):
            is_tuple_of_floats(got, count, tried="t")


def test_a_failed_checks_own_message_never_holds_its_worked_answer():
    """The worked answer is shown only where feedback asks for it (after the due date)."""
    failed = CheckFailed("t", "e", "g", "h", worked="D*(x) = p / (p + q)")
    assert "worked answer" not in str(failed) and "worked answer" not in failed.text()
    assert "worked answer: D*(x) = p / (p + q)" in failed.text(worked=True)
