"""What the simulated class (``gankit.simulated_class``) should score: for each student, the hidden
checks their overrides break, each with a phrase its feedback must show ("" when failing is all that
is known). The end-to-end tests compare these expectations with what nbgrader records.

Untouched, missing and tampering notebooks fail every check of theirs; ``expected_failures`` adds those.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gankit import NOTEBOOKS
from gankit.simulated_class import Student

BREAKS: dict[str, dict[str, str]] = {
    "dev": {
        "test_share_of_the_data_density": "a ratio of the two densities",
        "test_broadcasts_a_column_against_a_row": "",
        "test_undefined_where_both_densities_vanish": "",
    },
    "eli": {
        "test_share_of_the_data_density": "the roles of p_data and p_model are swapped",
        "test_broadcasts_a_column_against_a_row": "",
        "test_undefined_where_both_densities_vanish": "",
        "test_agrees_with_the_densities": "the roles of p_data and p_model are swapped",
        "test_exact_in_the_far_tails": "the roles of p_data and p_model are swapped",
        "test_huge_gaps_do_not_overflow": "",
        "test_scalars_and_broadcasting": "",
    },
    "fay": {
        "test_exact_in_the_far_tails": "exponentiated first",
        "test_huge_gaps_do_not_overflow": "overflowed to inf",
        "test_riemann_sum_of_the_cost": "the factors 1/2 are missing",
    },
    "gus": {
        "test_matches_the_exact_rotation": "both signs are flipped",
        "test_scalar_time": "both signs are flipped",
        "test_integer_start": "both signs are flipped",
        "test_distance_from_the_equilibrium": "radius squared",
        "test_radius_is_kept_by_the_flow": "",
    },
    "hana": {
        "test_simultaneous_path": "that is the alternating scheme",
        "test_simultaneous_radius_grows": "",
        "test_simultaneous_integer_start": "that is the alternating scheme",
    },
    # generator_cost and the gradient call f_from_logit: judged with the student's own f (error
    # carried forward), they keep their points, and the sign error costs only in its own parts.
    "ivo": {
        "test_minus_the_density_ratio": "the sign of f is flipped",
        "test_density_ratio_broadcasts": "",
        "test_minus_exp_of_the_logit": "the sign of f is flipped",
    },
    "jun": {
        "test_minus_exp_of_the_logit": "the logit was used as if it were the density ratio itself",
    },
    "kim": {
        "test_seeded_estimate": "the score factor is missing",
        "test_seeded_estimate_at_the_data": "the score factor is missing",
    },
    "lev": {
        "test_undefined_where_both_densities_vanish": "RuntimeWarning",
    },
    "nia": {
        "test_minus_exp_of_the_logit": "the logit's sign is flipped",
    },
    # at the data several mistakes give 0, so none is named there
    "oli": {
        "test_seeded_estimate": "the estimate is exactly 0",
        "test_seeded_estimate_at_the_data": "",
    },
    "pia": {
        "test_matches_the_exact_rotation": "both players descend V",
        "test_scalar_time": "both players descend V",
        "test_integer_start": "both players descend V",
    },
}


# A tampering stub that returns a plain float64 array of the right shape has the documented form: its
# form check passes (and, being structural, earns nothing while the values are wrong).
CHEATS_IN_THE_RIGHT_FORM = {
    "tampers_numpy": "test_f_from_densities_is_a_float_array",
    "tampers_cells": "test_d_star_is_a_float_array",
    "tampers_exceptions": "test_d_star_is_a_float_array",
    "tampers_traceback": "test_d_star_is_a_float_array",
}


def expected_failures(student: Student, checks: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Map every hidden check ``student`` should fail to the phrase its feedback must show.

    ``checks`` maps each notebook to the ids of its hidden checks.
    """
    failures = dict(BREAKS.get(student.student_id, {}))
    for name in NOTEBOOKS:
        if student.cheats or name in student.untouched or name in student.missing:
            failures.update(dict.fromkeys(checks[name], ""))
    failures.pop(CHEATS_IN_THE_RIGHT_FORM.get(student.student_id, ""), None)
    return failures
