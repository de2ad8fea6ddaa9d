"""Signs of tampering are read from the student's code as text: each known attempt is named by
the construct it uses, and no model answer or honest mistake is."""

from __future__ import annotations

import pytest

from gankit import ASSIGNMENT, NOTEBOOKS, ROOT, notebooks, simulated_class
from gankit.nbgrader_adapter.tamper_signs import signs_in, tamper_faults

ATTEMPTS = {
    "TAMPER_NUMPY": ["`np.allclose`", "`np.testing.assert_allclose`"],
    "TAMPER_LIAR": ["decides its own equality (`Agreeable`)"],
    "TAMPER_TRANSFORMER": ["`input_transformers_cleanup`"],
    "TAMPER_READ_SOURCE": ["names the course's files (`source`)", "`exec`"],
    "TAMPER_EXCEPTION_HOOK": ["`set_custom_exc`"],
    "TAMPER_SHOWTRACEBACK": ["`showtraceback`"],
}


@pytest.mark.parametrize("attempt", sorted(ATTEMPTS))
def test_each_known_attempt_is_named_by_what_it_uses(attempt):
    found = " | ".join(signs_in(getattr(simulated_class, attempt)))
    for construct in ATTEMPTS[attempt]:
        assert construct in found, (attempt, found)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_no_model_answer_shows_a_sign(name):
    for folder in ("source", "solutions", "release"):
        nb = notebooks.read(ROOT / folder / ASSIGNMENT / f"{name}.ipynb")
        assert tamper_faults(nb) == [], (folder, name)
        assert not [signs_in(cell.source) for cell in nb.cells if cell.cell_type == "code" and signs_in(cell.source)]


def test_no_honest_mistake_of_the_simulated_class_shows_a_sign():
    honest = [s for s in simulated_class.CLASS if not s.cheats]
    assert len(honest) > 10
    for student in honest:
        for grade_id, code in student.overrides.items():
            assert signs_in(code) == [], (student.student_id, grade_id)


def test_magics_and_code_that_does_not_parse_are_no_evidence():
    assert signs_in("%matplotlib inline\nimport numpy as np\nx = np.zeros(3)") == []
    assert signs_in("def broken(:\n    np.allclose = None") == []
