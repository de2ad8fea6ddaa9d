"""The students' feedback pages: each check's weight, no bare score, "not graded yet", math offline."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from browsing import new_page, screenshot
from nbgrader.api import Gradebook

from gankit import ASSIGNMENT, COURSE_ID, NOTEBOOKS, scores
from gankit.judging.checking import CheckFailed
from gankit.judging.grader import CellVerdict, CheckResult
from gankit.nbgrader_adapter.mathml import MathMLRenderer, mathml
from gankit.nbgrader_cli import run_nbgrader

STUDENT = "dev"  # a mistake in exercise 1, so partial credit there
GRADED = "written_optimal_discriminator"  # graded by hand here; the other written answers are not


def _failure() -> CheckFailed:
    return CheckFailed("a", "b", "c", "d")


def test_each_check_shows_its_share_of_the_cells_points():
    verdict = CellVerdict("correct_x", 3.0)
    verdict.results = [
        CheckResult("first", 1.0),
        CheckResult("second", 1.0, failure=_failure()),
        CheckResult("third", 2.0),
        CheckResult("fourth", 2.0, structural=True),
    ]
    text = verdict.feedback()
    # weights 1, 1, 2, 2 of 6 share 3 points: 0.5, 0.5, 1, 1; a value check failed, so the
    # structural one counts nothing though it passed
    assert "Hidden checks: 3 of 4 passed, 1.5 of 3 points." in text
    assert "✓ first (0.5 of 0.5 points)" in text
    assert "✗ second (0 of 0.5 points)" in text
    assert "✓ third (1 of 1 points)" in text
    assert "✓ fourth (0 of 1 points)" in text


def test_formulas_become_mathml_and_anything_else_stays_text():
    rendered = mathml(r"\frac{p_\text{data}(x)}{p_\text{data}(x) + p_\text{model}(x)}")
    assert rendered.startswith("<math") and "<mfrac>" in rendered
    # a student's formula is theirs to write: markup inside it must never reach the page as markup
    assert mathml(r"\text{<script>alert(1)</script>}") is None
    shown = MathMLRenderer(escape=False).inline_math(r"\text{<img src=x onerror=alert(1)>}")
    assert "<img" not in shown and "&lt;img" in shown


@pytest.fixture(scope="module")
def feedback(cycle, tmp_path_factory) -> dict[str, Path]:
    """Feedback for one student after a grader graded one written answer and not the others."""
    course = shutil.copytree(cycle.course, tmp_path_factory.mktemp("feedback") / "course", symlinks=True)
    with Gradebook(scores.db_url(course), COURSE_ID) as gradebook:
        grade = gradebook.find_grade(GRADED, NOTEBOOKS[0], ASSIGNMENT, STUDENT)
        grade.manual_score, grade.needs_manual_grade = 2.5, False
        gradebook.db.commit()
    run_nbgrader(["generate_feedback", ASSIGNMENT, "--force", "--student", STUDENT], cwd=course)
    return {name: course / "feedback" / STUDENT / ASSIGNMENT / f"{name}.html" for name in NOTEBOOKS}


def test_a_page_shows_weights_and_scores_and_no_bare_partial_credit_number(feedback):
    page = feedback[NOTEBOOKS[0]].read_text(encoding="utf-8")
    assert re.search(r"✗ [^<]+ \(0 of [\d.]+ points\)", page)
    assert "Score: 2.5 / 3" in page  # the graded written answer
    test_cells = [cell for cell in page.split('<div class="cell ') if "Grade cell: <code>correct_" in cell]
    assert len(test_cells) >= 3
    for cell in test_cells:  # nbgrader's partial-credit number stays in the notebook, off the page
        assert "output_execute_result" not in cell and "Out[" not in cell


def test_a_written_answer_awaiting_its_grader_says_so(feedback):
    page = feedback[NOTEBOOKS[1]].read_text(encoding="utf-8")
    assert "Score: not graded yet (of 2)" in page and "score so far" in page
    assert "Score: 0 / 2" not in page and "0.0 / 2.0" not in page


def test_every_formula_is_typeset_in_chromium_with_no_network(browser, feedback):
    """The page asks for nothing beyond itself, and Chromium lays each fraction out as one."""
    page = new_page(browser)
    requests: list[str] = []

    def refuse(route):
        requests.append(route.request.url)
        route.abort()

    page.route(re.compile(r"^(?!file:).*"), refuse)
    for name, path in feedback.items():
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        formulas = page.locator("math")
        assert formulas.count() > 10, name
        # no formula left as LaTeX source for a script to typeset
        text = page.locator("div.text_cell_render").all_inner_texts()
        assert not [t for t in text if re.search(r"\$[^$\s][^$]*\\[a-z]+[^$]*\$", t)], name
        layout = page.evaluate(
            """() => [...document.querySelectorAll('mfrac')].map(f => {
                const [top, bottom] = [...f.children].map(c => c.getBoundingClientRect());
                return [getComputedStyle(f.closest('math')).display, top.bottom <= bottom.top + 1, top.width > 0];
            })"""
        )
        assert layout, name
        for display, stacked, drawn in layout:  # numerator above denominator: real MathML layout
            assert display in {"math", "inline math", "block math"} and stacked and drawn, (name, display)
        screenshot(page, f"feedback-{name}-offline")
    assert requests == []
