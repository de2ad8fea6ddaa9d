"""Scores read back from an nbgrader gradebook: the single place the kit looks them up."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry

from gankit import ASSIGNMENT, COURSE_ID, NOTEBOOKS


@dataclass(frozen=True)
class CellScore:
    """One graded cell of one student's notebook."""

    grade_id: str
    autograded: bool  # a test cell (code); otherwise a written answer graded by hand
    auto_score: float | None
    max_score: float
    needs_manual_grade: bool


def db_url(course: Path) -> str:
    """The URL of a course directory's embedded SQLite gradebook."""
    return f"sqlite:///{course / 'gradebook.db'}"


def cell_scores(
    course: Path, student_id: str, assignment: str = ASSIGNMENT, url: str | None = None
) -> dict[str, dict[str, CellScore]]:
    """Map each notebook to the scores of its graded cells for one student ({} if not graded).
    ``url`` names the gradebook when it is not the course's SQLite file."""
    result: dict[str, dict[str, CellScore]] = {}
    with Gradebook(url or db_url(course), COURSE_ID) as gradebook:
        for name in NOTEBOOKS:
            try:
                submitted = gradebook.find_submission_notebook(name, assignment, student_id)
            except MissingEntry:
                continue
            result[name] = {
                grade.name: CellScore(
                    grade.name,
                    grade.cell.cell_type == "code",
                    grade.auto_score,
                    float(grade.max_score),
                    bool(grade.needs_manual_grade),
                )
                for grade in submitted.grades
            }
    return result


def auto_total(scores: dict[str, dict[str, CellScore]], notebook: str) -> tuple[float, float]:
    """The automatic score of one notebook and its maximum."""
    cells = [cell for cell in scores.get(notebook, {}).values() if cell.autograded]
    return sum(cell.auto_score or 0.0 for cell in cells), sum(cell.max_score for cell in cells)


def auto_grand_total(course: Path, student_id: str, url: str | None = None) -> float:
    """A student's automatic score over every notebook of the assignment."""
    cells = cell_scores(course, student_id, url=url)
    return sum(auto_total(cells, name)[0] for name in NOTEBOOKS)


def students(course: Path, assignment: str = ASSIGNMENT, url: str | None = None) -> list[str]:
    """The ids of the students with a submission of ``assignment``, sorted."""
    with Gradebook(url or db_url(course), COURSE_ID) as gradebook:
        return sorted(sub.student.id for sub in gradebook.find_assignment(assignment).submissions)
