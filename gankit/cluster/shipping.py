"""What crosses from the client to a worker, read on the client: no shared file system is assumed.

``read_course`` reads what grading needs of the course once (its ``nbgrader_config.py`` and the
assignment's ``source/`` and ``solutions/`` folders); every worker receives it when it joins.
``read_submission`` reads one student's submission as data, with the checks ``nbgrader autograde``
applies on one machine (``intake.take_in``: no link followed, no special file opened, sizes
bounded), plus what the worker needs of the gradebook's present state for that student.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gankit.nbgrader_adapter.intake import Bounds, take_in

# Per assignment, besides nbgrader_config.py; release/ is what an unreadable notebook is graded as.
COURSE_PARTS = ("source", "release", "solutions")


@dataclass(frozen=True)
class CourseFiles:
    """The course as a worker needs it: relative path -> bytes."""

    assignment: str
    files: dict[str, bytes]

    @property
    def digest(self) -> str:
        return _digest(self.files)


@dataclass(frozen=True)
class Submission:
    """One task: a student's submitted files and what the gradebook holds for them now."""

    student_id: str
    assignment: str
    files: dict[str, bytes]  # relative to submitted/<student>/<assignment>/
    left_out: list[tuple[str, str]]  # (path, reason): not shipped, recorded for the student
    prior: dict[str, Any] = field(default_factory=dict)  # see writes.prior_state
    digest: str = ""  # of the files, what was left out, the course and the kit: unchanged means graded


def _digest(files: dict[str, bytes], *extra: str) -> str:
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.encode() + b"\0" + hashlib.sha256(files[path]).digest())
    for text in extra:
        digest.update(b"\0" + text.encode())
    return digest.hexdigest()


def _regular_files(top: Path, base: Path, prune: tuple[str, ...] = ()) -> dict[str, bytes]:
    """Every regular file below ``top``, by path relative to ``base`` (links and special files are
    left out; so are folders named in ``prune``)."""
    files: dict[str, bytes] = {}
    for folder, dirs, names in os.walk(top):
        dirs[:] = sorted(d for d in dirs if d not in prune)
        for name in sorted(names):
            path = Path(folder) / name
            if stat.S_ISREG(os.lstat(path).st_mode):
                files[str(path.relative_to(base))] = path.read_bytes()
    return files


def read_course(course: Path, assignment: str) -> CourseFiles:
    """The course's configuration and the assignment's source, release and solutions, as bytes."""
    files = {"nbgrader_config.py": (course / "nbgrader_config.py").read_bytes()}
    for part in COURSE_PARTS:
        folder = course / part / assignment
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} is missing: grading needs the assignment's {part}")
        files.update(_regular_files(folder, course, prune=(".ipynb_checkpoints", "__pycache__")))
    return CourseFiles(assignment, files)


def read_submission(
    course: Path,
    assignment: str,
    student_id: str,
    bounds: Bounds,
    ignore: list[str],
    salt: str,
) -> Submission | None:
    """``submitted/<student_id>/<assignment>`` as data (None if the student's folder is a link or
    no folder: nothing of it is graded, as on one machine). ``salt`` goes into the digest: the
    course's and the kit's, so that a change to either grades again."""
    folder = course / "submitted" / student_id / assignment
    with tempfile.TemporaryDirectory(prefix="gankit-ship-") as tmp:
        copy = Path(tmp) / "copy"
        skipped = take_in(folder, copy, bounds, ignore)
        if skipped is None:
            return None
        files = _regular_files(copy, copy)
    left_out = [(item.path, item.reason) for item in skipped]
    digest = _digest(files, json.dumps(left_out), salt)
    return Submission(student_id, assignment, files, left_out, digest=digest)
