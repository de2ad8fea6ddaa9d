"""Grade-cell repair, tested the way nbgrader tests its preprocessors: a small notebook in, the
repaired notebook out, against a real gradebook."""

from __future__ import annotations

import copy
import logging
import shutil

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from nbgrader.nbgraderformat import SCHEMA_VERSION
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
def generated(tmp_path_factory, blank_gradebook):
    """A one-notebook course, generated once: its release and the gradebook nbgrader filled."""
    tmp_path = tmp_path_factory.mktemp("repair")
    shutil.copy(blank_gradebook, tmp_path / "gradebook.db")  # which nbgrader fills, as it would a new one
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


def _metadata_cases() -> dict[str, nbformat.NotebookNode]:
    """Notebooks whose nbgrader metadata is right, or wrong in each way nbgrader checks."""

    def notebook(edit=None):
        nb = new_notebook(cells=copy.deepcopy(SOURCE) + [new_code_cell("x = 1")])
        if edit:
            edit(nb.cells)
        return nb

    def set_meta(index, **values):
        return lambda cells: cells[index].metadata.nbgrader.update(values)

    return {
        "right": notebook(),
        "points as text": notebook(set_meta(2, points="one")),
        "an unknown key": notebook(set_meta(1, colour="red")),
        "an older schema": notebook(set_meta(0, schema_version=2)),
        "a newer schema": notebook(set_meta(0, schema_version=4)),
        "a grade cell without points": notebook(lambda cells: cells[2].metadata.nbgrader.pop("points")),
        "an empty grade id": notebook(set_meta(1, grade_id="")),
        "a duplicate grade id": notebook(set_meta(2, grade_id="answer")),
        "a markdown grade cell that is no solution": notebook(set_meta(3, solution=False)),
    }


def _verdict(check, nb) -> str:
    try:
        check(copy.deepcopy(nb))
    except Exception as error:  # noqa: BLE001 - the verdict is the exception's type and message
        return f"{type(error).__name__}: {error}"
    return "valid"


def test_the_metadata_check_with_its_schema_compiled_once_gives_nbgraders_verdicts():
    """Every kind of metadata nbgrader accepts or rejects gets stock ``CheckCellMetadata``'s verdict,
    exception and message alike, from the kit's (run twice, so that the compiled schema is reused)."""
    from nbgrader.nbgraderformat import MetadataValidator
    from nbgrader.preprocessors import CheckCellMetadata

    from gankit.nbgrader_adapter.metadata_check import CheckCellMetadataOnce, _Validator

    pairs = [  # (stock, kit): the preprocessors, and the validators under them (their own messages)
        (lambda nb: CheckCellMetadata().preprocess(nb, {}), lambda nb: CheckCellMetadataOnce().preprocess(nb, {})),
        (lambda nb: MetadataValidator().validate_nb(nb), lambda nb: _Validator().validate_nb(nb)),
    ]
    for name, nb in _metadata_cases().items():
        for stock, kit in pairs:
            expected = _verdict(stock, nb)
            assert expected == "valid" if name == "right" else expected != "valid", (name, expected)
            assert _verdict(kit, nb) == _verdict(kit, nb) == expected, name


@pytest.mark.parametrize("claimed", [SCHEMA_VERSION - 1, SCHEMA_VERSION + 1, "3"])
def test_a_changed_schema_version_is_restored_and_named(course, claimed):
    """nbgrader refuses a whole notebook whose grade cell claims another schema version: it is put back."""
    released, resources = course
    released.cells[2].metadata.nbgrader["schema_version"] = claimed
    nb, _ = RepairGradeCells().preprocess(released, resources)
    assert nb.cells[2].metadata.nbgrader["schema_version"] == SCHEMA_VERSION
    assert [item["where"] for item in nb.metadata[FAULTS_KEY]] == ["correct_f"]


