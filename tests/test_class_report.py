"""The class report of a real graded class agrees with the gradebook and with the feedback."""

from __future__ import annotations

import csv
import re
import shutil
from collections import Counter

import pytest
from browsing import new_page, screenshot
from nbgrader.api import Gradebook

from gankit import ASSIGNMENT, COURSE_ID, NOTEBOOKS, ROOT, class_report, notebooks, scores
from gankit.nbgrader_cli import run_nbgrader
from gankit.simulated_class import CLASS, by_id

RELEASE = ROOT / "release" / ASSIGNMENT


def _feedback_lines(cycle, student_id, name):
    nb = notebooks.read(cycle.autograded(student_id, name))
    for grade_id, cell in notebooks.cells_by_grade_id(nb).items():
        if grade_id.startswith("correct_"):
            for output in cell.outputs:
                if output.output_type == "stream":
                    yield from output.text.splitlines()


def _export(course):
    """``nbgrader export``'s own CSV of the course: the independent account of every grade."""
    run_nbgrader(["export", "--to", "grades.csv"], cwd=course)
    return {row["student_id"]: row for row in csv.DictReader((course / "grades.csv").open())}


def _canvas(path):
    rows = list(csv.reader(path.open()))
    assert rows[0][:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert rows[1][0] == "Points Possible"
    return rows[0][5], float(rows[1][5]), {row[2]: row for row in rows[2:]}


def test_report_totals_match_nbgraders_own_export_and_ungraded_students_are_held_back(cycle):
    exported = {row["student_id"]: row for row in csv.DictReader(cycle.grades_csv.open())}
    data = cycle.class_data
    assert {row.student_id: row.total for row in data.students} == {k: float(v["score"]) for k, v in exported.items()}
    column, possible, rows = _canvas(cycle.report.parent / "canvas_grades.csv")
    assert possible == float(next(iter(exported.values()))["max_score"])  # automatic and written points
    waiting = {row.student_id for row in data.students if row.awaiting}
    assert waiting and set(rows) == set(exported) - waiting  # nobody's partial grade goes to Canvas
    assert {k: float(v[5]) for k, v in rows.items()} == {k: round(float(exported[k]["score"]), 2) for k in rows}


def _grade_every_written_answer(course, late: str) -> dict[str, float]:
    """Grade every written answer by hand (half its points) and give ``late`` a late penalty, as a
    grader would in Formgrader; return the hand-given points per student."""
    given: dict[str, float] = {}
    with Gradebook(scores.db_url(course), COURSE_ID) as gradebook:
        for submission in gradebook.find_assignment(ASSIGNMENT).submissions:
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    if grade.needs_manual_grade:
                        grade.manual_score = grade.max_score / 2
                        grade.needs_manual_grade = False  # what Formgrader records with a score
                        given[submission.student.id] = given.get(submission.student.id, 0) + grade.max_score / 2
                if submission.student.id == late and notebook.name == NOTEBOOKS[0]:
                    notebook.late_submission_penalty = 1.25
        gradebook.db.commit()
    return given


def test_canvas_csv_holds_written_grades_and_late_penalties_exactly_as_nbgrader_exports_them(cycle, tmp_path):
    course = shutil.copytree(cycle.course, tmp_path / "course", symlinks=True)
    given = _grade_every_written_answer(course, late="ada")
    assert given and class_report.main(["--course", str(course), "--out", str(tmp_path / "out")]) == 0
    exported = _export(course)
    column, possible, rows = _canvas(tmp_path / "out" / "canvas_grades.csv")
    assert column == f"GAN exercises ({ASSIGNMENT})"
    assert possible == float(exported["ada"]["max_score"]) > 22
    assert set(rows) == set(exported)  # every answer graded: everyone is in the file
    for student_id, row in rows.items():
        assert float(row[5]) == round(float(exported[student_id]["score"]), 2), student_id
    assert float(exported["ada"]["late_submission_penalty"]) == 1.25
    assert float(rows["ada"][5]) == round(float(exported["ada"]["raw_score"]) - 1.25, 2)


def test_an_ungraded_student_is_held_back_unless_asked_for(cycle, tmp_path, capsys):
    course = shutil.copytree(cycle.course, tmp_path / "course", symlinks=True)
    _grade_every_written_answer(course, late="")
    with Gradebook(scores.db_url(course), COURSE_ID) as gradebook:  # ada's Part D is not graded yet
        grade = gradebook.find_grade("written_optimal_discriminator", NOTEBOOKS[0], ASSIGNMENT, "ada")
        grade.manual_score = None
        grade.needs_manual_grade = True
        gradebook.db.commit()
    assert class_report.main(["--course", str(course), "--out", str(tmp_path / "held")]) == 0
    said = capsys.readouterr().out
    assert "ada" not in _canvas(tmp_path / "held" / "canvas_grades.csv")[2]
    assert "held back until their written answers are graded: ada" in said
    assert f"{NOTEBOOKS[0]}: written_optimal_discriminator: 1" in said
    assert "written answers not graded yet" in (tmp_path / "held" / "report.html").read_text()
    class_report.main(["--course", str(course), "--out", str(tmp_path / "all"), "--allow-ungraded"])
    assert "ada" in _canvas(tmp_path / "all" / "canvas_grades.csv")[2]


CANVAS_EXPORT = """Student,ID,SIS User ID,SIS Login ID,Section,GAN exercises (98765),Quiz 1 (111)
    Points Possible,,,,,34.00,10.00
"Lovelace, Ada",4101,S-0001,ada,Section 2,,8.00
"Franklin, Ben",4102,S-0002,ben,Section 1,,6.50
"Student, Test",4199,,,Section 1,,
"""


def test_a_canvas_roster_gives_each_row_its_canvas_identity_and_the_assignment_its_column(cycle, tmp_path):
    course = shutil.copytree(cycle.course, tmp_path / "course", symlinks=True)
    _grade_every_written_answer(course, late="")
    roster = tmp_path / "export.csv"
    roster.write_text(CANVAS_EXPORT, encoding="utf-8")
    class_report.main(["--course", str(course), "--out", str(tmp_path / "out"), "--roster", str(roster)])
    column, _, rows = _canvas(tmp_path / "out" / "canvas_grades.csv")
    assert column == "GAN exercises (98765)"  # Canvas matches the existing column by its id
    assert rows["S-0001"][:5] == ["Lovelace, Ada", "4101", "S-0001", "ada", "Section 2"]
    assert rows["S-0002"][:5] == ["Franklin, Ben", "4102", "S-0002", "ben", "Section 1"]
    assert "cleo" in rows and rows["cleo"][1] == ""  # not in the roster: identified by the kit's id only


def test_reading_scores_never_creates_a_gradebook(tmp_path):
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path / "nbgrader_config.py")
    with pytest.raises(FileNotFoundError, match="no gradebook"):
        scores.students(tmp_path)
    assert not (tmp_path / "gradebook.db").exists()


