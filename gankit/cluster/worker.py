"""What a Dask worker does: grade one submission at a time in a private scratch course.

``GradingPlugin`` is installed on every worker (also on workers that join or are restarted later):
it writes the course it was given into a scratch folder of the worker's own, with the client's
template gradebook (the assignment's notebooks and cells, ``rows.template``), and keeps one
nbgrader ``autograde`` application for the worker's life. ``grade_submission`` is the task: it
writes the student's files into the scratch course, runs that application for the student (the
kit's pipeline, the sandbox and the hidden checks exactly as ``nbgrader autograde`` on one
machine), and returns the autograded files and the student's grade rows as plain data. The
worker holds no database credentials and writes nothing outside its scratch folder; the sandbox
stays the boundary around the student's code.
"""

from __future__ import annotations

import gc
import logging
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from distributed import WorkerPlugin, get_worker

from gankit.cluster import rows
from gankit.cluster.shipping import CourseFiles, Submission
from gankit.cluster.versions import differences, versions
from gankit.judging.student_process import discard_prestarted
from gankit.nbgrader_adapter.intake import Skipped, record_path, write_record

PLUGIN = "gankit-grading"
TEMPLATE = "template.db"  # the client's template gradebook, copied for each task


class VersionMismatch(RuntimeError):
    """This worker's packages differ from the client's: it must not grade."""


class _StudentLog(logging.Handler):
    """What nbgrader logs while one student is graded: its warnings and errors go back with the
    result (the worker's own output is not the grader's to read on a cluster)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []  # errors, first line of each
        self.lines: list[str] = []

    def clear(self) -> None:
        self.messages, self.lines = [], []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage().strip()
        self.lines.append(f"[{record.levelname}] {text}"[:2000])
        if record.levelno >= logging.ERROR:
            self.messages.append(text.splitlines()[0][:300] if text else record.levelname)


def _write_files(top: Path, files: dict[str, bytes]) -> None:
    for relative, data in files.items():
        path = (top / relative).resolve()
        if not path.is_relative_to(top.resolve()):
            raise ValueError(f"refusing to write outside {top}: {relative}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _read_files(top: Path) -> dict[str, tuple[int, bytes]]:
    """The files nbgrader wrote below ``top``: relative path -> (permission bits, bytes)."""
    if not top.is_dir():
        return {}
    return {
        str(p.relative_to(top)): (p.stat().st_mode & 0o7777, p.read_bytes())
        for p in sorted(top.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


class GradingPlugin(WorkerPlugin):
    """Sets up a worker to grade ``course`` (see the module's docstring)."""

    name = PLUGIN
    idempotent = False  # a new registration (a new course or settings) replaces the old

    def __init__(
        self,
        course: CourseFiles,
        client_versions: dict[str, str],
        template: bytes,
        autograde_args: list[str],
    ):
        self.course = course
        self.template = template
        self.client_versions = client_versions
        self.autograde_args = autograde_args
        self.scratch: Path | None = None
        self.mismatch: list[str] = []
        self._app: Any = None
        self._count = 0

    # -- the worker's life -----------------------------------------------------------------

    def setup(self, worker: Any) -> None:
        self._log = _StudentLog()  # made here: the plugin crosses to the worker pickled, a handler cannot
        self.mismatch = differences(self.client_versions, versions(), f"worker {worker.address}")
        if self.mismatch:
            return  # every task refuses, naming the difference
        os.environ.pop("GANKIT_DB_URL", None)  # the worker writes to its scratch gradebook only
        self.scratch = Path(tempfile.mkdtemp(prefix="gankit-worker-", dir=worker.local_directory))
        _write_files(self.scratch / "course", self.course.files)
        (self.scratch / TEMPLATE).write_bytes(self.template)

    def teardown(self, worker: Any) -> None:
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
        # The worker's process ends next. Python's exit would collect its ~380,000 objects (nbgrader,
        # SQLAlchemy, jupyter_client...) for about 0.8 s of CPU while the whole cluster waits to
        # close; frozen objects are left to the exit itself.
        gc.freeze()

    # -- one student -------------------------------------------------------------------------

    def _application(self, db_url: str) -> Any:
        """nbgrader's autograde application, made once per worker (loading nbgrader and the
        course's configuration once), pointed at this task's scratch gradebook."""
        if self._app is None:
            from nbgrader.apps.autogradeapp import AutogradeApp

            os.chdir(self.scratch / "course")  # nbgrader reads nbgrader_config.py from here
            app = AutogradeApp()
            app.initialize(
                ["--assignment", self.course.assignment, "--force", f"--CourseDirectory.db_url={db_url}"]
                + self.autograde_args
            )
            for handler in list(app.log.handlers):
                app.log.removeHandler(handler)  # nbgrader's console output: kept per student instead
            app.log.addHandler(self._log)
            self._app = app
        self._app.coursedir.db_url = db_url
        return self._app

    def grade(self, submission: Submission) -> dict[str, Any]:
        from nbgrader.api import Gradebook, MissingEntry

        if self.mismatch:
            raise VersionMismatch("; ".join(self.mismatch))
        assert self.scratch is not None
        course = self.scratch / "course"
        student, assignment = submission.student_id, submission.assignment
        for part in ("submitted", "autograded", "feedback"):
            shutil.rmtree(course / part, ignore_errors=True)
        self._count += 1
        gradebook = self.scratch / f"task-{self._count}.db"
        shutil.copyfile(self.scratch / TEMPLATE, gradebook)
        db_url = f"sqlite:///{gradebook}"
        started = time.monotonic()
        try:
            with Gradebook(db_url) as gb:
                rows.apply_prior(gb, assignment, student, submission.prior)
            folder = course / "submitted" / student / assignment
            folder.mkdir(parents=True)
            _write_files(folder, submission.files)
            write_record(folder, [Skipped(path, reason) for path, reason in submission.left_out])

            app = self._application(db_url)
            app.coursedir.student_id = student
            self._log.clear()
            try:
                app.start()
                ok = True
            except SystemExit as exit:
                ok = not exit.code
            except Exception as exc:  # a student's failure is a result, not a failed task
                ok = False
                self._log.messages.append(f"{type(exc).__name__}: {exc}")
            with Gradebook(db_url) as gb:
                try:
                    graded = rows.graded_rows(gb, assignment, student)
                except MissingEntry:  # autograde stopped before recording the submission
                    graded, ok = None, False
            dest = course / "autograded" / student / assignment
            record = record_path(dest)
            return {
                "student_id": student,
                "ok": ok and not self._log.messages,
                "error": "; ".join(self._log.messages[:3]),
                "seconds": round(time.monotonic() - started, 3),
                "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "rows": graded,
                "files": _read_files(dest),
                "record": record.read_bytes() if record.is_file() else None,
                "log": "\n".join(self._log.lines),
                "worker": get_worker().address,
            }
        finally:
            discard_prestarted()  # a runner started for a notebook that never reached its checks
            gradebook.unlink(missing_ok=True)


def grade_submission(submission: Submission) -> dict[str, Any]:
    """The task: grade one student's submission on this worker (see ``GradingPlugin.grade``)."""
    return get_worker().plugins[PLUGIN].grade(submission)
