"""Submitted notebooks whose nbgrader metadata a student changed, made gradable again (sanitize step).

nbgrader restores grade cells it can match by grade id (``OverwriteCells``) and re-adds deleted
ones (``add_missing_cells``), but a duplicated grade id, a grade id the gradebook does not know or
nbgrader metadata that is not a dictionary make it abandon the student's whole submission. Here
such cells become ordinary cells: their code still runs (a student's answer in a renamed cell is
still graded by the hidden checks, which run every student cell), the genuine grade cell is
restored from the gradebook, and the change is recorded as a fault that names the cell.

Changes nbgrader undoes quietly (a locked cell's text, a grade cell's points or type, a deleted
grade cell, all restored from the gradebook) are recorded the same way, so that the grader's
summary, the feedback and the class report name them: they are the visible traces of tampering.

It also removes every ``gankit_*`` key from the notebook's and cells' metadata first: the kit
keeps its own records there (faults, verdicts, repairs), and whatever the grader reads back must
have been written by the grader, never by the student.
"""

from __future__ import annotations

from dataclasses import dataclass

from nbformat import NotebookNode
from nbgrader.api import Gradebook
from nbgrader.nbgraderformat import SCHEMA_VERSION
from nbgrader.preprocessors import NbGraderPreprocessor, OverwriteCells

from gankit.nbgrader_adapter.faults import FAULTS_KEY, cell_name, fault
from gankit.nbgrader_adapter.tamper_signs import tamper_faults

KIT_PREFIX = "gankit"  # metadata keys the kit writes, and so the only ones it may read back


@dataclass(frozen=True)
class SourceCell:
    """A cell of the instructor's version, as the gradebook keeps it."""

    cell_type: str
    locked: bool
    source: str
    points: float | None  # for grade cells


def _source_cells(resources: dict) -> dict[str, SourceCell]:
    info = resources["nbgrader"]
    with Gradebook(info["db_url"]) as gb:  # as nbgrader's OverwriteCells opens it
        notebook = gb.find_notebook(info["notebook"], info["assignment"])
        points = {cell.name: float(cell.max_score) for cell in notebook.grade_cells}
        return {
            cell.name: SourceCell(cell.cell_type, bool(cell.locked), cell.source, points.get(cell.name))
            for cell in notebook.source_cells
        }


def _changes(cell: NotebookNode, original: SourceCell) -> list[str]:
    """What a student changed in a cell that nbgrader will restore (empty if nothing)."""
    info = cell.metadata["nbgrader"]
    found = []
    if cell.cell_type != original.cell_type:
        found.append(f"its type was changed to {cell.cell_type}")
    if original.locked and cell.source != original.source:
        found.append("the text of this locked cell was changed")
    if original.points is not None and info.get("grade") and _float(info.get("points")) != original.points:
        found.append(f"its points were changed to {info.get('points')!r}")
    return found


def _float(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


class RepairGradeCells(NbGraderPreprocessor):
    """Turn grade cells nbgrader would reject into ordinary cells, and say which and why."""

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        for meta in [nb.metadata, *(cell.get("metadata", {}) for cell in nb.cells)]:
            for key in [k for k in meta if str(k).startswith(KIT_PREFIX)]:
                del meta[key]
        known = _source_cells(resources)
        seen: set[str] = set()
        repairs = []
        for index, cell in enumerate(nb.cells):
            meta = cell.get("metadata", {})
            if "nbgrader" not in meta:
                continue
            info = meta["nbgrader"]
            grade_id = info.get("grade_id") if isinstance(info, dict) else None
            if not isinstance(info, dict):
                problem = "its nbgrader metadata is not a dictionary"
            elif not isinstance(grade_id, str) or grade_id not in known:
                problem = f"its grade id {grade_id!r} is not one of this notebook's"
            elif grade_id in seen:
                problem = f"it repeats the grade id {grade_id!r} of an earlier cell"
            else:
                seen.add(grade_id)
                if info.get("schema_version") != SCHEMA_VERSION:
                    # nbgrader would stop grading the whole class on this; the value is ours to set.
                    repairs.append(
                        fault(
                            grade_id,
                            "edited grade cell",
                            f"its nbgrader schema version was changed to {info.get('schema_version')!r}; restored",
                        )
                    )
                    info["schema_version"] = SCHEMA_VERSION
                changed = _changes(cell, known[grade_id])
                if changed:
                    repairs.append(fault(grade_id, "edited grade cell", "; ".join(changed) + "; restored"))
                continue
            repairs.append(
                fault(cell_name(cell, index), "edited grade cell", f"{problem}; it was graded as an ordinary cell")
            )
            del meta["nbgrader"]
        for grade_id, original in known.items():
            if original.points is not None and grade_id not in seen:
                repairs.append(fault(grade_id, "edited grade cell", "this grade cell was deleted; restored"))
        if repairs:
            for item in repairs:
                self.log.warning(
                    "%s/%s %s: %s",
                    resources["nbgrader"]["student"],
                    resources["nbgrader"]["notebook"],
                    item["where"],
                    item["message"],
                )
        # The first faults of this notebook (the kit's keys were removed above): the repairs, and
        # the signs of tampering in the student's own cells (cells stripped of their grade id
        # above are the student's now).
        found = repairs + tamper_faults(nb)
        if found:
            nb.metadata[FAULTS_KEY] = found
        return nb, resources


class RestoreGradeCells(OverwriteCells):
    """nbgrader's ``OverwriteCells``, with deleted grade cells put back wherever the submission's
    cells are.

    nbgrader re-adds a deleted grade cell after the source cell just before it, and fails with a
    ``KeyError`` when that one is missing too (a student deleted an answer cell and its test, or
    the cell before is a locked text cell): the whole notebook would then score 0. Here it goes
    after the nearest earlier source cell the submission still has (or first).
    """

    def add_missing_grade_cells(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        source = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        order = [cell.name for cell in source.source_cells]
        by_name = {cell.name: cell for cell in source.source_cells}
        solutions = {cell.name for cell in source.solution_cells}
        for grade_cell in sorted(source.grade_cells, key=lambda cell: order.index(cell.name)):
            present = {}  # grade id -> position, for the cells as they are now (nbgrader adds plain dicts)
            for index, cell in enumerate(nb.cells):
                info = cell.get("metadata", {}).get("nbgrader")
                if isinstance(info, dict) and "grade_id" in info:
                    present.setdefault(info["grade_id"], index)
            if grade_cell.name in present:
                continue
            self.log.warning("Missing grade cell %s encountered, adding to notebook", grade_cell.name)
            earlier = [present[name] for name in order[: order.index(grade_cell.name)] if name in present]
            restored = self.missing_cell_transform(
                by_name[grade_cell.name], grade_cell.max_score, is_solution=grade_cell.name in solutions
            )
            nb.cells.insert(max(earlier) + 1 if earlier else 0, restored)
        return nb, resources
