"""Grades a student can't argue with: the same code scores the same for every student id, each
answer scores what the written policy says it deserves, and an answer that computes nothing scores 0.

The mutant corpus holds answers of every graded function: the spec's known mistakes, numerical
shortcuts, precision and type variants, off-by-one steps, sign slips, partial broadcasting, errors
carried forward from an earlier function, and legitimate alternative forms. Each is the model
solution with one change (or with its own source). It is graded by the real hidden checks, in the
sandbox, for 50 student ids (each id draws its own probes), and must get one score and one
diagnosis for all of them: the score the policy of docs/student-api.md gives it, computed here from
the checks it should fail and the weights restated below (not from the grader's own arithmetic),
with the mistake named where the corpus says so. The table of mutants, scores and diagnoses is
written to build/test-artifacts/.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

import pytest

from gankit import ASSIGNMENT, NOTEBOOKS, ROOT, notebooks
from gankit.judging.grader import Grader, checks_for
from gankit.simulated_class import model_answers

pytestmark = pytest.mark.slow  # every mutant for 50 student ids: minutes

SOLUTIONS = ROOT / "solutions" / ASSIGNMENT
IDS = [f"student{i:03d}" for i in range(50)]
ARTIFACT = ROOT / "build" / "test-artifacts" / "mutants.txt"

# -- the policy, restated ---------------------------------------------------------------------
# Per test cell: its points, its value checks with their weights, its structural checks with theirs,
# and whether it has a form check. Value checks earn their weight when they pass; structural and
# form checks only when every value check of the cell passes; the form check is worth a quarter of
# the cell (a third of the other weights together). ``test_the_restated_policy_is_the_checks_own``
# keeps this table honest against the declarations.
POLICY = {
    "correct_optimal_discriminator": (3, {"test_share_of_the_data_density": 3,
                                          "test_broadcasts_a_column_against_a_row": 1,
                                          "test_undefined_where_both_densities_vanish": 2},
                                      {"test_rejects_negative_densities": 1}, True),
    "correct_discriminator_from_logs": (2, {"test_agrees_with_the_densities": 1, "test_exact_in_the_far_tails": 2,
                                            "test_huge_gaps_do_not_overflow": 1, "test_scalars_and_broadcasting": 1},
                                        {}, True),
    "correct_discriminator_cost": (2, {"test_riemann_sum_of_the_cost": 3}, {}, True),
    "correct_value": (1, {"test_product_of_the_positions": 2, "test_value_of_numbers": 1}, {}, False),
    "correct_equilibrium": (1, {"test_the_saddle_point": 1}, {}, True),
    "correct_gradient_flow": (2, {"test_matches_the_exact_rotation": 3, "test_scalar_time": 1,
                                  "test_integer_start": 1}, {}, False),
    "correct_orbit_radius": (1, {"test_distance_from_the_equilibrium": 2},
                             {"test_radius_is_kept_by_the_flow": 1}, True),
    "correct_simultaneous_gd": (2, {"test_simultaneous_path": 3, "test_simultaneous_radius_grows": 1,
                                    "test_simultaneous_shape_and_start": 1, "test_simultaneous_integer_start": 1},
                                {}, True),
    "correct_alternating_gd": (2, {"test_alternating_path": 3, "test_alternating_integer_start": 1},
                               {"test_alternating_stays_bounded": 1}, True),
    "correct_f_from_densities": (1, {"test_minus_the_density_ratio": 2, "test_density_ratio_broadcasts": 1}, {}, True),
    "correct_f_from_logit": (1, {"test_minus_exp_of_the_logit": 3}, {}, True),
    "correct_generator_cost": (1, {"test_mean_of_f_over_the_batch": 2}, {}, True),
    "correct_ml_gradient_estimate": (3, {"test_seeded_estimate": 3, "test_seeded_estimate_at_the_data": 1},
                                     {"test_draws_only_from_the_given_generator": 1}, True),
}  # fmt: skip
FORM = "form"  # the name a mutant's ``fails`` uses for its cell's form check


def policy_score(cell: str, fails: frozenset[str]) -> float:
    """What the policy gives a cell whose checks ``fails`` fail (check names, or FORM)."""
    points, values, structural, has_form = POLICY[cell]
    others = sum(values.values()) + sum(structural.values())
    form = others / 3 if has_form else 0.0
    values_right = not (fails & set(values))
    earned = sum(w for name, w in values.items() if name not in fails)
    if values_right:
        earned += sum(w for name, w in structural.items() if name not in fails)
        earned += form if FORM not in fails else 0.0
    return points * earned / (others + form)


def _cell(function: str) -> str:
    return {"optimal_discriminator_from_logs": "correct_discriminator_from_logs"}.get(function, f"correct_{function}")


@dataclass(frozen=True)
class Mutant:
    """The model answer of ``function`` with ``old`` replaced by ``new`` (or wholly by ``source``).

    ``fails`` names the checks of its own cell it must fail (FORM for the form check); ``named`` is
    a piece of the mistake the feedback must name (None: no name required); ``also`` replaces
    other answers of the same notebook, and ``scores`` gives the policy's fraction of points for
    cells other than its own (an error carried forward must cost only in its own part).
    """

    notebook: str
    function: str
    mistake: str
    old: str = ""
    new: str = ""
    source: str = ""
    fails: frozenset[str] = frozenset()
    named: str | None = None
    also: dict[str, str] = field(default_factory=dict)

    @property
    def cell(self) -> str:
        """The test cell its change is judged in."""
        return _cell(self.function)

    def code(self, answers: dict[str, str]) -> str:
        if self.source:
            return textwrap.dedent(self.source).strip() + "\n"
        model = answers[f"answer_{self.function}"]
        assert self.old in model, f"{self.mistake}: {self.old!r} is not in the model answer"
        return model.replace(self.old, self.new)


def M(notebook, function, mistake, old="", new="", *, fails=(), named=None, source="", also=None):  # noqa: N802
    return Mutant(notebook, function, mistake, old, new, source, frozenset(fails), named, also or {})


EX1, EX2, EX3 = NOTEBOOKS
VALUES = {cell: frozenset(values) for cell, (_, values, _, _) in POLICY.items()}  # every value check fails

MUTANTS = [
    # -- exercise 1: optimal_discriminator --------------------------------------------------------
    M(EX1, "optimal_discriminator", "D* = p_data / p_model", "total = p_data + p_model", "total = p_model",
      fails=VALUES["correct_optimal_discriminator"], named="ratio of the two densities"),
    M(EX1, "optimal_discriminator", "labels swapped", "np.divide(p_data, total", "np.divide(p_model, total",
      fails=VALUES["correct_optimal_discriminator"], named="swapped"),
    M(EX1, "optimal_discriminator", "rejects a negative p_data only",
      "if np.any(p_data < 0) or np.any(p_model < 0):", "if np.any(p_data < 0):",
      fails={"test_rejects_negative_densities"}),
    M(EX1, "optimal_discriminator", "rejects a negative p_model only",
      "if np.any(p_data < 0) or np.any(p_model < 0):", "if np.any(p_model < 0):",
      fails={"test_rejects_negative_densities"}),
    M(EX1, "optimal_discriminator", "0 where D* is undefined", "np.full(total.shape, np.nan)", "np.zeros(total.shape)",
      fails={"test_undefined_where_both_densities_vanish"}, named="0 was filled in"),
    M(EX1, "optimal_discriminator", "returns a list", "return d_star", "return d_star.tolist()", fails={FORM}),
    M(EX1, "optimal_discriminator", "returns float32", "return d_star", "return d_star.astype(np.float32)",
      fails={FORM}),
    M(EX1, "optimal_discriminator", "a constant 1e-12 guards the division", "total = p_data + p_model",
      "total = p_data + p_model + 1e-12",
      fails={"test_share_of_the_data_density", "test_undefined_where_both_densities_vanish"},
      named="a constant added to the total"),
    M(EX1, "optimal_discriminator", "alternative form: 1 / (1 + p_model / p_data)", source="""
        def optimal_discriminator(p_data, p_model):
            p_data, p_model = np.broadcast_arrays(np.asarray(p_data, dtype=float), np.asarray(p_model, dtype=float))
            if np.any(p_data < 0) or np.any(p_model < 0):
                raise ValueError("negative density")
            with np.errstate(divide="ignore", invalid="ignore"):
                d = 1.0 / (1.0 + p_model / p_data)
            return np.where((p_data == 0) & (p_model == 0), np.nan, d)
        """),
    # -- exercise 1: optimal_discriminator_from_logs ---------------------------------------------
    M(EX1, "optimal_discriminator_from_logs", "log-ratio clipped at +-30", "e = np.exp(-np.abs(a))",
      "a = np.clip(a, -30.0, 30.0)\n    e = np.exp(-np.abs(a))", fails={"test_huge_gaps_do_not_overflow"}),
    M(EX1, "optimal_discriminator_from_logs", "labels swapped",
      "np.asarray(log_p_data, dtype=float) - np.asarray(log_p_model, dtype=float)",
      "np.asarray(log_p_model, dtype=float) - np.asarray(log_p_data, dtype=float)",
      fails=VALUES["correct_discriminator_from_logs"], named="swapped"),
    M(EX1, "optimal_discriminator_from_logs", "densities exponentiated first", source="""
        def optimal_discriminator_from_logs(log_p_data, log_p_model):
            p, q = np.exp(np.asarray(log_p_data, dtype=float)), np.exp(np.asarray(log_p_model, dtype=float))
            with np.errstate(all="ignore"):
                return p / (p + q)
        """, fails={"test_exact_in_the_far_tails", "test_huge_gaps_do_not_overflow"}, named="exponentiated first"),
    M(EX1, "optimal_discriminator_from_logs", "works on 1-D arrays only, one value at a time", source="""
        def optimal_discriminator_from_logs(log_p_data, log_p_model):
            out = []
            for a, b in zip(log_p_data, log_p_model):
                gap = a - b
                out.append(1.0 / (1.0 + np.exp(-gap)) if gap >= 0 else np.exp(gap) / (1.0 + np.exp(gap)))
            return np.array(out)
        """, fails={"test_scalars_and_broadcasting"}),
    M(EX1, "optimal_discriminator_from_logs", "naive exp(a) / (1 + exp(a)) with warnings silenced", source="""
        def optimal_discriminator_from_logs(log_p_data, log_p_model):
            a = np.asarray(log_p_data, dtype=float) - np.asarray(log_p_model, dtype=float)
            with np.errstate(all="ignore"):
                return np.exp(a) / (1.0 + np.exp(a))
        """, fails={"test_huge_gaps_do_not_overflow"}, named="overflowed"),
    M(EX1, "optimal_discriminator_from_logs", "naive 1 / (1 + exp(-a)) with the overflow silenced (accepted)",
      source="""
        def optimal_discriminator_from_logs(log_p_data, log_p_model):
            a = np.asarray(log_p_data, dtype=float) - np.asarray(log_p_model, dtype=float)
            with np.errstate(over="ignore", invalid="ignore"):
                return 1.0 / (1.0 + np.exp(-a))
        """),
    M(EX1, "optimal_discriminator_from_logs", "alternative form: exp(-logaddexp(0, -a))", source="""
        def optimal_discriminator_from_logs(log_p_data, log_p_model):
            with np.errstate(invalid="ignore"):
                a = np.asarray(log_p_data, dtype=float) - np.asarray(log_p_model, dtype=float)
            return np.exp(-np.logaddexp(0.0, -a))
        """),
    M(EX1, "optimal_discriminator_from_logs", "returns float32",
      "return np.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e))",
      "return np.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(np.float32)", fails={FORM}),
    # -- exercise 1: discriminator_cost -----------------------------------------------------------
    M(EX1, "discriminator_cost", "no factors 1/2", "-0.5 *", "-1.0 *", fails=VALUES["correct_discriminator_cost"],
      named="factors 1/2"),
    M(EX1, "discriminator_cost", "sign flipped", "float(-0.5 *", "float(0.5 *",
      fails=VALUES["correct_discriminator_cost"], named="sign is flipped"),
    M(EX1, "discriminator_cost", "not multiplied by dx", " * dx)", ")", fails=VALUES["correct_discriminator_cost"],
      named="dx"),
    M(EX1, "discriminator_cost", "labels swapped",
      "np.asarray(p_data, dtype=float) * np.log(d) + np.asarray(p_model, dtype=float) * np.log1p(-d)",
      "np.asarray(p_data, dtype=float) * np.log1p(-d) + np.asarray(p_model, dtype=float) * np.log(d)",
      fails=VALUES["correct_discriminator_cost"], named="swapped"),
    M(EX1, "discriminator_cost", "a numpy float", "return float(-0.5 * np.sum(integrand) * dx)",
      "return -0.5 * np.sum(integrand) * dx", fails={FORM}),
    M(EX1, "discriminator_cost", "alternative form: log(1 - d)", "np.log1p(-d)", "np.log(1.0 - d)"),
    # -- exercise 2 -------------------------------------------------------------------------------
    M(EX2, "value", "V = x + y", "dtype=float) * np.asarray", "dtype=float) + np.asarray",
      fails=VALUES["correct_value"], named="V = x + y"),
    M(EX2, "value", "alternative form: np.multiply", source="""
        def value(x, y):
            return np.multiply(x, y)
        """),
    M(EX2, "value", "partial broadcasting: one row per x", source="""
        def value(x, y):
            return np.array([xi * np.asarray(y, dtype=float) for xi in np.ravel(x)])
        """, fails={"test_value_of_numbers"}),
    M(EX2, "equilibrium", "integers, not floats", "(0.0, 0.0)", "(0, 0)", fails={FORM}),
    M(EX2, "equilibrium", "a list", "(0.0, 0.0)", "[0.0, 0.0]", fails={FORM}),
    M(EX2, "gradient_flow", "both signs flipped (clockwise)",
      "x0 * np.cos(t) - y0 * np.sin(t), x0 * np.sin(t) + y0 * np.cos(t)",
      "x0 * np.cos(t) + y0 * np.sin(t), -x0 * np.sin(t) + y0 * np.cos(t)",
      fails=VALUES["correct_gradient_flow"], named="both signs are flipped"),
    M(EX2, "gradient_flow", "both players descend",
      "x0 * np.cos(t) - y0 * np.sin(t), x0 * np.sin(t) + y0 * np.cos(t)",
      "x0 * np.cosh(t) - y0 * np.sinh(t), y0 * np.cosh(t) - x0 * np.sinh(t)",
      fails=VALUES["correct_gradient_flow"], named="both players descend"),
    M(EX2, "gradient_flow", "alternative form: a complex rotation", source="""
        def gradient_flow(x0, y0, t):
            z = complex(x0, y0) * np.exp(1j * np.asarray(t, dtype=float))
            return np.real(z), np.imag(z)
        """),
    M(EX2, "gradient_flow", "alternative form: one array of two rows", source="""
        def gradient_flow(x0, y0, t):
            t = np.asarray(t, dtype=float)
            return np.array([x0 * np.cos(t) - y0 * np.sin(t), x0 * np.sin(t) + y0 * np.cos(t)])
        """),
    M(EX2, "orbit_radius", "radius squared", "float(np.hypot(x0, y0))", "float(x0**2 + y0**2)",
      fails=VALUES["correct_orbit_radius"], named="radius squared"),
    M(EX2, "orbit_radius", "a numpy float", "float(np.hypot(x0, y0))", "np.hypot(x0, y0)", fails={FORM}),
    M(EX2, "orbit_radius", "a float32", "float(np.hypot(x0, y0))", "np.float32(np.hypot(x0, y0))", fails={FORM}),
    M(EX2, "orbit_radius", "alternative form: a power of one half", "float(np.hypot(x0, y0))",
      "(x0 * x0 + y0 * y0) ** 0.5 * 1.0"),
    M(EX2, "simultaneous_gd", "uses the new x (alternating)",
      "path[k + 1] = x - learning_rate * y, y + learning_rate * x",
      "x = x - learning_rate * y\n        path[k + 1] = x, y + learning_rate * x",
      fails={"test_simultaneous_path", "test_simultaneous_radius_grows", "test_simultaneous_integer_start"},
      named="alternating scheme"),
    M(EX2, "simultaneous_gd", "both signs flipped", "x - learning_rate * y, y + learning_rate * x",
      "x + learning_rate * y, y - learning_rate * x",
      fails={"test_simultaneous_path", "test_simultaneous_integer_start"}, named="both signs are flipped"),
    M(EX2, "simultaneous_gd", "both players descend", "x - learning_rate * y, y + learning_rate * x",
      "x - learning_rate * y, y - learning_rate * x",
      fails={"test_simultaneous_path", "test_simultaneous_radius_grows", "test_simultaneous_integer_start"},
      named="both players descend"),
    M(EX2, "simultaneous_gd", "an integer path from integer starts", "path = np.empty((steps + 1, 2))",
      "path = np.array([[x0, y0]] * (steps + 1))", fails={"test_simultaneous_integer_start", FORM}),
    M(EX2, "simultaneous_gd", "the start row left out", "return path", "return path[1:]",
      fails=VALUES["correct_simultaneous_gd"]),
    M(EX2, "simultaneous_gd", "one step too few (off by one)", source="""
        def simultaneous_gd(x0, y0, learning_rate, steps):
            path = np.zeros((steps + 1, 2))
            path[0] = x0, y0
            for k in range(steps - 1):
                x, y = path[k]
                path[k + 1] = x - learning_rate * y, y + learning_rate * x
            return path
        """, fails={"test_simultaneous_path", "test_simultaneous_radius_grows", "test_simultaneous_integer_start"}),
    M(EX2, "simultaneous_gd", "a list of rows", "return path", "return path.tolist()", fails={FORM}),
    M(EX2, "simultaneous_gd", "computed in float32", "path = np.empty((steps + 1, 2))",
      "path = np.empty((steps + 1, 2), dtype=np.float32)", fails={FORM}),
    M(EX2, "simultaneous_gd", "alternative form: powers of the step matrix", source="""
        def simultaneous_gd(x0, y0, learning_rate, steps):
            step = np.array([[1.0, -learning_rate], [learning_rate, 1.0]])
            start = np.array([x0, y0], dtype=float)
            return np.array([np.linalg.matrix_power(step, k) @ start for k in range(steps + 1)])
        """),
    M(EX2, "alternating_gd", "uses the old x (simultaneous)",
      "x = x - learning_rate * y\n        path[k + 1] = x, y + learning_rate * x",
      "path[k + 1] = x - learning_rate * y, y + learning_rate * x",
      fails=VALUES["correct_alternating_gd"], named="simultaneous scheme"),
    M(EX2, "alternating_gd", "y moves first",
      "x = x - learning_rate * y\n        path[k + 1] = x, y + learning_rate * x",
      "y = y + learning_rate * x\n        path[k + 1] = x - learning_rate * y, y",
      fails=VALUES["correct_alternating_gd"]),
    M(EX2, "alternating_gd", "an integer path from integer starts", "path = np.empty((steps + 1, 2))",
      "path = np.array([[x0, y0]] * (steps + 1))", fails={"test_alternating_integer_start", FORM}),
    M(EX2, "alternating_gd", "a list of rows", "return path", "return path.tolist()", fails={FORM}),
    M(EX2, "alternating_gd", "one step too few (off by one)", source="""
        def alternating_gd(x0, y0, learning_rate, steps):
            path = np.zeros((steps + 1, 2))
            path[0] = x0, y0
            for k in range(steps - 1):
                x, y = path[k]
                x = x - learning_rate * y
                path[k + 1] = x, y + learning_rate * x
            return path
        """, fails=VALUES["correct_alternating_gd"]),
    # -- exercise 3 -------------------------------------------------------------------------------
    M(EX3, "f_from_densities", "plus sign", "return -np.asarray", "return np.asarray",
      fails=VALUES["correct_f_from_densities"], named="sign of f is flipped"),
    M(EX3, "f_from_densities", "ratio upside down",
      "-np.asarray(p_data, dtype=float) / np.asarray(p_g, dtype=float)",
      "-np.asarray(p_g, dtype=float) / np.asarray(p_data, dtype=float)",
      fails=VALUES["correct_f_from_densities"], named="swapped in the ratio"),
    M(EX3, "f_from_densities", "partial broadcasting: pairs zipped", source="""
        def f_from_densities(p_data, p_g):
            return np.array([-a / b for a, b in zip(np.ravel(p_data), np.ravel(p_g))])
        """, fails={"test_density_ratio_broadcasts"}),
    M(EX3, "f_from_densities", "a constant added to f", "return -np.asarray", "return -1.0 - np.asarray",
      fails=VALUES["correct_f_from_densities"]),
    M(EX3, "f_from_logit", "plus sign", "return -np.exp", "return np.exp",
      fails=VALUES["correct_f_from_logit"], named="sign of f is flipped"),
    M(EX3, "f_from_logit", "f = -a", "-np.exp(np.asarray(a, dtype=float))", "-np.asarray(a, dtype=float)",
      fails=VALUES["correct_f_from_logit"], named="as if it were the density ratio"),
    M(EX3, "f_from_logit", "f = -exp(-a)", "-np.exp(np.asarray(a, dtype=float))",
      "-np.exp(-np.asarray(a, dtype=float))", fails=VALUES["correct_f_from_logit"], named="logit's sign is flipped"),
    M(EX3, "f_from_logit", "alternative form: -1 / exp(-a)", "-np.exp(np.asarray(a, dtype=float))",
      "-1.0 / np.exp(-np.asarray(a, dtype=float))"),
    M(EX3, "f_from_logit", "a list from math.exp", source="""
        def f_from_logit(a):
            import math
            return [-math.exp(v) for v in np.ravel(a)] if np.ndim(a) else -math.exp(a)
        """, fails={FORM}),
    M(EX3, "generator_cost", "the sum, not the mean", "np.mean(f_from_logit", "np.sum(f_from_logit",
      fails=VALUES["correct_generator_cost"], named="sum was returned"),
    M(EX3, "generator_cost", "a numpy float", "return float(np.mean(f_from_logit(logits)))",
      "return np.mean(f_from_logit(logits))", fails={FORM}),
    M(EX3, "generator_cost", "right, on top of f_from_logit with a plus sign (error carried forward)",
      "np.mean(f_from_logit", "np.mean(f_from_logit",
      also={"answer_f_from_logit": "def f_from_logit(a):\n    return np.exp(np.asarray(a, dtype=float))\n"}),
    M(EX3, "ml_gradient_estimate", "f with a plus sign", "np.mean(f_from_logit(logits) * score)",
      "np.mean(-f_from_logit(logits) * score)", fails=VALUES["correct_ml_gradient_estimate"], named="wrong way"),
    M(EX3, "ml_gradient_estimate", "score with the wrong sign", "score = (x - theta)", "score = (theta - x)",
      fails=VALUES["correct_ml_gradient_estimate"], named="sign of the score term"),
    M(EX3, "ml_gradient_estimate", "no score term", "f_from_logit(logits) * score", "f_from_logit(logits)",
      fails=VALUES["correct_ml_gradient_estimate"], named="score factor is missing"),
    M(EX3, "ml_gradient_estimate", "score divided by sigma_g", "/ sigma_g**2  #", "/ sigma_g  #",
      fails=VALUES["correct_ml_gradient_estimate"], named="power of sigma_g"),
    M(EX3, "ml_gradient_estimate", "score with sigma_data", "/ sigma_g**2  #", "/ sigma_data**2  #",
      fails={"test_seeded_estimate"}, named="uses sigma_data"),
    M(EX3, "ml_gradient_estimate", "samples with sigma_g^2 as the scale", "rng.normal(theta, sigma_g, size",
      "rng.normal(theta, sigma_g**2, size", fails=VALUES["correct_ml_gradient_estimate"],
      named="sigma_g^2 as the scale"),
    M(EX3, "ml_gradient_estimate", "f = -a", "f_from_logit(logits) * score", "-logits * score",
      fails=VALUES["correct_ml_gradient_estimate"], named="as if it were the density ratio"),
    M(EX3, "ml_gradient_estimate", "rng ignored (seeded inside)", "x = rng.normal(",
      "x = np.random.default_rng(12345).normal(", fails=VALUES["correct_ml_gradient_estimate"]),
    M(EX3, "ml_gradient_estimate", "numpy's global generator", "x = rng.normal(", "x = np.random.normal(",
      fails=VALUES["correct_ml_gradient_estimate"]),
    M(EX3, "ml_gradient_estimate", "differentiated through f", "np.mean(f_from_logit(logits) * score)",
      "np.mean(f_from_logit(logits) * score - f_from_logit(logits) * score)",
      fails=VALUES["correct_ml_gradient_estimate"], named="exactly 0"),
    M(EX3, "ml_gradient_estimate", "a numpy float", "return float(np.mean(f_from_logit(logits) * score))",
      "return np.mean(f_from_logit(logits) * score)", fails={FORM}),
    M(EX3, "ml_gradient_estimate", "f and the score from different samples", source="""
        def ml_gradient_estimate(theta, sigma_g, mu_data, sigma_data, n_samples, rng):
            x = rng.normal(theta, sigma_g, size=n_samples)
            other = rng.normal(theta, sigma_g, size=n_samples)
            logits = gaussian_log_pdf(x, mu_data, sigma_data) - gaussian_log_pdf(x, theta, sigma_g)
            return float(np.mean(f_from_logit(logits) * (other - theta) / sigma_g**2))
        """, fails=VALUES["correct_ml_gradient_estimate"], named="different samples"),
    M(EX3, "ml_gradient_estimate", "samples from p_data: the plain maximum-likelihood gradient", source="""
        def ml_gradient_estimate(theta, sigma_g, mu_data, sigma_data, n_samples, rng):
            x = rng.normal(mu_data, sigma_data, size=n_samples)
            return float(np.mean((theta - x) / sigma_g**2))
        """, fails={"test_seeded_estimate"}, named="samples come from p_data"),  # at the data: the same number
    M(EX3, "ml_gradient_estimate", "a pathwise (reparameterisation) estimator", source="""
        def ml_gradient_estimate(theta, sigma_g, mu_data, sigma_data, n_samples, rng):
            x = rng.normal(theta, sigma_g, size=n_samples)
            logits = gaussian_log_pdf(x, mu_data, sigma_data) - gaussian_log_pdf(x, theta, sigma_g)
            dlogit_dx = -(x - mu_data) / sigma_data**2 + (x - theta) / sigma_g**2
            return float(np.mean(f_from_logit(logits) * dlogit_dx))
        """, fails=VALUES["correct_ml_gradient_estimate"], named="pathwise"),
    M(EX3, "ml_gradient_estimate", "right, on top of f_from_logit = -exp(-a) (error carried forward)",
      "np.mean(f_from_logit", "np.mean(f_from_logit",
      also={"answer_f_from_logit": "def f_from_logit(a):\n    return -np.exp(-np.asarray(a, dtype=float))\n"}),
    M(EX3, "ml_gradient_estimate", "alternative form: the ratio from gaussian_log_pdf, written out", source="""
        def ml_gradient_estimate(theta, sigma_g, mu_data, sigma_data, n_samples, rng):
            x = rng.normal(theta, sigma_g, n_samples)
            ratio = np.exp(gaussian_log_pdf(x, mu_data, sigma_data) - gaussian_log_pdf(x, theta, sigma_g))
            return float(np.mean(-ratio * (x - theta)) / sigma_g**2)
        """),
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


def test_the_restated_policy_is_the_checks_own():
    """The weights and kinds restated in POLICY are the ones the checks declare."""
    declared: dict[str, tuple[dict, dict, bool]] = {}
    for name in NOTEBOOKS:
        for check in checks_for(name):
            values, structural, form = declared.setdefault(check.cell, ({}, {}, False))
            if check.form:
                declared[check.cell] = (values, structural, True)
            elif check.structural:
                structural[check.__name__] = check.weight
            else:
                values[check.__name__] = check.weight
    assert declared == {cell: (values, structural, form) for cell, (_, values, structural, form) in POLICY.items()}


def test_the_corpus_has_sixty_answers_over_every_graded_function_each_a_real_change(answers):
    assert len(MUTANTS) >= 60
    assert {mutant.cell for mutant in MUTANTS} == set(POLICY)
    for mutant in MUTANTS:
        assert mutant.code(answers) != answers[f"answer_{mutant.function}"] or mutant.also, mutant.mistake
        assert mutant.fails <= set(POLICY[mutant.cell][1]) | set(POLICY[mutant.cell][2]) | {FORM}, mutant.mistake


def test_every_mutant_scores_what_the_policy_says_for_every_student(grader, answers):
    """50 student ids per mutant: one score per test cell, the policy's score, and the mistake named."""
    lines, problems = [], []
    for mutant in MUTANTS:
        replacements = {f"answer_{mutant.function}": mutant.code(answers), **mutant.also}
        nb = _notebook_with(mutant.notebook, replacements)
        graded = grader.grade_many(nb, mutant.notebook, IDS)
        for cell in graded[IDS[0]]:
            scores = {graded[i][cell].score for i in IDS}
            diagnoses = {_diagnosis(graded[i][cell]) for i in IDS}
            if len(scores) != 1 or len(diagnoses) != 1:
                problems.append(f"{mutant.function} / {mutant.mistake}: {cell} scores {scores}, diagnoses {diagnoses}")
            expected = policy_score(cell, mutant.fails) if cell == mutant.cell else float(POLICY[cell][0])
            if cell in {_cell(grade_id.removeprefix("answer_")) for grade_id in mutant.also}:
                expected = 0.0  # the earlier function the mutant breaks on purpose
            if abs(graded[IDS[0]][cell].score - expected) > 1e-3:
                problems.append(
                    f"{mutant.function} / {mutant.mistake}: {cell} scores {graded[IDS[0]][cell].score:g}, "
                    f"the policy says {expected:.4g}\n{graded[IDS[0]][cell].feedback()}"
                )
        verdict = graded[IDS[0]][mutant.cell]
        if mutant.named and mutant.named not in _diagnosis(verdict):
            problems.append(
                f"{mutant.function} / {mutant.mistake}: named {_diagnosis(verdict)!r}, not {mutant.named!r}"
            )
        lines.append(
            f"{mutant.function:31s} {mutant.mistake[:60]:60s} {verdict.score:g}/{verdict.points:g}  "
            + _diagnosis(verdict)
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
