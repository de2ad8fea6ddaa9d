"""Regrade preview: whose automatic score would move if the class were graded again with the course
as it is now (a hidden check, a reference solution, a tolerance, a setting changed), before any
grade changes.

    python -m gankit.grade_class gan_exercises --preview [--preview-report FILE] [--student ID ...]

Every submission is graded, on the same Dask cluster as ``grade_class`` uses, into a scratch
course: a copy of the course's configuration, source, release and solutions, its ``submitted/``
read where it is (a link: it is only ever read, as data), and a scratch SQLite gradebook holding the
assignment as the course's gradebook records it and its students. The course's gradebook,
``autograded/`` and ``feedback/`` are never written. The preview compares, cell by cell, the
automatic scores the course's gradebook holds with the scratch ones, and for each cell that moves
names the hidden checks whose verdict changed and the feedback lines that changed.
"""

from __future__ import annotations

import contextlib
import difflib
import html
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.api import Gradebook

from gankit import COURSE_ID, NOTEBOOKS, notebooks, points, scores
from gankit.cluster import rows
from gankit.cluster.shipping import COURSE_PARTS
from gankit.nbgrader_adapter.hidden_checks import VERDICTS_KEY
from gankit.nbgrader_adapter.untrusted_html import POLICY_META

REPORT_NAME = "regrade-preview.html"


@dataclass
class CellChange:
    """One graded test cell whose automatic score would move."""

    notebook: str
    grade_id: str
    before: float | None  # None: not graded before
    after: float | None  # None: not graded now (the grading failed)
    maximum: float
    checks: list[str] = field(default_factory=list)  # "name: passed -> failed", "name: new, failed", ...
    feedback: list[str] = field(default_factory=list)  # "- old line" / "+ new line"


@dataclass
class StudentChange:
    """A student whose automatic score would move, by how much, and where."""

    student_id: str
    before: float
    after: float
    cells: list[CellChange]

    @property
    def delta(self) -> float:
        return self.after - self.before


@dataclass
class Preview:
    """What a regrade would change; ``failed`` names the students whose preview grading failed."""

    assignment: str
    students: list[str]
    changes: list[StudentChange]
    failed: dict[str, str] = field(default_factory=dict)
    feedback_only: list[str] = field(default_factory=list)  # feedback text changes, no score does


def scratch_course(course: Path, assignment: str, where: Path) -> tuple[Path, str]:
    """Make the scratch course in ``where``; return it and its gradebook's URL."""
    scratch = where / "course"
    scratch.mkdir(parents=True)
    shutil.copy2(course / "nbgrader_config.py", scratch / "nbgrader_config.py")
    for part in COURSE_PARTS:
        shutil.copytree(
            course / part / assignment,
            scratch / part / assignment,
            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"),
        )
    # Read in place, never copied: a submission may hold anything (the intake reads it as data and
    # never follows a link inside it), and grading only ever reads it.
    (scratch / "submitted").symlink_to((course / "submitted").resolve(), target_is_directory=True)
    url = f"sqlite:///{scratch / 'gradebook.db'}"
    with Gradebook(scores.db_url(course), COURSE_ID) as real:
        (scratch / "gradebook.db").write_bytes(rows.template(real, assignment))
        people = [(s.id, s.first_name, s.last_name, s.email, s.lms_user_id) for s in real.students]
    with Gradebook(url, COURSE_ID) as gb:
        for student_id, first, last, email, lms in people:
            gb.update_or_create_student(student_id, first_name=first, last_name=last, email=email, lms_user_id=lms)
    return scratch, url


@contextlib.contextmanager
def gradebook_is(url: str) -> Iterator[None]:
    """The course configuration's ``GANKIT_DB_URL`` set to ``url`` for this process and the local
    workers it starts, then restored: the scratch course must never reach the course's gradebook."""
    before = os.environ.get("GANKIT_DB_URL")
    os.environ["GANKIT_DB_URL"] = url
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("GANKIT_DB_URL", None)
        else:
            os.environ["GANKIT_DB_URL"] = before


