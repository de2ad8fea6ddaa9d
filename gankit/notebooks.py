"""Reading, cleaning and editing the course notebooks; cells are found by nbgrader grade id."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

# Cell metadata that editors and executions add and that means nothing to the course.
VOLATILE_CELL_METADATA = ("execution", "collapsed", "scrolled", "ExecuteTime", "jupyter", "trusted")
KEPT_NOTEBOOK_METADATA = ("kernelspec", "language_info")


def read(path: Path) -> NotebookNode:
    """Read a notebook (nbformat 4)."""
    return nbformat.read(str(path), as_version=4)


def clean(nb: NotebookNode) -> NotebookNode:
    """Strip outputs, execution counts and volatile metadata, in place; returns ``nb``."""
    nb.metadata = nbformat.from_dict({key: nb.metadata[key] for key in KEPT_NOTEBOOK_METADATA if key in nb.metadata})
    if "language_info" in nb.metadata:
        nb.metadata.language_info = nbformat.from_dict({"name": nb.metadata.language_info["name"]})
    for cell in nb.cells:
        for key in VOLATILE_CELL_METADATA:
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return nb


def write_clean(nb: NotebookNode, path: Path) -> None:
    """Write ``nb`` cleaned, in nbformat's canonical layout (stable diffs)."""
    clean(nb)
    path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")


def nbgrader_meta(cell: NotebookNode) -> dict[str, Any]:
    """The cell's nbgrader metadata ({} for an ordinary cell)."""
    return dict(cell.metadata.get("nbgrader", {}))


def cells_by_grade_id(nb: NotebookNode) -> dict[str, NotebookNode]:
    """Map each nbgrader grade id of the notebook to its cell."""
    return {meta["grade_id"]: cell for cell in nb.cells if (meta := nbgrader_meta(cell)).get("grade_id")}


def graded_test_points(nb: NotebookNode) -> dict[str, int | float]:
    """Map the grade id of each autograded test cell to its points."""
    return {
        meta["grade_id"]: meta["points"]
        for cell in nb.cells
        if cell.cell_type == "code" and (meta := nbgrader_meta(cell)).get("grade") and not meta.get("solution")
    }


def set_source(nb: NotebookNode, grade_id: str, source: str) -> None:
    """Replace the source of the cell with ``grade_id`` (KeyError if there is none)."""
    cells_by_grade_id(nb)[grade_id].source = source


def is_setup_cell(cell: NotebookNode) -> bool:
    """A locked instructor cell that the student's code needs (imports, given helpers)."""
    meta = nbgrader_meta(cell)
    return bool(meta.get("locked")) and meta.get("grade_id", "").endswith("_imports")


def runnable_sources(nb: NotebookNode) -> list[str]:
    """The code that defines a notebook's answers: set-up cells first (a student may have moved
    them), then answer cells and any cells the student added, in notebook order; not test cells,
    not figures."""
    setup, others = [], []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        meta = nbgrader_meta(cell)
        if is_setup_cell(cell):
            setup.append(cell.source)
        elif not (meta.get("locked") or meta.get("grade")):
            others.append(cell.source)
    return setup + others


def load_functions(path: Path) -> dict[str, Any]:
    """Execute a notebook's runnable cells (see ``runnable_sources``) in this process and return
    the names they define. For the instructor's own notebooks only: student code never runs here."""
    namespace: dict[str, Any] = {"__name__": f"notebook_{path.stem}"}
    folder = str(path.parent)
    sys.path.insert(0, folder)  # the notebooks import gan_checks from their own folder
    try:
        for index, source in enumerate(runnable_sources(read(path))):
            exec(compile(source, f"{path.name}:cell {index}", "exec"), namespace)
    finally:
        sys.path.remove(folder)
    return namespace
