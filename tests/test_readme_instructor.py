"""The README's instructor commands, run as printed, in order, in a fresh copy of the repository.

Every ```sh block of the README's "For instructors" section is run by bash as written (``set -e``:
each line must succeed), one after the other as in one terminal: what a block exports (``PATH``)
holds for the next ones. Between them the test plays the other people of the week: one student
(this account, its own id) fetches, does the work and submits before the collect, and a grader
gives every written answer full marks before the feedback, as Formgrader's Manual Grading does.
After each block the effect the README gives it is checked in the copy's files and gradebook.

The copy is what a fresh clone holds: the files git tracks, as they are in the working tree now,
and no ``.venv``. The environment ``make venv`` would build there (~2 minutes) is this checkout's,
already built from the same ``requirements.lock``: the copy's ``.venv`` is made of hard links to
its files and records the copy's own path, so the README's ``make venv`` finds it current (the Makefile's
relocation check reads that record) and every later command runs the copy's files. The exchange
and the home folder are the test's own (``NBGRADER_EXCHANGE``, as the README says; ``HOME``).
"""

from __future__ import annotations

import csv
import os
import pwd
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import snapshot
from nbgrader.api import Gradebook

from gankit import ASSIGNMENT, COURSE_ID, NOTEBOOKS, ROOT
from gankit.simulated_class import WRITTEN_ANSWERS, Student, model_answers

pytestmark = pytest.mark.slow

# The README's table of the assignment: 7 + 9 + 6 automatic points; written answers of 3, 3 + 2, 1 + 3.
AUTOMATIC_POINTS, WRITTEN_POINTS, WRITTEN_CELLS = 22, 12, 5


def readme_instructor_blocks(readme: Path) -> list[str]:
    """The ```sh blocks of the "For instructors" section, in order, as printed (list indentation removed)."""
    text = readme.read_text(encoding="utf-8")
    section = text[text.index("\n## For instructors\n") :]
    section = section[: section.index("\n## ", 1)]
    blocks = re.findall(r"^( *)```sh\n(.*?)^\1```$", section, re.S | re.M)
    return ["\n".join(line[len(indent) :] for line in body.splitlines()) for indent, body in blocks]


def fresh_copy(destination: Path) -> Path:
    """The repository's tracked files, as the working tree has them (what a clone of it would hold)."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the working tree is not in the clone either
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
            target.chmod(source.stat().st_mode & 0o777)
    venv = destination / ".venv"
    shutil.copytree(ROOT / ".venv", venv, symlinks=True, copy_function=_link_or_copy)
    (venv / ".installed").unlink()  # a link to this checkout's record: replaced, not written through
    (venv / ".installed").write_text(f"{venv}\n")  # written after requirements.lock: current for make
    return destination


def _link_or_copy(source: str, target: str) -> None:
    """Hard links where both are on one file system (no space, no time: a sandbox binds the copy's
    .venv and sees real files in it, which symbolic links to this checkout would not give)."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


class Terminal:
    """One instructor's shell session in ``course``: each block runs under ``set -e`` and hands on
    its exported variables to the next."""

    def __init__(self, course: Path, env: dict[str, str], state: Path):
        self.course, self.env, self.state = course, env, state
        state.write_text("")

    def run(self, block: str) -> subprocess.CompletedProcess:
        script = f"set -e -o pipefail\n. {self.state}\n{block}\nexport -p > {self.state}\n"
        return subprocess.run(
            ["bash", "-c", script], cwd=self.course, env=self.env, capture_output=True, text=True, timeout=900
        )

    def variable(self, name: str) -> str:
        said = subprocess.run(
            ["bash", "-c", f'. {self.state}; printf %s "${name}"'], env=self.env, capture_output=True, text=True
        )
        return said.stdout


def _student_submits(tmp: Path, exchange: Path, env: dict[str, str], student: str) -> None:
    """The student's side (README, For students), with the test's exchange: fetch, work, submit."""
    home = tmp / "student"
    home.mkdir()
    options = [f"--course={COURSE_ID}", f"--Exchange.root={exchange}"]
    for command in (["fetch_assignment", ASSIGNMENT, *options], ["submit", ASSIGNMENT, *options]):
        if command[0] == "submit":
            Student(student, "everything right").do_homework(
                home / ASSIGNMENT, model_answers(ROOT / "source" / ASSIGNMENT), WRITTEN_ANSWERS
            )
        done = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "nbgrader"), *command], cwd=home, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, f"the student's {command[0]}: {done.stderr[-3000:]}"


def _grader_marks_every_written_answer(course: Path, student: str) -> int:
    """What Formgrader's Manual Grading stores for a written answer given full marks; return how many."""
    marked = 0
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", COURSE_ID) as gb:
        for notebook in gb.find_submission(ASSIGNMENT, student).notebooks:
            for grade in notebook.grades:
                if grade.needs_manual_grade:
                    grade.manual_score = grade.max_score
                    grade.needs_manual_grade = False
                    marked += 1
        gb.db.commit()
    return marked


def _auto_and_waiting(course: Path, student: str) -> tuple[float, int]:
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", COURSE_ID) as gb:
        submission = gb.find_submission(ASSIGNMENT, student)
        grades = [grade for notebook in submission.notebooks for grade in notebook.grades]
        return sum(g.auto_score or 0 for g in grades), sum(g.needs_manual_grade for g in grades)


