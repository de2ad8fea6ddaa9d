"""The release gives nothing away: no released artefact states a result the course grades.

A student reads every released cell (introductions, docstrings, visible test cells), the helper
module ``gan_checks.py`` and, after submitting the release untouched, the default feedback of the
hidden checks. None of them may state a graded result, in any of the ways it could be written:
as formula text, LaTeX, code, a characteristic number, or the label of a known mistake that
states the answer by contrast. Definitions, conventions and the check cases may appear.

The worked answers that a course may add to feedback (``HiddenChecks.worked_answers``) are shown
only when asked for, and feedback holding them is refused before the due date.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import nbformat
import pytest
from paths import RELEASE

from gankit import ASSIGNMENT, NOTEBOOKS, ROOT, notebooks
from gankit.judging.grader import Grader
from gankit.nbgrader_adapter.feedback import WorkedAnswersBeforeDueDate, refuse_early_worked_answers
from gankit.nbgrader_adapter.hidden_checks import WORKED_KEY

_ = r"\s*"  # optional blanks
DATA, MODEL, G = r"p_?\\?(?:text|mathrm)?\{?data\}?", r"p_?\\?(?:text|mathrm)?\{?model\}?", r"p_?\{?g\}?"

# Each graded result, written several ways. A pattern matches text (notebook sources, module code,
# feedback), with case ignored.
GRADED = {
    # exercise 1
    "D* as a share, as text or code": rf"{DATA}(?:\(x\))?{_}/{_}\(?{_}{DATA}(?:\(x\))?{_}\+{_}{MODEL}",
    "D* as a LaTeX fraction": rf"\\frac\{{{_}{DATA}(?:\(x\))?{_}\}}\{{{_}{DATA}(?:\(x\))?{_}\+",
    "D* as a share, in words": r"share of the data density in the total",
    "D* as a sigmoid of the log-density difference": rf"(?:sigmoid|\\sigma){_}\(?{_}\\?log{_}{DATA}",
    "the sigmoid written out": rf"1(?:\.0)?{_}/{_}\(?{_}1(?:\.0)?{_}\+{_}(?:np\.)?exp{_}\("
    rf"|\\frac\{{1\}}\{{1{_}\+{_}e\^",
    "the stable sigmoid's trick": r"exp\(\s*-\s*(?:\||np\.abs)",
    "the cost as a Riemann sum in code": rf"{DATA}{_}\*{_}(?:np\.)?log{_}\({_}d\b|-{_}0?\.5{_}\*{_}(?:0?\.1|dx)\b",
    "the cost as a formula in a hint": r"-1/2\s*\*\s*sum",
    # exercise 2
    "the flow's closed form": r"x_?0\s*\*?\s*(?:np\.)?\\?cos|x_?0\s*\\?cos",
    "the orbit radius": rf"hypot\({_}x_?0|sqrt\(?{_}x_?0{_}\*\*{_}2|x_?0\^2{_}\+{_}y_?0\^2"
    rf"|x_?0{_}\*\*{_}2{_}\+{_}y_?0",
    "the growth factor of simultaneous steps": rf"sqrt\{{?\(?{_}1{_}\+{_}(?:eta|\\eta|0\.5){_}(?:\^|\*\*){_}2",
    "the growth factor, as a number": r"1\.1180|1\.118\b",
    "the alternating scheme's bound": rf"\(?{_}2{_}\+{_}\\?eta{_}\)?{_}/{_}\(?{_}2{_}-{_}\\?eta",
    "the alternating scheme's bound at eta = 0.5, as a number": r"1\.2909|1\.291\b",
    "the alternating scheme's conserved quantity": rf"x{_}(?:\^|\*\*){_}2{_}-{_}\\?eta",
    "the orbit called a circle": r"a circle|on a circle|circle of constant",
    "the flow called a rotation": r"is a rotation|rotation about",
    "the equilibrium as where the gradients vanish": r"where both partial derivatives (?:of V )?vanish",
    # exercise 3
    "f as minus the density ratio": rf"-{_}\\?(?:frac\{{)?{_}{DATA}{_}(?:\}}\{{|/){_}{G}",
    "the importance weight": rf"weight{_}{DATA}{_}/{_}{G}",
    "f as minus exp of the logit": rf"-{_}(?:np\.)?exp{_}\({_}a\b|-{_}e\^\{{?a\b|-\\exp{_}\(?a\b",
    "the optimal logit": rf"a{_}={_}\\?log{_}{DATA}{_}-{_}\\?log{_}{G}",
    "exp of the logit is the ratio": r"exp\(a\) is the (?:density )?ratio",
    "the score of the Gaussian in code": rf"\({_}(?:x|grid){_}-{_}theta{_}\){_}/{_}sigma_g{_}\*\*{_}2",
    "the score of the Gaussian in LaTeX": rf"\(x{_}-{_}\\theta\){_}/{_}s_g\^2",
    "the estimator as code": r"-np\.exp\(gaussian_log_pdf",
    "the plus-sign mistake labelled so that it states the sign": r"f has a plus sign|plus sign in .?f_from_logit",
    "the missing exp labelled": r"the exp is missing|forgot the exp",
    "a known mistake written as a formula of f": r"f = -a\b|f = -exp|f = p_data",
    "differentiating through f stated to cancel the gradient": r"cancels the (?:score term|gradient)",
    "the mean of f stated": r"mean of -exp",
    # hints that name the technique instead of guiding
    "a hint recommending np.errstate": r"errstate",
    "a hint recommending np.divide with where=": r"np\.divide with where",
    "a hint naming the stable sigmoid's trick": r"exp argument at most 0|exp\(-\|a\|\)",
}


def scan(text: str) -> list[str]:
    """The graded results ``text`` states (names from ``GRADED``)."""
    return [name for name, pattern in GRADED.items() if re.search(pattern, text, flags=re.IGNORECASE)]


def _released_cells() -> dict[str, str]:
    """Every released notebook cell (sources and outputs), keyed by notebook and cell."""
    texts = {}
    for name in NOTEBOOKS:
        nb = notebooks.read(RELEASE / f"{name}.ipynb")
        for i, cell in enumerate(nb.cells):
            texts[f"{name} cell {i}"] = cell.source + "".join(
                str(output.get("text", "")) for output in cell.get("outputs", [])
            )
    return texts


def test_the_scan_finds_every_result_written_each_way():
    """The patterns are not vacuous: each known way of stating a result is caught."""
    statements = [
        "D* = p_data / (p_data + p_model)",
        r"$D^*(x) = \frac{p_\text{data}(x)}{p_\text{data}(x) + p_\text{model}(x)}$",
        "return p_data/(p_data+p_model)",
        "D* = sigmoid(log p_data - log p_model)",
        "1.0 / (1.0 + np.exp(-(a - b)))",
        "e = np.exp(-np.abs(a))",
        "by_hand = -0.5 * 0.1 * (0.2 * np.log(0.5))",
        "return float(-0.5 * np.sum(p_data * np.log(d) + p_model * np.log1p(-d)) * dx)",
        "return x0 * np.cos(t) - y0 * np.sin(t)",
        r"$x(t) = x_0\cos t - y_0 \sin t$",
        "np.hypot(x0, y0)",
        "sqrt(x0**2 + y0**2)",
        "np.sqrt(1 + 0.5**2)",
        r"\sqrt{1 + \eta^2}",
        "ratio 1.1180",
        "sqrt((2 + eta)/(2 - eta))",
        r"x^2 - \eta x y + y^2",
        "gradient flow (a circle)",
        "f = -p_data / p_g",
        r"f = -\frac{p_\text{data}}{p_g}",
        "with weight p_data / p_g",
        "-np.exp(a)",
        "the optimal logit is a = log p_data - log p_g",
        "per_sample = -np.exp(gaussian_log_pdf(grid, 0, 1)) / p_g * (grid - theta) / sigma_g**2",
        "f has a plus sign",
        "wrap it in np.errstate",
    ]
    for statement in statements:
        assert scan(statement), statement
    # what the release may say: definitions, conventions, check cases
    allowed = [
        r"J(D) = -\tfrac12\, \mathbb{E}_{x \sim p_\text{data}} \log D(x)",
        r"\frac{dx}{dt} = -\frac{\partial V}{\partial x} = -y",
        r"\partial_\theta \mathrm{KL} = (\theta - \mu)/s_g^2",
        "x_{k+1} = x_k - \\eta\\, y_k",
        "check_close('D* where p_data = 3 and p_model = 1', got, 0.75, hint)",
    ]
    for text in allowed:
        assert not scan(text), (text, scan(text))


def test_no_released_notebook_cell_states_a_graded_result():
    found = {where: hits for where, text in _released_cells().items() if (hits := scan(text))}
    assert not found, found


def test_the_released_helper_module_states_no_graded_result():
    assert not scan((RELEASE / "gan_checks.py").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def untouched_feedback() -> dict[str, str]:
    """The hidden checks' default feedback for a student who submitted the release untouched."""
    grader = Grader(ROOT, ASSIGNMENT, sandbox=False)
    texts = {}
    for name in NOTEBOOKS:
        verdicts = grader.grade(notebooks.read(RELEASE / f"{name}.ipynb"), name, "untouched")
        texts.update({f"{name} {grade_id}": verdict.feedback() for grade_id, verdict in verdicts.items()})
    return texts


