"""What hidden checks are written with: the ``graded`` marker, per-student probes, and
comparisons that fail with feedback a student can learn from.

A check is a pytest-style function ``test_...(student, reference, probe)``. ``student.f(...)`` and
``reference.f(...)`` return ``Outcome`` objects; the check compares them (or compares the student
with analytic truth) and raises ``CheckFailed`` saying what was tried, what was expected, what came
back, the likely mistake and a hint. Feedback describes inputs and results in words and relative
terms, never by the probe or expected numbers, which stay secret.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from gankit.judging.codec import Seeded
from gankit.judging.outcome import Outcome, public_warning


class CheckFailed(AssertionError):
    """A hidden check did not pass; the fields become the student's feedback.

    ``expected``, ``hint`` and ``mistake`` guide without stating a graded result (they reach a
    student who may still resubmit). ``worked`` may state it (the formula, the right form): it is
    shown only when the course asks for worked answers (``HiddenChecks.worked_answers``), and
    feedback holding it is not generated before the due date (``feedback.MarkUngraded``).
    """

    def __init__(
        self,
        tried: str,
        expected: str,
        got: str,
        hint: str,
        mistake: str | None = None,
        worked: str | None = None,
    ):
        self.tried, self.expected, self.got, self.hint, self.mistake, self.worked = (
            tried,
            expected,
            got,
            hint,
            mistake,
            worked,
        )
        super().__init__(self.text())

    def text(self, indent: str = "", worked: bool = False) -> str:
        lines = [f"tried:    {self.tried}", f"expected: {self.expected}", f"got:      {self.got}"]
        if self.mistake:
            lines.append(f"likely mistake: {self.mistake}")
        lines.append(f"hint:     {self.hint}")
        if worked and self.worked:
            lines.append(f"worked answer: {self.worked}")
        return "\n".join(indent + line for line in lines)


def graded(
    cell: str, weight: float = 1.0, structural: bool = False, *, check_id: str, form: bool = False
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Mark a check as scoring the test cell with grade id ``cell``, with a relative ``weight``.

    ``check_id`` names the check for good: with the assignment, notebook and student id it seeds
    the check's probes, so it must never change once students have been graded (a regrade would
    draw other inputs); the function itself may be renamed freely.

    A ``structural`` check looks at the form of an answer (its type, shape, determinism, an error
    it raises, a property a constant also has) rather than its values: it earns its weight only
    when every value check of the same cell passes, so an answer that computes nothing earns 0.

    A ``form`` check (structural too) checks the form the part's text documents (a Python float,
    a tuple of floats, a float64 ndarray of a given shape). Whatever ``weight`` says, a cell's form
    checks share a quarter of its points: the one deduction for a right value in the wrong form
    or precision, the same in every part (docs/student-api.md).
    """

    def mark(check: Callable[..., None]) -> Callable[..., None]:
        check.cell = cell  # type: ignore[attr-defined]
        check.weight = weight  # type: ignore[attr-defined]
        check.structural = structural or form  # type: ignore[attr-defined]
        check.form = form  # type: ignore[attr-defined]
        check.check_id = check_id  # type: ignore[attr-defined]
        return check

    return mark


def derive_seed(*parts: str) -> int:
    """A 63-bit seed from text: the same for a regrade, different for another student."""
    return int.from_bytes(hashlib.sha256("\0".join(parts).encode()).digest()[:8], "big") >> 1


class Probe:
    """Random inputs for one check of one student, remembered so tests can prove they stay secret."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.values: list[float] = []

    def _keep(self, values: Any) -> Any:
        self.values.extend(np.ravel(values).astype(float).tolist())
        return values

    def uniform(self, low: float, high: float, size: int | tuple[int, ...] | None = None) -> Any:
        return self._keep(self.rng.uniform(low, high, size))

    def choice(self, options: list[Any]) -> Any:
        return options[int(self.rng.integers(len(options)))]

    def generator(self) -> Seeded:
        """A seeded ``numpy.random.Generator`` for the student's function to draw from."""
        return Seeded(int(self.rng.integers(2**62)))


