"""One student's rows of the gradebook as plain data, both ways (and the assignment's, once).

What ``nbgrader autograde`` writes for a student depends on what the gradebook already holds: the
assignment's due date, the submission's time and extension (late penalty), the grader's manual
scores (a cell with one is flagged for review again). ``prior_state`` reads that on the client;
``apply_prior`` puts it into the worker's scratch gradebook before grading; ``graded_rows`` reads
what autograde wrote there; ``write_rows`` writes exactly those fields into the course's gradebook.
``template`` is the scratch gradebook every worker starts from: the assignment's notebooks and cells.
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from nbgrader.api import Gradebook, MissingEntry


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def template(gb: Gradebook, assignment: str) -> bytes:
    """A new SQLite gradebook holding only the assignment's notebooks and cells as ``gb`` records
    them (what autograde reads: points, cell types, the source it restores), as bytes. Every worker
    grades in a copy of it: the same records serial autograde reads, made once by the client
    instead of by ``generate_assignment`` on every worker, and no student's."""
    from nbgrader.api import Assignment, Base, GradeCell, Notebook, SolutionCell, SourceCell, TaskCell
    from sqlalchemy import create_engine, text

    with tempfile.TemporaryDirectory(prefix="gankit-template-") as scratch:
        url = f"sqlite:///{scratch}/template.db"
        # The schema and nbgrader's migration stamp, so that opening it runs no ``alembic`` subprocess.
        version = gb.db.execute(text("SELECT version_num FROM alembic_version")).scalar()
        engine = create_engine(url)
        Base.metadata.create_all(engine)
        with engine.begin() as db:
            db.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
            db.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": version})
        engine.dispose()
        source = gb.find_assignment(assignment)
        with Gradebook(url, gb.course_id) as new:
            made = Assignment(name=source.name, duedate=source.duedate, course_id=new.course_id)
            for notebook in source.notebooks:
                copy = Notebook(name=notebook.name, kernelspec=notebook.kernelspec, assignment=made)
                for cell in notebook.grade_cells:
                    GradeCell(name=cell.name, max_score=cell.max_score, cell_type=cell.cell_type, notebook=copy)
                for cell in notebook.solution_cells:
                    SolutionCell(name=cell.name, notebook=copy)
                for cell in notebook.task_cells:
                    TaskCell(name=cell.name, max_score=cell.max_score, cell_type=cell.cell_type, notebook=copy)
                for cell in notebook.source_cells:
                    SourceCell(
                        name=cell.name,
                        cell_type=cell.cell_type,
                        locked=cell.locked,
                        source=cell.source,
                        checksum=cell.checksum,
                        notebook=copy,
                    )
            new.db.add(made)
            new.db.commit()
        gb.db.commit()  # end the read
        return (Path(scratch) / "template.db").read_bytes()


def prior_state(gb: Gradebook, assignment: str, student_id: str) -> dict[str, Any]:
    """What autograde's result depends on, besides the submission itself."""
    state: dict[str, Any] = {"duedate": _iso(gb.find_assignment(assignment).duedate)}
    try:
        submission = gb.find_submission(assignment, student_id)
    except MissingEntry:
        return state
    state["timestamp"] = _iso(submission.timestamp)
    state["extension"] = submission.extension.total_seconds() if submission.extension else None
    state["manual"] = [
        [notebook.name, grade.name, grade.manual_score]
        for notebook in submission.notebooks
        for grade in notebook.grades
        if grade.manual_score is not None
    ]
    return state


def apply_prior(gb: Gradebook, assignment: str, student_id: str, state: dict[str, Any]) -> None:
    """Make a fresh scratch gradebook hold what the course's holds for this student."""
    gb.update_or_create_assignment(assignment, duedate=_when(state.get("duedate")))
    gb.update_or_create_student(student_id)
    if "timestamp" not in state:
        return
    extension = state.get("extension")
    with gb.db.no_autoflush:  # as in write_rows: no flush of the submission's rows half made
        gb.update_or_create_submission(
            assignment,
            student_id,
            timestamp=_when(state.get("timestamp")),
            extension=timedelta(seconds=extension) if extension is not None else None,
        )
    for notebook, cell, score in state.get("manual", []):
        gb.find_grade(cell, notebook, assignment, student_id).manual_score = score
    gb.db.commit()