def test_the_default_feedback_on_the_untouched_release_states_no_graded_result(untouched_feedback):
    assert len(untouched_feedback) == 13  # every autograded test cell
    found = {cell: hits for cell, text in untouched_feedback.items() if (hits := scan(text))}
    assert not found, found
    assert not any("worked answer" in text for text in untouched_feedback.values())


def test_worked_answers_appear_only_when_asked_for():
    grader = Grader(ROOT, ASSIGNMENT, sandbox=False)
    name = NOTEBOOKS[0]
    verdict = grader.grade(notebooks.read(RELEASE / f"{name}.ipynb"), name, "untouched")[
        "correct_optimal_discriminator"
    ]
    assert "worked answer" not in verdict.feedback()
    worked = verdict.feedback(worked=True)
    assert "worked answer: D*(x) = p_data(x) / (p_data(x) + p_model(x))" in worked and scan(worked)


def test_feedback_with_worked_answers_is_refused_before_the_due_date():
    nb = nbformat.v4.new_notebook()
    now = datetime(2026, 12, 2, 12, 0)
    refuse_early_worked_answers(nb, None, now)  # no worked answers: always allowed
    nb.metadata[WORKED_KEY] = True
    for duedate in (None, now + timedelta(hours=1)):
        with pytest.raises(WorkedAnswersBeforeDueDate, match="REFUSED"):
            refuse_early_worked_answers(nb, duedate, now)
    refuse_early_worked_answers(nb, now - timedelta(minutes=1), now)


