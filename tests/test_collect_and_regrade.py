"""Collect leaves nothing for a submission it does not collect; a submission graded by any tool
(``nbgrader autograde``, as Formgrader's button runs it, or ``grade_class``) is not graded again by
``grade_class`` until it changes; grading prints no SQLAlchemy warning and loses no row."""

from __future__ import annotations

import os
import pwd
import shutil
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from gankit import ASSIGNMENT, COURSE_ID, NOTEBOOKS, notebooks, scores
from gankit.goldens import copy_course
from gankit.grade_class import grade_class
from gankit.nbgrader_cli import run_nbgrader

ME = pwd.getpwuid(os.getuid()).pw_name


def _submit(folder: Path, release: Path, when: str) -> None:
    shutil.copytree(release, folder)
    (folder / "timestamp.txt").write_text(when, encoding="utf-8")


@pytest.mark.seconds  # nbgrader collect and its gradebook: 6 s
def test_collect_leaves_no_folder_for_a_submission_made_by_another_account(tmp_path):
    course = copy_course(tmp_path / "course")
    inbound = tmp_path / "exchange" / COURSE_ID / "inbound"
    release = course / "source" / ASSIGNMENT  # any notebooks do: nothing is graded here
    _submit(inbound / f"{ME}+{ASSIGNMENT}+2026-12-01 10:00:00.000000 UTC+own", release, "2026-12-01 10:00:00 UTC")
    # In the name of a student who made no submission of their own: this account owns it, not "ghost".
    _submit(inbound / f"ghost+{ASSIGNMENT}+2026-12-01 11:00:00.000000 UTC+x", release, "2026-12-01 11:00:00 UTC")
    done = run_nbgrader(["collect", ASSIGNMENT, f"--Exchange.root={tmp_path / 'exchange'}"], cwd=course)
    said = done.stdout + done.stderr
    for name in NOTEBOOKS:
        assert (course / "submitted" / ME / ASSIGNMENT / f"{name}.ipynb").is_file()
    assert not (course / "submitted" / "ghost").exists(), list((course / "submitted").iterdir())
    assert f"submitted by the account {ME}, not by ghost" in said and "Nothing collected for ghost" in said


@pytest.mark.slow
def test_a_submission_graded_by_nbgrader_autograde_is_skipped_until_it_changes(tmp_path):
    course = copy_course(tmp_path / "course")
    run_nbgrader(["generate_assignment", ASSIGNMENT, "--force"], cwd=course)
    release = course / "release" / ASSIGNMENT
    for student in ("alice", "bob"):
        _submit(course / "submitted" / student / ASSIGNMENT, release, "2026-12-01 10:00:00.000000 UTC")

    # Alice is graded as Formgrader's Autograde button grades: nbgrader autograde, one student.
    done = run_nbgrader(["autograde", ASSIGNMENT, "--student", "alice"], cwd=course)
    assert "SAWarning" not in done.stdout + done.stderr, done.stderr[-3000:]
    with Gradebook(scores.db_url(course), COURSE_ID) as gb:
        expected = {
            nb.name: (len(nb.grade_cells) + len(nb.task_cells), len(nb.solution_cells) + len(nb.task_cells))
            for nb in gb.find_assignment(ASSIGNMENT).notebooks
        }
        found = {
            nb.name: (len(nb.grades), len(nb.comments)) for nb in gb.find_submission(ASSIGNMENT, "alice").notebooks
        }
    assert found == expected and len(found) == len(NOTEBOOKS)

    first = grade_class(course, ASSIGNMENT, workers=1)
    assert {r.student_id: (r.ok, r.skipped) for r in first.results} == {"alice": (True, True), "bob": (True, False)}

    # Alice submits again (a new time, a changed answer): graded again; Bob, unchanged, is not.
    page = course / "submitted" / "alice" / ASSIGNMENT / f"{NOTEBOOKS[0]}.ipynb"
    notebook = notebooks.read(page)
    notebook.cells.append(nbformat.v4.new_markdown_cell("One more thought."))
    nbformat.write(notebook, page)
    (page.parent / "timestamp.txt").write_text("2026-12-01 12:00:00.000000 UTC", encoding="utf-8")
    second = grade_class(course, ASSIGNMENT, workers=1)
    assert {r.student_id: (r.ok, r.skipped) for r in second.results} == {"alice": (True, False), "bob": (True, True)}
