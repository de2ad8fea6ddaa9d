"""The class report of a real graded class agrees with the gradebook and with the feedback."""

from __future__ import annotations

import csv
import re
from collections import Counter

from gankit import NOTEBOOKS, notebooks


def _feedback_lines(cycle, student_id, name):
    nb = notebooks.read(cycle.autograded(student_id, name))
    for grade_id, cell in notebooks.cells_by_grade_id(nb).items():
        if grade_id.startswith("correct_"):
            for output in cell.outputs:
                if output.output_type == "stream":
                    yield from output.text.splitlines()


def test_report_totals_match_nbgraders_own_export_and_the_canvas_csv(cycle):
    exported = {row["student_id"]: float(row["score"]) for row in csv.DictReader(cycle.grades_csv.open())}
    data = cycle.class_data
    assert {row.student_id: row.total for row in data.students} == exported
    canvas = list(csv.reader((cycle.report.parent / "canvas_grades.csv").open()))
    assert canvas[0][0] == "Student" and canvas[1][0] == "Points Possible" and float(canvas[1][-1]) == 22
    assert {row[0]: float(row[-1]) for row in canvas[2:]} == exported


def test_mistake_counts_and_pass_rates_match_the_feedback_students_received(cycle):
    mistakes, passes = Counter(), Counter()
    for row in cycle.class_data.students:
        for name in NOTEBOOKS:
            if not cycle.autograded(row.student_id, name).exists():
                continue
            named = set()
            for line in _feedback_lines(cycle, row.student_id, name):
                if mark := re.match(r"([✓✗]) (.+)$", line):
                    passes[(name, mark.group(2), mark.group(1))] += 1
                elif mistake := re.match(r"\s+likely mistake: (.+)$", line):
                    named.add((name, mistake.group(1)))
            mistakes.update(named)
    assert dict(cycle.class_data.mistakes) == dict(mistakes)
    for (name, check), counts in cycle.class_data.check_results.items():
        assert (counts["passed"], counts["failed"]) == (passes[(name, check, "✓")], passes[(name, check, "✗")])


def test_report_is_one_self_contained_page_that_names_incomplete_students(cycle):
    page = cycle.report.read_text()
    assert page.count("data:image/png;base64,") == 2 and 'src="http' not in page
    assert (cycle.report.parent / "scores.png").stat().st_size > 5000
    assert "<b>mo</b>: ex2_xy_game not submitted" in page
    assert "D* = p_data / p_model: a ratio, not a share" in page