# Known mistakes whose feedback names them: the names and hints must not state the answer either.
MISTAKES = {
    "ex1_optimal_discriminator": {
        "answer_optimal_discriminator": "def optimal_discriminator(p_data, p_model):\n"
        "    return np.asarray(p_data, dtype=float) / np.asarray(p_model, dtype=float)\n",
        "answer_optimal_discriminator_from_logs": "def optimal_discriminator_from_logs(log_p_data, log_p_model):\n"
        "    p, q = np.exp(log_p_data), np.exp(log_p_model)\n    with np.errstate(all='ignore'):\n"
        "        return p / (p + q)\n",
        "answer_discriminator_cost": "def discriminator_cost(d, p_data, p_model, dx):\n"
        "    return float(-np.sum(p_data * np.log(d) + p_model * np.log1p(-d)) * dx)\n",
    },
    "ex2_xy_game": {
        "answer_gradient_flow": "def gradient_flow(x0, y0, t):\n"
        "    return x0 * np.cos(t) + y0 * np.sin(t), -x0 * np.sin(t) + y0 * np.cos(t)\n",
        "answer_orbit_radius": "def orbit_radius(x0, y0):\n    return float(x0**2 + y0**2)\n",
        "answer_simultaneous_gd": "def simultaneous_gd(x0, y0, learning_rate, steps):\n"
        "    return alternating_gd(x0, y0, learning_rate, steps)\n",
        "answer_equilibrium": "def equilibrium():\n    return (1.0, 1.0)\n",
    },
    "ex3_maximum_likelihood": {
        "answer_f_from_densities": "def f_from_densities(p_data, p_g):\n    return np.asarray(p_data) / p_g\n",
        "answer_f_from_logit": "def f_from_logit(a):\n    return -np.asarray(a, dtype=float)\n",
        "answer_generator_cost": "def generator_cost(logits):\n"
        "    return float(np.mean(-np.exp(-np.asarray(logits))))\n",
    },
}


