"""Grades a student can't argue with: the same code scores the same for every student id, every
known mistake loses points on its own function, and an answer that computes nothing scores 0.

Each mutant is the model solution with one known mistake put in (the spec's list, the defects
reported in the issues, and more). It is graded by the real hidden checks, in the sandbox, for
50 student ids (each id draws its own probes), and must get one score and one diagnosis for all
of them. The table of mutants, scores and diagnoses is written to build/test-artifacts/.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import pytest

from gankit import ASSIGNMENT, NOTEBOOKS, ROOT, notebooks
from gankit.judging.grader import Grader
from gankit.simulated_class import model_answers

pytestmark = pytest.mark.slow  # every mutant for 50 student ids: minutes

SOLUTIONS = ROOT / "solutions" / ASSIGNMENT
IDS = [f"student{i:03d}" for i in range(50)]
ARTIFACT = ROOT / "build" / "test-artifacts" / "mutants.txt"


@dataclass(frozen=True)
class Mutant:
    """The model answer of ``function`` with ``old`` replaced by ``new`` (or wholly by ``source``)."""

    notebook: str
    function: str
    mistake: str
    old: str = ""
    new: str = ""
    source: str = ""

    @property
    def cell(self) -> str:
        """The test cell it must lose points on."""
        return {"optimal_discriminator_from_logs": "correct_discriminator_from_logs"}.get(
            self.function, f"correct_{self.function}"
        )

    def code(self, answers: dict[str, str]) -> str:
        if self.source:
            return textwrap.dedent(self.source).strip() + "\n"
        model = answers[f"answer_{self.function}"]
        assert self.old in model, f"{self.mistake}: {self.old!r} is not in the model answer"
        return model.replace(self.old, self.new)


EX1, EX2, EX3 = NOTEBOOKS

MUTANTS = [
    # -- exercise 1 ---------------------------------------------------------------------------
    Mutant(EX1, "optimal_discriminator", "D* = p_data / p_model", "total = p_data + p_model", "total = p_model"),
    Mutant(EX1, "optimal_discriminator", "labels swapped", "np.divide(p_data, total", "np.divide(p_model, total"),
    Mutant(EX1, "optimal_discriminator", "rejects a negative p_data only",
           "if np.any(p_data < 0) or np.any(p_model < 0):", "if np.any(p_data < 0):"),
    Mutant(EX1, "optimal_discriminator", "rejects a negative p_model only",
           "if np.any(p_data < 0) or np.any(p_model < 0):", "if np.any(p_model < 0):"),
    Mutant(EX1, "optimal_discriminator", "0 where D* is undefined", "np.full(total.shape, np.nan)",
           "np.zeros(total.shape)"),
    Mutant(EX1, "optimal_discriminator", "returns a list", "return d_star", "return d_star.tolist()"),
    Mutant(EX1, "optimal_discriminator_from_logs", "log-ratio clipped at +-30", "e = np.exp(-np.abs(a))",
           "a = np.clip(a, -30.0, 30.0)\n    e = np.exp(-np.abs(a))"),
    Mutant(EX1, "optimal_discriminator_from_logs", "labels swapped",
           "np.asarray(log_p_data, dtype=float) - np.asarray(log_p_model, dtype=float)",
           "np.asarray(log_p_model, dtype=float) - np.asarray(log_p_data, dtype=float)"),
    Mutant(EX1, "optimal_discriminator_from_logs", "densities exponentiated first", source='''
        def optimal_discriminator_from_logs(log_p_data, log_p_model):
            p, q = np.exp(np.asarray(log_p_data, dtype=float)), np.exp(np.asarray(log_p_model, dtype=float))
            with np.errstate(all="ignore"):
                return p / (p + q)
        '''),
    Mutant(EX1, "optimal_discriminator_from_logs", "works on 1-D arrays only, one value at a time", source='''
        def optimal_discriminator_from_logs(log_p_data, log_p_model):
            out = []
            for a, b in zip(log_p_data, log_p_model):
                gap = a - b
                out.append(1.0 / (1.0 + np.exp(-gap)) if gap >= 0 else np.exp(gap) / (1.0 + np.exp(gap)))
            return np.array(out)
        '''),
    Mutant(EX1, "optimal_discriminator_from_logs", "naive exp(a) / (1 + exp(a)) with warnings silenced", source='''
        def optimal_discriminator_from_logs(log_p_data, log_p_model):
            a = np.asarray(log_p_data, dtype=float) - np.asarray(log_p_model, dtype=float)
            with np.errstate(all="ignore"):
                return np.exp(a) / (1.0 + np.exp(a))
        '''),
    Mutant(EX1, "discriminator_cost", "no factors 1/2", "-0.5 *", "-1.0 *"),
    Mutant(EX1, "discriminator_cost", "sign flipped", "float(-0.5 *", "float(0.5 *"),
    Mutant(EX1, "discriminator_cost", "not multiplied by dx", " * dx)", ")"),
    Mutant(EX1, "discriminator_cost", "labels swapped",
           "np.asarray(p_data, dtype=float) * np.log(d) + np.asarray(p_model, dtype=float) * np.log1p(-d)",
           "np.asarray(p_data, dtype=float) * np.log1p(-d) + np.asarray(p_model, dtype=float) * np.log(d)"),
    # -- exercise 2 ---------------------------------------------------------------------------
    Mutant(EX2, "value", "V = x + y", "dtype=float) * np.asarray", "dtype=float) + np.asarray"),
    Mutant(EX2, "equilibrium", "integers, not floats", "(0.0, 0.0)", "(0, 0)"),
    Mutant(EX2, "gradient_flow", "both signs flipped (clockwise)",
           "x0 * np.cos(t) - y0 * np.sin(t), x0 * np.sin(t) + y0 * np.cos(t)",
           "x0 * np.cos(t) + y0 * np.sin(t), -x0 * np.sin(t) + y0 * np.cos(t)"),
    Mutant(EX2, "gradient_flow", "both players descend",
           "x0 * np.cos(t) - y0 * np.sin(t), x0 * np.sin(t) + y0 * np.cos(t)",
           "x0 * np.cosh(t) - y0 * np.sinh(t), y0 * np.cosh(t) - x0 * np.sinh(t)"),
    Mutant(EX2, "orbit_radius", "radius squared", "float(np.hypot(x0, y0))", "float(x0**2 + y0**2)"),
    Mutant(EX2, "orbit_radius", "a numpy float", "float(np.hypot(x0, y0))", "np.hypot(x0, y0)"),
    Mutant(EX2, "simultaneous_gd", "uses the new x (alternating)",
           "path[k + 1] = x - learning_rate * y, y + learning_rate * x",
           "x = x - learning_rate * y\n        path[k + 1] = x, y + learning_rate * x"),
    Mutant(EX2, "simultaneous_gd", "both signs flipped", "x - learning_rate * y, y + learning_rate * x",
           "x + learning_rate * y, y - learning_rate * x"),
    Mutant(EX2, "simultaneous_gd", "both players descend", "x - learning_rate * y, y + learning_rate * x",
           "x - learning_rate * y, y - learning_rate * x"),
    Mutant(EX2, "simultaneous_gd", "an integer path from integer starts", "path = np.empty((steps + 1, 2))",
           "path = np.array([[x0, y0]] * (steps + 1))"),
    Mutant(EX2, "simultaneous_gd", "the start row left out", "return path", "return path[1:]"),
    Mutant(EX2, "alternating_gd", "uses the old x (simultaneous)",
           "x = x - learning_rate * y\n        path[k + 1] = x, y + learning_rate * x",
           "path[k + 1] = x - learning_rate * y, y + learning_rate * x"),
    Mutant(EX2, "alternating_gd", "y moves first",
           "x = x - learning_rate * y\n        path[k + 1] = x, y + learning_rate * x",
           "y = y + learning_rate * x\n        path[k + 1] = x - learning_rate * y, y"),
    Mutant(EX2, "alternating_gd", "an integer path from integer starts", "path = np.empty((steps + 1, 2))",
           "path = np.array([[x0, y0]] * (steps + 1))"),
    # -- exercise 3 ---------------------------------------------------------------------------
    Mutant(EX3, "f_from_densities", "plus sign", "return -np.asarray", "return np.asarray"),
    Mutant(EX3, "f_from_densities", "ratio upside down",
           "-np.asarray(p_data, dtype=float) / np.asarray(p_g, dtype=float)",
           "-np.asarray(p_g, dtype=float) / np.asarray(p_data, dtype=float)"),
    Mutant(EX3, "f_from_logit", "plus sign", "return -np.exp", "return np.exp"),
    Mutant(EX3, "f_from_logit", "f = -a", "-np.exp(np.asarray(a, dtype=float))", "-np.asarray(a, dtype=float)"),
    Mutant(EX3, "f_from_logit", "f = -exp(-a)", "-np.exp(np.asarray(a, dtype=float))",
           "-np.exp(-np.asarray(a, dtype=float))"),
    Mutant(EX3, "generator_cost", "the sum, not the mean", "np.mean(f_from_logit", "np.sum(f_from_logit"),
    Mutant(EX3, "generator_cost", "a numpy float", "return float(np.mean(f_from_logit(logits)))",
           "return np.mean(f_from_logit(logits))"),
    Mutant(EX3, "ml_gradient_estimate", "f with a plus sign", "np.mean(f_from_logit(logits) * score)",
           "np.mean(-f_from_logit(logits) * score)"),
    Mutant(EX3, "ml_gradient_estimate", "score with the wrong sign", "score = (x - theta)", "score = (theta - x)"),
    Mutant(EX3, "ml_gradient_estimate", "no score term", "f_from_logit(logits) * score", "f_from_logit(logits)"),
    Mutant(EX3, "ml_gradient_estimate", "score divided by sigma_g", "/ sigma_g**2  #", "/ sigma_g  #"),
    Mutant(EX3, "ml_gradient_estimate", "score with sigma_data", "/ sigma_g**2  #", "/ sigma_data**2  #"),
    Mutant(EX3, "ml_gradient_estimate", "samples with sigma_g^2 as the scale", "rng.normal(theta, sigma_g, size",
           "rng.normal(theta, sigma_g**2, size"),
    Mutant(EX3, "ml_gradient_estimate", "f = -a", "f_from_logit(logits) * score", "-logits * score"),
    Mutant(EX3, "ml_gradient_estimate", "rng ignored (seeded inside)", "x = rng.normal(",
           "x = np.random.default_rng(12345).normal("),
    Mutant(EX3, "ml_gradient_estimate", "numpy's global generator", "x = rng.normal(", "x = np.random.normal("),
    Mutant(EX3, "ml_gradient_estimate", "differentiated through f", "np.mean(f_from_logit(logits) * score)",
           "np.mean(f_from_logit(logits) * score - f_from_logit(logits) * score)"),
    Mutant(EX3, "ml_gradient_estimate", "a numpy float", "return float(np.mean(f_from_logit(logits) * score))",
           "return np.mean(f_from_logit(logits) * score)"),
    Mutant(EX3, "ml_gradient_estimate", "f and the score from different samples", source='''
        def ml_gradient_estimate(theta, sigma_g, mu_data, sigma_data, n_samples, rng):
            x = rng.normal(theta, sigma_g, size=n_samples)
            other = rng.normal(theta, sigma_g, size=n_samples)
            logits = gaussian_log_pdf(x, mu_data, sigma_data) - gaussian_log_pdf(x, theta, sigma_g)
            return float(np.mean(f_from_logit(logits) * (other - theta) / sigma_g**2))
        '''),
    Mutant(EX3, "ml_gradient_estimate", "samples from p_data: the plain maximum-likelihood gradient", source='''
        def ml_gradient_estimate(theta, sigma_g, mu_data, sigma_data, n_samples, rng):
            x = rng.normal(mu_data, sigma_data, size=n_samples)
            return float(np.mean((theta - x) / sigma_g**2))
        '''),
    Mutant(EX3, "ml_gradient_estimate", "a pathwise (reparameterisation) estimator", source='''
        def ml_gradient_estimate(theta, sigma_g, mu_data, sigma_data, n_samples, rng):
            x = rng.normal(theta, sigma_g, size=n_samples)
            logits = gaussian_log_pdf(x, mu_data, sigma_data) - gaussian_log_pdf(x, theta, sigma_g)
            dlogit_dx = -(x - mu_data) / sigma_data**2 + (x - theta) / sigma_g**2
            return float(np.mean(f_from_logit(logits) * dlogit_dx))
        '''),
]  # fmt: skip


@pytest.fixture(scope="module")
def grader() -> Grader:
    return Grader(ROOT, ASSIGNMENT)


@pytest.fixture(scope="module")
def answers() -> dict[str, str]:
    return model_answers(ROOT / "source" / ASSIGNMENT)


def _notebook_with(name: str, replacements: dict[str, str]):
    nb = notebooks.read(SOLUTIONS / f"{name}.ipynb")
    for grade_id, code in replacements.items():
        notebooks.set_source(nb, grade_id, code)
    return nb


def _diagnosis(verdict) -> str:
    failed = [r for r in verdict.results if not r.passed]
    named = sorted({r.failure.mistake for r in failed if r.failure and r.failure.mistake})
    return "; ".join(named) if named else ("no mistake named" if failed else "")


def test_there_are_at_least_thirty_mutants_and_each_is_a_real_change(answers):
    assert len(MUTANTS) >= 30
    for mutant in MUTANTS:
        assert mutant.code(answers) != answers[f"answer_{mutant.function}"], mutant.mistake


def test_every_mutant_scores_the_same_for_every_student_and_loses_on_its_own_function(grader, answers):
    """50 student ids per mutant: one score per test cell, one diagnosis, and points lost where the mistake is."""
    lines, problems = [], []
    for mutant in MUTANTS:
        nb = _notebook_with(mutant.notebook, {f"answer_{mutant.function}": mutant.code(answers)})
        graded = grader.grade_many(nb, mutant.notebook, IDS)
        own = mutant.cell
        for cell in graded[IDS[0]]:
            scores = {graded[i][cell].score for i in IDS}
            diagnoses = {_diagnosis(graded[i][cell]) for i in IDS}
            if len(scores) != 1 or len(diagnoses) != 1:
                problems.append(f"{mutant.function} / {mutant.mistake}: {cell} scores {scores}, diagnoses {diagnoses}")
        verdict = graded[IDS[0]][own]
        if verdict.score >= verdict.points:
            problems.append(f"{mutant.function} / {mutant.mistake}: full marks on {own}")
        lines.append(
            f"{mutant.function:33s} {mutant.mistake:55s} {verdict.score:g}/{verdict.points:g}  {_diagnosis(verdict)}"
        )
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    ARTIFACT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    assert not problems, "\n".join(problems)


DEGENERATE = {
    "a constant": "return 0.0",
    "None": "return None",
    "its input unchanged": "return {first}",
    "random noise": "return np.random.default_rng().normal(size=np.shape({first}))",
    "nan": "return float('nan')",
}


def _degenerate(answers: dict[str, str], body: str) -> dict[str, str]:
    """Every answer cell's function, with its body replaced by ``body`` (its first argument as {first})."""
    replaced = {}
    for grade_id, model in answers.items():
        header = next(line for line in model.splitlines() if line.startswith("def "))
        arguments = header[header.index("(") + 1 : header.index(")")].split(",")
        first = arguments[0].strip() or "None"
        replaced[grade_id] = f"{header}\n    {body.format(first=first)}\n"
    return replaced


@pytest.mark.parametrize("kind", list(DEGENERATE))
def test_an_answer_that_computes_nothing_scores_zero(grader, answers, kind):
    """Every function returning a constant, None, its input, noise or nan: 0 on every test cell."""
    every = _degenerate(answers, DEGENERATE[kind])
    for name in NOTEBOOKS:
        own = notebooks.cells_by_grade_id(notebooks.read(SOLUTIONS / f"{name}.ipynb"))
        nb = _notebook_with(name, {grade_id: code for grade_id, code in every.items() if grade_id in own})
        for student_id, verdicts in grader.grade_many(nb, name, IDS[:5]).items():
            assert verdicts and all(verdict.results for verdict in verdicts.values())
            for cell, verdict in verdicts.items():
                assert verdict.score == 0, f"{kind}: {student_id} earns {verdict.score} on {cell}\n{verdict.feedback()}"
