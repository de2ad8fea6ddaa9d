"""``nbgrader autograde`` that grades every notebook it can and names every one it cannot.

``gankit.nbgrader_adapter.pipeline`` calls ``install()``, so that plain ``nbgrader autograde`` (and formgrader,
and the kit's parallel workers) use ``KitAutograde``. It differs from nbgrader's ``Autograde`` in
four places, each a case where nbgrader would drop a student's whole submission:

* a notebook that cannot be read or converted (not JSON, not UTF-8, an nbformat version nbgrader
  cannot read, metadata nbgrader rejects) is graded as its released version would be: 0 points,
  with the reason in every test cell's feedback. The submitted file is left untouched, and the
  student's other notebooks are graded normally;
* a submission folder with no notebooks gets 0 for each notebook and says so, instead of no
  grades at all;
* a run that was killed part-way leaves a marker in the student's autograded folder; the next
  run grades that student again instead of skipping the half-written result;
* if the sandbox cannot be built, the run stops before touching any student, with the reason;
* a student's files are data: nbgrader reads a private copy of each submission made by
  ``gankit.nbgrader_adapter.intake`` (no link followed, no special file opened, sizes bounded), and what
  was left out is recorded beside the autograded folder, in the gradebook's comments and in the
  run's summary.

At the end it logs a summary naming every fault (see ``gankit.nbgrader_adapter.faults``), and exits with
status 1 if any notebook could not be graded, as nbgrader does (after grading all the others).
"""

from __future__ import annotations

import dataclasses
import glob
import os
import shutil
from pathlib import Path

import nbformat
import sqlalchemy
from nbformat.reader import NotJSONError
from nbgrader import utils
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.converters import Autograde
from nbgrader.converters.base import BaseConverter, NbGraderException

from gankit.judging.student_process import discard_prestarted
from gankit.nbgrader_adapter.faults import UNREADABLE_KEY, collect_dir, summary_lines
from gankit.nbgrader_adapter.intake import Bounds, Skipped, course_python, python_allowed, take_in, write_record
from gankit.sandbox.availability import SandboxUnavailable, ensure_available
from gankit.sandbox.command import private_folder, remove_stale_folders
from gankit.sandbox.settings import Sandbox

IN_PROGRESS = ".gankit-grading"  # present while a student is being graded; absent once done
LEFT_OUT = "Left out of your submission, so not graded: "
# Problems of the grader's, not of one notebook: they stop the run, as in nbgrader. (nbgrader also
# stops everything on a notebook with an old or new nbgrader schema; a student can set that in a
# cell's metadata, so here it costs that notebook alone.)
_FATAL = (KeyboardInterrupt, SandboxUnavailable, sqlalchemy.exc.OperationalError)


def describe(error: BaseException) -> str:
    """Why a submitted notebook could not be graded, in words a student understands."""
    if isinstance(error, NotJSONError):
        return "the file is not valid JSON, so it is not a readable notebook (was it edited outside Jupyter?)"
    if isinstance(error, UnicodeDecodeError):
        return "the file is not UTF-8 text, so it is not a readable notebook"
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if "nbformat" in text.lower() or type(error).__name__ == "NBFormatError":
        return f"the notebook format is one nbgrader cannot read ({text[:200]})"
    return f"nbgrader could not process it: {type(error).__name__}: {text[:300]}"


