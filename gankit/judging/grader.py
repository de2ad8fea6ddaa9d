"""Hidden grading of one notebook: run the checks, reach a verdict per test cell, write feedback.

The student's code runs in a ``StudentProcess`` (see ``student_process``); the reference solutions run in
this process from the instructor's ``solutions/`` notebooks, through the same encode and decode
path. Every comparison happens here. Checks and reference solutions are loaded when the
``Grader`` is made, before any student code runs.
"""

from __future__ import annotations

import importlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import Any

from nbformat import NotebookNode

from gankit import NOTEBOOKS, notebooks, points
from gankit.judging.checking import CheckFailed, Probe, derive_seed
from gankit.judging.codec import decode_arg, encode_arg, encode_result
from gankit.judging.outcome import Outcome, public_name
from gankit.judging.student_process import CheckLimits, StudentProcess, prestart

log = logging.getLogger(__name__)
Check = Callable[..., None]


def checks_for(notebook: str) -> list[Check]:
    """The hidden checks of a notebook, in file order (module ``gankit.checks.test_<notebook>``)."""
    module = importlib.import_module(f"gankit.checks.test_{notebook}")
    checks = [fn for name, fn in vars(module).items() if name.startswith("test_") and hasattr(fn, "cell")]
    ids = [check.check_id for check in checks]
    if len(set(ids)) != len(ids):  # two checks drawing the same probes would test the same inputs
        raise ValueError(f"hidden checks of {notebook} share a check_id: {sorted(i for i in ids if ids.count(i) > 1)}")
    return checks


class StudentCalls:
    """``student.f(*args)``: call ``f`` in the student's process and get an ``Outcome``."""

    def __init__(self, process: StudentProcess):
        self._process = process

    def __getattr__(self, function: str) -> Callable[..., Outcome]:
        def call(*args: Any, **kwargs: Any) -> Outcome:
            reply = self._process.call(
                function,
                [encode_arg(a) for a in args],
                {k: encode_arg(v) for k, v in kwargs.items()},
            )
            return Outcome.from_reply(reply)

        return call


class ReferenceCalls:
    """``reference.f(*args)``: the model solution, called the same way a student's code is."""

    def __init__(self, namespace: dict[str, Any]):
        self._namespace = namespace

    def __getattr__(self, function: str) -> Callable[..., Outcome]:
        def call(*args: Any, **kwargs: Any) -> Outcome:
            # The same JSON round trip as for a student: arguments decoded by the runner's own code.
            request = json.loads(
                json.dumps(
                    {
                        "args": [encode_arg(a) for a in args],
                        "kwargs": {k: encode_arg(v) for k, v in kwargs.items()},
                    }
                )
            )
            value = self._namespace[function](
                *[decode_arg(a) for a in request["args"]],
                **{k: decode_arg(v) for k, v in request["kwargs"].items()},
            )
            return Outcome.from_reply(json.loads(json.dumps({"value": encode_result(value)}, allow_nan=False)))

        return call


@dataclass
class CheckResult:
    """The outcome of one check."""

    name: str
    weight: float
    _: KW_ONLY  # the rest by name: a field added later cannot take another's place
    structural: bool = False  # counts only when the cell's value checks all pass
    form: bool = False  # the documented form: a quarter of the cell's points (structural too)
    failure: CheckFailed | None = None
    internal_error: str | None = None
    probe_values: list[float] = field(default_factory=list)  # secret: never shown to the student

    @property
    def passed(self) -> bool:
        return self.failure is None and self.internal_error is None