# -- comparisons ------------------------------------------------------------------------------


def _fail_if_raised(got: Outcome, tried: str, expected: str, hint: str, worked: str | None = None) -> None:
    if got.raised:
        raise CheckFailed(tried, expected, f"an error instead of a result: {got.describe()}", hint, worked=worked)


# Differences below the smallest normal float are never a mistake: a value that underflowed to 0
# where the exact one is subnormal (or the reverse) is as right as float64 arithmetic allows.
TINY = float(np.finfo(float).tiny)


def _close(got: np.ndarray, want: np.ndarray, rtol: float, atol: float) -> np.ndarray:
    """Elementwise: ``got`` equals ``want`` within the tolerances (nan matching nan)."""
    with np.errstate(all="ignore"):
        return np.isclose(got, want, rtol=rtol, atol=max(atol, TINY), equal_nan=True)


def _difference(got: np.ndarray, want: np.ndarray, rtol: float, atol: float) -> str:
    """How two arrays differ, in words: counts and directions, never sizes (the student's code
    chooses ``got``, so any ratio or distance to ``want`` would give the expected values away).

    It counts with the tolerances the verdict used (``_close``), so the words and the verdict come
    from one comparison."""
    bad = ~_close(got, want, rtol, atol)
    finite = bad & np.isfinite(got) & np.isfinite(want)
    flipped = bool(finite.any()) and bool(np.all(np.sign(got[finite]) == -np.sign(want[finite])))
    if got.ndim == 0:
        if np.isnan(got):
            return "nan"
        if np.isnan(want):
            return "a number where none was expected"
        if want == 0:
            return "a nonzero value where 0 was expected"
        return "a value with the opposite sign" if flipped else "a different value"
    nan_where_finite = int(np.sum(np.isnan(got) & ~np.isnan(want)))
    text = f"{int(bad.sum())} of {bad.size} values wrong"
    if nan_where_finite:
        text += f", {nan_where_finite} of them nan"
    if flipped:
        text += ", each with the opposite sign"
    return text


def same_values(
    got: Outcome,
    want: np.ndarray | Outcome | float,
    *,
    tried: str,
    expected: str,
    hint: str,
    mistakes: Mapping[str, Any] | None = None,
    rtol: float = 1e-9,
    atol: float = 1e-12,
    python_float: bool = False,
    worked: str | None = None,
) -> None:
    """``got`` must equal ``want`` (shape, NaN where NaN) within tolerances.

    ``mistakes`` maps a named mistake to the values it would produce, computed here from the
    probes, so that the feedback can name it. ``python_float`` also requires a plain ``float``.
    ``worked`` states the right result, for courses that show worked answers after the due date.
    """
    _fail_if_raised(got, tried, expected, hint, worked)
    target = want.as_array() if isinstance(want, Outcome) else np.asarray(want, dtype=float)
    if target is None:
        raise RuntimeError(f"the reference gave no numbers for: {tried}")
    values = got.as_array()
    if values is not None and single_precision(got):
        # Judged in values to the precision it was computed in; its form check costs the quarter.
        finite = np.abs(target[np.isfinite(target)]) if values.shape == target.shape else np.zeros(0)
        scale = float(finite.max()) if finite.size else 0.0
        rtol, atol = max(rtol, SINGLE_RTOL), max(atol, SINGLE_ATOL, SINGLE_RTOL * scale)
    if values is None:
        raise CheckFailed(tried, expected, f"{got.describe()}, not numbers", hint, worked=worked)
    if values.shape != target.shape:
        raise CheckFailed(tried, f"{expected}, one value per input", "an array of another shape", hint, worked=worked)
    if not bool(np.all(_close(values, target, rtol, atol))):
        # A mistake is named only when the evidence is specific to it: exactly one known mistake
        # gives these values (a constant 0 may match several, and then none is named).
        known = {name: np.asarray(wrong, dtype=float) for name, wrong in (mistakes or {}).items()}
        matches = [
            name
            for name, wrong in known.items()
            if wrong.shape == values.shape and np.allclose(values, wrong, rtol=1e-6, atol=1e-9, equal_nan=True)
        ]
        raise CheckFailed(
            tried,
            expected,
            _difference(values, target, rtol, atol),
            hint,
            matches[0] if len(matches) == 1 else None,
            worked=worked,
        )
    if python_float:
        is_python_float(got, tried=tried)


