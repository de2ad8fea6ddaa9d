"""Scores read back from an nbgrader gradebook, for the kit's reports (the course cycle's table, the class report).

The gradebook is the one the course's ``nbgrader_config.py`` configures (``CourseDirectory.db_url``,
e.g. PostgreSQL through ``GANKIT_DB_URL``), never a guess: reading a course whose SQLite
gradebook does not exist is an error, not a new empty file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.coursedir import CourseDirectory
from traitlets.config import Config, PyFileConfigLoader

from gankit import ASSIGNMENT, COURSE_ID, NOTEBOOKS


@dataclass(frozen=True)
class CellScore:
    """One graded cell of one student's notebook."""

    grade_id: str
    autograded: bool  # a test cell (code); otherwise a written answer graded by hand
    auto_score: float | None
    max_score: float
    needs_manual_grade: bool
    manual_score: float | None = None

    @property
    def score(self) -> float:
        """What the cell counts for: the hand-given score where there is one, else the automatic."""
        return float(self.manual_score if self.manual_score is not None else self.auto_score or 0.0)


def course_directory(course: Path) -> CourseDirectory:
    """nbgrader's view of ``course``, as its ``nbgrader_config.py`` configures it."""
    config = Config()
    if (course / "nbgrader_config.py").is_file():
        config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    directory = CourseDirectory(config=config)
    directory.root = str(course)
    return directory


def db_url(course: Path) -> str:
    """The URL of the course's gradebook, as its nbgrader configuration sets it (SQLite in the
    course directory unless ``CourseDirectory.db_url`` says otherwise)."""
    url = course_directory(course).db_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        raise FileNotFoundError(
            f"no gradebook at {url.removeprefix('sqlite:///')}: nothing has been graded in {course} yet "
            "(or the course grades into another database: set GANKIT_DB_URL as when grading)"
        )
    return url


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
                    grade.manual_score,
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


@dataclass(frozen=True)
class AssignmentGrade:
    """One student's grade for the assignment, computed as ``nbgrader export`` does: automatic and
    hand-given scores, minus the late penalty, never below 0, out of the assignment's maximum."""

    student_id: str
    raw_score: float
    late_penalty: float
    max_score: float
    awaiting: tuple[str, ...] = ()  # "notebook: grade id" of each written answer not graded yet
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    lms_user_id: str = ""
    notebooks: dict[str, tuple[float, float]] = field(default_factory=dict)  # score and maximum per notebook
    seconds_late: float = 0.0  # after the due date and any extension, as nbgrader counts it

    @property
    def score(self) -> float:
        return max(0.0, self.raw_score - self.late_penalty)

    @property
    def complete(self) -> bool:
        """Whether every written answer has been graded, so the score is final."""
        return not self.awaiting


def assignment_grades(course: Path, assignment: str = ASSIGNMENT, url: str | None = None) -> list[AssignmentGrade]:
    """Every student with a submission of ``assignment``, sorted by id."""
    grades = []
    with Gradebook(url or db_url(course), COURSE_ID) as gradebook:
        found = gradebook.find_assignment(assignment)
        maximum = float(found.max_score)
        unsubmitted = {notebook.name: (0.0, float(notebook.max_score)) for notebook in found.notebooks}
        for submission in found.submissions:
            student = submission.student
            awaiting = tuple(
                f"{notebook.name}: {grade.name}"
                for notebook in submission.notebooks
                for grade in notebook.grades
                if grade.needs_manual_grade
            )
            grades.append(
                AssignmentGrade(
                    student.id,
                    float(submission.score),
                    float(submission.late_submission_penalty or 0.0),
                    maximum,
                    awaiting,
                    student.first_name or "",
                    student.last_name or "",
                    student.email or "",
                    student.lms_user_id or "",
                    unsubmitted
                    | {
                        notebook.name: (float(notebook.score), float(notebook.max_score))
                        for notebook in submission.notebooks
                    },
                    float(submission.total_seconds_late or 0.0),
                )
            )
    return sorted(grades, key=lambda grade: grade.student_id)
