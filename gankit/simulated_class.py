"""The simulated class: students who are right, blank, half done, or make the mistakes real
students make.

A student is data: which notebooks they leave untouched or do not submit, which answer cells
they write differently from the model solution, and, for every test cell their work should fail,
a phrase the failure message must contain. The end-to-end tests compare these expectations with
what nbgrader actually records.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gankit import ASSIGNMENT, NOTEBOOKS, notebooks

SOLUTION_MARKERS = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$\n?", re.MULTILINE)
NOT_IMPLEMENTED = "NotImplementedError"


def _code(text: str) -> str:
    return textwrap.dedent(text).strip() + "\n"


@dataclass(frozen=True)
class Student:
    """One simulated student and what their submission should score."""

    student_id: str
    description: str
    # Answer cells (by grade id) written differently from the model solution.
    overrides: Mapping[str, str] = field(default_factory=dict)
    # Test cells (by grade id) that the overrides break, with a phrase their failure must show.
    breaks: Mapping[str, str] = field(default_factory=dict)
    # Notebooks left exactly as released, and notebooks deleted before submitting.
    untouched: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    # Whether the written answers are filled in.
    writes_answers: bool = True

    def expected_failures(self, test_cells: Mapping[str, Mapping[str, float]]) -> dict[str, str]:
        """Map every test cell this student should fail to the phrase its failure must show.

        ``test_cells`` maps each notebook to its test cells' points (from the source notebooks).
        A missing notebook shows no failure message at all, hence the empty phrase.
        """
        failures = dict(self.breaks)
        for name in self.untouched:
            failures.update(dict.fromkeys(test_cells[name], NOT_IMPLEMENTED))
        for name in self.missing:
            failures.update(dict.fromkeys(test_cells[name], ""))
        return failures

    def do_homework(
        self, folder: Path, model_answers: Mapping[str, str], written: Mapping[str, str]
    ) -> None:
        """Edit the fetched notebooks in ``folder`` the way this student would, in place."""
        for name in NOTEBOOKS:
            path = folder / f"{name}.ipynb"
            if name in self.missing:
                path.unlink()
                continue
            if name in self.untouched:
                continue
            nb = notebooks.read(path)
            cells = notebooks.cells_by_grade_id(nb)
            for grade_id, cell in cells.items():
                meta = notebooks.nbgrader_meta(cell)
                if not meta.get("solution"):
                    continue
                if cell.cell_type == "code":
                    cell.source = self.overrides.get(grade_id, model_answers[grade_id])
                elif self.writes_answers:
                    cell.source = written[grade_id]
            path.write_text(notebooks.nbformat.writes(nb), encoding="utf-8")


def model_answers(source_folder: Path) -> dict[str, str]:
    """The model solution of every code answer cell, as a student would type it (no markers)."""
    answers = {}
    for name in NOTEBOOKS:
        for grade_id, cell in notebooks.cells_by_grade_id(
            notebooks.read(source_folder / f"{name}.ipynb")
        ).items():
            if notebooks.nbgrader_meta(cell).get("solution") and cell.cell_type == "code":
                answers[grade_id] = SOLUTION_MARKERS.sub("", cell.source)
    return answers


WRITTEN_ANSWERS = {
    "written_optimal_discriminator": (
        "D*(x) = p_data(x) / (p_data(x) + p_model(x)). I minimised the integrand of J separately "
        "at every x, which is allowed because D has unlimited capacity, by setting the derivative "
        "with respect to D(x) to zero. This needs both densities to be nonzero at x."
    ),
    "written_xy_game": (
        "The only equilibrium is the saddle point (0, 0). Gradient descent circles around it at a "
        "constant radius, because each player's step is answered by the other. With a finite "
        "learning rate the simultaneous steps grow the radius by sqrt(1 + eta^2) each time."
    ),
    "written_maximum_likelihood": (
        "We need p_g(x) > 0 and that we may swap the derivative and the integral. f comes from the "
        "discriminator, so it is a constant copy; differentiating through it cancels the gradient."
    ),
}

OPTIMAL_DISCRIMINATOR_RATIO = _code("""
    def optimal_discriminator(p_data, p_model):
        p_data = np.asarray(p_data, dtype=float)
        p_model = np.asarray(p_model, dtype=float)
        if np.any(p_data < 0) or np.any(p_model < 0):
            raise ValueError("negative density")
        with np.errstate(divide="ignore", invalid="ignore"):
            return p_data / p_model
