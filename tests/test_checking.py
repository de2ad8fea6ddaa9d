"""The comparisons hidden checks are written with, and how a cell's verdict adds up its checks
(gankit/judging/checking.py and grader.py), tested without a student process."""

from __future__ import annotations

import numpy as np
import pytest

from gankit.judging.checking import CheckFailed, same_values
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
        CheckResult(f"check {i}", 1.0, kind, None if ok else CheckFailed("t", "e", "g", "h"))
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
