"""The main job: the whole nbgrader course cycle on a simulated class.

Everything happens in a scratch copy of the course (``build/course-cycle`` by default) with its own
SQLite gradebook and exchange folder, so the instructor's gradebook and folders are never touched:

    generate_assignment -> release_assignment -> (each student) fetch_assignment, work, submit
    -> collect -> autograde (in parallel) -> generate_feedback -> export -> class report

It ends with a table of students and scores and says where the feedback and the CSV are.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from gankit import ASSIGNMENT, COURSE_ID, NOTEBOOKS, ROOT, class_report, inputs, points, scores
from gankit.goldens import copy_course
from gankit.grade_class import grade_class
from gankit.nbgrader_cli import run_nbgrader
from gankit.progress import Pace
from gankit.simulated_class import CLASS, WRITTEN_ANSWERS, Student, model_answers

DEFAULT_WORKDIR = ROOT / "build" / "course-cycle"


@dataclass
class CycleResult:
    """Where a finished course cycle left its gradebook, feedback and grades."""

    workdir: Path
    course: Path
    grades_csv: Path
    students: list[str]
    problems: list[str] = field(default_factory=list)
    report: Path | None = None
    class_data: class_report.ClassData | None = None

    @property
    def feedback(self) -> Path:
        return self.course / "feedback"

    def feedback_html(self, student_id: str, notebook: str) -> Path:
        return self.feedback / student_id / ASSIGNMENT / f"{notebook}.html"

    def autograded(self, student_id: str, notebook: str) -> Path:
        return self.course / "autograded" / student_id / ASSIGNMENT / f"{notebook}.ipynb"


class _Steps:
    """Runs nbgrader commands with shared options and keeps each one's output in ``logs/``."""

    def __init__(self, workdir: Path, say: Callable[[str], None]):
        self.workdir = workdir
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True)
        self.say = say
        self.numbers = itertools.count(1)  # next() on it is atomic, so threads get distinct numbers
        # Private exchange and Jupyter config: nothing of the machine's leaks in or out.
        self.exchange = workdir / "exchange"
        self.env = {
            "JUPYTER_CONFIG_DIR": str(workdir / "jupyter-config"),
            "JUPYTER_DATA_DIR": str(workdir / "jupyter-data"),
        }

    def nbgrader(self, *args: str, cwd: Path, check: bool = True, who: str = "instructor") -> int:
        number = next(self.numbers)
        # Everyone has a submit cache of their own, as in a real class (nbgrader creates it racily).
        options = [
            f"--Exchange.root={self.exchange}",
            f"--Exchange.cache={self.workdir / 'cache' / who}",
        ]
        done = run_nbgrader([*args, *options], cwd=cwd, env=self.env, check=check)
        log = self.logs / f"{number:03d}-{who}-{args[0]}.log"
        log.write_text(f"$ nbgrader {' '.join(args)}\n\n{done.stdout}\n{done.stderr}", encoding="utf-8")
        return done.returncode


WORKDIR_MARK = ".gankit-course-cycle"


def check_workdir(workdir: Path) -> None:
    """Refuse a scratch folder whose wiping would lose anything: one holding the kit itself, a
    file, or a folder with contents that no course cycle made."""
    workdir = workdir.resolve()
    if workdir == ROOT or workdir in ROOT.parents:
        raise inputs.BadInput(f"--workdir {workdir} holds the kit itself, and is wiped first: name a scratch folder")
    if workdir.exists() and not workdir.is_dir():
        raise inputs.BadInput(f"--workdir {workdir} is a file: name a scratch folder (it is wiped first)")
    former = (workdir / WORKDIR_MARK).is_file() or (
        (workdir / "logs").is_dir() and (workdir / "course" / "nbgrader_config.py").is_file()
    )
    if workdir.is_dir() and any(workdir.iterdir()) and not former:
        raise inputs.BadInput(
            f"--workdir {workdir} holds files that no course cycle made, and it is wiped first: "
            "name a new or empty folder"
        )


