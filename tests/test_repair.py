"""Grade-cell repair, tested the way nbgrader tests its preprocessors: a small notebook in, the
repaired notebook out, against a real gradebook."""

from __future__ import annotations

import copy
import logging

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from nbgrader.preprocessors import OverwriteCells

from gankit.nbgrader_adapter.faults import FAULTS_KEY
from gankit.nbgrader_adapter.repair import RepairGradeCells, RestoreGradeCells
from gankit.nbgrader_cli import run_nbgrader


def _cell(maker, source, grade_id, **flags):
    meta = {"grade_id": grade_id, "schema_version": 3, "grade": False, "solution": False, "locked": False}
    meta.update(flags)
    return maker(source, metadata={"nbgrader": meta})


SOURCE = [
    _cell(new_markdown_cell, "# Part A", "intro", locked=True),
    _cell(
        new_code_cell,
        "def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
        "answer",
        solution=True,
    ),
    _cell(new_code_cell, "assert f(1) == 2", "correct_f", grade=True, locked=True, points=1),
    _cell(new_markdown_cell, "Why?", "written", grade=True, solution=True, points=2),
]


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """A one-notebook course, generated once: its release and the gradebook nbgrader filled."""
    tmp_path = tmp_path_factory.mktemp("repair")
    (tmp_path / "source" / "ps1").mkdir(parents=True)
    nbformat.write(new_notebook(cells=SOURCE), tmp_path / "source" / "ps1" / "p1.ipynb")
    (tmp_path / "nbgrader_config.py").write_text(f"c = get_config()\nc.CourseDirectory.root = {str(tmp_path)!r}\n")
    run_nbgrader(["generate_assignment", "ps1"], cwd=tmp_path)
    released = nbformat.read(tmp_path / "release" / "ps1" / "p1.ipynb", as_version=4)
    resources = {
        "nbgrader": {
            "notebook": "p1",
            "assignment": "ps1",
            "student": "foo",
            "db_url": f"sqlite:///{tmp_path / 'gradebook.db'}",
        }
    }
    return released, resources


@pytest.fixture
def course(generated):
    """The released notebook (a fresh copy for each test) and the resources nbgrader would pass."""
    released, resources = generated
    return copy.deepcopy(released), resources


def _ids(nb):
    return [cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") for cell in nb.cells]


def _restore(preprocessor_class, nb, resources):
    preprocessor = preprocessor_class(add_missing_cells=True)
    preprocessor.log = logging.getLogger("test")
    return preprocessor.preprocess(nb, resources)[0]


def test_a_deleted_answer_and_its_test_come_back_in_place_where_nbgraders_own_fails(course):
    released, resources = course
    released.cells = [c for c in released.cells if _ids_of(c) not in {"answer", "correct_f"}]
    with pytest.raises(KeyError):  # nbgrader looks for the answer cell before the test: gone too
        _restore(OverwriteCells, nbformat.from_dict(released), resources)
    restored = _restore(RestoreGradeCells, nbformat.from_dict(released), resources)
    assert _ids(restored) == ["intro", "correct_f", "written"]
    assert "assert f(1) == 2" in restored.cells[1]["source"]


def test_deleting_a_test_cell_is_named_as_an_edit(course):
    released, resources = course
    released.cells = [c for c in released.cells if _ids_of(c) != "correct_f"]
    nb, _ = RepairGradeCells().preprocess(released, resources)
    assert {"where": "correct_f", "kind": "edited grade cell", "message": "this grade cell was deleted; restored"} in (
        nb.metadata[FAULTS_KEY]
    )


def test_a_changed_locked_cell_and_changed_points_are_named(course):
    released, resources = course
    released.cells[2].source = "pass  # the test, emptied"
    released.cells[3].metadata.nbgrader["points"] = 20
    nb, _ = RepairGradeCells().preprocess(released, resources)
    messages = {item["where"]: item["message"] for item in nb.metadata[FAULTS_KEY]}
    assert messages == {
        "correct_f": "the text of this locked cell was changed; restored",
        "written": "its points were changed to 20; restored",
    }


def _ids_of(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
