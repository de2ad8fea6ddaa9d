"""A simulated class for the similarity report: honest students who write the same correct formulas
independently (and make the same common mistakes), among three planted copies.

Honest students pick, for each answer cell, the model answer, one of a few other common ways of
writing it, or one of the simulated class's common mistakes; some write the model answer in every
cell, so their work is identical. The planted copies (their pairs returned alongside) are:

- ``verbatim``: a copy of every cell of a student who wrote three cells in their own way;
- ``disguised``: three cells of a student's own copied with every variable renamed and independent
  lines swapped;
- ``wrong_answer``: a student's exercise 3 copied, with its unusual wrong score-function estimate.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from gankit import simulated_class as sc
from gankit.similarity import Work

_D = "def optimal_discriminator(p_data, p_model):\n"
_LOGS = "def optimal_discriminator_from_logs(log_p_data, log_p_model):\n"
_FLOW = "def gradient_flow(x0, y0, t):\n"
_F = "def f_from_densities(p_data, p_g):\n"
_SIM = "def simultaneous_gd(x0, y0, learning_rate, steps):\n"
_ALT = "def alternating_gd(x0, y0, learning_rate, steps):\n"
_COST = "def discriminator_cost(d, p_data, p_model, dx):\n"
_ML = "def ml_gradient_estimate(theta, sigma_g, mu_data, sigma_data, n_samples, rng):\n"

# Other common, correct ways of writing a cell (beside the model answer).
ALTERNATIVES: dict[str, list[str]] = {
    "answer_optimal_discriminator": [
        _D + "    p_data = np.asarray(p_data, dtype=float)\n    p_model = np.asarray(p_model, dtype=float)\n"
        '    if np.any(p_data < 0) or np.any(p_model < 0):\n        raise ValueError("negative density")\n'
        '    with np.errstate(divide="ignore", invalid="ignore"):\n        return p_data / (p_data + p_model)\n'
    ],
    "answer_value": ["def value(x, y):\n    return np.multiply(x, y, dtype=float)\n"],
    "answer_equilibrium": ["def equilibrium():\n    return 0.0, 0.0\n"],
    "answer_orbit_radius": ["def orbit_radius(x0, y0):\n    return float(np.sqrt(x0**2 + y0**2))\n"],
    "answer_generator_cost": ["def generator_cost(logits):\n    return float(f_from_logit(logits).mean())\n"],
    "answer_f_from_logit": ["def f_from_logit(a):\n    return -np.exp(np.asarray(a, dtype=float))\n"],
}

# Mistakes in one short formula, each made independently by a few honest students (a mistake in a
# cell of several lines, down to its comments, is not written the same way twice by chance).
COMMON_MISTAKES: dict[str, list[str]] = {
    "answer_gradient_flow": [sc.FLOW_SIGNS_FLIPPED, sc.FLOW_BOTH_DESCEND],
    "answer_orbit_radius": [sc.RADIUS_SQUARED],
    "answer_f_from_densities": [sc.F_PLUS_SIGN],
    "answer_f_from_logit": [sc.F_LOGIT_PLUS_SIGN, sc.F_LOGIT_NO_EXP, sc.F_LOGIT_EXP_MINUS],
    "answer_optimal_discriminator_from_logs": [sc.FROM_LOGS_RAW_DENSITIES],
}

# The verbatim copy's source: three cells in the author's own words.
OWN_STYLE = {
    "answer_optimal_discriminator_from_logs": _LOGS + "    # trick from the lecture: never exponentiate a big number\n"
    "    diff_ld = np.asarray(log_p_data, dtype=float) - np.asarray(log_p_model, dtype=float)\n"
    "    return 0.5 * (1.0 + np.tanh(diff_ld / 2.0))\n",
    "answer_gradient_flow": _FLOW + "    tt = np.asarray(t, dtype=float)\n"
    "    cos_tt, sin_tt = np.cos(tt), np.sin(tt)  # rotation by angle t\n"
    "    return x0 * cos_tt - y0 * sin_tt, x0 * sin_tt + y0 * cos_tt\n",
    "answer_f_from_densities": _F + "    pd_arr = np.asarray(p_data, dtype=float)\n"
    "    pg_arr = np.asarray(p_g, dtype=float)\n"
    '    with np.errstate(all="ignore"):\n        return -(pd_arr / pg_arr)\n',
}

# The disguised copy's source, and the copy: every name changed, independent lines swapped.
DISGUISE_SOURCE = {
    "answer_simultaneous_gd": _SIM + "    xs = [float(x0)]\n    ys = [float(y0)]\n    for _ in range(steps):\n"
    "        nx = xs[-1] - learning_rate * ys[-1]\n        ny = ys[-1] + learning_rate * xs[-1]\n"
    "        xs.append(nx)\n        ys.append(ny)\n    return np.column_stack([xs, ys])\n",
    "answer_alternating_gd": _ALT + "    xs = [float(x0)]\n    ys = [float(y0)]\n    for _ in range(steps):\n"
    "        nx = xs[-1] - learning_rate * ys[-1]\n        xs.append(nx)\n"
    "        ys.append(ys[-1] + learning_rate * nx)\n    return np.column_stack([xs, ys])\n",
    "answer_discriminator_cost": _COST + "    d = np.asarray(d, dtype=float)\n"
    "    real_term = np.sum(p_data * np.log(d)) * dx\n    fake_term = np.sum(p_model * np.log(1.0 - d)) * dx\n"
    "    return float(-(real_term + fake_term) / 2)\n",
}
DISGUISED = {
    "answer_simultaneous_gd": _SIM + "    b_vals = [float(y0)]\n    a_vals = [float(x0)]\n    for _ in range(steps):\n"
    "        new_b = b_vals[-1] + learning_rate * a_vals[-1]\n        new_a = a_vals[-1] - learning_rate * b_vals[-1]\n"
    "        a_vals.append(new_a)\n        b_vals.append(new_b)\n    return np.column_stack([a_vals, b_vals])\n",
    "answer_alternating_gd": _ALT + "    b_vals = [float(y0)]\n    a_vals = [float(x0)]\n    for _ in range(steps):\n"
    "        new_a = a_vals[-1] - learning_rate * b_vals[-1]\n        a_vals.append(new_a)\n"
    "        b_vals.append(b_vals[-1] + learning_rate * new_a)\n    return np.column_stack([a_vals, b_vals])\n",
    "answer_discriminator_cost": _COST + "    d = np.asarray(d, dtype=float)\n"
    "    gen_part = np.sum(p_model * np.log(1.0 - d)) * dx\n    data_part = np.sum(p_data * np.log(d)) * dx\n"
    "    return float(-(data_part + gen_part) / 2)\n",
}

# An unusual wrong answer (the score divided by sigma, not sigma squared), and the exercise it is in.
UNUSUAL_WRONG = {
    "answer_ml_gradient_estimate": _ML + "    draws = rng.normal(theta, sigma_g, size=n_samples)\n"
    "    lg = gaussian_log_pdf(draws, mu_data, sigma_data) - gaussian_log_pdf(draws, theta, sigma_g)\n"
    "    score_fn = (draws - theta) / sigma_g  # d/dtheta of log p_g\n"
    "    return float(np.mean(f_from_logit(lg) * score_fn))\n",
}
EXERCISE_3 = ("answer_f_from_densities", "answer_f_from_logit", "answer_generator_cost", "answer_ml_gradient_estimate")


def _honest(model: Mapping[str, str], draw: random.Random, model_only: bool) -> dict[str, str]:
    if model_only:
        return dict(model)
    cells = {}
    for grade_id, answer in model.items():
        roll = draw.random()
        if roll < 0.12 and grade_id in COMMON_MISTAKES:
            cells[grade_id] = draw.choice(COMMON_MISTAKES[grade_id])
        elif roll < 0.45 and grade_id in ALTERNATIVES:
            cells[grade_id] = draw.choice(ALTERNATIVES[grade_id])
        else:
            cells[grade_id] = answer
    return cells


def class_with_copies(
    model: Mapping[str, str], honest: int = 40, seed: int = 0, notes: bool = False
) -> tuple[list[Work], set[frozenset]]:
    """``honest`` honest students (a fifth of them writing the model answer everywhere) and the
    three planted pairs; return every student's work and the planted pairs. With ``notes``, each
    honest student ends every cell with a comment of their own, so that no two cells are the same
    text (as in a real class: the detector then fingerprints every cell afresh)."""
    draw = random.Random(seed)
    works = []
    for index in range(honest):
        cells = _honest(model, draw, model_only=index % 5 == 0)
        if notes:
            cells = {grade_id: f"{code}    # {index} {grade_id}\n" for grade_id, code in cells.items()}
        works.append(Work(f"honest_{index:04d}", cells))
    verbatim = {**_honest(model, draw, False), **OWN_STYLE}
    disguised = {**_honest(model, draw, False), **DISGUISE_SOURCE}
    wrong = {**_honest(model, draw, False), **UNUSUAL_WRONG}
    planted = [
        ("verbatim_author", verbatim, "verbatim_copier", dict(verbatim)),
        ("disguised_author", disguised, "disguised_copier", {**_honest(model, draw, False), **DISGUISED}),
        (
            "wrong_answer_author",
            wrong,
            "wrong_answer_copier",
            {**_honest(model, draw, False), **{cell: wrong[cell] for cell in EXERCISE_3}},
        ),
    ]
    for author, theirs, copier, copied in planted:
        works += [Work(author, theirs), Work(copier, copied)]
    draw.shuffle(works)
    return works, {frozenset((author, copier)) for author, _, copier, _ in planted}
