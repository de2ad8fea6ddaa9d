"""The grading policy of docs/student-api.md, checked piece by piece (the mutant corpus of
test_fair_grades.py checks it whole): the words of a verdict come from the comparison that made it,
differences below the smallest normal float never count, a wrong form or precision costs exactly a
quarter of a part, an error in an earlier function is charged once, and the visible tests tell the
answers apart that the hidden ones do."""

from __future__ import annotations

import contextlib
import io
import re
import sys
import textwrap
import time

import nbformat
import numpy as np
import pytest
from paths import RELEASE

from gankit import ASSIGNMENT, NOTEBOOKS, ROOT, notebooks
from gankit.judging.checking import CheckFailed, is_float_array, same_values
from gankit.judging.grader import CellVerdict, CheckResult, Grader
from gankit.judging.outcome import Outcome

SOLUTIONS = ROOT / "solutions" / ASSIGNMENT


def _failure(call) -> CheckFailed:
    with pytest.raises(CheckFailed) as failed:
        call()
    return failed.value


def test_the_words_of_a_failure_come_from_the_comparison_that_failed():
    """A tight tolerance that fails must not be reported as "0 of 10 values wrong"."""
    want = np.linspace(1.0, 2.0, 10)
    got = Outcome("ndarray", want * (1 + 1e-10))
    failure = _failure(lambda: same_values(got, want, tried="t", expected="e", hint="h", rtol=1e-12, atol=0.0))
    assert failure.got == "10 of 10 values wrong"
    same_values(got, want, tried="t", expected="e", hint="h")  # the default tolerance accepts it


def test_a_difference_below_the_smallest_normal_float_is_not_a_mistake():
    exact = np.array([1e-310, 0.5])  # the first value is subnormal
    same_values(Outcome("ndarray", np.array([0.0, 0.5])), exact, tried="t", expected="e", hint="h", atol=0.0)
    with pytest.raises(CheckFailed):
        same_values(Outcome("ndarray", np.array([0.0, 0.5])), np.array([1e-300, 0.5]), tried="t", expected="e",
                    hint="h", atol=0.0)  # fmt: skip


def test_single_precision_is_judged_to_single_precision_and_costs_the_form():
    want = np.array([0.1, 0.7, 1e-3])
    got = Outcome("ndarray", want.astype(np.float32))
    same_values(got, want, tried="t", expected="e", hint="h")
    failure = _failure(lambda: is_float_array(got, tried="t", shape=(3,)))
    assert "float64" in failure.expected and "a quarter" in failure.expected and "float64" in failure.hint
    assert "float32" in failure.got
    # the same numbers rounded to single precision in a float64 array are wrong digits, not a form
    with pytest.raises(CheckFailed):
        same_values(Outcome("ndarray", want.astype(np.float32).astype(float)), want, tried="t", expected="e", hint="h")


def test_single_precision_is_judged_relative_to_the_results_largest_value():
    """float32 carries about 7 digits of the largest value it holds: a 0 computed as the difference
    of numbers near 1000 comes back as about 6e-5 (float32's spacing at 1000), which is not a
    mistake; the same error with no large value beside it is, and so is one past 1e-5 of 1000."""
    step = float(np.spacing(np.float32(1000.0)))  # 6.1e-05
    want = np.array([1000.0, 0.0])
    same_values(Outcome("ndarray", np.array([1000.0, step], dtype=np.float32)), want, tried="t", expected="e", hint="h")
    for got, target in (([0.5, step], [0.5, 0.0]), ([1000.0, 0.02], [1000.0, 0.0])):
        with pytest.raises(CheckFailed):
            same_values(Outcome("ndarray", np.array(got, dtype=np.float32)), np.array(target), tried="t", expected="e",
                        hint="h")  # fmt: skip


def test_the_form_checks_of_a_cell_share_a_quarter_of_its_points():
    failed = CheckFailed("t", "e", "g", "h")
    verdict = CellVerdict("correct_x", 2.0)
    verdict.results = [
        CheckResult("values", 3.0),
        CheckResult("more values", 1.0),
        CheckResult("structure", 2.0, structural=True),
        CheckResult("form", 1.0, structural=True, form=True, failure=failed),
    ]
    assert verdict.score == 1.5  # 2 points, less a quarter
    assert "✗ form (0 of 0.5 points)" in verdict.feedback()
    # the other 1.5 points split by weight, 3 : 1 : 2
    for line in (
        "✓ values (0.75 of 0.75 points)",
        "✓ more values (0.25 of 0.25 points)",
        "✓ structure (0.5 of 0.5 points)",
    ):
        assert line in verdict.feedback()
    verdict.results[0] = CheckResult("values", 3.0, failure=failed)
    assert verdict.score == pytest.approx(2.0 * 1.0 / 8.0)  # values wrong: structure and form count nothing
    # a quarter whatever the other checks' weights add up to
    verdict.results = [CheckResult("values", 1.0), CheckResult("form", 1.0, structural=True, form=True, failure=failed)]
    assert verdict.score == 1.5 and "✗ form (0 of 0.5 points)" in verdict.feedback()


