"""`nbgrader validate`, as students and instructors run it: the source passes, the release fails."""

from __future__ import annotations

import pytest
from paths import RELEASE, SOURCE

from gankit import NOTEBOOKS, notebooks
from gankit.nbgrader_cli import run_nbgrader

# Each test runs nbgrader validate over the three notebooks: three kernels and about 7 s of CPU.
pytestmark = pytest.mark.slow

PASSES = "Success! Your notebook passes all the tests."
PASSES_NOTHING = "Success! The notebook does not pass any tests."


def _validate(folder, *flags):
    files = [f"{name}.ipynb" for name in NOTEBOOKS]
    return run_nbgrader(["validate", *flags, *files], cwd=folder).stdout


def test_every_source_notebook_passes_its_own_tests():
    assert _validate(SOURCE).count(PASSES) == len(NOTEBOOKS)


def test_no_test_cell_passes_on_the_released_stubs():
    assert _validate(RELEASE, "--invert").count(PASSES_NOTHING) == len(NOTEBOOKS)


def test_validate_tells_a_student_with_stubs_that_they_will_lose_credit(test_points):
    output = _validate(RELEASE)
    assert PASSES not in output
    for name in NOTEBOOKS:
        # every test cell fails, plus every untouched written answer
        written = [
            cell
            for cell in notebooks.read(RELEASE / f"{name}.ipynb").cells
            if cell.cell_type == "markdown" and notebooks.nbgrader_meta(cell).get("grade")
        ]
        assert written
        assert f"VALIDATION FAILED ON {len(test_points[name]) + len(written)} CELL(S)!" in output