def test_mistake_counts_and_pass_rates_match_the_feedback_students_received(cycle):
    mistakes, passes = Counter(), Counter()
    for row in cycle.class_data.students:
        student = by_id(row.student_id)
        for name in NOTEBOOKS:
            if not cycle.autograded(row.student_id, name).exists():
                continue
            # the simulated class says who left a notebook as released: the untouched ones, and a
            # tamperer's notebooks that hold none of their tampered answers
            own = set(notebooks.cells_by_grade_id(notebooks.read(RELEASE / f"{name}.ipynb")))
            tried = name not in student.untouched and (not student.cheats or bool(own & set(student.overrides)))
            named = set()
            for line in _feedback_lines(cycle, row.student_id, name):
                if mark := re.match(r"([✓✗]) (.+) \([\d.]+ of [\d.]+ points\)$", line):
                    passes[(name, mark.group(2), mark.group(1) if tried else "untried")] += 1
                elif mistake := re.match(r"\s+likely mistake: (.+?)(: |, | \(|$)", line):
                    named.add((name, mistake.group(1)))  # the misconception, without its explanation
            mistakes.update(named)  # a student counts once per misconception and notebook
    assert dict(cycle.class_data.mistakes) == dict(mistakes)
    assert ("ex3_maximum_likelihood", "the sign of f is flipped") in mistakes  # one row, though its messages differ
    for (name, check), counts in cycle.class_data.check_results.items():
        assert (counts["passed"], counts["failed"], counts["not attempted"]) == (
            passes[(name, check, "✓")],
            passes[(name, check, "✗")],
            passes[(name, check, "untried")],
        )
    assert any(counts["not attempted"] for counts in cycle.class_data.check_results.values())