@pytest.fixture(scope="module")
def grader() -> Grader:
    return Grader(ROOT, ASSIGNMENT, sandbox=False)


def _graded(grader, name, replacements, student="carried"):
    nb = notebooks.read(SOLUTIONS / f"{name}.ipynb")
    for grade_id, code in replacements.items():
        notebooks.set_source(nb, grade_id, code)
    return grader.grade(nb, name, student)


@pytest.mark.parametrize("wrong_f", ["np.exp(a)", "-a", "-np.exp(-a)"])
def test_a_wrong_f_from_logit_costs_once(grader, wrong_f):
    """The later parts that call f_from_logit keep their points; f_from_logit loses its own."""
    verdicts = _graded(grader, NOTEBOOKS[2], {"answer_f_from_logit": f"def f_from_logit(a):\n    return {wrong_f}\n"})
    assert verdicts["correct_f_from_logit"].score == 0
    for cell in ("correct_generator_cost", "correct_ml_gradient_estimate", "correct_f_from_densities"):
        assert verdicts[cell].score == verdicts[cell].points, verdicts[cell].feedback()


def test_a_wrong_later_part_on_a_right_f_still_loses(grader):
    verdicts = _graded(
        grader,
        NOTEBOOKS[2],
        {"answer_generator_cost": "def generator_cost(logits):\n    return float(np.sum(f_from_logit(logits)))\n"},
    )
    assert verdicts["correct_generator_cost"].score == 0
    assert verdicts["correct_f_from_logit"].score == verdicts["correct_f_from_logit"].points


def test_a_guard_constant_in_d_star_loses_for_every_student(grader):
    code = (
        "def optimal_discriminator(p_data, p_model):\n"
        "    p_data, p_model = np.asarray(p_data, dtype=float), np.asarray(p_model, dtype=float)\n"
        "    if np.any(p_data < 0) or np.any(p_model < 0):\n        raise ValueError('negative')\n"
        "    return p_data / (p_data + p_model + 1e-12)\n"
    )
    for student in ("ada", "ben", "cy"):
        verdict = _graded(grader, NOTEBOOKS[0], {"answer_optimal_discriminator": code}, student)[
            "correct_optimal_discriminator"
        ]
        failed = [r for r in verdict.results if r.name.startswith("D* on pairs")][0]
        assert not failed.passed and "constant added" in failed.failure.mistake


# -- the visible tests, run as a student runs them ---------------------------------------------


def _run_visible(name: str, grade_id: str, replacements: dict[str, str]) -> str:
    """Run the released test cell ``grade_id`` on the model answers with ``replacements``: what it
    printed, or the failed check's message."""
    nb = notebooks.read(SOLUTIONS / f"{name}.ipynb")
    cells = notebooks.cells_by_grade_id(nb)
    namespace: dict = {}
    sys.path.insert(0, str(RELEASE))
    try:
        for cell in nb.cells:
            meta = notebooks.nbgrader_meta(cell)
            if cell.cell_type == "code" and (notebooks.is_setup_cell(cell) or meta.get("solution")):
                exec(replacements.get(meta.get("grade_id"), cell.source), namespace)  # noqa: S102
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            try:
                exec(cells[grade_id].source, namespace)  # noqa: S102
            except AssertionError as failed:
                return f"FAILED: {failed}"
        return out.getvalue()
    finally:
        sys.path.remove(str(RELEASE))


ESTIMATORS = {
    "samples from p_data": "x = rng.normal(mu_data, sigma_data, n_samples)\n"
    "    return float(np.mean((theta - x) / sigma_g**2))",
    "its own fixed seed": "x = np.random.default_rng(7).normal(theta, sigma_g, n_samples)\n"
    "    a = gaussian_log_pdf(x, mu_data, sigma_data) - gaussian_log_pdf(x, theta, sigma_g)\n"
    "    return float(np.mean(f_from_logit(a) * (x - theta) / sigma_g**2))",
    "the pathwise estimator": "x = rng.normal(theta, sigma_g, n_samples)\n"
    "    a = gaussian_log_pdf(x, mu_data, sigma_data) - gaussian_log_pdf(x, theta, sigma_g)\n"
    "    return float(np.mean(f_from_logit(a) * (-(x - mu_data) / sigma_data**2 + (x - theta) / sigma_g**2)))",
    "f and the score from separate samples": "x = rng.normal(theta, sigma_g, n_samples)\n"
    "    z = rng.normal(theta, sigma_g, n_samples)\n"
    "    a = gaussian_log_pdf(x, mu_data, sigma_data) - gaussian_log_pdf(x, theta, sigma_g)\n"
    "    return float(np.mean(f_from_logit(a) * (z - theta) / sigma_g**2))",
}


