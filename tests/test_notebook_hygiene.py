"""The notebooks keep the course's promises: clean, honest headings, one test cell per function of
the exercise spec, stubs that raise, and nothing that ties them to one machine."""

from __future__ import annotations

import ast
import re

import pytest

from gankit import ASSIGNMENT, NOTEBOOKS, ROOT, notebooks

FOLDERS = ("source", "release", "solutions")
ALL_NOTEBOOKS = [(folder, name) for folder in FOLDERS for name in NOTEBOOKS]
SPEC = ROOT / "docs" / "student-api.md"  # the kit's own account of the API, inside the repository
ALLOWED_CELL_METADATA = {"nbgrader", "deletable", "editable", "tags"}


def _read(folder, name):
    return notebooks.read(ROOT / folder / ASSIGNMENT / f"{name}.ipynb")


def _spec_functions() -> dict[str, list[str]]:
    """Function name -> argument names, from the tables of docs/student-api.md."""
    rows = re.findall(r"^\| `(\w+)\(([^)]*)\)` \|", SPEC.read_text(), flags=re.MULTILINE)
    return {name: [arg.strip() for arg in args.split(",") if arg.strip()] for name, args in rows}


def _answer_functions(nb) -> dict[str, list[str]]:
    found = {}
    for cell in nb.cells:
        if cell.cell_type == "code" and notebooks.nbgrader_meta(cell).get("solution"):
            for node in ast.parse(cell.source).body:
                if isinstance(node, ast.FunctionDef):
                    found[node.name] = [arg.arg for arg in node.args.args]
    return found


@pytest.mark.parametrize(("folder", "name"), ALL_NOTEBOOKS)
def test_committed_clean(folder, name):
    nb = _read(folder, name)
    assert set(nb.metadata) <= {"kernelspec", "language_info"}
    for cell in nb.cells:
        assert set(cell.metadata) <= ALLOWED_CELL_METADATA, cell.metadata
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    text = (ROOT / folder / ASSIGNMENT / f"{name}.ipynb").read_text()
    assert not re.search(r"(?<![\w.])/(work|home|tmp|root|Users)/", text), "an absolute path"


def _sections(nb) -> list[list]:
    """[heading, points it promises (or None), points of the graded cells under it], in order."""
    sections = [["(before the first part)", None, 0.0]]
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("## "):
                    promised = re.search(r"\((\d+) points?\)", line)
                    sections.append([line, float(promised.group(1)) if promised else None, 0.0])
        sections[-1][2] += notebooks.nbgrader_meta(cell).get("points", 0)
    return sections


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_headings_carry_the_points_in_the_metadata(name):
    nb = _read("source", name)
    title = re.match(r"# .*\((\d+) points\)", nb.cells[0].source)
    sections = _sections(nb)
    assert title and float(title.group(1)) == sum(counted for _, _, counted in sections)
    for heading, promised, counted in sections:
        assert counted == (promised or 0.0), heading
    assert sum(promised is not None for _, promised, _ in sections) >= 4


def test_grade_ids_are_unique_across_the_assignment():
    ids = [gid for name in NOTEBOOKS for gid in notebooks.cells_by_grade_id(_read("source", name))]
    assert len(ids) == len(set(ids))


def test_every_spec_function_has_an_answer_cell_with_its_signature_and_one_test_cell():
    spec = _spec_functions()
    assert len(spec) == 13
    defined = {}
    for name in NOTEBOOKS:
        nb = _read("source", name)
        functions = _answer_functions(nb)
        defined.update(functions)
        tests = [cell for cell in nb.cells if notebooks.nbgrader_meta(cell).get("grade") and cell.cell_type == "code"]
        for function in functions:
            calling = [cell for cell in tests if re.search(rf"\b{function}\(", cell.source)]
            own = [cell for cell in calling if f"Check {function}:" in cell.source]
            assert len(own) == 1, f"{function} needs exactly one test cell of its own"
    assert defined == spec


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_test_cells_open_with_a_one_line_docstring(name):
    for cell in _read("source", name).cells:
        meta = notebooks.nbgrader_meta(cell)
        if meta.get("grade") and cell.cell_type == "code":
            first = cell.source.splitlines()[0]
            assert re.fullmatch(r'""".+\."""', first), first


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_released_stubs_raise_and_released_written_answers_are_blank(name):
    nb = _read("release", name)
    for cell in nb.cells:
        meta = notebooks.nbgrader_meta(cell)
        if meta.get("solution") and cell.cell_type == "code":
            assert cell.source.rstrip().endswith("raise NotImplementedError()"), meta["grade_id"]
        elif meta.get("solution"):
            assert cell.source.strip() == "YOUR ANSWER HERE", meta["grade_id"]


def test_gitignore_keeps_grading_droppings_out():
    ignored = (ROOT / ".gitignore").read_text().split()
    for pattern in ("gradebook.db", ".ipynb_checkpoints/", "__pycache__/"):
        assert pattern in ignored
