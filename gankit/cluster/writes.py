"""The client's side of a result: it is the only writer of the course folder and the gradebook.

For each student: the autograded files replace the old ones in one rename, the grade rows change
in one transaction (``rows.write_rows``), and last a marker beside the autograded folder records
what was graded (the submission's digest), so that a rerun skips a submission that has not changed
and a run killed part-way grades that student again.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from nbgrader.api import Gradebook, MissingEntry

from gankit.cluster import rows
from gankit.nbgrader_adapter.intake import record_path

MARKER_SUFFIX = ".graded.json"


def marker_path(course: Path, assignment: str, student_id: str) -> Path:
    return course / "autograded" / student_id / (assignment + MARKER_SUFFIX)


def already_graded(course: Path, gb: Gradebook, assignment: str, student_id: str, digest: str) -> bool:
    """Whether this exact submission was graded and written completely before."""
    try:
        recorded = json.loads(marker_path(course, assignment, student_id).read_text(encoding="utf-8"))
        gb.find_submission(assignment, student_id)
    except (OSError, ValueError, MissingEntry):
        return False
    return recorded.get("digest") == digest and (course / "autograded" / student_id / assignment).is_dir()


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
