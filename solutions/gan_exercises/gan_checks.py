"""Helpers for the visible tests of the GAN exercises.

Every failed check raises ``CheckFailed`` with a message that says what was checked, what was
expected, what your function returned and a hint. Nothing here writes to stderr: warnings raised
by your code are caught and reported as a failed check instead.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Mapping

import numpy as np

__all__ = [
    "CheckFailed",
    "check_close",
    "check_equal",
    "check_raises",
    "figure_guard",
    "no_warnings",
]


class CheckFailed(AssertionError):
    """A visible test did not pass; the message explains why."""


def _show(value: object) -> str:
    if isinstance(value, np.ndarray):
        text = np.array2string(value, precision=12, threshold=12)
        return f"{text} (ndarray, shape {value.shape}, dtype {value.dtype})"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.17g} ({type(value).__name__})"
    return repr(value)


def _fail(what: str, expected: object, got: object, hint: str, diagnosis: str = "") -> None:
    lines = [
        f"Check failed: {what}",
        f"  expected: {expected if isinstance(expected, str) else _show(expected)}",
        f"  got:      {got if isinstance(got, str) else _show(got)}",
    ]
    if diagnosis:
        lines.append(f"  likely cause: {diagnosis}")
    lines.append(f"  hint: {hint}")
    # `from None` keeps the student's view to this one message.
    raise CheckFailed("\n".join(lines)) from None


def _as_float_array(got: object) -> np.ndarray | None:
    try:
        return np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        return None


def check_close(
    what: str,
    got: object,
    expected: object,
    hint: str,
    *,
    rtol: float = 1e-9,
    atol: float = 1e-12,
    known: Mapping[str, object] | None = None,
    known_atol: float = 1e-9,
) -> None:
    """Check that ``got`` equals ``expected`` (same shape, NaN matching NaN) within tolerances.

    ``known`` maps a description of a common mistake to the value that mistake produces, so the
    message can name it; ``known_atol`` is how close ``got`` must come to such a value.
    """
    expected_arr = np.asarray(expected, dtype=float)
    got_arr = _as_float_array(got)
    if got_arr is None:
        _fail(what, expected, got, hint + " (the result should be a number or an array of numbers)")
    if got_arr.shape != expected_arr.shape:
        _fail(
            what,
            f"shape {expected_arr.shape}",
            f"shape {got_arr.shape}: {_show(got)}",
            "check how your function broadcasts its inputs; " + hint,
        )
    if np.allclose(got_arr, expected_arr, rtol=rtol, atol=atol, equal_nan=True):
        return
    diagnosis = ""
    for mistake, value in (known or {}).items():
        value_arr = np.asarray(value, dtype=float)
        if value_arr.shape == got_arr.shape and np.allclose(
            got_arr, value_arr, rtol=1e-6, atol=known_atol, equal_nan=True
        ):
            diagnosis = mistake
            break
    _fail(what, expected, got, hint, diagnosis)


def check_equal(what: str, got: object, expected: object, hint: str) -> None:
    """Check exact equality of plain values such as shapes, types and tuples."""
    if got != expected:
        _fail(what, expected, got, hint)


def check_raises(what: str, call: Callable[[], object], error: type[BaseException], hint: str) -> None:
    """Check that ``call()`` raises ``error`` (a subclass counts)."""
    try:
        result = call()
    except error:
        return
    except NotImplementedError:
        raise
    except Exception as exc:  # the wrong kind of error is a failed check, not a crash
        _fail(what, f"{error.__name__} raised", f"{type(exc).__name__}: {exc}", hint)
    _fail(what, f"{error.__name__} raised", f"no error; returned {_show(result)}", hint)


@contextlib.contextmanager
def no_warnings(what: str) -> Iterator[None]:
    """Fail the check if the code inside warns (numpy's RuntimeWarning, for instance).

    Warnings are recorded rather than printed, so a passing check prints nothing to stderr.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    if caught:
        first = caught[0]
        _fail(
            what,
            "no warning",
            f"{first.category.__name__}: {first.message}",
            "a warning here usually means an operation outside its domain (a division by zero, "
            "a log of zero, a number too large for a float): find the inputs where it happens and "
            "give them the value the part's text asks for without computing the undefined operation",
        )


@contextlib.contextmanager
def figure_guard(what: str) -> Iterator[None]:
    """Draw a figure if the functions it needs work; otherwise say why and carry on.

    A figure cell must never stop the rest of the notebook from running.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a figure of half-finished code may warn: not the student's stderr
            yield
    except NotImplementedError:
        _close_figures()
        print(f"The figure of {what} appears once the functions above are implemented.")
    except Exception as exc:  # a figure is a picture of the student's code, bugs included
        _close_figures()
        print(f"The figure of {what} could not be drawn: {type(exc).__name__}: {exc}")


def _close_figures() -> None:
    """Drop a half-drawn figure so that it is not shown."""
    import matplotlib.pyplot as plt

    plt.close("all")