""")

OPTIMAL_DISCRIMINATOR_SWAPPED = _code("""
    def optimal_discriminator(p_data, p_model):
        p_data = np.asarray(p_data, dtype=float)
        p_model = np.asarray(p_model, dtype=float)
        if np.any(p_data < 0) or np.any(p_model < 0):
            raise ValueError("negative density")
        p_data, p_model = np.broadcast_arrays(p_data, p_model)
        total = p_data + p_model
        out = np.full(total.shape, np.nan)
        np.divide(p_model, total, out=out, where=total > 0)
        return out
""")

FROM_LOGS_SWAPPED = _code("""
    def optimal_discriminator_from_logs(log_p_data, log_p_model):
        a = np.asarray(log_p_model, dtype=float) - np.asarray(log_p_data, dtype=float)
        e = np.exp(-np.abs(a))
        return np.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
""")

OPTIMAL_DISCRIMINATOR_WARNS = _code("""
    def optimal_discriminator(p_data, p_model):
        p_data = np.asarray(p_data, dtype=float)
        p_model = np.asarray(p_model, dtype=float)
        if np.any(p_data < 0) or np.any(p_model < 0):
            raise ValueError("negative density")
        return p_data / (p_data + p_model)
""")

FROM_LOGS_RAW_DENSITIES = _code("""
    def optimal_discriminator_from_logs(log_p_data, log_p_model):
        return optimal_discriminator(np.exp(log_p_data), np.exp(log_p_model))
""")

COST_WITHOUT_HALVES = _code("""
    def discriminator_cost(d, p_data, p_model, dx):
        d = np.asarray(d, dtype=float)
        return float(-np.sum(p_data * np.log(d) + p_model * np.log(1 - d)) * dx)
""")

FLOW_SIGNS_FLIPPED = _code("""
    def gradient_flow(x0, y0, t):
        t = np.asarray(t, dtype=float)
        return x0 * np.cos(t) + y0 * np.sin(t), -x0 * np.sin(t) + y0 * np.cos(t)
""")

RADIUS_SQUARED = _code("""
    def orbit_radius(x0, y0):
        return float(x0**2 + y0**2)
""")

SIMULTANEOUS_USES_NEW_X = _code("""
    def simultaneous_gd(x0, y0, learning_rate, steps):
        path = [(x0, y0)]
        x, y = x0, y0
        for _ in range(steps):
            x = x - learning_rate * y
            y = y + learning_rate * x
            path.append((x, y))
        return np.array(path, dtype=float)
""")

F_PLUS_SIGN = _code("""
    def f_from_densities(p_data, p_g):
        return np.asarray(p_data, dtype=float) / np.asarray(p_g, dtype=float)
""")

F_LOGIT_PLUS_SIGN = _code("""
    def f_from_logit(a):
        return np.exp(np.asarray(a, dtype=float))
""")

F_LOGIT_NO_EXP = _code("""
    def f_from_logit(a):
        return -np.asarray(a, dtype=float)
""")

F_LOGIT_EXP_MINUS = _code("""
    def f_from_logit(a):
        return -np.exp(-np.asarray(a, dtype=float))
""")

GRADIENT_NO_SCORE = _code("""
    def ml_gradient_estimate(theta, sigma_g, mu_data, sigma_data, n_samples, rng):
        x = rng.normal(theta, sigma_g, size=n_samples)
        logits = gaussian_log_pdf(x, mu_data, sigma_data) - gaussian_log_pdf(x, theta, sigma_g)
        return float(np.mean(f_from_logit(logits)))
""")

GRADIENT_THROUGH_F = _code("""
    def ml_gradient_estimate(theta, sigma_g, mu_data, sigma_data, n_samples, rng):
        x = rng.normal(theta, sigma_g, size=n_samples)
        logits = gaussian_log_pdf(x, mu_data, sigma_data) - gaussian_log_pdf(x, theta, sigma_g)
        f = f_from_logit(logits)
        score = (x - theta) / sigma_g**2
        df_dtheta = -f * score  # f = -p_data / p_g also depends on theta
        return float(np.mean(f * score + df_dtheta))
