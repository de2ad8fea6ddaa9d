"""release/ and solutions/ are exactly what nbgrader generates from source/, and the generated
assignment grades correct code with full marks and the untouched release with zero."""

from __future__ import annotations

import shutil

from conftest import RELEASE

from gankit import ASSIGNMENT, NOTEBOOKS, ROOT, scores
from gankit.nbgrader_cli import run_nbgrader
from gankit.regenerate import GENERATED, copy_course, regenerate
from gankit.simulated_class import WRITTEN_ANSWERS, Student, model_answers


def _files(folder):
    return {
        path.relative_to(folder): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_committed_release_and_solutions_match_a_fresh_generation(tmp_path):
    regenerate(tmp_path)
    for folder in GENERATED:
        fresh, committed = _files(tmp_path / folder), _files(ROOT / folder)
        assert sorted(fresh) == sorted(committed), (
            f"{folder}/ has different files: run `make goldens`"
        )
        drifted = [str(path) for path in fresh if fresh[path] != committed[path]]
        assert not drifted, f"{folder}/ drifted from source/ in {drifted}: run `make goldens`"


def test_solutions_keep_the_model_answers_and_the_release_does_not():
    for name in NOTEBOOKS:
        released = (RELEASE / f"{name}.ipynb").read_text()
        solution = (ROOT / "solutions" / ASSIGNMENT / f"{name}.ipynb").read_text()
        assert "BEGIN SOLUTION" not in released and "raise NotImplementedError()" in released
        assert "BEGIN SOLUTION" in solution and "Mark scheme" in solution


def test_autograde_after_generate_gives_full_marks_to_correct_code_and_zero_to_the_release(
    tmp_path, test_points
):
    course = copy_course(tmp_path / "course")
    run_nbgrader(["generate_assignment", ASSIGNMENT, "--force"], cwd=course)
    submitted = course / "submitted"
    for student_id in ("correct", "untouched"):
        shutil.copytree(course / "release" / ASSIGNMENT, submitted / student_id / ASSIGNMENT)
    Student("correct", "model answers typed in").do_homework(
        submitted / "correct" / ASSIGNMENT,
        model_answers(course / "source" / ASSIGNMENT),
        WRITTEN_ANSWERS,
    )
    run_nbgrader(["autograde", ASSIGNMENT, "--force"], cwd=course)

    for student_id, full_marks in (("correct", True), ("untouched", False)):
        cells = scores.cell_scores(course, student_id)
        for name in NOTEBOOKS:
            auto, maximum = scores.auto_total(cells, name)
            assert maximum == sum(test_points[name].values())
            assert auto == (maximum if full_marks else 0.0), (student_id, name)