def _worth_saying(done: int, total: int) -> bool:
    """About ten progress lines per step, whatever the class size."""
    return done == total or done % max(1, total // 10) == 0


def _progress_line(what: str, done: int, total: int, left: float | None, failed: int = 0) -> str:
    """One line of progress for a long step: how many are done, and about how long is left."""
    estimate = "estimating the time left" if left is None else f"about {left:.0f} s left"
    return f"  {done}/{total} {what}{f', {failed} failed' if failed else ''}, {estimate}"


def run_cycle(
    workdir: Path = DEFAULT_WORKDIR,
    students: Sequence[Student] = CLASS,
    root: Path = ROOT,
    say: Callable[[str], None] = print,
    grade: bool = True,
) -> CycleResult:
    """Run the whole course cycle for ``students`` in ``workdir`` (wiped first, if it is a former
    cycle's); with ``grade=False``, stop once the submissions are collected."""
    check_workdir(workdir)
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    (workdir / WORKDIR_MARK).write_text("made by gankit.course_cycle: wiped by its next run\n", encoding="utf-8")
    steps = _Steps(workdir, say)
    course = copy_course(workdir / "course", root)
    result = CycleResult(workdir, course, workdir / "grades.csv", [s.student_id for s in students])

    started = time.perf_counter()
    say(f"Instructor: generate and release {ASSIGNMENT} (course {COURSE_ID}) in {course}")
    steps.nbgrader("generate_assignment", ASSIGNMENT, "--force", cwd=course)
    steps.nbgrader("release_assignment", ASSIGNMENT, "--force", cwd=course)

    answers = model_answers(course / "source" / ASSIGNMENT)
    say(f"Students: {len(students)} fetch, work and submit through the exchange")

    def attend(student: Student) -> None:
        home = workdir / "students" / student.student_id
        home.mkdir(parents=True)
        who = student.student_id
        steps.nbgrader("fetch_assignment", ASSIGNMENT, f"--course={COURSE_ID}", cwd=home, who=who)
        student.do_homework(home / ASSIGNMENT, answers, WRITTEN_ANSWERS)
        steps.nbgrader("submit", ASSIGNMENT, f"--course={COURSE_ID}", f"--student={who}", cwd=home, who=who)

    # Students work at the same time, as in a real class; result() re-raises the first failure.
    parallel = os.cpu_count() or 2
    pace = Pace(parallel)
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        working = [pool.submit(attend, student) for student in students]
        for done, future in enumerate(as_completed(working), 1):
            future.result()
            left = pace.left(done, len(students))
            if _worth_saying(done, len(students)):
                say(_progress_line("submitted", done, len(students), left))

    say("Instructor: collect, autograde, generate feedback, export")
    # The simulated class submits from one account (submit --student): owner checks would refuse it.
    steps.nbgrader("collect", ASSIGNMENT, "--ExchangeCollect.check_owner=False", cwd=course)
    if not grade:
        return result
    # nbgrader's autograde on a local Dask cluster (one worker process per core), this process
    # writing every result; one broken submission never stops the others.
    grading = Pace(os.cpu_count() or 1)  # grade_class's workers: one per core

    def graded_progress(done: int, total: int, failed: int, _: float) -> None:
        left = grading.left(done, total)
        if _worth_saying(done, total):
            say(_progress_line("graded", done, total, left, failed))

    graded = grade_class(course, ASSIGNMENT, env=steps.env, logs=steps.logs / "autograde", progress=graded_progress)
    for failure in graded.failed:
        result.problems.append(f"autograde failed for {failure.student_id}: {failure.error} (logs: {graded.logs})")
    say(f"Autograded {len(graded.results)} students in {graded.seconds:.1f} s on {graded.workers} Dask workers")
    if steps.nbgrader("generate_feedback", ASSIGNMENT, "--force", cwd=course, check=False) != 0:
        result.problems.append(f"generate_feedback reported errors; see {steps.logs}")
    steps.nbgrader("export", f"--to={result.grades_csv}", cwd=course)
    failures = {f.student_id: f.error for f in graded.failed}
    result.class_data = class_report.collect(course, ASSIGNMENT, failures)
    result.report = class_report.write_report(result.class_data, workdir / "report")
    say(f"Done in {time.perf_counter() - started:.1f} s")
    return result


def score_table(result: CycleResult, students: Sequence[Student] = CLASS) -> str:
    """A plain-text table of each student's automatic scores per notebook."""
    described = {s.student_id: s.description for s in students}
    header = [
        "student",
        *[name.split("_")[0] for name in NOTEBOOKS],
        "auto total",
        "written",
        "what they did",
    ]
    rows = []
    for student_id in result.students:
        cells = scores.cell_scores(result.course, student_id)
        auto, auto_max = zip(*(scores.auto_total(cells, name) for name in NOTEBOOKS), strict=True)
        pending = sum(c.needs_manual_grade for nb in cells.values() for c in nb.values())
        rows.append(
            [
                student_id,
                *[f"{points(a)}/{points(m)}" for a, m in zip(auto, auto_max, strict=True)],
                f"{points(sum(auto))}/{points(sum(auto_max))}",
                f"{pending} to grade" if pending else "-",
                described.get(student_id, ""),
            ]
        )
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line (see the module's docstring); bad input is one line and exit status 2."""
    return inputs.run("course_cycle", lambda: _main(argv))


def _main(argv: Sequence[str] | None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="scratch folder (wiped first)")
    args = parser.parse_args(argv)
    check_workdir(args.workdir)
    result = run_cycle(args.workdir.resolve())
    print()
    print(score_table(result))
    print()
    print(class_report.text_summary(result.class_data))
    print()
    print(f"Gradebook:   {result.course / 'gradebook.db'}")
    print(f"Feedback:    {result.feedback}/<student>/{ASSIGNMENT}/<notebook>.html")
    held = sum(bool(row.awaiting) for row in result.class_data.students)
    print(
        f"Grades CSV:  {result.grades_csv} (nbgrader export); {result.report.parent / 'canvas_grades.csv'} (Canvas"
        + (f"; {held} students held back until their written answers are graded)" if held else ")")
    )
    print(f"Report:      {result.report}")
    print(f"Logs:        {result.workdir / 'logs'}")
    for problem in result.problems:
        print(f"PROBLEM: {problem}")
    return 1 if result.problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
