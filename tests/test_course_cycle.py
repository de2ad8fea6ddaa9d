"""End to end: the simulated class through fetch, submit, collect, autograde, feedback and export.

Expected scores come from the source notebooks' points and from what each simulated student is
known to get wrong, never from the grading run itself.
"""

from __future__ import annotations

import csv

import pytest
from expected_failures import BREAKS, expected_failures

from gankit import ASSIGNMENT, NOTEBOOKS, ROOT, notebooks, scores
from gankit.judging.grader import checks_for
from gankit.nbgrader_cli import run_nbgrader
from gankit.plain_nbgrader import plain_nbgrader_copy
from gankit.simulated_class import CLASS, by_id

pytestmark = pytest.mark.slow

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


def _expected_cell_scores(student_id, test_points, hidden_checks) -> dict[str, dict[str, float]]:
    """Each test cell's points times the weight share of the hidden checks the student should pass."""
    student = by_id(student_id)
    failing = expected_failures(student, {name: list(checks) for name, checks in hidden_checks.items()})
    expected = {}
    for name in NOTEBOOKS:
        expected[name] = {}
        structural = {check.__name__ for check in checks_for(name) if getattr(check, "structural", False)}
        form = {check.__name__ for check in checks_for(name) if getattr(check, "form", False)}
        for grade_id, points in test_points[name].items():
            weights = {check: w for check, (cell, w) in hidden_checks[name].items() if cell == grade_id}
            # the form checks share a quarter of the cell (docs/student-api.md)
            others = sum(w for check, w in weights.items() if check not in form)
            forms = [check for check in weights if check in form]
            weights.update({check: others / 3 / len(forms) for check in forms})
            # structural checks (form checks among them) count only when every value check passes
            values_right = not any(check in failing for check in weights if check not in structural)
            passed = sum(
                w for check, w in weights.items() if check not in failing and (values_right or check not in structural)
            )
            expected[name][grade_id] = (
                0.0 if name in student.missing else round(points * passed / sum(weights.values()), 4)
            )
    return expected


@pytest.mark.parametrize("student_id", STUDENT_IDS)
def test_each_test_cell_scores_exactly_as_the_hidden_checks_should(cycle, test_points, hidden_checks, student_id):
    """Every test cell earns its points in proportion to the weight of the checks that pass."""
    assert set(BREAKS.get(student_id, {})) <= {c for checks in hidden_checks.values() for c in checks}
    expected = _expected_cell_scores(student_id, test_points, hidden_checks)
    recorded = scores.cell_scores(cycle.course, student_id)
    for name in NOTEBOOKS:
        for grade_id, points in test_points[name].items():
            got = recorded[name][grade_id]
            assert got.max_score == float(points)
            assert got.auto_score == pytest.approx(expected[name][grade_id], abs=1e-9), (
                student_id,
                grade_id,
            )


def _total(cycle, student_id):
    return _total_in(cycle.course, student_id)


def test_full_marks_zero_and_a_known_partial_score(cycle, test_points):
    everything = sum(sum(points.values()) for points in test_points.values())
    assert _total(cycle, "ada") == everything
    assert _total(cycle, "ben") == 0
    assert _total(cycle, "cleo") == sum(test_points["ex1_optimal_discriminator"].values())
    assert 0 < _total(cycle, "cleo") < everything


@pytest.mark.parametrize("student_id", [s.student_id for s in CLASS if s.cheats])
def test_tampering_earns_nothing_more_than_an_empty_submission(cycle, student_id):
    assert _total(cycle, student_id) == _total(cycle, "ben") == 0


@pytest.mark.parametrize("student_id", STUDENT_IDS)
def test_feedback_names_each_check_and_the_mistake_behind_a_failure(cycle, hidden_checks, student_id):
    """The autograded test cells carry the hidden verdict: every check ticked or crossed, and
    each expected mistake named."""
    student = by_id(student_id)
    failing = expected_failures(student, {name: list(checks) for name, checks in hidden_checks.items()})
    for name in NOTEBOOKS:
        if name in student.missing:
            continue
        cells = notebooks.cells_by_grade_id(notebooks.read(cycle.autograded(student_id, name)))
        for check, (grade_id, _) in hidden_checks[name].items():
            text = _output_text(cells[grade_id])
            title = _check_title(name, check)
            mark = "✗" if check in failing else "✓"
            assert f"{mark} {title}" in text, (student_id, check, text)
            assert failing.get(check, "") in text, (student_id, check, text)
            assert not _has_error(cells[grade_id])


def _check_title(notebook, check_name):
    check = next(c for c in checks_for(notebook) if c.__name__ == check_name)
    return check.__doc__.strip().splitlines()[0].rstrip(".")


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
        figure_ids = [gid for gid in notebooks.cells_by_grade_id(correct) if gid.startswith("figure_")]
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
            source = notebooks.read(ROOT / "source" / ASSIGNMENT / f"{name}.ipynb")
            hand_graded = [
                c for c in source.cells if c.cell_type == "markdown" and notebooks.nbgrader_meta(c).get("grade")
            ]
            assert len(written) == len(hand_graded) >= 1, name
            for cell in written:
                assert cell.needs_manual_grade is pending, (student_id, name)
                if not pending:
                    assert cell.auto_score == 0


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


# Attacks that fool nbgrader 0.9.6's own in-kernel grading of this course (the benchmark shows all
# six: the exception hook and showtraceback tricks are already caught by nbgrader, and the lying
# array by the visible tests' own conversion to plain arrays).
REAL_ATTACKS = ("tampers_numpy", "tampers_cells", "tampers_source")


def test_the_tampering_fixtures_are_real_attacks_on_plain_nbgrader(cycle, tmp_path):
    """Graded by nbgrader's stock preprocessors, these cheaters earn marks; with the hidden checks,
    none (asserted above). So the tampering tests cannot pass because the attacks do nothing."""
    plain = plain_nbgrader_copy(cycle.course, tmp_path / "plain", list(REAL_ATTACKS))
    run_nbgrader(["autograde", ASSIGNMENT, "--force"], cwd=plain)
    for student_id in REAL_ATTACKS:
        assert _total_in(plain, student_id) > 0, student_id
        assert _total_in(cycle.course, student_id) == 0, student_id


def _total_in(course, student_id):
    return scores.auto_grand_total(course, student_id)
