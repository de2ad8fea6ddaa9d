"""Autograde every submission of an assignment with several worker processes.

    python -m gankit.parallel_autograde gan_exercises [--workers N] [--course DIR]

Each worker is one Python process that loads nbgrader and the course configuration once and then
runs nbgrader's own ``autograde`` for one student at a time, as many as it is handed: the same
converter, preprocessors (hidden checks included) and gradebook writes as ``nbgrader autograde``,
without paying nbgrader's start-up for every student. Students are handed out one by one to
whichever worker is free. SQLite gradebooks get a generous lock timeout, so workers wait for each
other's short writes instead of failing with "database is locked"; for PostgreSQL set
``CourseDirectory.db_url`` as usual.

The run shows progress (done / total, failures, time left) and ends with a summary that names
every student whose grading failed, and why; the exit status is 1 if any did.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import selectors
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gankit import ASSIGNMENT
from gankit.grading import faults
from gankit.nbgrader_cli import nbgrader_env

SQLITE_LOCK_TIMEOUT = 120  # seconds a worker waits for another's write to the gradebook


@dataclass
class StudentResult:
    student_id: str
    ok: bool
    seconds: float
    error: str = ""
    max_rss_mb: float = 0.0  # the worker's peak resident memory so far


@dataclass
class RunSummary:
    results: list[StudentResult] = field(default_factory=list)
    seconds: float = 0.0
    logs: Path | None = None  # nbgrader's own log of each worker

    @property
    def failed(self) -> list[StudentResult]:
        return [r for r in self.results if not r.ok]


def submitted_students(course: Path, assignment: str) -> list[str]:
    """Students with a submission of ``assignment`` in ``submitted/``, sorted."""
    folder = course / "submitted"
    return sorted(p.parent.name for p in folder.glob(f"*/{assignment}") if p.is_dir())


def _progress(done: int, total: int, failed: int, started: float, stream) -> None:
    elapsed = time.monotonic() - started
    left = elapsed / done * (total - done) if done else 0.0
    width = 30
    bar = "#" * (width * done // total) + "." * (width - width * done // total)
    end = "\n" if done == total or not stream.isatty() else ""
    stream.write(f"\r[{bar}] {done}/{total} students, {failed} failed, about {left:.0f} s left{end}")
    stream.flush()


def autograde_in_parallel(
    course: Path,
    assignment: str = ASSIGNMENT,
    workers: int | None = None,
    students: Sequence[str] | None = None,
    extra_args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    progress: Callable[[int, int, int, float], None] | None = None,
) -> RunSummary:
    """Grade every submitted student (or ``students``) of ``assignment`` with ``workers`` processes."""
    queue = list(students if students is not None else submitted_students(course, assignment))
    total = len(queue)
    summary = RunSummary()
    if not queue:
        return summary
    count = max(1, min(workers or os.cpu_count() or 1, total))
    argv = ["--assignment", assignment, "--force", *extra_args]
    logs = Path(tempfile.mkdtemp(prefix="gankit-autograde-logs-"))
    summary.logs = logs
    started = time.monotonic()
    pool = [
        subprocess.Popen(
            [sys.executable, "-m", "gankit.parallel_autograde", "--worker", json.dumps(argv)],
            cwd=course,
            env=nbgrader_env(env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=(logs / f"worker-{number}.log").open("w"),
            text=True,
            bufsize=1,
        )
        for number in range(count)
    ]
    busy: dict[int, str] = {}

    def hand_out(index: int) -> None:
        if queue:
            busy[index] = queue.pop(0)
            pool[index].stdin.write(busy[index] + "\n")
            pool[index].stdin.flush()
        else:
            pool[index].stdin.close()

    for index in range(count):
        hand_out(index)
    with selectors.DefaultSelector() as selector:
        for index, worker in enumerate(pool):
            selector.register(worker.stdout, selectors.EVENT_READ, index)
        while busy:
            for key, _ in selector.select():
                index = key.data
                line = pool[index].stdout.readline()
                student_id = busy.pop(index, None)
                if not line:  # the worker died: its student failed, the others go on elsewhere
                    selector.unregister(key.fileobj)
                    if student_id is not None:
                        summary.results.append(StudentResult(student_id, False, 0.0, "the grading worker died"))
                    continue
                try:
                    result = StudentResult(**json.loads(line))
                except (ValueError, TypeError):
                    result = StudentResult(student_id or "?", False, 0.0, f"unreadable reply: {line[:80]!r}")
                summary.results.append(result)
                hand_out(index)
                if progress:
                    progress(len(summary.results), total, len(summary.failed), started)
    for worker in pool:
        worker.wait()
    # Students a dead worker never reported on.
    graded = {r.student_id for r in summary.results}
    for student_id in queue:
        if student_id not in graded:
            summary.results.append(StudentResult(student_id, False, 0.0, "not graded: every worker died"))
    summary.results.sort(key=lambda r: r.student_id)
    summary.seconds = time.monotonic() - started
    return summary


class _Errors(logging.Handler):
    """Collects the error messages nbgrader logs while one student is graded."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage().strip().splitlines()[0][:300])


def _worker(argv: list[str]) -> None:
    """Grade the students named on stdin, one per line; answer each with one JSON line."""
    from nbgrader.apps.autogradeapp import AutogradeApp

    # Replies go through a private copy of stdout; file descriptor 1 becomes the log, so that
    # nothing else (nbgrader's prints, kernels and the processes they start) can reach the parent.
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    app = AutogradeApp()
    app.initialize(argv)
    url = app.coursedir.db_url
    if url.startswith("sqlite:///") and "?" not in url:
        # Wait for another worker's write instead of failing with "database is locked".
        app.coursedir.db_url = f"{url}?timeout={SQLITE_LOCK_TIMEOUT}"
    errors = _Errors()
    app.log.addHandler(errors)
    for line in sys.stdin:
        student_id = line.strip()
        errors.messages.clear()
        started = time.monotonic()
        app.coursedir.student_id = student_id
        try:
            app.start()
            ok = True
        except SystemExit as exit:
            ok = not exit.code
        except Exception as exc:  # one student's failure never stops the others
            ok = False
            errors.messages.append(f"{type(exc).__name__}: {exc}")
        reply = {
            "student_id": student_id,
            "ok": ok and not errors.messages,
            "seconds": round(time.monotonic() - started, 3),
            "error": "; ".join(errors.messages[:3]),
            "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assignment", nargs="?", default=ASSIGNMENT)
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: the number of cores)")
    parser.add_argument("--course", type=Path, default=Path.cwd(), help="the course directory (default: here)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args, extra = parser.parse_known_args(argv)
    if args.worker is not None:
        _worker(json.loads(args.worker))
        return 0
    summary = autograde_in_parallel(
        args.course.resolve(),
        args.assignment,
        args.workers,
        extra_args=extra,
        progress=lambda done, total, failed, started: _progress(done, total, failed, started, sys.stderr),
    )
    print(f"Graded {len(summary.results)} students in {summary.seconds:.1f} s; {len(summary.failed)} failed.")
    if summary.logs:
        print(f"nbgrader's log of each worker: {summary.logs}")
    for result in summary.failed:
        print(f"  FAILED {result.student_id}: {result.error or 'see the nbgrader log'}")
    graded = {r.student_id for r in summary.results if r.ok}
    found = [f for f in faults.collect(args.course.resolve() / "autograded", args.assignment) if f[0] in graded]
    if found:
        print(f"Faults while grading ({len(found)}; each cost at most its own cell):")
        print("\n".join(faults.summary_lines(found)))
    return 1 if summary.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
