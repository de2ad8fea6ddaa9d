"""release/ and solutions/ are exactly what nbgrader generates from source/, and the generated
assignment grades correct code with full marks and the untouched release with zero."""

from __future__ import annotations

import shutil

import pytest
from paths import RELEASE

from gankit import ASSIGNMENT, NOTEBOOKS, ROOT, notebooks, scores
from gankit.goldens import GENERATED, copy_course, regenerate
from gankit.nbgrader_cli import run_nbgrader
from gankit.simulated_class import WRITTEN_ANSWERS, Student, model_answers

IGNORED = {"__pycache__", ".ipynb_checkpoints"}  # what running a notebook leaves, and git ignores


def _files(folder):
    return {
        path.relative_to(folder): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not IGNORED & set(path.relative_to(folder).parts)
    }


@pytest.mark.seconds  # two nbgrader commands: 10 s
def test_committed_release_and_solutions_match_a_fresh_generation(tmp_path):
    regenerate(tmp_path)
    for folder in GENERATED:
        fresh, committed = _files(tmp_path / folder), _files(ROOT / folder)
        assert sorted(fresh) == sorted(committed), f"{folder}/ has different files: run `make goldens`"
        drifted = [str(path) for path in fresh if fresh[path] != committed[path]]
        assert not drifted, f"{folder}/ drifted from source/ in {drifted}: run `make goldens`"


def test_solutions_keep_the_model_answers_and_the_release_does_not():
    for name in NOTEBOOKS:
        released = (RELEASE / f"{name}.ipynb").read_text()
        solution = (ROOT / "solutions" / ASSIGNMENT / f"{name}.ipynb").read_text()
        assert "BEGIN SOLUTION" not in released and "raise NotImplementedError()" in released
        assert "BEGIN SOLUTION" in solution and "Mark scheme" in solution


def _test_cell_outputs(course, student_id):
    outputs = {}
    for name in NOTEBOOKS:
        nb = notebooks.read(course / "autograded" / student_id / ASSIGNMENT / f"{name}.ipynb")
        for grade_id, cell in notebooks.cells_by_grade_id(nb).items():
            if grade_id.startswith("correct_"):
                outputs[grade_id] = [dict(output) for output in cell.outputs]
    return outputs


@pytest.mark.slow  # a real nbgrader autograde of several students
def test_autograde_gives_correct_code_full_marks_for_any_student_the_release_zero_and_regrades_alike(
    tmp_path, test_points
):
    course = copy_course(tmp_path / "course")
    run_nbgrader(["generate_assignment", ASSIGNMENT, "--force"], cwd=course)
    correct = ("s1001", "s1002", "zoe")
    for student_id in (*correct, "untouched"):
        shutil.copytree(course / "release" / ASSIGNMENT, course / "submitted" / student_id / ASSIGNMENT)
    answers = model_answers(course / "source" / ASSIGNMENT)
    for student_id in correct:
        Student(student_id, "model answers typed in").do_homework(
            course / "submitted" / student_id / ASSIGNMENT, answers, WRITTEN_ANSWERS
        )
    run_nbgrader(["autograde", ASSIGNMENT, "--force"], cwd=course)
    first = {student_id: _test_cell_outputs(course, student_id) for student_id in (*correct, "untouched")}
    for student_id, full_marks in [*((s, True) for s in correct), ("untouched", False)]:
        cells = scores.cell_scores(course, student_id)
        for name in NOTEBOOKS:
            auto, maximum = scores.auto_total(cells, name)
            assert maximum == sum(test_points[name].values())
            assert auto == (maximum if full_marks else 0.0), (student_id, name)

    run_nbgrader(["autograde", ASSIGNMENT, "--force"], cwd=course)  # a regrade
    for student_id, outputs in first.items():
        assert _test_cell_outputs(course, student_id) == outputs
