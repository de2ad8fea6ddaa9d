"""Autograde every submission of an assignment on Dask distributed, on this machine or a cluster.

    python -m gankit.grade_class [ASSIGNMENT] [--workers N] [--scheduler tcp://HOST:8786]
                                 [--student ID ...] [--force] [--dashboard] [--course DIR]
                                 [--preview [--preview-report FILE]]

``--preview`` grades into a scratch course and gradebook instead, and prints (and writes as HTML)
whose automatic score would move, by how much, on which check, and the feedback lines that change;
nothing of the course changes (``gankit.regrade_preview``).

Without ``--scheduler`` it starts a local cluster (``gankit.cluster.local``): one single-threaded
worker process per core, listening on 127.0.0.1 only, over TLS with a certificate made for the run
(other users of the machine cannot connect), with no HTTP port; ``--dashboard`` serves Dask's
dashboard on a Unix socket only the grader's account may open. With it, it uses a running
cluster (``dask scheduler`` and ``dask worker``, Slurm through dask-jobqueue, Dask-Gateway; see
docs/dask.md). Either way:

- a task is one student: their submitted files cross as bytes, read here as data; the course's
  configuration, source, release and solutions and a template gradebook made here cross once per
  worker (``gankit.cluster.worker``), and the worker grades in a scratch course of its own with
  ``nbgrader autograde`` and the kit's pipeline;
- this process is the only writer: autograded files and grade rows (SQLite or PostgreSQL, as the
  course configures its gradebook), one transaction per student, idempotently; a submission that
  has not changed since it was last graded is skipped unless ``--force``;
- a student's faults are results (scores and notes); a worker that dies is replaced and its task
  retried; a submission that kills workers again and again is named and given up;
- workers whose packages or kit differ from this process's are refused, naming the difference.

Progress shows done / total and time left; the end summary names every student whose grading
failed and why, and the exit status is 1 if any did.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import dask
from distributed import Client, as_completed
from distributed.scheduler import KilledWorker
from nbgrader.api import Gradebook

from gankit import ASSIGNMENT, COURSE_ID, inputs, regrade_preview, scores
from gankit.cluster import rows
from gankit.cluster.local import RunCluster
from gankit.cluster.shipping import Submission, read_course, read_submission
from gankit.cluster.versions import differences, versions
from gankit.cluster.worker import GradingPlugin, VersionMismatch, grade_submission
from gankit.cluster.writes import already_graded, write_result
from gankit.nbgrader_adapter import faults
from gankit.nbgrader_adapter.intake import Bounds, course_python, python_allowed
from gankit.nbgrader_cli import nbgrader_env
from gankit.progress import Pace

# nbgrader's warnings per student, in the course (not the temporary folder: they are the grader's
# to read, and outlive the run).
LOGS = "autograde-logs"

# Worker deaths one task may cause before it is given up (on a LocalCluster; a running scheduler
# has its own setting, distributed.scheduler.allowed-failures, 3 by default).
ALLOWED_FAILURES = 2


@dataclass
class StudentResult:
    student_id: str
    ok: bool
    seconds: float = 0.0
    error: str = ""
    max_rss_mb: float = 0.0  # the worker's peak resident memory so far
    skipped: bool = False  # unchanged since it was last graded
    worker: str = ""


@dataclass
class RunSummary:
    results: list[StudentResult] = field(default_factory=list)
    seconds: float = 0.0
    workers: int = 0
    logs: Path | None = None  # nbgrader's warnings and errors, per student who had any

    @property
    def failed(self) -> list[StudentResult]:
        return [r for r in self.results if not r.ok]

    @property
    def skipped(self) -> list[StudentResult]:
        return [r for r in self.results if r.skipped]


def submitted_students(course: Path, assignment: str) -> list[str]:
    """Students with a submission of ``assignment`` in ``submitted/``, sorted."""
    folder = course / "submitted"
    return sorted(p.parent.name for p in folder.glob(f"*/{assignment}") if p.is_dir())


def _progress(done: int, total: int, failed: int, left: float | None, stream) -> None:
    width = 30
    bar = "#" * (width * done // total) + "." * (width - width * done // total)
    end = "\n" if done == total or not stream.isatty() else ""
    estimate = "estimating the time left" if left is None else f"about {left:.0f} s left"
    stream.write(f"\r[{bar}] {done}/{total} students, {failed} failed, {estimate}{end}")
    stream.flush()


def _connect(
    scheduler: str | Any | None, workers: int | None, env: Mapping[str, str] | None, dashboard: bool
) -> tuple[Client, RunCluster | None]:
    """A client of ``scheduler`` (an address, or a cluster object such as Dask-Gateway's; TLS as
    Dask's configuration says), or of a new local cluster bound to loopback (``RunCluster``).

    Loopback is not private on a shared machine (a hub's students are users of it too), and whoever
    reaches a scheduler can run code on its workers. So the local cluster speaks TLS with a key
    and certificate made for this run, in memory, that every connection must present, and serves
    no HTTP port (the dashboard, if asked for, on a Unix socket only this account may open)."""
    if scheduler:
        return Client(scheduler, timeout="60s"), None
    cluster = RunCluster(workers or os.cpu_count() or 1, env=dict(nbgrader_env(env)), dashboard=dashboard)
    if cluster.dashboard_socket:
        print(
            f"Dask's dashboard, for this account only: the Unix socket {cluster.dashboard_socket}"
            f" (e.g. from your machine: ssh -L 8787:{cluster.dashboard_socket} THIS-HOST, then open"
            " http://localhost:8787/info/main/workers.html)",
            file=sys.stderr,
        )
    return Client(cluster), cluster


def check_versions(client: Client, here: dict[str, str]) -> None:
    """Refuse workers whose Python, packages or kit differ from ``here`` (this process's)."""
    found = [line for address, theirs in client.run(versions).items() for line in differences(here, theirs, address)]
    if found:
        raise VersionMismatch("workers differ from this machine: " + "; ".join(found))


def grade_class(
    course: Path,
    assignment: str = ASSIGNMENT,
    *,
    workers: int | None = None,
    scheduler: str | Any | None = None,
    students: Sequence[str] | None = None,
    force: bool = False,
    autograde_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    dashboard: bool = False,
    progress: Callable[[int, int, int, float], None] | None = None,
    logs: Path | None = None,
) -> RunSummary:
    """Grade every submitted student (or ``students``) of ``assignment`` on a Dask cluster; write
    every result here. nbgrader's warnings for a student go to ``logs/<student>.log`` (by default
    the course's ``LOGS/<assignment>``, made only if there are any; a student graded without any
    has their old log removed). See the module's docstring."""
    course = course.resolve()
    queue = list(students if students is not None else submitted_students(course, assignment))
    summary = RunSummary()
    if not queue:
        return summary
    total = len(queue)
    directory = scores.course_directory(course)
    bounds = Bounds(
        max_file_bytes=directory.max_file_size * 1000,
        max_total_bytes=directory.max_dir_size * 1000,
        python_allowed=python_allowed(directory.config, assignment),
        course_python=course_python(directory.format_path(directory.source_directory, ".", assignment)),
    )
    course_files = read_course(course, assignment)
    here = versions()  # read once: the kit's digest reads every file of the package
    salt = course_files.digest + here["gankit"] + json.dumps(list(autograde_args))
    summary.logs = logs if logs is not None else course / LOGS / assignment
    started = time.monotonic()

    with (
        dask.config.set(
            {
                "distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
                # The local workers' statistical profiler samples every thread 100 times a second
                # for the dashboard's profile page: CPU taken from grading when nobody looks.
                "distributed.worker.profile.enabled": dashboard,
            }
        ),
        Gradebook(scores.db_url(course), COURSE_ID) as gb,
    ):
        names = rows.cell_names(gb, assignment)
        rows.ensure_indexes(gb)
        template = rows.template(gb, assignment)
        client, cluster = _connect(scheduler, workers if workers is None else min(workers, total), env, dashboard)
        try:
            client.wait_for_workers(1, timeout=300)
            check_versions(client, here)
            client.register_plugin(GradingPlugin(course_files, here, template, list(autograde_args)))
            summary.workers = len(client.scheduler_info(n_workers=-1)["workers"])
            window = max(2, 2 * summary.workers)
            running = as_completed()
            digests: dict[str, str] = {}

            def finish(result: StudentResult) -> None:
                summary.results.append(result)
                if progress:
                    progress(len(summary.results), total, len(summary.failed), started)

            def feed() -> None:
                while queue and running.count() < window:
                    student_id = queue.pop(0)
                    submission = read_submission(course, assignment, student_id, bounds, directory.ignore, salt)
                    if submission is None:
                        folder = course / "submitted" / student_id / assignment
                        why = (
                            "is a link"
                            if folder.is_symlink()
                            else "is not a folder"
                            if folder.exists()
                            else "is missing"
                        )
                        finish(StudentResult(student_id, False, error=f"not graded: {folder} {why}"))
                        continue
                    if not force and already_graded(course, gb, assignment, student_id, submission.digest):
                        finish(StudentResult(student_id, True, skipped=True))
                        continue
                    submission = _with_prior(submission, gb, assignment)
                    digests[student_id] = submission.digest
                    key = f"grade-{assignment}-{student_id}-{uuid.uuid4().hex[:8]}"
                    future = client.submit(grade_submission, submission, key=key, pure=False)
                    future.student_id = student_id  # type: ignore[attr-defined]
                    running.add(future)

            feed()
            for future in running:
                student_id = future.student_id
                finish(_write(course, gb, assignment, future, digests[student_id], names, summary))
                future.release()
                feed()
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    summary.results.sort(key=lambda r: r.student_id)
    summary.seconds = time.monotonic() - started
    return summary


def _with_prior(submission: Submission, gb: Gradebook, assignment: str) -> Submission:
    prior = rows.prior_state(gb, assignment, submission.student_id)
    gb.db.commit()  # end the read: a SQLite gradebook stays free for others between writes
    return replace(submission, prior=prior)


def _write(
    course: Path, gb: Gradebook, assignment: str, future, digest: str, names: dict[str, str], summary: RunSummary
) -> StudentResult:
    """One finished task, written here; whatever went wrong is this student's result alone."""
    student_id = future.student_id
    try:
        result = future.result()
    except KilledWorker as error:
        return StudentResult(
            student_id,
            False,
            error=f"its grading killed {error.allowed_failures + 1} workers; not retried (grade it alone to see why)",
        )
    except VersionMismatch as error:
        return StudentResult(student_id, False, error=f"refused by a worker: {error}")
    except Exception as error:  # noqa: BLE001 - a task that failed costs its student alone
        return StudentResult(student_id, False, error=f"grading failed: {type(error).__name__}: {error}"[:500])
    try:
        write_result(course, gb, assignment, result, digest, names)
    except Exception as error:  # noqa: BLE001
        gb.db.rollback()
        return StudentResult(student_id, False, error=f"could not write the result: {type(error).__name__}: {error}")
    assert summary.logs is not None  # set by grade_class
    log = summary.logs / f"{student_id}.log"
    if result.get("log"):
        summary.logs.mkdir(parents=True, exist_ok=True)
        log.write_text(result["log"], encoding="utf-8")
    else:
        log.unlink(missing_ok=True)  # an earlier grading's
    return StudentResult(
        student_id,
        result["ok"],
        result["seconds"],
        result["error"],
        result["max_rss_mb"],
        worker=result.get("worker", ""),
    )


# Anything else on the command line goes to nbgrader's autograde: a setting, --Class.trait=value.
_SETTING = re.compile(r"--[A-Za-z_]\w*\.[A-Za-z_]\w*=.*", re.DOTALL)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line (see the module's docstring); bad input is one line and exit status 2."""
    return inputs.run("grade_class", lambda: _main(argv))


def _main(argv: Sequence[str] | None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assignment", nargs="?", default=ASSIGNMENT)
    parser.add_argument("--workers", type=int, default=None, help="local worker processes (default: one per core)")
    parser.add_argument("--scheduler", help="a running Dask scheduler's address, e.g. tcp://10.0.0.5:8786")
    parser.add_argument("--student", action="append", dest="students", help="grade only this student (repeatable)")
    parser.add_argument("--force", action="store_true", help="grade again even submissions that have not changed")
    parser.add_argument(
        "--dashboard",
        action="store_true",
        help="serve Dask's dashboard to this account only, on a Unix socket (its path is printed)",
    )
    parser.add_argument("--course", type=Path, default=Path.cwd(), help="the course directory (default: here)")
    parser.add_argument(
        "--preview",
        action="store_true",
        help="grade into a scratch gradebook and show whose score would move; change nothing of the course",
    )
    parser.add_argument(
        "--preview-report",
        type=Path,
        help=f"where --preview writes its page (default: <course>/reports/<assignment>/{regrade_preview.REPORT_NAME})",
    )
    args, extra = parser.parse_known_args(argv)
    unknown = [arg for arg in extra if not _SETTING.fullmatch(arg)]
    if unknown:
        raise inputs.BadInput(
            f"unknown option or argument {unknown[0]!r}: see --help (nbgrader settings go as --Class.trait=value)"
        )
    inputs.positive(args.workers, "--workers")
    course = inputs.course(args.course)
    inputs.assignment(course, args.assignment)
    for part in ("release", "solutions"):
        if not (course / part / args.assignment).is_dir():
            raise inputs.BadInput(
                f"{course / part / args.assignment} is missing: grading needs it (make goldens, or "
                f"nbgrader generate_assignment {args.assignment})"
            )
    students = (
        inputs.students(course, args.assignment, args.students)
        if args.students
        else inputs.submitted(course, args.assignment)
    )
    if args.preview_report is not None and not args.preview:
        raise inputs.BadInput("--preview-report names the page of --preview: add --preview, or leave it out")
    if args.preview_report is not None and args.preview_report.is_dir():
        raise inputs.BadInput(f"--preview-report {args.preview_report} is a folder: name the HTML file to write")
    pace = Pace(min(args.workers or os.cpu_count() or 1, len(students)))  # grade_class's own worker count
    if args.preview:
        inputs.graded(inputs.gradebook(course), course, args.assignment)  # the grades to compare with
        return _preview(args, course, students, extra, pace)
    try:
        summary = grade_class(
            course,
            args.assignment,
            workers=args.workers,
            scheduler=args.scheduler,
            students=students,
            force=args.force,
            autograde_args=extra,
            dashboard=args.dashboard,
            progress=lambda done, total, failed, _: _progress(done, total, failed, pace.left(done, total), sys.stderr),
        )
    except VersionMismatch as error:
        print(f"Not graded: {error}", file=sys.stderr)
        return 1
    except (OSError, TimeoutError) as error:  # no scheduler there, or no worker joined it
        print(f"Not graded: could not reach the cluster ({type(error).__name__}: {error})", file=sys.stderr)
        return 1
    graded = len(summary.results) - len(summary.skipped)
    print(
        f"Graded {graded} students in {summary.seconds:.1f} s on {summary.workers} workers"
        f" ({len(summary.skipped)} unchanged since their last grading, skipped); {len(summary.failed)} failed."
    )
    if summary.logs and summary.logs.is_dir() and any(summary.logs.iterdir()):
        print(f"nbgrader's warnings, per student: {summary.logs}")
    for result in summary.failed:
        print(f"  FAILED {result.student_id}: {result.error or 'see the nbgrader log'}")
    ok = {r.student_id for r in summary.results if r.ok and not r.skipped}
    found = [f for f in faults.collect(course / "autograded", args.assignment) if f[0] in ok]
    if found:
        print(f"Faults while grading ({len(found)}; each cost at most its own cell):")
        print("\n".join(faults.summary_lines(found)))
    return 1 if summary.failed else 0


def _preview(args: argparse.Namespace, course: Path, students: list[str], extra: list[str], pace: Pace) -> int:
    def grade(scratch: Path) -> RunSummary:
        return grade_class(
            scratch,
            args.assignment,
            workers=args.workers,
            scheduler=args.scheduler,
            students=students,
            force=True,
            autograde_args=extra,
            dashboard=args.dashboard,
            progress=lambda done, total, failed, _: _progress(done, total, failed, pace.left(done, total), sys.stderr),
        )

    try:
        preview = regrade_preview.preview_regrade(course, args.assignment, students, grade)
    except VersionMismatch as error:
        print(f"Not previewed: {error}", file=sys.stderr)
        return 1
    except (OSError, TimeoutError) as error:
        print(f"Not previewed: could not reach the cluster ({type(error).__name__}: {error})", file=sys.stderr)
        return 1
    print(regrade_preview.text(preview))
    page = args.preview_report or course / "reports" / args.assignment / regrade_preview.REPORT_NAME
    print(f"Preview page: {regrade_preview.write_html(preview, page)}")
    return 1 if preview.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
