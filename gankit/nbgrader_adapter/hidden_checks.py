"""nbgrader preprocessors that put the hidden checks in charge of every autograded test cell.

``gankit.nbgrader_adapter.pipeline.apply`` adds ``LoadHiddenChecks`` to ``Autograde.sanitize_preprocessors``
(so the checks and reference solutions are loaded before any student kernel runs) and ``HiddenChecks`` to
``Autograde.autograde_preprocessors`` after execution and before ``SaveAutoGrades``. For each test
cell, ``HiddenChecks`` replaces whatever the student's kernel printed with the hidden verdict: the
feedback as plain text and the score as a plain float, the form nbgrader reads as partial credit.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from nbformat import NotebookNode
from nbformat.v4 import new_output
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool, Float

from gankit import notebooks
from gankit.judging.grader import CellVerdict, Grader
from gankit.judging.student_process import CheckLimits
from gankit.nbgrader_adapter.faults import DEADLINE_KEY, FAULTS_KEY, UNREADABLE_KEY, fault
from gankit.sandbox.settings import Sandbox

VERDICTS_KEY = "gankit_hidden_checks"
WORKED_KEY = "gankit_worked_answers"  # set on a notebook whose feedback states worked answers
_graders: dict[tuple[str, str, bool, CheckLimits], Grader] = {}


def unreadable_note(reason: str) -> str:
    return (
        f"We could not grade the notebook you submitted: {reason}. Every cell of it scores 0 for now. "
        "Your file is kept exactly as you submitted it: ask your instructor, who can see it and grade it again."
    )


class HiddenChecks(NbGraderPreprocessor):
    """Score every autograded test cell from the hidden checks, run outside the student's kernel."""

    call_seconds = Float(10.0, help="Seconds one call of a student's function may take.").tag(config=True)
    setup_seconds = Float(20.0, help="Seconds all of a notebook's code may take to load.").tag(config=True)
    worked_answers = Bool(
        False,
        help="Add each failed check's worked answer (the right formula or form) to the feedback. "
        "Feedback that holds them is refused by generate_feedback before the assignment's due date.",
    ).tag(config=True)

    def grader(self, assignment: str) -> Grader:
        root = self.config.get("CourseDirectory", {}).get("root") or os.getcwd()
        settings = Sandbox(parent=self)
        sandbox = settings.enabled
        limits = CheckLimits(
            **vars(settings.limits()),
            setup_seconds=self.setup_seconds,
            call_seconds=self.call_seconds,
        )
        key = (str(Path(root).resolve()), assignment, sandbox, limits)
        if key not in _graders:
            _graders[key] = Grader(Path(key[0]), assignment, sandbox=sandbox, limits=limits)
        return _graders[key]

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        info = resources["nbgrader"]
        notebook, student = info["notebook"], info["student"]
        unreadable = nb.metadata.get(UNREADABLE_KEY)
        if unreadable:
            verdicts = {
                grade_id: CellVerdict(grade_id, float(points), notes=[unreadable_note(unreadable)])
                for grade_id, points in notebooks.graded_test_points(nb).items()
            }
        else:
            budget = Sandbox(parent=self).notebook_seconds
            deadline = resources.get(DEADLINE_KEY) or time.monotonic() + budget
            verdicts = self.grader(info["assignment"]).grade(nb, notebook, student, deadline=(deadline, budget))
        # Plain data for the class report (check names and diagnosed mistakes; no probe values).
        nb.metadata[VERDICTS_KEY] = {grade_id: verdict.summary() for grade_id, verdict in verdicts.items()}
        if self.worked_answers:
            nb.metadata[WORKED_KEY] = True
        else:
            nb.metadata.pop(WORKED_KEY, None)
        faults = list(nb.metadata.get(FAULTS_KEY, []))
        if unreadable:
            faults.insert(0, fault(notebook, "unreadable", unreadable))
        if faults:
            nb.metadata[FAULTS_KEY] = faults
        for cell in nb.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id not in verdicts:
                continue
            verdict = verdicts[grade_id]
            cell.outputs = [
                new_output("stream", name="stdout", text=verdict.feedback(worked=self.worked_answers)),
                new_output(
                    "execute_result",
                    data={"text/plain": f"{verdict.score:g}"},
                    execution_count=cell.get("execution_count"),
                ),
            ]
            self.log.info(
                "%s/%s %s: %g of %g points",
                student,
                notebook,
                grade_id,
                verdict.score,
                verdict.points,
            )
        return nb, resources


class LoadHiddenChecks(HiddenChecks):
    """Load checks and reference solutions while sanitizing, before any student kernel runs, and
    start the process the hidden checks will run the notebook's code in, while the kernel runs."""

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        info = resources["nbgrader"]
        self.grader(info["assignment"]).prestart(info["student"])
        return nb, resources
