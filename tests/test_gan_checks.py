"""The helpers behind the visible tests: every failure says what was expected, what came back
and a hint, and nothing reaches stderr."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
from paths import SOURCE

sys.path.insert(0, str(SOURCE))
import gan_checks  # noqa: E402  (lives beside the notebooks, released with them)

sys.path.remove(str(SOURCE))


def _message(call) -> str:
    with pytest.raises(gan_checks.CheckFailed) as failure:
        call()
    text = str(failure.value)
    assert "expected:" in text and "got:" in text and "hint:" in text
    return text


def test_check_close_passes_equal_values_and_nan_against_nan():
    gan_checks.check_close("equal", np.array([1.0, np.nan]), [1.0 + 1e-12, np.nan], "no hint needed")


def test_check_close_names_a_known_mistake():
    text = _message(lambda: gan_checks.check_close("D*", 3.0, 0.75, "a share", known={"a ratio": 3.0}))
    assert "likely cause: a ratio" in text and "0.75" in text and "3" in text


def test_check_close_reports_a_shape_mismatch_and_a_non_number():
    assert "shape (2,)" in _message(lambda: gan_checks.check_close("shape", [1.0, 2.0], [[1.0, 2.0]], "broadcast"))
    assert "a number" in _message(lambda: gan_checks.check_close("type", "text", 1.0, "return numbers"))


def test_check_raises_wants_the_named_error():
    gan_checks.check_raises("neg", lambda: (_ for _ in ()).throw(ValueError("no")), ValueError, "raise")
    assert "no error; returned 1" in _message(lambda: gan_checks.check_raises("neg", lambda: 1, ValueError, "raise"))
    assert "TypeError" in _message(lambda: gan_checks.check_raises("neg", lambda: len(1), ValueError, "raise"))


def test_no_warnings_turns_a_numpy_warning_into_a_failed_check_without_printing(capfd):
    def divide():
        with gan_checks.no_warnings("0/0"):
            np.array([0.0]) / np.array([0.0])

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        assert "RuntimeWarning" in _message(divide)
    assert capfd.readouterr().err == ""


def test_figure_guard_waits_for_stubs_and_reports_bugs_on_stdout(capfd):
    with gan_checks.figure_guard("a stub"):
        raise NotImplementedError
    with gan_checks.figure_guard("a bug"):
        raise ZeroDivisionError("boom")
    out, err = capfd.readouterr()
    assert "appears once the functions above are implemented" in out
    assert "ZeroDivisionError: boom" in out and err == ""


@pytest.mark.parametrize("got", [1.0 + 1e-6, 1.0 - 1e-6, 1e-9])
def test_check_close_fails_a_value_a_millionth_off(got):
    """The default tolerances are tight (rtol 1e-9, atol 1e-12): one part in a million is a
    different answer, and so is 1e-9 where 0 is wanted."""
    expected = 0.0 if got == 1e-9 else 1.0
    assert "likely cause" not in _message(lambda: gan_checks.check_close("close", got, expected, "tight"))


def test_check_close_names_the_first_known_mistake_that_matches_and_only_a_close_one():
    both = {"the first": 3.0, "the second": 3.0}
    assert "likely cause: the first" in _message(lambda: gan_checks.check_close("D*", 3.0, 0.75, "h", known=both))
    far = {"a ratio": 3.001}  # 1e-3 away: past known_atol (1e-9) and the relative 1e-6
    assert "likely cause" not in _message(lambda: gan_checks.check_close("D*", 3.0, 0.75, "h", known=far))
    shaped = {"a pair": [3.0, 3.0]}  # would broadcast to the value, but is of another shape
    assert "likely cause" not in _message(lambda: gan_checks.check_close("D*", 3.0, 0.75, "h", known=shaped))


def test_check_equal_passes_equal_values_and_fails_others_saying_both():
    gan_checks.check_equal("shape", (2, 3), (2, 3), "no hint needed")
    text = _message(lambda: gan_checks.check_equal("shape", (3, 2), (2, 3), "transpose"))
    assert "expected: (2, 3)" in text and "got:      (3, 2)" in text and "hint: transpose" in text


def test_check_raises_lets_a_stub_through_and_a_float_is_shown_in_full():
    """A stub's NotImplementedError is not a failed check: it reaches the test cell as the stub's own."""

    def stub():
        raise NotImplementedError

    with pytest.raises(NotImplementedError):
        gan_checks.check_raises("neg", stub, ValueError, "raise")
    text = _message(lambda: gan_checks.check_raises("neg", lambda: 0.1, ValueError, "raise"))
    assert "no error; returned 0.10000000000000001 (float)" in text


def test_no_warnings_lets_quiet_code_pass():
    with gan_checks.no_warnings("quiet"):
        np.array([1.0]) / np.array([2.0])


def test_figure_guard_closes_a_half_drawn_figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with gan_checks.figure_guard("a bug"):
        plt.figure()
        raise ZeroDivisionError("boom")
    assert plt.get_fignums() == []


def test_check_close_shows_arrays_to_twelve_digits_and_up_to_twelve_values():
    third = _message(lambda: gan_checks.check_close("v", np.array([1 / 3]), [0.5], "h"))
    assert "got:      [0.333333333333] (ndarray, shape (1,), dtype float64)" in third
    twelve = _message(lambda: gan_checks.check_close("v", np.arange(12.0), np.zeros(12), "h"))
    assert "11." in twelve and "..." not in twelve
    thirteen = _message(lambda: gan_checks.check_close("v", np.arange(13.0), np.zeros(13), "h"))
    assert "..." in thirteen and " 5. " not in thirteen


def test_check_close_fails_every_shape_that_is_not_the_expected_one_even_when_it_broadcasts():
    for got, expected in (([[1.0, 2.0]], [1.0, 2.0]), ([1.0, 2.0], [[1.0, 2.0]]), ([1.0], 1.0), (1.0, [1.0])):
        text = _message(lambda got=got, expected=expected: gan_checks.check_close("s", got, expected, "h"))
        assert f"expected: shape {np.shape(expected)}\n" in text and f"got:      shape {np.shape(got)}: " in text


def test_a_known_mistake_is_named_only_for_a_value_of_its_own_shape():
    pair = {"a ratio": [3.0, 1.0]}
    assert "likely cause: a ratio" in _message(
        lambda: gan_checks.check_close("D*", [3.0, 1.0], [0.75, 0.5], "h", known=pair)
    )
    scalar = {"a ratio": 3.0}  # [3, 3] broadcasts against it, but it is not that mistake's shape
    assert "likely cause" not in _message(
        lambda: gan_checks.check_close("D*", [3.0, 3.0], [0.75, 0.5], "h", known=scalar)
    )


def test_no_warnings_names_the_first_warning():
    def warn_twice():
        with gan_checks.no_warnings("two"):
            warnings.warn("first", RuntimeWarning, stacklevel=1)
            warnings.warn("second", UserWarning, stacklevel=1)

    text = _message(warn_twice)
    assert "RuntimeWarning: first" in text and "second" not in text


def test_a_known_mistake_is_named_within_a_millionth_nan_included():
    """A mistake's value computed another way differs in its last digits: within 1e-6 relative it
    is still that mistake; a NaN where the mistake has a NaN matches it."""
    near = _message(lambda: gan_checks.check_close("D*", 3.0 * (1 + 1e-7), 0.75, "h", known={"a ratio": 3.0}))
    assert "likely cause: a ratio" in near
    undefined = {"undefined at 0": [np.nan, 2.0]}
    text = _message(lambda: gan_checks.check_close("D*", [np.nan, 2.0], [0.5, 0.5], "h", known=undefined))
    assert "likely cause: undefined at 0" in text


def test_check_equal_compares_values_not_objects_nor_order():
    gan_checks.check_equal("shape", np.zeros((2, 3)).shape, (2, 3), "no hint needed")
    gan_checks.check_equal("list", [1, 2], [1, 2], "no hint needed")
    assert "got:      (2, 2)" in _message(lambda: gan_checks.check_equal("shape", (2, 2), (2, 3), "h"))