def test_the_default_feedback_on_known_mistakes_states_no_graded_result():
    grader = Grader(ROOT, ASSIGNMENT, sandbox=False)
    found, named = {}, 0
    for name, replacements in MISTAKES.items():
        nb = notebooks.read(ROOT / "solutions" / ASSIGNMENT / f"{name}.ipynb")
        for grade_id, code in replacements.items():
            notebooks.set_source(nb, grade_id, code)
        for grade_id, verdict in grader.grade(nb, name, "mistaken").items():
            text = verdict.feedback()
            named += text.count("likely mistake:")
            if hits := scan(text):
                found[f"{name} {grade_id}"] = hits
    assert not found, found
    assert named >= 8  # the mistakes were recognised, so their names were scanned


# -- what the release must say --------------------------------------------------------------------


def _release_text(name: str) -> str:
    return "\n".join(cell.source for cell in notebooks.read(RELEASE / f"{name}.ipynb").cells)


def test_the_release_states_the_precise_points_and_its_visible_tests_show_the_edge_cases():
    ex1, ex2, ex3 = (_release_text(name) for name in NOTEBOOKS)
    assert "unique only up to an" in ex3 and "no factor $\\tfrac12$" in ex3
    # edge cases, each stated in its part and exercised by a visible test
    assert "both log-densities are $-\\infty$" in ex1 and "optimal_discriminator_from_logs(-np.inf, -np.inf)" in ex1
    assert "Where $p_g = 0$" in ex3 and "f_from_densities(1.0, 0.0)" in ex3 and "f_from_densities(0.0, 0.0)" in ex3
    assert "no longer fits in a float" in ex3 and "f_from_logit(1000.0)" in ex3
    assert "arrays of starts are not" in ex2 and "simultaneous_gd(1, 0," in ex2 and "alternating_gd(1, 0," in ex2
    assert "integers" in ex2.split("## Part C")[1].split("## Part D")[0]  # integer starts announced
    for text in (ex1, ex2, ex3):  # the policy of docs/student-api.md, in every notebook
        assert "How answers are judged" in text and "a quarter of that part's points" in text


def test_the_written_parts_and_their_mark_schemes_say_what_they_grade():
    folder = ROOT / "solutions" / ASSIGNMENT
    solutions = {
        name: "\n".join(c.source for c in notebooks.read(folder / f"{name}.ipynb").cells) for name in NOTEBOOKS
    }
    ex2, ex3 = solutions[NOTEBOOKS[1]], solutions[NOTEBOOKS[2]]
    part_h = ex2.split("## Part H")[1]
    assert "quadratic quantity" in part_h and "Either route earns full marks" in part_h
    assert "flat below" not in part_h and "1.99" in part_h
    assert "where both partial derivatives vanish" not in ex2
    part_e = ex3.split("## Part E")[1].split("## Beyond")[0]
    assert "Name exactly two assumptions" in part_e and "optimal discriminator" in part_e
    assert "earns the point only with the reason" not in part_e  # the old rule that contradicted itself
    training = ex3.split("## Beyond the exercise")[1]
    assert "walks to" not in training and "a picture, not a check" in training