def test_report_is_one_self_contained_page_that_names_incomplete_students(cycle):
    page = cycle.report.read_text()
    assert page.count("data:image/png;base64,") == 2 and 'src="http' not in page
    assert (cycle.report.parent / "scores.png").stat().st_size > 5000
    assert "<b>mo</b>: ex2_xy_game not submitted" in page
    assert "<td>a ratio of the two densities</td>" in page  # the misconception, one row for all its messages


def test_the_problems_panel_names_every_tamperer_and_no_honest_student(cycle):
    problems = {row.student_id: row.problems for row in cycle.class_data.students}
    for student in CLASS:
        signs = [p for p in problems[student.student_id] if ": tampering sign: " in p]
        assert bool(signs) == student.cheats, (student.student_id, problems[student.student_id])
    page = cycle.report.read_text()
    assert "tampers_source</b>: ex1_optimal_discriminator answer_optimal_discriminator: tampering sign:" in page


def test_the_report_reads_in_chromium_with_no_network(cycle, browser):
    """Every figure is drawn from the page itself; screenshots of each part for the record."""
    page = new_page(browser)
    requests: list[str] = []
    page.route(re.compile(r"^(?!file:).*"), lambda route: (requests.append(route.request.url), route.abort()))
    page.goto(cycle.report.as_uri())
    widths = page.evaluate("() => [...document.images].map(image => image.naturalWidth)")
    assert len(widths) == 2 and min(widths) > 500 and requests == []
    page.set_viewport_size({"width": 1280, "height": 1000})  # a laptop: no scrolling sideways
    width = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert width[0] <= width[1] <= 1280, width  # nothing wider than the window (less any scroll bar)
    for part, heading in (
        ("1-summary", "Class report"),
        ("2-scores", "Score distributions"),
        ("3-mistakes", "Most frequent diagnosed mistakes"),
        ("4-checks", "Pass rate of every hidden check"),
        ("5-problems", "Problems:"),
    ):
        page.locator("h1, h2", has_text=heading).first.scroll_into_view_if_needed()
        page.evaluate(
            "h => [...document.querySelectorAll('h1, h2')].find(e => e.textContent.startsWith(h)).scrollIntoView()",
            heading,
        )
        screenshot(page, f"class-report-{part}")


def _long_report(out) -> tuple:
    """A report whose every free-text field is longer than the screen: a summary line of 400
    characters, a student id and a problem without a single space, and HTML in a student's id."""
    unbroken = "x" * 300
    rows = [
        class_report.StudentRow(
            sid,
            {name: (1.0, 7.0) for name in NOTEBOOKS},
            problems=[f"{NOTEBOOKS[0]}: {unbroken}", "left out of the submission: " + "a/" * 150],
            grade=scores.AssignmentGrade(
                sid, 3.0, 0.0, 34.0, awaiting=(f"{NOTEBOOKS[0]}: written",), seconds_late=90000
            ),
        )
        for sid in ("<b>mallory</b>" + "y" * 200, *(f"student{i:02d}" for i in range(30)))
    ]
    checks = {(NOTEBOOKS[0], "a check with a long name " * 6): Counter(passed=3, failed=4)}
    data = class_report.ClassData(
        ASSIGNMENT,
        rows,
        checks,
        Counter({(NOTEBOOKS[0], unbroken): 9}),
        {(NOTEBOOKS[0], unbroken): [rows[0].student_id]},
    )
    return data, class_report.write_report(data, out)


def test_a_report_with_lines_longer_than_the_screen_reads_at_1280_px_without_scrolling_sideways(browser, tmp_path):
    data, report = _long_report(tmp_path / "report")
    longest = max(len(line) for line in class_report.text_summary(data).splitlines())
    assert longest > 344  # as long as the longest line the issue measured, or longer
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(report.as_uri())
    width = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert width[0] <= width[1] <= 1280, width  # nothing wider than the window (less any scroll bar)
    # Student text is shown as text: the id's markup is escaped, never a <b> element.
    assert page.locator("b", has_text="mallory").count() == 1  # the problems panel's own <b>, around the id
    assert "&lt;b&gt;mallory&lt;/b&gt;" in report.read_text(encoding="utf-8")
    screenshot(page, "class-report-1280px-long-lines")