@pytest.mark.parametrize(("index", "new_type"), [(2, "markdown"), (1, "markdown"), (3, "code")])
def test_a_grade_cell_whose_type_was_changed_either_way_is_named(course, index, new_type):
    """A code cell made markdown and a markdown cell made code: both are edits nbgrader undoes."""
    released, resources = course
    cell = released.cells[index]
    cell.cell_type = new_type
    nb, _ = RepairGradeCells().preprocess(released, resources)
    assert [item["message"] for item in nb.metadata[FAULTS_KEY] if item["where"] == _ids_of(cell)] == [
        f"its type was changed to {new_type}; restored"
    ]


def test_points_lowered_are_named_as_well_as_points_raised(course):
    released, resources = course
    released.cells[2].metadata.nbgrader["points"] = 0
    nb, _ = RepairGradeCells().preprocess(released, resources)
    assert [(item["where"], item["message"]) for item in nb.metadata[FAULTS_KEY]] == [
        ("correct_f", "its points were changed to 0; restored")
    ]


def test_the_kits_own_keys_in_a_submission_are_dropped_before_anything_reads_them(course):
    """A student cannot plant faults, scores or notes under the kit's keys: only the kit writes them."""
    released, resources = course
    released.metadata[FAULTS_KEY] = [{"where": "correct_f", "kind": "forged", "message": "grade by hand"}]
    released.metadata["gankit_anything"] = "planted"
    released.cells[1].metadata["gankit_score"] = 99
    nb, _ = RepairGradeCells().preprocess(released, resources)
    assert nb.metadata.get(FAULTS_KEY, []) == []
    assert not [
        key for meta in [nb.metadata, *(c.metadata for c in nb.cells)] for key in meta if key.startswith("gankit")
    ]


def test_each_repair_is_logged_with_its_student_and_notebook(course, caplog):
    released, resources = course
    released.cells[3].metadata.nbgrader["points"] = 20
    preprocessor = RepairGradeCells()
    preprocessor.log = logging.getLogger("test.repair")
    with caplog.at_level(logging.WARNING, logger="test.repair"):
        preprocessor.preprocess(released, resources)
    assert [record.getMessage() for record in caplog.records] == [
        "foo/p1 written: its points were changed to 20; restored"
    ]


@pytest.mark.parametrize(
    ("deleted", "expected"),
    [
        ({"correct_f"}, ["intro", "answer", "correct_f", "written"]),  # after the answer it tests
        ({"written"}, ["intro", "answer", "correct_f", "written"]),  # a later one, the earlier still there
        ({"intro", "answer", "correct_f"}, ["correct_f", "written"]),  # nothing before it left: first
    ],
)
def test_a_deleted_grade_cell_comes_back_after_the_nearest_earlier_cell_still_there(course, deleted, expected):
    released, resources = course
    released.cells = [c for c in released.cells if _ids_of(c) not in deleted]
    assert _ids(_restore(RestoreGradeCells, nbformat.from_dict(released), resources)) == expected


def test_a_cell_the_student_added_hides_no_later_edit(course):
    """Cells without nbgrader metadata (the student's own) are passed over, not the end of the check."""
    released, resources = course
    released.cells.insert(0, new_code_cell("import numpy as np"))
    released.cells[-1].metadata.nbgrader["points"] = 20
    nb, _ = RepairGradeCells().preprocess(released, resources)
    assert [item["where"] for item in nb.metadata[FAULTS_KEY]] == ["written"]


@pytest.mark.parametrize("grade_id", ["bogus", 7])
def test_a_grade_id_this_notebook_does_not_have_makes_an_ordinary_cell(course, grade_id):
    released, resources = course
    released.cells[2].metadata.nbgrader["grade_id"] = grade_id
    nb, _ = RepairGradeCells().preprocess(released, resources)
    assert "nbgrader" not in nb.cells[2].metadata
    assert any(
        item["message"] == f"its grade id {grade_id!r} is not one of this notebook's; it was graded as an ordinary cell"
        for item in nb.metadata[FAULTS_KEY]
    )
