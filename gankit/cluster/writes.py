"""The client's side of a result: it is the only writer of the course folder and the gradebook.

For each student: the autograded files replace the old ones in one rename, the grade rows change
in one transaction (``rows.write_rows``), and last a marker beside the autograded folder records
what was graded (the submission's digest), so that a rerun skips a submission that has not changed
and a run killed part-way grades that student again. A submission graded by another tool (``nbgrader
autograde``, Formgrader) is skipped too when what that grading left shows it unchanged since.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.utils import parse_utc

from gankit.cluster import rows
from gankit.nbgrader_adapter.autograde import IN_PROGRESS
from gankit.nbgrader_adapter.intake import record_path

MARKER_SUFFIX = ".graded.json"


def marker_path(course: Path, assignment: str, student_id: str) -> Path:
    return course / "autograded" / student_id / (assignment + MARKER_SUFFIX)


def already_graded(course: Path, gb: Gradebook, assignment: str, student_id: str, digest: str) -> bool:
    """Whether this exact submission was graded and written completely before, whichever tool graded.

    When the client's own grading was the last (its marker is newer than every autograded
    notebook), the marker's digest decides: a change to the submission, the course or the kit
    grades again. Otherwise (``nbgrader autograde``, Formgrader's Autograde button, or one of
    them after the client) what that grading left decides: ``graded_since_submitted``."""
    folder = course / "autograded" / student_id / assignment
    try:
        submission = gb.find_submission(assignment, student_id)
    except MissingEntry:
        return False
    notebooks = sorted(folder.glob("*.ipynb")) if folder.is_dir() else []
    if not notebooks or (folder / IN_PROGRESS).exists():
        return False
    marker = marker_path(course, assignment, student_id)
    try:
        recorded = json.loads(marker.read_text(encoding="utf-8"))
        if marker.stat().st_mtime_ns >= max(path.stat().st_mtime_ns for path in notebooks):
            return recorded.get("digest") == digest
    except (OSError, ValueError, AttributeError):
        pass
    return graded_since_submitted(course, assignment, student_id, submission.timestamp)


def graded_since_submitted(course: Path, assignment: str, student_id: str, graded_timestamp: Any) -> bool:
    """Whether the autograded folder is a grading of the submission as it is now: the gradebook's
    submission time is the one in ``submitted/`` (nbgrader's own rule for skipping), every submitted
    notebook has its graded copy, and each graded copy was written after the submission, the course's
    configuration and the assignment's source last changed (so an instructor's edit grades again).
    A change to the kit alone is not seen here: ``--force`` grades again."""
    submitted = course / "submitted" / student_id / assignment
    graded = course / "autograded" / student_id / assignment
    try:
        stamp = (submitted / "timestamp.txt").read_text(encoding="utf-8").strip()
        when = parse_utc(stamp) if stamp else None
    except (OSError, UnicodeDecodeError, ValueError, OverflowError):
        return False
    if when != graded_timestamp:
        return False
    names = [path.name for path in submitted.glob("*.ipynb")]
    if not all((graded / name).is_file() for name in names):
        return False
    written = min((graded / name).stat().st_mtime_ns for name in names) if names else graded.stat().st_mtime_ns
    sources = [submitted, course / "nbgrader_config.py", course / "source" / assignment]
    changed = 0
    for top in sources:
        for path in [top, *(top.rglob("*") if top.is_dir() and not top.is_symlink() else [])]:
            try:
                changed = max(changed, path.lstat().st_mtime_ns)
            except OSError:
                continue
    return written >= changed


def _replace_folder(dest: Path, files: dict[str, tuple[int, bytes]]) -> None:
    incoming = dest.with_name(f".{dest.name}.incoming-{os.getpid()}")
    shutil.rmtree(incoming, ignore_errors=True)
    for relative, (mode, data) in files.items():
        path = incoming / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.chmod(path, mode)
    incoming.mkdir(parents=True, exist_ok=True)
    old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
    if dest.exists():
        dest.rename(old)
    incoming.rename(dest)
    shutil.rmtree(old, ignore_errors=True)


def write_result(
    course: Path,
    gb: Gradebook,
    assignment: str,
    result: dict[str, Any],
    digest: str,
    names: dict[str, str] | None = None,
) -> None:
    """Write one student's result: files, then rows (one transaction), then the marker.
    ``names``: ``rows.cell_names``, read once per run."""
    student_id = result["student_id"]
    marker = marker_path(course, assignment, student_id)
    marker.unlink(missing_ok=True)  # until the end, this student counts as not graded
    dest = course / "autograded" / student_id / assignment
    dest.parent.mkdir(parents=True, exist_ok=True)
    _replace_folder(dest, result["files"])
    record = record_path(dest)
    if result.get("record") is not None:
        record.write_bytes(result["record"])
    else:
        record.unlink(missing_ok=True)
    if result.get("rows") is None:
        return  # nothing was recorded for this student (the reason is in the result's error)
    rows.write_rows(gb, assignment, student_id, result["rows"], names)
    if result["ok"]:
        marker.write_text(json.dumps({"digest": digest}), encoding="utf-8")
