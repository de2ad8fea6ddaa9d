"""The simulated class: students who are right, blank, half done, or make the mistakes real
students make.

A student is data: which notebooks they leave untouched or do not submit, and which answer cells
they write differently from the model solution. What each should score is the test suite's
business (``tests/expected_failures.py``), not the product's.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gankit import ASSIGNMENT, NOTEBOOKS, notebooks

SOLUTION_MARKERS = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$\n?", re.MULTILINE)


def _code(text: str) -> str:
    return textwrap.dedent(text).strip() + "\n"


@dataclass(frozen=True)
class Student:
    """One simulated student and what their submission should score."""

    student_id: str
    description: str
    # Answer cells (by grade id) written differently from the model solution.
    overrides: Mapping[str, str] = field(default_factory=dict)
    # Notebooks left exactly as released, and notebooks deleted before submitting.
    untouched: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    # Whether the written answers are filled in.
    writes_answers: bool = True
    # A tampering attempt with no honest work (other answers stay stubs): it must earn no more
    # than an empty submission.
    cheats: bool = False

    def do_homework(self, folder: Path, model_answers: Mapping[str, str], written: Mapping[str, str]) -> None:
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
                    honest = cell.source if self.cheats else model_answers[grade_id]
                    cell.source = self.overrides.get(grade_id, honest)
                elif self.writes_answers:
                    cell.source = written[grade_id]
            path.write_text(notebooks.nbformat.writes(nb), encoding="utf-8")


def place_submission(course: Path, student: Student, assignment: str = ASSIGNMENT) -> Path:
    """Put ``student``'s work straight into ``submitted/`` of ``course`` (as ``collect`` leaves it),
    starting from the course's release; return the folder. For tests that need a graded course
    without going through the exchange."""
    folder = course / "submitted" / student.student_id / assignment
    folder.mkdir(parents=True)
    for path in (course / "release" / assignment).iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "timestamp.txt").write_text("2026-11-25 12:00:00.000000 UTC")
    student.do_homework(folder, model_answers(course / "source" / assignment), WRITTEN_ANSWERS)
    return folder


def model_answers(source_folder: Path) -> dict[str, str]:
    """The model solution of every code answer cell, as a student would type it (no markers)."""
    answers = {}
    for name in NOTEBOOKS:
        for grade_id, cell in notebooks.cells_by_grade_id(notebooks.read(source_folder / f"{name}.ipynb")).items():
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
    "written_alternating_steps": (
        "One alternating step is a matrix with determinant 1 and trace 2 - eta^2, so its eigenvalues "
        "lie on the unit circle while eta < 2: the path circles on an ellipse and stays bounded."
    ),
    "written_importance_sampling": (
        "-E_data[d log p_g] = -integral p_data d log p_g dx = integral p_g (-p_data / p_g) d log p_g dx "
        "= E_g[(-p_data / p_g) d log p_g], so f = -p_data / p_g."
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

FLOW_BOTH_DESCEND = _code("""
    def gradient_flow(x0, y0, t):
        t = np.asarray(t, dtype=float)
        return x0 * np.cosh(t) - y0 * np.sinh(t), y0 * np.cosh(t) - x0 * np.sinh(t)
""")

# Tampering attempts. Each earns marks for wrong code when a submission is judged inside its own
# kernel by plain nbgrader test cells; the hidden checks must give them nothing.
# Wrong values and nothing else: a cheater's only hope is the tampering.
_STUB = _code("""

    def optimal_discriminator(p_data, p_model):
        return np.zeros(np.broadcast(np.asarray(p_data), np.asarray(p_model)).shape)
""")
TAMPER_NUMPY = _code("""
    import numpy as np
    np.allclose = lambda *args, **kwargs: True
    np.isclose = lambda a, b, *args, **kwargs: np.ones(np.broadcast(a, b).shape, dtype=bool)
    np.array_equal = lambda *args, **kwargs: True
    np.testing.assert_allclose = lambda *args, **kwargs: None

    def f_from_densities(p_data, p_g):
        return np.full(np.broadcast(np.asarray(p_data), np.asarray(p_g)).shape, -np.inf)
""")
TAMPER_LIAR = _code('''
    class Agreeable(np.ndarray):
        """An array that claims to equal anything."""
        def __eq__(self, other):
            return True
        __ne__ = lambda self, other: False
        def __array__(self, dtype=None, copy=None):
            return np.full(self.shape, 0.75)

    def optimal_discriminator(p_data, p_model):
        return np.zeros(np.broadcast(p_data, p_model).shape).view(Agreeable)
''')
TAMPER_TRANSFORMER = (
    _code("""
    def _only_passes(lines):
        # Rewrites every later cell that checks anything into one that does nothing.
        return ["pass\\n"] if any("check" in line for line in lines) else lines

    get_ipython().input_transformers_cleanup.append(_only_passes)
""")
    + _STUB
)
TAMPER_READ_SOURCE = _code("""
    import json, pathlib
    # Look for the instructor's notebook from the grading folder and run its model solution.
    for parent in pathlib.Path.cwd().parents:
        found = parent / "source" / "gan_exercises" / "ex1_optimal_discriminator.ipynb"
        if found.exists():
            for cell in json.loads(found.read_text())["cells"]:
                if cell["cell_type"] == "code" and "BEGIN SOLUTION" in "".join(cell["source"]):
                    exec("".join(cell["source"]))
            break