class KitAutograde(Autograde):
    """nbgrader's ``Autograde`` with per-notebook isolation of broken submissions (see module doc)."""

    _graded: list[Path]
    _failed: list[str]

    def start(self) -> None:
        self._graded, self._failed = [], []
        if Sandbox(parent=self).enabled:
            try:
                ensure_available()  # before any student: a refusal must not leave half a run behind
            except SandboxUnavailable as error:
                self.log.error("%s", error)
                raise NbGraderException(str(error)) from None
        submitted = self.coursedir.submitted_directory
        remove_stale_folders()  # of graders killed before they could clean up
        private = private_folder("intake")
        try:
            self._intake = self._take_in(private)
            self.coursedir.submitted_directory = private  # nbgrader reads the checked copies only
            super().start()
            if self._failed:
                # Everything else is graded; the exit status still says that something was not.
                message = (
                    f"{len(self._failed)} notebooks could not be graded (each scored 0, with the reason "
                    "in its feedback): " + "; ".join(self._failed)
                )
                self.log.error(message)
                raise NbGraderException(message)
        finally:
            # The hidden checks' server started ahead for a next notebook: none comes. In a
            # long-lived process (Formgrader, in the graders' JupyterLab) it would wait idle.
            discard_prestarted()
            self.coursedir.submitted_directory = submitted
            shutil.rmtree(private, ignore_errors=True)
            found = [item for dest in self._graded for item in collect_dir(dest)]
            if found:
                self.log.warning("Faults while grading (%d):\n%s", len(found), "\n".join(summary_lines(found)))

    # -- a student's files are data ----------------------------------------------------------

    def _take_in(self, private: str) -> dict[str, list[Skipped]]:
        """Copy every submission to be graded into ``private`` with ``copy_submission``; return
        what was left out of each (also what collect left out, as it recorded)."""
        pattern = self.coursedir.format_path(
            self.coursedir.submitted_directory, self.coursedir.student_id, self.coursedir.assignment_id
        )
        bounds = Bounds(
            max_file_bytes=self.coursedir.max_file_size * 1000,
            max_total_bytes=self.coursedir.max_dir_size * 1000,
        )
        left_out: dict[str, list[Skipped]] = {}
        for found in sorted(glob.glob(pattern)):
            folder = Path(found)
            student_id, assignment_id = folder.parent.name, folder.name
            own = dataclasses.replace(
                bounds,
                python_allowed=python_allowed(self.config, assignment_id),  # the course's exclude_overwriting
                course_python=course_python(
                    self.coursedir.format_path(self.coursedir.source_directory, ".", assignment_id)
                ),
            )
            skipped = take_in(folder, Path(private) / student_id / assignment_id, own, self.coursedir.ignore)
            if skipped is None:
                self.log.error("Not graded: %s is not a folder (links are never followed)", folder.parent)
                continue
            for item in skipped:
                self.log.warning("Left out of %s's submission: %s", student_id, item.text())
            left_out.setdefault(student_id, []).extend(skipped)
        return left_out

    def _record_left_out(self, assignment_id: str, student_id: str) -> None:
        """Beside the autograded folder, and as a gradebook comment of the notebooks concerned."""
        skipped = self._intake.get(student_id, [])
        write_record(self._format_dest(assignment_id, student_id), skipped)
        if not skipped:
            return
        note = LEFT_OUT + "; ".join(item.text() for item in skipped[:20])
        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            names = sorted(notebook.name for notebook in gb.find_assignment(assignment_id).notebooks)
            concerned = [name for name in names if any(item.path.startswith(name + ".") for item in skipped)]
            for name in concerned or names[:1]:
                try:
                    submission = gb.find_submission_notebook(name, assignment_id, student_id)
                except MissingEntry:
                    continue
                comments = sorted(submission.comments, key=lambda comment: comment.cell.name)
                if comments:
                    comment = comments[0]
                    kept = (comment.auto_comment or "").split(LEFT_OUT)[0].strip()
                    comment.auto_comment = f"{kept}\n\n{note}".strip()
            gb.db.commit()

    def init_notebooks(self) -> None:
        # nbgrader skips a submission folder with no notebooks, as if the student had not submitted.
        try:
            super().init_notebooks()
        except NbGraderException:
            self.assignments = {}
        if self.coursedir.notebook_id == "*":
            for folder in glob.glob(self._format_source(self.coursedir.assignment_id, self.coursedir.student_id)):
                if os.path.isdir(folder):
                    self.assignments.setdefault(folder, [])
        if not self.assignments:
            raise NbGraderException(f"No submissions found for {self.coursedir.assignment_id}")

    # -- interrupted runs --------------------------------------------------------------------

    def init_destination(self, assignment_id: str, student_id: str) -> bool:
        dest = Path(self._format_dest(assignment_id, student_id))
        if (dest / IN_PROGRESS).exists():
            self.log.warning("Grading of %s was interrupted last time; grading it again", student_id)
            shutil.rmtree(dest)
        return super().init_destination(assignment_id, student_id)

    def _create_submission(self, assignment_id: str, student_id: str) -> None:
        """Make a new submission's rows with autoflush off, before nbgrader's own call.

        nbgrader's ``add_submission`` builds the new rows, then reads the assignment's notebooks;
        that read flushes the session while the new submission is not in it yet, and SQLAlchemy
        warns "SAWarning: Object of type <SubmittedAssignment> not in session, add operation ...
        will not proceed". No row is lost (``add`` and ``commit`` follow), but to an instructor
        it reads as lost grades. Made here first, nbgrader's call finds the submission and only
        updates its time."""
        timestamp = self.coursedir.get_existing_timestamp(self._format_source(assignment_id, student_id))
        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            try:
                gb.find_assignment(assignment_id)
                gb.find_submission(assignment_id, student_id)
                return
            except MissingEntry:
                pass
            try:
                gb.find_student(student_id)
            except MissingEntry:
                if not self.create_student:
                    return  # nbgrader refuses the student, with its own message
                gb.update_or_create_student(student_id)
            try:
                gb.find_assignment(assignment_id)
            except MissingEntry:
                return  # nbgrader refuses the assignment, with its own message
            with gb.db.no_autoflush:
                gb.add_submission(assignment_id, student_id, **({"timestamp": timestamp} if timestamp else {}))

    def init_assignment(self, assignment_id: str, student_id: str) -> None:
        dest = Path(self._format_dest(assignment_id, student_id))
        dest.mkdir(parents=True, exist_ok=True)
        (dest / IN_PROGRESS).touch()
        self._graded.append(dest)
        self._create_submission(assignment_id, student_id)
        if self.notebooks:
            super().init_assignment(assignment_id, student_id)
            return
        # An empty submission: nbgrader would stop here and record nothing. Record zeros instead.
        try:
            super().init_assignment(assignment_id, student_id)
        except NbGraderException:
            pass
        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            for notebook in gb.find_assignment(assignment_id).notebooks:
                try:
                    submission = gb.find_submission_notebook(notebook.name, assignment_id, student_id)
                except MissingEntry:
                    continue
                for grade in submission.grades:
                    grade.auto_score = 0
                    grade.needs_manual_grade = False
            gb.db.commit()
        self.log.error("%s submitted no notebooks for %s: every notebook scores 0", student_id, assignment_id)

    def set_permissions(self, assignment_id: str, student_id: str) -> None:
        # Called once every notebook of the student is written: the grading is complete.
        self._record_left_out(assignment_id, student_id)
        super().set_permissions(assignment_id, student_id)
        marker = Path(self._format_dest(assignment_id, student_id)) / IN_PROGRESS
        marker.unlink(missing_ok=True)

    # -- one notebook ------------------------------------------------------------------------

    def convert_single_notebook(self, notebook_filename: str) -> None:
        try:
            super().convert_single_notebook(notebook_filename)
            return
        except _FATAL:
            raise
        except Exception as error:  # noqa: BLE001 - any other failure belongs to this notebook alone
            reason = describe(error)
            self.log.error("Could not grade %s: %s", notebook_filename, reason)
            path = Path(notebook_filename)
            self._failed.append(f"{path.parent.parent.name}/{path.stem}: {reason}")
        self._sanitizing = True
        self._grade_stand_in(notebook_filename, reason)

    def _grade_stand_in(self, notebook_filename: str, reason: str) -> None:
        """Grade the released version in place of an unreadable notebook, carrying the reason."""
        resources = self.init_single_notebook_resources(notebook_filename)
        info = resources["nbgrader"]
        release = Path(self.coursedir.format_path(self.coursedir.release_directory, ".", info["assignment"]))
        nb = nbformat.read(str(release / f"{info['notebook']}.ipynb"), as_version=nbformat.NO_CONVERT)
        self._init_preprocessors()
        output, resources = self.exporter.from_notebook_node(nb, resources=resources)
        self.write_single_notebook(output, resources)
        built = os.path.join(self.writer.build_directory, os.path.basename(notebook_filename))
        # Marked after sanitizing, which removes every kit key a notebook arrives with.
        stand_in = nbformat.read(built, as_version=nbformat.NO_CONVERT)
        stand_in.metadata[UNREADABLE_KEY] = reason
        nbformat.write(stand_in, built)
        self._sanitizing = False
        self._init_preprocessors()
        try:
            with utils.setenv(NBGRADER_EXECUTION="autograde"):
                BaseConverter.convert_single_notebook(self, built)
        finally:
            self._sanitizing = True


def install() -> None:
    """Make nbgrader's autograde command (and formgrader's button) use ``KitAutograde``."""
    from nbgrader.apps import api, autogradeapp

    autogradeapp.Autograde = KitAutograde
    api.Autograde = KitAutograde
