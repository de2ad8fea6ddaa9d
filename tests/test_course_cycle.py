"""End to end: the simulated class through fetch, submit, collect, autograde, feedback and export.

Expected scores come from the source notebooks' points and from what each simulated student is
known to get wrong, never from the grading run itself.
"""

from __future__ import annotations

import csv

import pytest

from gankit import NOTEBOOKS, ROOT, notebooks, scores
from gankit.simulated_class import CLASS, by_id

STUDENT_IDS = [student.student_id for student in CLASS]


def _output_text(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "error":
            parts.append(f"{output.ename}: {output.evalue}")
        elif output.output_type == "stream":
            parts.append(output.text)
    return "\n".join(parts)


def _has_error(cell) -> bool:
    return any(output.output_type == "error" for output in cell.get("outputs", []))


def test_every_student_is_graded_and_nothing_failed(cycle):
    assert scores.students(cycle.course) == sorted(STUDENT_IDS)
    assert cycle.problems == []


@pytest.mark.parametrize("student_id", STUDENT_IDS)
def test_each_test_cell_scores_exactly_as_expected(cycle, test_points, student_id):
    """Every test cell scores its full points unless this student's work should break it."""
    failures = by_id(student_id).expected_failures(test_points)
    recorded = scores.cell_scores(cycle.course, student_id)
    for name in NOTEBOOKS:
        for grade_id, points in test_points[name].items():
            expected = 0.0 if grade_id in failures else float(points)
            got = recorded[name][grade_id]
            assert (got.auto_score, got.max_score) == (expected, float(points)), (
                student_id,
                grade_id,
            )


def test_full_marks_zero_and_a_known_partial_score(cycle, test_points):
    def total(student_id):
        cells = scores.cell_scores(cycle.course, student_id)
        return sum(scores.auto_total(cells, name)[0] for name in NOTEBOOKS)

    everything = sum(sum(points.values()) for points in test_points.values())
    assert total("ada") == everything
    assert total("ben") == 0
    assert total("cleo") == sum(test_points["ex1_optimal_discriminator"].values())
    assert 0 < total("cleo") < everything


@pytest.mark.parametrize("student_id", STUDENT_IDS)
def test_failed_checks_explain_themselves_and_passed_ones_are_silent(
    cycle, test_points, student_id
):
    """A failed visible test shows the expected phrase (naming the mistake); a passed one, none."""
    student = by_id(student_id)
    failures = student.expected_failures(test_points)
    for name in NOTEBOOKS:
        if name in student.missing:
            continue
        cells = notebooks.cells_by_grade_id(notebooks.read(cycle.autograded(student_id, name)))
        for grade_id in test_points[name]:
            text = _output_text(cells[grade_id])
            if grade_id in failures:
                assert failures[grade_id] in text, (student_id, grade_id, text)
                if failures[grade_id] != "NotImplementedError":
                    assert "expected:" in text and "got:" in text and "hint:" in text, text
            else:
                assert not _has_error(cells[grade_id]), (student_id, grade_id, text)


def test_no_cell_of_a_correct_submission_writes_to_stderr(cycle):
    for name in NOTEBOOKS:
        nb = notebooks.read(cycle.autograded("ada", name))
        for cell in nb.cells:
            for output in cell.get("outputs", []):
                assert not (output.output_type == "stream" and output.name == "stderr"), (
                    name,
                    output.text,
                )
                assert output.output_type != "error", (name, output)


def test_figures_render_from_a_correct_submission_and_wait_politely_on_stubs(cycle):
    for name in NOTEBOOKS:
        correct = notebooks.read(cycle.autograded("ada", name))
        blank = notebooks.read(cycle.autograded("ben", name))
        figure_ids = [
            gid for gid in notebooks.cells_by_grade_id(correct) if gid.startswith("figure_")
        ]
        assert figure_ids, name
        for grade_id in figure_ids:
            drawn = notebooks.cells_by_grade_id(correct)[grade_id]
            assert any("image/png" in out.get("data", {}) for out in drawn.outputs), (
                name,
                grade_id,
            )
            waiting = notebooks.cells_by_grade_id(blank)[grade_id]
            assert not _has_error(waiting), (name, grade_id)
            assert "appears once the functions above are implemented" in _output_text(waiting)


def test_written_answers_wait_for_a_human_and_blank_ones_score_zero(cycle):
    for student_id, pending in (("ada", True), ("ben", False)):
        for name, cells in scores.cell_scores(cycle.course, student_id).items():
            written = [cell for cell in cells.values() if not cell.autograded]
            assert len(written) == 1, name
            assert written[0].needs_manual_grade is pending, (student_id, name)
            if not pending:
                assert written[0].auto_score == 0


def test_feedback_for_every_submitted_notebook_and_a_csv_that_matches_the_gradebook(cycle):
    rows = {row["student_id"]: row for row in csv.DictReader(cycle.grades_csv.open())}
    assert sorted(rows) == sorted(STUDENT_IDS)
    for student in CLASS:
        cells = scores.cell_scores(cycle.course, student.student_id)
        gradebook_total = sum(scores.auto_total(cells, name)[0] for name in NOTEBOOKS)
        assert float(rows[student.student_id]["score"]) == gradebook_total
        for name in NOTEBOOKS:
            html = cycle.feedback_html(student.student_id, name)
            assert html.exists() is (name not in student.missing), html


def test_the_instructors_own_course_is_untouched(cycle_and_root):
    """The cycle ran in a scratch copy: no instructor file appeared, vanished or changed."""
    result, before, after = cycle_and_root
    assert ROOT not in result.course.parents
    assert after == before