def test_every_instructor_block_of_the_readme_works_as_printed_in_order(tmp_path):
    before = snapshot()
    blocks = readme_instructor_blocks(ROOT / "README.md")
    course = fresh_copy(tmp_path / "course")
    assert not (course / "gradebook.db").exists() and not list((course / "submitted").glob("*/"))
    exchange, home = tmp_path / "exchange", tmp_path / "home"
    home.mkdir()
    # The reader's terminal: their own PATH (without the kit's environment), home and exchange.
    env = {
        "PATH": os.environ["PATH"].replace(f"{ROOT}/.venv/bin:", ""),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "NBGRADER_EXCHANGE": str(exchange),
    }
    student = pwd.getpwuid(os.getuid()).pw_name  # a student id is the account's name: this account submits its own work
    terminal = Terminal(course, env, tmp_path / "exported")
    release, solutions = (
        {p.relative_to(course): p.read_bytes() for p in (course / folder).rglob("*") if p.is_file()}
        for folder in ("release", "solutions")
    )
    seen = []
    for block in blocks:
        commands = [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]
        if "nbgrader collect" in block:
            _student_submits(tmp_path, exchange, {**env, "PATH": f"{ROOT}/.venv/bin:{env['PATH']}"}, student)
        if "nbgrader generate_feedback" in block:
            assert _grader_marks_every_written_answer(course, student) == WRITTEN_CELLS
        started = time.monotonic()
        done = terminal.run(block)
        print(f"{time.monotonic() - started:6.1f} s  {' && '.join(commands)}")  # pytest -s: where the time goes
        said = done.stdout + done.stderr
        assert done.returncode == 0, f"README block failed:\n{block}\n---\n{said[-4000:]}"
        seen += commands
        # The effect the README gives each command.
        if "make venv" in block:
            assert "Nothing to be done" in said  # the linked environment counted as built for this copy
            assert terminal.variable("PATH").startswith(f"{course}/.venv/bin:")
        if "make goldens" in block:
            for folder, files in (("release", release), ("solutions", solutions)):
                now = {p.relative_to(course): p.read_bytes() for p in (course / folder).rglob("*") if p.is_file()}
                assert now == files, f"make goldens changed {folder}/: the committed version drifted from source/"
        if "nbgrader release_assignment" in block:
            with Gradebook(f"sqlite:///{course / 'gradebook.db'}", COURSE_ID) as gb:
                assert sorted(nb.name for nb in gb.find_assignment(ASSIGNMENT).notebooks) == sorted(NOTEBOOKS)
            outbound = exchange / COURSE_ID / "outbound" / ASSIGNMENT
            assert sorted(p.stem for p in outbound.glob("*.ipynb")) == sorted(NOTEBOOKS)
        if "gankit.grade_class" in block:
            for name in NOTEBOOKS:
                assert (course / "submitted" / student / ASSIGNMENT / f"{name}.ipynb").is_file()
                assert (course / "autograded" / student / ASSIGNMENT / f"{name}.ipynb").is_file()
            assert _auto_and_waiting(course, student) == (AUTOMATIC_POINTS, WRITTEN_CELLS)
            assert "Graded 1 students in" in said, said[-2000:]
            assert "SAWarning" not in said  # docs/configuration.md: grading prints no SQLAlchemy warnings
        if "gankit.class_report" in block:
            report = course / "reports" / ASSIGNMENT
            assert "<html" in (report / "report.html").read_text(encoding="utf-8").lower()
            with (report / "canvas_grades.csv").open(encoding="utf-8") as file:
                rows = list(csv.reader(file))
            # Written answers not graded yet: the student is held back from Canvas's file, and named.
            assert not any(student in row for row in rows[1:]), rows
            assert f"held back until their written answers are graded: {student}" in said
        if "nbgrader generate_feedback" in block:
            for name in NOTEBOOKS:
                page = course / "feedback" / student / ASSIGNMENT / f"{name}.html"
                assert "not graded yet" not in page.read_text(encoding="utf-8")
            assert len(list((exchange / COURSE_ID / "feedback").glob("*.html"))) == len(NOTEBOOKS)
        if "nbgrader export" in block:
            with (course / "grades.csv").open(encoding="utf-8") as file:
                (row,) = [row for row in csv.DictReader(file) if row["student_id"] == student]
            total = AUTOMATIC_POINTS + WRITTEN_POINTS
            assert (float(row["score"]), float(row["max_score"])) == (total, total), row
    # The section's commands, each run once and in this order (none skipped by a test that
    # only recognised some of them): the path of the README, from environment to grades.
    order = [
        "make venv",
        "make goldens",
        "nbgrader generate_assignment",
        "nbgrader release_assignment",
        "nbgrader collect",
        "python -m gankit.grade_class",
        "python -m gankit.class_report",
        "nbgrader generate_feedback",
        "nbgrader release_feedback",
        "nbgrader export",
    ]
    ran = [step for line in seen for step in order if line.startswith(step)]
    assert ran == order, seen
    assert snapshot() == before  # the checkout's own course files and gradebook were not touched
