"""A gradebook read back in full, to compare two gradings of the same submissions."""

from __future__ import annotations

from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry

from gankit import ASSIGNMENT, COURSE_ID, scores


def every_field(course: Path, url: str | None = None) -> dict:
    """Every field autograde writes, per student who submitted: cell scores, review flags,
    comments, late penalties, submission times (read with nbgrader's own API)."""
    found = {}
    with Gradebook(url or scores.db_url(course), COURSE_ID) as gb:
        for student in gb.students:
            try:
                submission = gb.find_submission(ASSIGNMENT, student.id)
            except MissingEntry:
                continue
            found[student.id] = {
                "timestamp": submission.timestamp,
                "notebooks": {
                    nb.name: (
                        nb.late_submission_penalty,
                        sorted((g.name, g.auto_score, g.manual_score, g.needs_manual_grade) for g in nb.grades),
                        sorted((c.name, c.auto_comment) for c in nb.comments),
                    )
                    for nb in submission.notebooks
                },
            }
    return found