# A result computed in single precision carries about 7 significant digits: its values are judged
# to that precision, and its form check (float64 expected) costs the deduction for the form.
SINGLE_RTOL, SINGLE_ATOL = 1e-5, 1e-30


def single_precision(got: Outcome) -> bool:
    """Whether ``got`` holds float32 or float16 numbers (an array, a numpy scalar, or inside a tuple)."""
    if got.kind in ("numpy.float32", "numpy.float16"):
        return True
    if got.kind.startswith("ndarray") and isinstance(got.value, np.ndarray):
        return got.value.dtype in (np.float32, np.float16)
    if got.kind in ("tuple", "list") and got.value:
        return any(single_precision(item) for item in got.value)
    return False


FORM = "the form this part documents, worth a quarter of its points"


def _form_failed(tried: str, wanted: str, got: Outcome, hint: str) -> CheckFailed:
    if single_precision(got):
        hint = "compute in float64 (numpy's default): " + hint
    return CheckFailed(tried, f"{wanted} ({FORM})", got.describe(), hint)


def is_python_float(got: Outcome, *, tried: str) -> None:
    """The result must be a plain Python ``float`` (not a numpy scalar or a 0-d array)."""
    if got.raised:
        raise CheckFailed(tried, f"a Python float ({FORM})", got.describe(), "convert the result with float(...)")
    if got.kind != "float":
        raise _form_failed(tried, "a Python float", got, "convert the result with float(...)")


def is_float_array(
    got: Outcome, *, tried: str, shape: tuple[int, ...] | None = None, shape_text: str | None = None
) -> None:
    """The result must be a numpy ndarray of float64 (of ``shape`` if given, described to the
    student as ``shape_text`` when the shape would show a probe)."""
    wanted = "a numpy ndarray of float64" + (f" of shape {shape_text or shape}" if shape is not None else "")
    hint = "build the result as a numpy array of floats and return the array itself (not a list)"
    if got.raised or got.kind != "ndarray" or not isinstance(got.value, np.ndarray):  # a subclass is not plain
        raise _form_failed(tried, wanted, got, hint)
    if got.value.dtype != np.float64:
        raise _form_failed(tried, wanted, got, hint)
    if shape is not None and got.value.shape != shape:
        raise CheckFailed(tried, f"{wanted} ({FORM})", "an array of another shape", hint)


def is_tuple_of_floats(got: Outcome, count: int, *, tried: str) -> None:
    """The result must be a tuple of ``count`` Python floats."""
    if not (got.kind == "tuple" and got.value is not None and len(got.value) == count
            and all(item.kind == "float" for item in got.value)):  # fmt: skip
        raise _form_failed(tried, f"a tuple of {count} Python floats", got, "return (float(x), float(y))")


def no_warnings(got: Outcome, *, tried: str, hint: str) -> None:
    """The call must not have warned (numpy prints warnings to stderr, which nbgrader punishes)."""
    if got.warnings:
        raise CheckFailed(tried, "no warning", public_warning(got.warnings[0]), hint)


def raises(got: Outcome, error: str, *, tried: str, hint: str) -> None:
    """``got`` must be the error ``error`` (by class name)."""
    if not got.raised:
        raise CheckFailed(tried, f"{error} raised", f"no error: {got.describe()} came back", hint)
    if got.error_type != error:
        raise CheckFailed(tried, f"{error} raised", got.describe(), hint)


def require(condition: bool, *, tried: str, expected: str, got: str, hint: str, mistake: str | None = None) -> None:
    """A plain condition with feedback."""
    if not condition:
        raise CheckFailed(tried, expected, got, hint, mistake)