def _verdicts(course: Path, student_id: str, assignment: str, notebook: str) -> tuple[dict, dict]:
    """Per test cell: {check name: passed} and the feedback lines the cell shows."""
    path = course / "autograded" / student_id / assignment / f"{notebook}.ipynb"
    if not path.is_file():
        return {}, {}
    try:
        nb = notebooks.read(path)
    except (OSError, ValueError):
        return {}, {}
    checks = {
        grade_id: {c["name"]: bool(c["passed"]) for c in verdict.get("checks", [])}
        for grade_id, verdict in nb.metadata.get(VERDICTS_KEY, {}).items()
    }
    lines = {}
    for grade_id, cell in notebooks.cells_by_grade_id(nb).items():
        if cell.cell_type == "code":
            text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
            lines[grade_id] = text.splitlines()
    return checks, lines


def _check_changes(before: dict[str, bool], after: dict[str, bool]) -> list[str]:
    said = {True: "passed", False: "failed"}
    found = []
    for name in [*after, *(n for n in before if n not in after)]:
        if name not in before:
            found.append(f"{name}: new, {said[after[name]]}")
        elif name not in after:
            found.append(f"{name}: removed (was {said[before[name]]})")
        elif before[name] != after[name]:
            found.append(f"{name}: {said[before[name]]} -> {said[after[name]]}")
    return found


def _feedback_changes(before: list[str], after: list[str]) -> list[str]:
    return [line for line in difflib.ndiff(before, after) if line[:2] in ("- ", "+ ") and line[2:].strip()]


def compare(course: Path, scratch: Path, scratch_url: str, assignment: str, students: list[str]) -> Preview:
    """The course's grades against the scratch course's, for ``students``."""
    preview = Preview(assignment, list(students), [])
    for student_id in students:
        old = scores.cell_scores(course, student_id, assignment)
        new = scores.cell_scores(scratch, student_id, assignment, url=scratch_url)
        cells, feedback_moved = [], False
        for name in NOTEBOOKS:
            checks_before, lines_before = _verdicts(course, student_id, assignment, name)
            checks_after, lines_after = _verdicts(scratch, student_id, assignment, name)
            ids = [g for g, c in new.get(name, {}).items() if c.autograded]
            ids += [g for g, c in old.get(name, {}).items() if c.autograded and g not in ids]
            for grade_id in ids:
                was, now = old.get(name, {}).get(grade_id), new.get(name, {}).get(grade_id)
                before = None if was is None else float(was.auto_score or 0.0)
                after = None if now is None else float(now.auto_score or 0.0)
                lines = _feedback_changes(lines_before.get(grade_id, []), lines_after.get(grade_id, []))
                if before is not None and after is not None and abs(before - after) < 1e-9:
                    feedback_moved |= bool(lines)
                    continue
                maximum = (now or was).max_score
                checks = _check_changes(checks_before.get(grade_id, {}), checks_after.get(grade_id, {}))
                cells.append(CellChange(name, grade_id, before, after, maximum, checks, lines))
        if cells:
            total_before = sum(scores.auto_total(old, name)[0] for name in NOTEBOOKS)
            total_after = sum(scores.auto_total(new, name)[0] for name in NOTEBOOKS)
            preview.changes.append(StudentChange(student_id, total_before, total_after, cells))
        elif feedback_moved:
            preview.feedback_only.append(student_id)
    return preview


def preview_regrade(course: Path, assignment: str, students: list[str], grade) -> Preview:
    """Grade ``students`` into a scratch course with ``grade(scratch)`` (``grade_class`` with the
    caller's cluster options; it returns a ``RunSummary``) and compare with the course's grades."""
    with tempfile.TemporaryDirectory(prefix="gankit-preview-") as tmp:
        scratch, url = scratch_course(course, assignment, Path(tmp))
        with gradebook_is(url):
            summary = grade(scratch)
        failed = {r.student_id: r.error or "see the log" for r in summary.failed}
        preview = compare(course, scratch, url, assignment, [s for s in students if s not in failed])
        preview.students = list(students)
        preview.failed = failed
        return preview