""")

CLASS: tuple[Student, ...] = (
    Student("ada", "everything right"),
    Student("ben", "submitted the release untouched", untouched=NOTEBOOKS, writes_answers=False),
    Student("cleo", "finished exercise 1 only", untouched=NOTEBOOKS[1:]),
    Student(
        "dev",
        "D* = p_data / p_model",
        overrides={"answer_optimal_discriminator": OPTIMAL_DISCRIMINATOR_RATIO},
        breaks={"correct_optimal_discriminator": "D* = p_data / p_model is a ratio"},
    ),
    Student(
        "eli",
        "labels swapped in D*, in both forms",
        overrides={
            "answer_optimal_discriminator": OPTIMAL_DISCRIMINATOR_SWAPPED,
            "answer_optimal_discriminator_from_logs": FROM_LOGS_SWAPPED,
        },
        breaks={
            "correct_optimal_discriminator": "the labels are swapped",
            "correct_discriminator_from_logs": "the labels are swapped",
        },
    ),
    Student(
        "fay",
        "D* from raw densities in the tails; cost without the 1/2 factors",
        overrides={
            "answer_optimal_discriminator_from_logs": FROM_LOGS_RAW_DENSITIES,
            "answer_discriminator_cost": COST_WITHOUT_HALVES,
        },
        breaks={
            "correct_discriminator_from_logs": "exponentiated first",
            "correct_discriminator_cost": "the factors 1/2 are missing",
        },
    ),
    Student(
        "gus",
        "dynamics with both signs flipped; radius squared",
        overrides={
            "answer_gradient_flow": FLOW_SIGNS_FLIPPED,
            "answer_orbit_radius": RADIUS_SQUARED,
        },
        breaks={
            "correct_gradient_flow": "the orbit runs clockwise",
            "correct_orbit_radius": "radius squared",
        },
    ),
    Student(
        "hana",
        "'simultaneous' updates that use the new x",
        overrides={"answer_simultaneous_gd": SIMULTANEOUS_USES_NEW_X},
        breaks={"correct_simultaneous_gd": "that is the alternating scheme"},
    ),
    Student(
        "ivo",
        "f with a plus sign, in both forms",
        overrides={
            "answer_f_from_densities": F_PLUS_SIGN,
            "answer_f_from_logit": F_LOGIT_PLUS_SIGN,
        },
        # generator_cost and the gradient use f_from_logit, so the sign error reaches them too.
        breaks={
            "correct_f_from_densities": "f has a plus sign",
            "correct_f_from_logit": "f has a plus sign",
            "correct_generator_cost": "f has a plus sign",
            "correct_ml_gradient_estimate": "f has a plus sign",
        },
    ),
    Student(
        "jun",
        "f = -a (forgot the exp)",
        overrides={"answer_f_from_logit": F_LOGIT_NO_EXP},
        # With equal variances the logit is linear in x and E[-a * score] happens to equal the
        # true gradient, so the Monte Carlo check cannot see this mistake; the other two can.
        breaks={
            "correct_f_from_logit": "the exp is missing",
            "correct_generator_cost": "Check failed",
        },
    ),
    Student(
        "kim",
        "a gradient estimate without the score term",
        overrides={"answer_ml_gradient_estimate": GRADIENT_NO_SCORE},
        breaks={"correct_ml_gradient_estimate": "the score term is missing"},
    ),
    Student(
        "lev",
        "D* computed without guarding 0/0, so numpy warns",
        overrides={"answer_optimal_discriminator": OPTIMAL_DISCRIMINATOR_WARNS},
        breaks={"correct_optimal_discriminator": "RuntimeWarning"},
    ),
    Student("mo", "submitted exercise 1 only, deleted the others", missing=NOTEBOOKS[1:]),
    Student(
        "nia",
        "f = -exp(-a)",
        overrides={"answer_f_from_logit": F_LOGIT_EXP_MINUS},
        breaks={
            "correct_f_from_logit": "the logit's sign is flipped",
            "correct_generator_cost": "Check failed",
            "correct_ml_gradient_estimate": "Check failed",
        },
    ),
    Student(
        "oli",
        "differentiated through f",
        overrides={"answer_ml_gradient_estimate": GRADIENT_THROUGH_F},
        breaks={"correct_ml_gradient_estimate": "f was differentiated through"},
    ),
)


def by_id(student_id: str) -> Student:
    """The student of the simulated class with this id."""
    return next(student for student in CLASS if student.student_id == student_id)


__all__ = ["ASSIGNMENT", "CLASS", "Student", "WRITTEN_ANSWERS", "by_id", "model_answers"]