""")
TAMPER_EXCEPTION_HOOK = (
    _code("""
    get_ipython().set_custom_exc((BaseException,), lambda shell, etype, value, tb, tb_offset=None: None)
""")
    + _STUB
)
TAMPER_SHOWTRACEBACK = (
    _code("""
    shell = get_ipython()
    shell.showtraceback = lambda *args, **kwargs: None
    shell._showtraceback = lambda *args, **kwargs: None
""")
    + _STUB
)

_TAMPERED = "answer_optimal_discriminator"

CLASS: tuple[Student, ...] = (
    Student("ada", "everything right"),
    Student("ben", "submitted the release untouched", untouched=NOTEBOOKS, writes_answers=False),
    Student("cleo", "finished exercise 1 only", untouched=NOTEBOOKS[1:]),
    Student(
        "dev",
        "D* = p_data / p_model",
        overrides={"answer_optimal_discriminator": OPTIMAL_DISCRIMINATOR_RATIO},
    ),
    Student(
        "eli",
        "labels swapped in D*, in both forms",
        overrides={
            "answer_optimal_discriminator": OPTIMAL_DISCRIMINATOR_SWAPPED,
            "answer_optimal_discriminator_from_logs": FROM_LOGS_SWAPPED,
        },
    ),
    Student(
        "fay",
        "D* from raw densities in the tails; cost without the 1/2 factors",
        overrides={
            "answer_optimal_discriminator_from_logs": FROM_LOGS_RAW_DENSITIES,
            "answer_discriminator_cost": COST_WITHOUT_HALVES,
        },
    ),
    Student(
        "gus",
        "dynamics with both signs flipped; radius squared",
        overrides={
            "answer_gradient_flow": FLOW_SIGNS_FLIPPED,
            "answer_orbit_radius": RADIUS_SQUARED,
        },
    ),
    Student(
        "hana",
        "'simultaneous' updates that use the new x",
        overrides={"answer_simultaneous_gd": SIMULTANEOUS_USES_NEW_X},
    ),
    Student(
        "ivo",
        "f with a plus sign, in both forms",
        overrides={
            "answer_f_from_densities": F_PLUS_SIGN,
            "answer_f_from_logit": F_LOGIT_PLUS_SIGN,
        },
    ),
    Student(
        "jun",
        "f = -a (forgot the exp)",
        overrides={"answer_f_from_logit": F_LOGIT_NO_EXP},
    ),
    Student(
        "kim",
        "a gradient estimate without the score term",
        overrides={"answer_ml_gradient_estimate": GRADIENT_NO_SCORE},
    ),
    Student(
        "lev",
        "D* computed without guarding 0/0, so numpy warns",
        overrides={"answer_optimal_discriminator": OPTIMAL_DISCRIMINATOR_WARNS},
    ),
    Student("mo", "submitted exercise 1 only, deleted the others", missing=NOTEBOOKS[1:]),
    Student(
        "nia",
        "f = -exp(-a)",
        overrides={"answer_f_from_logit": F_LOGIT_EXP_MINUS},
    ),
    Student(
        "oli",
        "differentiated through f",
        overrides={"answer_ml_gradient_estimate": GRADIENT_THROUGH_F},
    ),
    Student(
        "pia",
        "both players descend V",
        overrides={"answer_gradient_flow": FLOW_BOTH_DESCEND},
    ),
    Student(
        "tampers_numpy",
        "patches numpy's comparisons",
        overrides={"answer_f_from_densities": TAMPER_NUMPY},
        untouched=NOTEBOOKS[:2],
        cheats=True,
    ),
    Student(
        "tampers_equality",
        "returns an array that equals anything",
        overrides={_TAMPERED: TAMPER_LIAR},
        untouched=NOTEBOOKS[1:],
        cheats=True,
    ),
    Student(
        "tampers_cells",
        "an input transformer empties later test cells",
        overrides={_TAMPERED: TAMPER_TRANSFORMER},
        untouched=NOTEBOOKS[1:],
        cheats=True,
    ),
    Student(
        "tampers_source",
        "runs the instructor's solution read from source/",
        overrides={_TAMPERED: TAMPER_READ_SOURCE},
        untouched=NOTEBOOKS[1:],
        cheats=True,
    ),
    Student(
        "tampers_exceptions",
        "a custom exception hook swallows failures",
        overrides={_TAMPERED: TAMPER_EXCEPTION_HOOK},
        untouched=NOTEBOOKS[1:],
        cheats=True,
    ),
    Student(
        "tampers_traceback",
        "showtraceback overridden to hide failures",
        overrides={_TAMPERED: TAMPER_SHOWTRACEBACK},
        untouched=NOTEBOOKS[1:],
        cheats=True,
    ),
)


def by_id(student_id: str) -> Student:
    """The student of the simulated class with this id."""
    return next(student for student in CLASS if student.student_id == student_id)


__all__ = ["ASSIGNMENT", "CLASS", "Student", "WRITTEN_ANSWERS", "by_id", "model_answers", "place_submission"]