def test_the_visible_part_d_test_passes_the_model_answer():
    assert "passes the visible checks" in _run_visible(NOTEBOOKS[2], "correct_ml_gradient_estimate", {})


@pytest.mark.parametrize("kind", list(ESTIMATORS))
def test_the_visible_part_d_test_fails_what_the_hidden_checks_fail(kind):
    """The sampling contract is checked visibly: each answer that loses hidden points fails it,
    without a claim about its cause that the evidence cannot support."""
    code = (
        "def ml_gradient_estimate(theta, sigma_g, mu_data, sigma_data, n_samples, rng):\n    " + ESTIMATORS[kind] + "\n"
    )
    text = _run_visible(NOTEBOOKS[2], "correct_ml_gradient_estimate", {"answer_ml_gradient_estimate": code})
    assert text.startswith("FAILED") and "differentiated through" not in text, text


def test_the_visible_tests_pass_on_the_model_answers_and_print_nothing_to_stderr(capfd):
    for name in NOTEBOOKS:
        for grade_id in notebooks.cells_by_grade_id(notebooks.read(SOLUTIONS / f"{name}.ipynb")):
            if grade_id.startswith("correct_"):
                assert "passes the visible checks" in _run_visible(name, grade_id, {}), (name, grade_id)
    assert capfd.readouterr().err == ""


def _fn(header: str, body: str) -> str:
    return f"def {header}:\n" + textwrap.indent(textwrap.dedent(body).strip(), "    ") + "\n"


EX1, EX2, EX3 = NOTEBOOKS
D_STAR = "optimal_discriminator(p_data, p_model)"
FROM_LOGS = "optimal_discriminator_from_logs(log_p_data, log_p_model)"
COST = "discriminator_cost(d, p_data, p_model, dx)"
SIM, ALT = "simultaneous_gd(x0, y0, learning_rate, steps)", "alternating_gd(x0, y0, learning_rate, steps)"
ML = "ml_gradient_estimate(theta, sigma_g, mu_data, sigma_data, n_samples, rng)"
LOOP = """
path = np.empty((steps + 1, 2))
path[0] = x0, y0
for k in range(steps):
    x, y = path[k]
    {step}
return path
"""
ESTIMATE = """
x = rng.normal(theta, sigma_g, n_samples)
a = gaussian_log_pdf(x, mu_data, sigma_data) - gaussian_log_pdf(x, theta, sigma_g)
return float(np.mean({term}))
"""

