"""The course's policies as nbgrader_config.py sets them: the late penalty nbgrader applies when it
autogrades, and the pass mark and grade bands of the class report (values worked out by hand)."""

from __future__ import annotations

import csv
import shutil

import pytest
from nbgrader.api import Gradebook
from traitlets.config import PyFileConfigLoader

from gankit import ASSIGNMENT, COURSE_ID, NOTEBOOKS, ROOT, class_report, inputs, scores
from gankit.goldens import copy_course
from gankit.nbgrader_adapter.late import LatePenalty
from gankit.nbgrader_cli import run_nbgrader
from gankit.simulated_class import WRITTEN_ANSWERS, Student, model_answers

HOUR = 3600


@pytest.mark.parametrize(
    ("seconds_late", "penalty"),
    [
        (38.6, None),  # within the 15 minutes' grace
        (15 * 60, None),
        (15 * 60 + 1, 1.0),  # the first started day: 10% of 10 points
        (23 * HOUR, 1.0),
        (24 * HOUR + 1, 2.0),
        (30 * 24 * HOUR, 10.0),  # never more than the score
    ],
)
def test_the_late_penalty_is_a_tenth_of_the_score_per_started_day_after_the_grace(seconds_late, penalty):
    assert LatePenalty().late_submission_penalty("ada", 10.0, seconds_late) == penalty


def test_the_course_configures_nbgrader_to_use_the_late_penalty_and_the_report_standards():
    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    assert config.AssignLatePenalties.plugin_class == "gankit.nbgrader_adapter.late.LatePenalty"
    plugin = LatePenalty(config=config)
    assert (plugin.grace_minutes, plugin.per_day) == (15, 0.1)
    judged = class_report.standards(ROOT)
    assert judged.pass_mark == 0.5 and judged.bands[0] == (0.9, "A") and judged.bands[-1] == (0.0, "F")


def test_a_course_sets_its_own_pass_mark_and_bands_and_a_malformed_one_is_refused(tmp_path):
    shutil.copy2(ROOT / "nbgrader_config.py", tmp_path / "nbgrader_config.py")
    with (tmp_path / "nbgrader_config.py").open("a") as handle:
        handle.write('\nc.ClassReport.pass_mark = 0.4\nc.ClassReport.grade_bands = [[0.75, "pass+"], [0, "rest"]]\n')
    judged = class_report.standards(tmp_path)
    assert (judged.passed(0.4), judged.passed(0.39), judged.band(0.75), judged.band(0.74)) == (
        True,
        False,
        "pass+",
        "rest",
    )
    with (tmp_path / "nbgrader_config.py").open("a") as handle:
        handle.write('c.ClassReport.grade_bands = [[0.5, "E"], [0.9, "A"], [0, "F"]]\n')
    with pytest.raises(inputs.BadInput, match="shares falling, the last 0"):
        class_report.standards(tmp_path)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(38.6, "39 s"), (125, "2 min 5 s"), (3 * HOUR + 300, "3 h 5 min"), (50 * HOUR, "2 d 2 h")],
)
def test_lateness_reads_in_days_hours_and_minutes(seconds, text):
    assert class_report.late_text(seconds) == text


@pytest.mark.slow
def test_a_late_submission_loses_the_course_penalty_and_the_report_and_grades_csv_show_it(tmp_path):
    """Real nbgrader: a due date, two model submissions (one 26 hours late), autograde, the report."""
    course = copy_course(tmp_path / "course")
    run_nbgrader(["generate_assignment", ASSIGNMENT, "--force"], cwd=course)
    run_nbgrader(["db", "assignment", "add", ASSIGNMENT, "--duedate=2026-12-01 10:00:00 UTC"], cwd=course)
    answers = model_answers(course / "source" / ASSIGNMENT)
    for student, when in (("alice", "2026-12-01 09:00:00.000000 UTC"), ("bob", "2026-12-02 12:00:00.000000 UTC")):
        folder = course / "submitted" / student / ASSIGNMENT
        shutil.copytree(course / "release" / ASSIGNMENT, folder)
        Student(student, "").do_homework(folder, answers, WRITTEN_ANSWERS)
        (folder / "timestamp.txt").write_text(when, encoding="utf-8")
    run_nbgrader(["autograde", ASSIGNMENT], cwd=course)

    # 26 hours late: two started days, 20% of each notebook's score when it was autograded.
    with Gradebook(scores.db_url(course), COURSE_ID) as gb:
        late = {
            nb.name: (nb.score, nb.late_submission_penalty) for nb in gb.find_submission(ASSIGNMENT, "bob").notebooks
        }
        on_time = [nb.late_submission_penalty for nb in gb.find_submission(ASSIGNMENT, "alice").notebooks]
        assert on_time == [None] * len(NOTEBOOKS)
        assert all(score > 0 and penalty == pytest.approx(0.2 * score) for score, penalty in late.values()), late
        for submission in gb.find_assignment(ASSIGNMENT).submissions:  # a grader gives full written marks
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    if grade.needs_manual_grade:
                        grade.manual_score = grade.max_score
                        grade.needs_manual_grade = False  # what Formgrader records with a score
        gb.db.commit()
    penalty = sum(p for _, p in late.values())

    out = tmp_path / "report"
    assert class_report.main(["--course", str(course), "--out", str(out)]) == 0
    rows = {row["student_id"]: row for row in csv.DictReader((out / "grades.csv").open())}
    maximum = float(rows["alice"]["max_score"])
    assert (rows["alice"]["seconds_late"], rows["alice"]["late"], rows["alice"]["late_penalty"]) == ("0", "", "0")
    assert (rows["bob"]["seconds_late"], rows["bob"]["late"]) == (str(26 * HOUR), "1 d 2 h")
    assert float(rows["bob"]["late_penalty"]) == pytest.approx(penalty, abs=0.005)
    assert float(rows["bob"]["score"]) == pytest.approx(maximum - penalty, abs=0.005)
    # The course's pass mark (50%) and bands (A from 90%, B from 80%, ...): worked out here.
    bob_share = (maximum - penalty) / maximum
    expected_band = next(
        name for lowest, name in ((0.9, "A"), (0.8, "B"), (0.7, "C"), (0.6, "D")) if bob_share >= lowest
    )
    assert (rows["alice"]["result"], rows["alice"]["band"]) == ("passed", "A")
    assert (rows["bob"]["result"], rows["bob"]["band"]) == ("passed", expected_band)
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<td>1 d 2 h (&minus;" in page and "Pass mark: 50%" in page
