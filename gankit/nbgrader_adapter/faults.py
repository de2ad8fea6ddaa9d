"""What went wrong while grading a notebook, kept in the autograded notebook's metadata.

Each fault names the cell (its grade id, or its position), what happened and what it cost, so that
the grader's summary, the class report and the student's feedback can all say it the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat

from gankit.nbgrader_adapter.intake import read_record

FAULTS_KEY = "gankit_faults"
UNREADABLE_KEY = "gankit_unreadable"  # on the stand-in graded for a notebook that could not be read
DEADLINE_KEY = "gankit_deadline"  # in a notebook's resources: when its time budget runs out (monotonic)


def fault(where: str, kind: str, message: str) -> dict[str, str]:
    """One fault as plain data: ``where`` (a grade id or "cell 7"), ``kind`` (short) and ``message``."""
    return {"where": where, "kind": kind, "message": message}


def cell_name(cell: Any, index: int) -> str:
    """The name a grader knows a cell by: its grade id if it has one, else its position."""
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    return str(grade_id) if grade_id else f"cell {index + 1}"


def faults_in(path: Path) -> list[dict[str, str]]:
    """The faults recorded in one autograded notebook (none if it cannot be read)."""
    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception:  # noqa: BLE001 - a summary must not fail on the file it summarises
        return []
    return list(nb.metadata.get(FAULTS_KEY, []))


def collect_dir(folder: Path) -> list[tuple[str, str, dict[str, str]]]:
    """Every fault in one student's autograded folder, as (student, notebook, fault): what was left
    out of the submission (``gankit.nbgrader_adapter.intake``), then each notebook's own."""
    student = folder.parent.name
    found = [(student, "submission", fault(item.path, "left out", item.reason)) for item in read_record(folder)]
    return found + [(student, path.stem, item) for path in sorted(folder.glob("*.ipynb")) for item in faults_in(path)]


def collect(autograded: Path, assignment: str) -> list[tuple[str, str, dict[str, str]]]:
    """Every fault of an assignment's autograded notebooks, as (student, notebook, fault)."""
    return [item for folder in sorted(autograded.glob(f"*/{assignment}")) for item in collect_dir(folder)]


def describe(notebook: str, item: dict[str, str]) -> str:
    """One fault in words: "<notebook> <where>: <kind>: <message>"."""
    return f"{notebook} {item['where']}: {item['kind']}: {item['message']}"


def summary_lines(found: list[tuple[str, str, dict[str, str]]]) -> list[str]:
    """Human-readable lines, one per fault, for the end of a grading run."""
    return [f"  {student}/{describe(notebook, item)}" for student, notebook, item in found]