@dataclass
class CellVerdict:
    """The trusted result for one autograded test cell."""

    grade_id: str
    points: float
    results: list[CheckResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def values_right(self) -> bool:
        """Whether every value check passed (only then do structural checks count)."""
        return all(r.passed for r in self.results if not r.structural)

    def counts(self, result: CheckResult) -> bool:
        """Whether ``result`` earns its weight: it passed, and is a value check or the values are right."""
        return result.passed and (self.values_right or not result.structural)

    def weight_of(self, result: CheckResult) -> float:
        """A check's weight in this cell; the form checks share a quarter of the cell, whatever their
        declared weight (the policy of docs/student-api.md: a wrong form costs exactly that quarter)."""
        if not result.form:
            return result.weight
        others = sum(r.weight for r in self.results if not r.form)
        forms = sum(1 for r in self.results if r.form)
        return others / 3 / forms if others else 1.0

    @property
    def score(self) -> float:
        total = sum(self.weight_of(r) for r in self.results)
        earned = sum(self.weight_of(r) for r in self.results if self.counts(r))
        return round(self.points * earned / total, 4) if total else 0.0

    def summary(self) -> dict[str, Any]:
        """Plain data about this verdict: score and, per check, whether it passed and why not."""
        return {
            "score": self.score,
            "points": self.points,
            "checks": [
                {
                    "name": r.name,
                    "passed": r.passed,
                    "structural": r.structural,
                    "form": r.form,
                    "mistake": r.failure.mistake if r.failure else None,
                    "internal_error": r.internal_error is not None,
                }
                for r in self.results
            ],
        }

    def share(self, result: CheckResult) -> float:
        """The points of this cell that ``result`` is worth (the cell's points split by weight)."""
        total = sum(self.weight_of(r) for r in self.results)
        return self.points * self.weight_of(result) / total if total else 0.0

    def feedback(self, worked: bool = False) -> str:
        """The cell's feedback; ``worked`` adds each failed check's worked answer (the right
        result, stated), which a course shows only after the due date."""
        passed = sum(r.passed for r in self.results)
        lines = [
            f"Hidden checks: {passed} of {len(self.results)} passed, "
            f"{points(self.score)} of {points(self.points)} points.",
            "(These checks use inputs drawn for you alone; they decide this cell's score, "
            "each worth the points shown beside it.)",
            "",
        ]
        for result in self.results:
            worth = points(self.share(result))
            earned = worth if self.counts(result) else 0
            lines.append(f"{'✓' if result.passed else '✗'} {result.name} ({earned} of {worth} points)")
            if result.passed and result.structural and not self.values_right:
                lines.append("    (this check counts once the values checked above are right)")
            if result.failure is not None:
                lines.append(result.failure.text(indent="    ", worked=worked))
            elif result.internal_error:
                lines.append(
                    "    this check could not run (a problem on the grader's side, not yours); "
                    "your instructor can see why in the grading log"
                )
        lines.extend(self.notes)
        return "\n".join(lines)


def _check_name(check: Check) -> str:
    doc = (check.__doc__ or check.__name__).strip().splitlines()[0]
    return doc.rstrip(".")


def unjudgeable(error: BaseException) -> CheckFailed:
    """The failure of a check that the student's values broke (a number past a float's range, a
    reply nested too deep): the check runs with the model answer in their place, so it is theirs."""
    return CheckFailed(
        "the values your code returned for this check",
        "values of the form the exercise asks for, which can be compared",
        f"values that could not be judged ({public_name(type(error).__name__, 'an error')} while reading them)",
        "return plain numbers of the type and shape asked for (a float, not an integer too large for one)",
    )


def out_of_time(budget: int) -> CheckFailed:
    """The failure of a check that did not run because the notebook's time budget was spent."""
    return CheckFailed(
        "nothing: this check did not run",
        "the notebook's code and checks to finish within its time budget",
        f"the time budget of {budget} seconds for grading this notebook ran out before this check",
        "make slow cells faster (a correct notebook is graded in seconds) and remove endless loops",
    )


class Grader:
    """Hidden grading for one assignment of one course directory."""

    def __init__(self, course: Path, assignment: str, sandbox: bool = True, limits: CheckLimits | None = None):
        self.course, self.assignment, self.sandbox = course, assignment, sandbox
        self.limits = limits or CheckLimits()
        source = course / "source" / assignment
        solutions = course / "solutions" / assignment
        self.modules = {"gan_checks": (source / "gan_checks.py").read_text(encoding="utf-8")}
        self.checks = {name: checks_for(name) for name in NOTEBOOKS}
        self.references = {name: notebooks.load_functions(solutions / f"{name}.ipynb") for name in NOTEBOOKS}

    def prestart(self, student_id: str | None = None) -> None:
        """Have the process ready that the next ``grade`` for ``student_id`` will run the student's
        code in (see ``student_process.prestart``): called before the notebook's kernel runs."""
        prestart(self.limits, self.sandbox, student_id)

    def grade(
        self, nb: NotebookNode, notebook: str, student_id: str, deadline: tuple[float, int] | None = None
    ) -> dict[str, CellVerdict]:
        """Verdicts for every autograded test cell of ``nb`` (a student's ``notebook``).

        ``deadline`` is the notebook's time budget: (when it runs out, on ``time.monotonic()``, and
        its length in seconds). Checks that would start after it fail, saying so.
        """
        return self.grade_many(nb, notebook, [student_id], deadline)[student_id]

    def grade_many(
        self,
        nb: NotebookNode,
        notebook: str,
        student_ids: list[str],
        deadline: tuple[float, int] | None = None,
    ) -> dict[str, dict[str, CellVerdict]]:
        """``grade`` for the same notebook as if each of ``student_ids`` had submitted it: one
        process runs the code, each id gets its own probes (how the kit shows that the same code
        gets the same score whoever submits it)."""
        points = notebooks.graded_test_points(nb)
        cells = notebooks.runnable_sources(nb)
        ends = deadline[0] if deadline else None
        every: dict[str, dict[str, CellVerdict]] = {}
        owner = student_ids[0] if len(student_ids) == 1 else None  # whose later notebooks may reuse the server
        with StudentProcess(cells, self.modules, self.limits, self.sandbox, deadline=ends, student=owner) as process:
            student = StudentCalls(process)
            for student_id in student_ids:
                every[student_id] = self._run_checks(student, notebook, student_id, points, deadline)
            broken = [
                f"- the cell starting `{cells[i].strip().splitlines()[0][:60] if cells[i].strip() else ''}` "
                f"stopped with {error}"
                for i, error in sorted(process.cell_errors.items())
            ]
        for verdicts in every.values():
            for verdict in verdicts.values():
                if not verdict.results:
                    verdict.notes.append(
                        "No hidden check covers this cell, so it cannot earn points; tell your instructor."
                    )
                    log.error("no hidden check covers cell %s of %s", verdict.grade_id, notebook)
                elif broken and verdict.score < verdict.points:
                    verdict.notes += ["", "While your code was loaded:", *broken]
        return every

    def _run_checks(
        self,
        student: StudentCalls,
        notebook: str,
        student_id: str,
        points: dict[str, float],
        deadline: tuple[float, int] | None,
    ) -> dict[str, CellVerdict]:
        verdicts = {grade_id: CellVerdict(grade_id, float(p)) for grade_id, p in points.items()}
        reference = ReferenceCalls(self.references[notebook])
        for check in self.checks.get(notebook, []):
            verdict = verdicts.get(check.cell)
            if verdict is None:
                continue  # a test cell the student's notebook lacks scores nothing anyway
            probe = Probe(derive_seed(self.assignment, notebook, student_id, check.check_id))
            result = CheckResult(
                _check_name(check),
                check.weight,
                structural=getattr(check, "structural", False),
                form=getattr(check, "form", False),
                probe_values=probe.values,
            )
            if deadline and time.monotonic() >= deadline[0]:
                result.failure = out_of_time(deadline[1])
                verdict.results.append(result)
                continue
            try:
                check(student, reference, probe)
            except CheckFailed as failure:
                result.failure = failure
            except Exception as exc:  # noqa: BLE001 - never hands out points, whoever's fault it is
                if self._runs_on_the_model_answer(check, reference, notebook, student_id):
                    result.failure = unjudgeable(exc)  # what differs is the student's values
                    log.info("hidden check %s could not judge %s's values: %s", check.__name__, student_id, exc)
                else:
                    result.internal_error = f"{type(exc).__name__}: {exc}"
                    log.error("hidden check %s failed to run for %s: %s", check.__name__, student_id, exc)
            verdict.results.append(result)
        return verdicts

    def _runs_on_the_model_answer(
        self, check: Check, reference: ReferenceCalls, notebook: str, student_id: str
    ) -> bool:
        """Whether ``check`` runs to a verdict with the model answer in the student's place and the
        same probes: then an error it raised on the student's values came from those values."""
        try:
            check(reference, reference, Probe(derive_seed(self.assignment, notebook, student_id, check.check_id)))
        except CheckFailed:
            pass  # a verdict, even if an odd one: the check itself runs
        except Exception:  # noqa: BLE001 - the check is broken: the grader's side
            return False
        return True