def graded_rows(gb: Gradebook, assignment: str, student_id: str) -> dict[str, Any]:
    """The fields autograde writes, for one student, as plain data."""
    submission = gb.find_submission(assignment, student_id)
    return {
        "timestamp": _iso(submission.timestamp),
        "notebooks": {
            notebook.name: {
                "late_penalty": notebook.late_submission_penalty,
                "grades": {g.name: [g.auto_score, bool(g.needs_manual_grade)] for g in notebook.grades},
                "comments": {c.name: c.auto_comment for c in notebook.comments},
            }
            for notebook in submission.notebooks
        },
    }


# nbgrader's schema indexes these foreign keys only as the second column of a unique constraint,
# so finding a submission's notebooks, or a notebook's grades, scans the whole table: writing a
# class gets slower with every student (measured: 47 students/s at first, 24 after 3,000). These
# indexes are additive (nbgrader neither names nor needs them) and make each lookup direct.
INDEXES = {
    "gankit_ix_grade_notebook": ("grade", "notebook_id"),
    "gankit_ix_comment_notebook": ("comment", "notebook_id"),
    "gankit_ix_submitted_notebook_assignment": ("submitted_notebook", "assignment_id"),
    "gankit_ix_submitted_assignment_student": ("submitted_assignment", "student_id"),
}


def ensure_indexes(gb: Gradebook) -> None:
    """Add ``INDEXES`` to the gradebook if they are missing (SQLite and PostgreSQL alike)."""
    from sqlalchemy import text

    for name, (table, column) in INDEXES.items():
        gb.db.execute(text(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({column})"))
    gb.db.commit()


def cell_names(gb: Gradebook, assignment: str) -> dict[str, str]:
    """The assignment's cells by database id -> grade id (read once per run, not per student)."""
    return {
        cell.id: cell.name
        for notebook in gb.find_assignment(assignment).notebooks
        for cell in [*notebook.grade_cells, *notebook.solution_cells]
    }


def write_rows(
    gb: Gradebook, assignment: str, student_id: str, rows: dict[str, Any], names: dict[str, str] | None = None
) -> None:
    """Write ``graded_rows``'s fields into the course's gradebook (``names``: ``cell_names``).

    The student's and the submission's rows are nbgrader's own upserts (a rerun finds them, so
    nothing is ever duplicated); every score, flag, comment and penalty then changes in one
    transaction, or none does."""
    names = names if names is not None else cell_names(gb, assignment)
    gb.update_or_create_student(student_id)
    timestamp = _when(rows.get("timestamp"))
    # No autoflush while nbgrader builds a new submission's rows (in a session that has already
    # loaded the assignment, SQLAlchemy would flush them half made) or while the values change
    # (one flush at the commit, not one per attribute read).
    with gb.db.no_autoflush:
        if timestamp is not None:
            submission = gb.update_or_create_submission(assignment, student_id, timestamp=timestamp)
        else:
            submission = gb.update_or_create_submission(assignment, student_id)
        try:
            for notebook in submission.notebooks:
                graded = rows["notebooks"].get(notebook.name)
                if graded is None:
                    continue
                notebook.late_submission_penalty = graded["late_penalty"]
                for grade in notebook.grades:
                    name = names[grade.cell_id]
                    if name in graded["grades"]:
                        grade.auto_score, grade.needs_manual_grade = graded["grades"][name]
                for comment in notebook.comments:
                    name = names[comment.cell_id]
                    if name in graded["comments"]:
                        comment.auto_comment = graded["comments"][name]
            gb.db.commit()
        except BaseException:
            gb.db.rollback()
            raise
        finally:
            # Forget what was loaded: the assignment's list of submissions would otherwise grow in
            # this long-lived session, and every flush walk it (writes slowing as the class grows).
            gb.db.expunge_all()