# Every known mistake a visible test names, with an answer that makes it: each label can fire.
VISIBLE_MISTAKES = [
    (EX1, "correct_optimal_discriminator", "answer_optimal_discriminator",
     _fn(D_STAR, "return np.asarray(p_data, dtype=float) / np.asarray(p_model, dtype=float)"), "ratio of the two"),
    (EX1, "correct_optimal_discriminator", "answer_optimal_discriminator",
     _fn(D_STAR, "return np.asarray(p_model, dtype=float) / (np.asarray(p_data, dtype=float) + p_model)"), "swapped"),
    (EX1, "correct_optimal_discriminator", "answer_optimal_discriminator", _fn(D_STAR, """
        p, q = np.broadcast_arrays(np.asarray(p_data, dtype=float), np.asarray(p_model, dtype=float))
        if np.any(p < 0) or np.any(q < 0):
            raise ValueError("negative")
        return np.divide(p, p + q, out=np.full(p.shape, {fill}), where=p + q > 0)
        """.replace("{fill}", "0.0")), "0 was filled in"),
    (EX1, "correct_optimal_discriminator", "answer_optimal_discriminator", _fn(D_STAR, """
        p, q = np.broadcast_arrays(np.asarray(p_data, dtype=float), np.asarray(p_model, dtype=float))
        if np.any(p < 0) or np.any(q < 0):
            raise ValueError("negative")
        return np.divide(p, p + q, out=np.full(p.shape, 0.5), where=p + q > 0)
        """), "0.5 was filled in"),
    (EX1, "correct_discriminator_from_logs", "answer_optimal_discriminator_from_logs",
     _fn(FROM_LOGS, "return 1.0 / (1.0 + np.exp(np.asarray(log_p_data, dtype=float) - log_p_model))"), "swapped"),
    (EX1, "correct_discriminator_from_logs", "answer_optimal_discriminator_from_logs", _fn(FROM_LOGS, """
        p, q = np.exp(log_p_data), np.exp(log_p_model)
        with np.errstate(all="ignore"):
            return p / (p + q)
        """), "exponentiated first"),
    (EX1, "correct_discriminator_cost", "answer_discriminator_cost",
     _fn(COST, "return float(-np.sum(p_data * np.log(d) + p_model * np.log1p(-d)) * dx)"), "factors 1/2"),
    (EX1, "correct_discriminator_cost", "answer_discriminator_cost",
     _fn(COST, "return float(0.5 * np.sum(p_data * np.log(d) + p_model * np.log1p(-d)) * dx)"), "sign is flipped"),
    (EX1, "correct_discriminator_cost", "answer_discriminator_cost",
     _fn(COST, "return float(-0.5 * np.sum(p_data * np.log(d) + p_model * np.log1p(-d)))"), "multiplied by dx"),
    (EX2, "correct_value", "answer_value", _fn("value(x, y)", "return np.add(x, y)"), "V = x + y"),
    (EX2, "correct_gradient_flow", "answer_gradient_flow",
     _fn("gradient_flow(x0, y0, t)", "return x0 * np.cos(t) + y0 * np.sin(t), -x0 * np.sin(t) + y0 * np.cos(t)"),
     "both signs are flipped"),
    (EX2, "correct_gradient_flow", "answer_gradient_flow",
     _fn("gradient_flow(x0, y0, t)", "return x0 * np.cosh(t) - y0 * np.sinh(t), y0 * np.cosh(t) - x0 * np.sinh(t)"),
     "both players descend"),
    (EX2, "correct_orbit_radius", "answer_orbit_radius", _fn("orbit_radius(x0, y0)", "return float(x0**2 + y0**2)"),
     "radius squared"),
    (EX2, "correct_simultaneous_gd", "answer_simultaneous_gd",
     _fn(SIM, LOOP.format(step="path[k + 1] = x - learning_rate * y, y + learning_rate * (x - learning_rate * y)")),
     "alternating scheme"),
    (EX2, "correct_simultaneous_gd", "answer_simultaneous_gd",
     _fn(SIM, LOOP.format(step="path[k + 1] = x + learning_rate * y, y - learning_rate * x")), "both signs"),
    (EX2, "correct_alternating_gd", "answer_alternating_gd",
     _fn(ALT, LOOP.format(step="path[k + 1] = x - learning_rate * y, y + learning_rate * x")), "simultaneous scheme"),
    (EX2, "correct_alternating_gd", "answer_alternating_gd",
     _fn(ALT, LOOP.format(step="path[k + 1] = x - learning_rate * (y + learning_rate * x), y + learning_rate * x")),
     "y moved first"),
    (EX3, "correct_f_from_densities", "answer_f_from_densities",
     _fn("f_from_densities(p_data, p_g)", "return np.asarray(p_data, dtype=float) / p_g"), "sign of f is flipped"),
    (EX3, "correct_f_from_densities", "answer_f_from_densities",
     _fn("f_from_densities(p_data, p_g)", "return -np.asarray(p_g, dtype=float) / p_data"), "swapped in the ratio"),
    (EX3, "correct_f_from_logit", "answer_f_from_logit", _fn("f_from_logit(a)", "return np.exp(a)"), "sign of f"),
    (EX3, "correct_f_from_logit", "answer_f_from_logit", _fn("f_from_logit(a)", "return -np.asarray(a, dtype=float)"),
     "density ratio itself"),
    (EX3, "correct_f_from_logit", "answer_f_from_logit", _fn("f_from_logit(a)", "return -np.exp(-np.asarray(a))"),
     "logit's sign is flipped"),
    (EX3, "correct_generator_cost", "answer_generator_cost",
     _fn("generator_cost(logits)", "return float(np.mean(np.exp(logits)))"), "sign of f"),
    (EX3, "correct_generator_cost", "answer_generator_cost",
     _fn("generator_cost(logits)", "return float(np.sum(f_from_logit(logits)))"), "sum was returned"),
]  # fmt: skip
# Part D's seeded value has no labels (its causes are many); its mean check names two, each reachable
# only past the seeded check, so they are exercised on their own below.


