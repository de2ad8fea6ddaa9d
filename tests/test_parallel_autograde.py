"""The parallel autograde command writes exactly what serial `nbgrader autograde` writes."""

from __future__ import annotations

import shutil

import pytest

from gankit import ASSIGNMENT, NOTEBOOKS, notebooks, scores
from gankit.nbgrader_cli import run_nbgrader
from gankit.parallel_autograde import autograde_in_parallel

pytestmark = pytest.mark.slow


def _gradebook(course):
    return {student_id: scores.cell_scores(course, student_id) for student_id in scores.students(course)}


def _verdicts(course, student_id):
    """What the autograded test cells say, per notebook."""
    found = {}
    for name in NOTEBOOKS:
        path = course / "autograded" / student_id / ASSIGNMENT / f"{name}.ipynb"
        if path.exists():
            cells = notebooks.cells_by_grade_id(notebooks.read(path))
            found[name] = {
                gid: [dict(o) for o in c.get("outputs", [])] for gid, c in cells.items() if gid.startswith("correct_")
            }
    return found


def test_serial_nbgrader_autograde_gives_the_same_gradebook_as_the_parallel_run(cycle, tmp_path):
    """The course cycle grades in parallel; grading the same submissions serially changes nothing."""
    serial = tmp_path / "serial"
    shutil.copytree(cycle.course, serial, ignore=shutil.ignore_patterns("autograded", "feedback"))
    run_nbgrader(["autograde", ASSIGNMENT, "--force"], cwd=serial, check=False)
    assert _gradebook(serial) == _gradebook(cycle.course)
    for student_id in scores.students(serial):
        assert _verdicts(serial, student_id) == _verdicts(cycle.course, student_id), student_id


def test_a_worker_per_student_and_a_broken_submission_is_named_without_stopping_the_others(cycle, tmp_path):
    course = tmp_path / "course"
    shutil.copytree(cycle.course, course, ignore=shutil.ignore_patterns("autograded", "feedback"))
    broken = course / "submitted" / "ada" / ASSIGNMENT / f"{NOTEBOOKS[0]}.ipynb"
    broken.write_text("{ this is not a notebook")
    summary = autograde_in_parallel(course, ASSIGNMENT, workers=3, students=["ada", "ben", "dev"])
    assert [r.student_id for r in summary.results] == ["ada", "ben", "dev"]
    assert [r.student_id for r in summary.failed] == ["ada"]
    assert summary.failed[0].error
    assert _gradebook(course)["dev"] == _gradebook(cycle.course)["dev"]


def test_output_a_notebook_writes_past_its_kernel_cannot_confuse_the_workers(cycle, tmp_path):
    """A shell command in a student's notebook writes to the kernel's inherited stdout."""
    course = tmp_path / "course"
    shutil.copytree(cycle.course, course, ignore=shutil.ignore_patterns("autograded", "feedback"))
    path = course / "submitted" / "ada" / ASSIGNMENT / f"{NOTEBOOKS[1]}.ipynb"
    nb = notebooks.read(path)
    cell = notebooks.cells_by_grade_id(nb)["answer_value"]
    cell.source = 'import os\nos.system("echo not a reply; echo {}")\n' + cell.source
    path.write_text(notebooks.nbformat.writes(nb))
    summary = autograde_in_parallel(course, ASSIGNMENT, workers=1, students=["ada"])
    assert not summary.failed, summary.failed
    assert _gradebook(course)["ada"] == _gradebook(cycle.course)["ada"]