def _cell_score(value: float | None) -> str:
    return "not graded" if value is None else points(value)


def text(preview: Preview) -> str:
    """The preview for the terminal."""
    moved = preview.changes
    lines = [
        f"Regrade preview of {preview.assignment}: {len(preview.students)} students graded with the course as it is "
        "now, in a scratch gradebook (the course's gradebook, autograded/ and feedback/ are unchanged).",
        f"{len(moved)} student{'' if len(moved) == 1 else 's'} would get another automatic score"
        + (":" if moved else "."),
    ]
    for change in moved:
        lines.append(
            f"  {change.student_id}: {points(change.before)} -> {points(change.after)} ({change.delta:+.2f})".rstrip()
        )
        for cell in change.cells:
            lines.append(
                f"    {cell.notebook} {cell.grade_id}: {_cell_score(cell.before)} -> {_cell_score(cell.after)}"
                f" of {points(cell.maximum)}"
            )
            lines += [f"      check {check}" for check in cell.checks]
            lines += [f"      feedback {line}" for line in cell.feedback]
    if preview.feedback_only:
        lines.append(
            f"Feedback text changes with no score change: {len(preview.feedback_only)} students "
            f"({', '.join(preview.feedback_only[:8])}{', ...' if len(preview.feedback_only) > 8 else ''})."
        )
    for student_id, why in preview.failed.items():
        lines.append(f"  FAILED in the preview: {student_id}: {why}")
    lines.append(
        f"To apply: python -m gankit.grade_class {preview.assignment} --force (the same options, without --preview)."
    )
    return "\n".join(lines)


def write_html(preview: Preview, path: Path) -> Path:
    """The preview as one offline page (everything escaped: feedback can quote a student's output)."""
    esc = html.escape
    rows_html = []
    for change in preview.changes:
        for index, cell in enumerate(change.cells):
            head = (
                f'<td rowspan="{len(change.cells)}"><b>{esc(change.student_id)}</b><br>{points(change.before)} &rarr; '
                f"{points(change.after)} ({change.delta:+.2f})</td>"
                if index == 0
                else ""
            )
            detail = "".join(f"<li>{esc(check)}</li>" for check in cell.checks) or "<li>no check changed verdict</li>"
            lines = "\n".join(esc(line) for line in cell.feedback)
            rows_html.append(
                f"<tr>{head}<td>{esc(cell.notebook)}<br>{esc(cell.grade_id)}</td>"
                f"<td>{_cell_score(cell.before)} &rarr; {_cell_score(cell.after)} of {points(cell.maximum)}</td>"
                f"<td><ul>{detail}</ul></td><td><pre>{lines}</pre></td></tr>"
            )
    failed = "".join(f"<li>{esc(s)}: {esc(why)}</li>" for s, why in preview.failed.items())
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">{POLICY_META}<title>Regrade preview: {esc(preview.assignment)}</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222;overflow-wrap:anywhere}}
table{{border-collapse:collapse;width:100%}}td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:top;
font-size:13px}}th{{background:#f3f3f3}}pre{{white-space:pre-wrap;margin:0}}ul{{margin:0;padding-left:1.2em}}</style>
</head><body><h1>Regrade preview: {esc(preview.assignment)}</h1>
<p>{len(preview.students)} students graded with the course as it is now, into a scratch gradebook: nothing
of the course's gradebook, <code>autograded/</code> or <code>feedback/</code> has changed.
<b>{len(preview.changes)}</b> would get another automatic score. To apply, run
<code>python -m gankit.grade_class {esc(preview.assignment)} --force</code> with the same options, without
<code>--preview</code>.</p>
<table><tr><th>student, total</th><th>cell</th><th>cell score</th><th>checks whose verdict changed</th>
<th>feedback lines that changed (- before, + after)</th></tr>
{"".join(rows_html) or '<tr><td colspan="5">no score moves</td></tr>'}</table>
{f"<h2>Graded with errors in the preview</h2><ul>{failed}</ul>" if failed else ""}
</body></html>
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