@pytest.mark.parametrize(("name", "cell", "grade_id", "code", "label"), VISIBLE_MISTAKES)
def test_every_mistake_a_visible_test_names_can_be_named(name, cell, grade_id, code, label):
    text = _run_visible(name, cell, {grade_id: code})
    causes = [line for line in text.splitlines() if "likely cause:" in line]
    assert text.startswith("FAILED") and causes and label in causes[0], text


def test_every_known_label_of_the_visible_tests_is_exercised():
    """No `known=` label in a released test cell is left without an answer that produces it."""
    labels = []
    for name in NOTEBOOKS:
        for grade_id, cell in notebooks.cells_by_grade_id(notebooks.read(RELEASE / f"{name}.ipynb")).items():
            if grade_id.startswith("correct_"):
                labels += [(grade_id, label) for label in re.findall(r'"([^"]+)":', cell.source)]
    exercised = {(cell, label) for _, cell, _, _, label in VISIBLE_MISTAKES}
    missing = [
        (cell, label)
        for cell, label in labels
        if cell != "correct_ml_gradient_estimate" and not any(c == cell and part in label for c, part in exercised)
    ]
    assert not missing, missing


def test_a_float32_scalar_is_judged_to_single_precision_and_a_tiny_value_as_zero():
    """np.float32(0.1) is 0.1 to single precision (1.5e-8 away), not to double precision's 1e-9;
    a float32 within 1e-30 of an expected 0 is 0, even when the check asks for no absolute tolerance."""
    single = float(np.float32(0.1))
    same_values(Outcome("numpy.float32", single), 0.1, tried="t", expected="e", hint="h")
    with pytest.raises(CheckFailed):
        same_values(Outcome("float", single), 0.1, tried="t", expected="e", hint="h")
    tiny = Outcome("ndarray", np.array([1e-31], dtype=np.float32))
    same_values(tiny, np.zeros(1), tried="t", expected="e", hint="h", atol=0.0)
    with pytest.raises(CheckFailed):
        same_values(Outcome("ndarray", np.array([1e-29], dtype=np.float32)), np.zeros(1), tried="t", expected="e",
                    hint="h", atol=0.0)  # fmt: skip


def test_a_structural_check_says_it_waits_for_the_values_only_while_they_are_wrong():
    failed = CheckFailed("t", "e", "g", "h")
    note = "(this check counts once the values checked above are right)"
    verdict = CellVerdict("correct_x", 2.0)
    verdict.results = [CheckResult("values", 1.0, failure=failed), CheckResult("structure", 1.0, structural=True)]
    assert note in verdict.feedback()
    verdict.results[0] = CheckResult("values", 1.0)
    assert note not in verdict.feedback()
    verdict.results = [CheckResult("values", 1.0, failure=failed), CheckResult("more values", 1.0)]
    assert note not in verdict.feedback()


def test_a_cell_that_stopped_is_named_only_in_cells_that_lost_points(grader):
    """A notebook whose extra cell raises: the model answers keep full marks and no note; stubs
    lose their points and are told which cell stopped."""
    name = NOTEBOOKS[0]
    for folder, full in ((SOLUTIONS, True), (RELEASE, False)):
        nb = notebooks.read(folder / f"{name}.ipynb")
        nb.cells.append(nbformat.v4.new_code_cell("scratch = 1\nraise ValueError('my own experiment')"))
        verdicts = grader.grade(nb, name, "dee").values()
        assert all((v.score == v.points) is full for v in verdicts)
        noted = ["While your code was loaded:" in v.notes for v in verdicts]
        assert noted == [not full] * len(noted)
        assert all("`scratch = 1` stopped with ValueError" in v.feedback() for v in verdicts if not full)


def test_checks_that_would_start_after_the_notebooks_budget_fail_saying_so(grader):
    name = NOTEBOOKS[0]
    spent = (time.monotonic() - 1.0, 77)
    verdicts = grader.grade(notebooks.read(SOLUTIONS / f"{name}.ipynb"), name, "dee", deadline=spent).values()
    assert all(v.score == 0 and v.results for v in verdicts)
    assert all("the time budget of 77 seconds for grading this notebook ran out" in v.feedback() for v in verdicts)


def test_a_notebook_graded_within_its_budget_is_graded_in_full(grader):
    """The deadline is a time on the monotonic clock, the budget a length: the student's process
    gets the time, so the model answers earn full marks with a minute left."""
    name = NOTEBOOKS[0]
    left = (time.monotonic() + 60.0, 60)
    verdicts = grader.grade(notebooks.read(SOLUTIONS / f"{name}.ipynb"), name, "dee", deadline=left).values()
    assert verdicts and all(v.score == v.points for v in verdicts)
