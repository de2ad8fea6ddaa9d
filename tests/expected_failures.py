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
        "test_share_of_the_data_density": "D* = p_data / p_model",
        "test_broadcasts_a_column_against_a_row": "",
        "test_undefined_where_both_densities_vanish": "",
    },
    "eli": {
        "test_share_of_the_data_density": "the labels are swapped",
        "test_broadcasts_a_column_against_a_row": "",
        "test_undefined_where_both_densities_vanish": "",
        "test_agrees_with_the_densities": "the labels are swapped",
        "test_exact_in_the_far_tails": "the labels are swapped",
        "test_huge_gaps_do_not_overflow": "",
        "test_scalars_and_broadcasting": "",
    },
    "fay": {
        "test_exact_in_the_far_tails": "exponentiated first",
        "test_huge_gaps_do_not_overflow": "",
        "test_riemann_sum_of_the_cost": "the factors 1/2 are missing",
    },
    "gus": {
        "test_matches_the_exact_rotation": "the orbit runs clockwise",
        "test_scalar_time": "the orbit runs clockwise",
        "test_integer_start": "the orbit runs clockwise",
        "test_distance_from_the_equilibrium": "radius squared",
        "test_radius_is_kept_by_the_flow": "",
    },
    "hana": {
        "test_simultaneous_path": "that is the alternating scheme",
        "test_simultaneous_radius_grows": "",
        "test_simultaneous_integer_start": "that is the alternating scheme",
    },
    # generator_cost and the gradient use f_from_logit, so the sign error reaches them too
    # (the seeded estimate shows it even where the generator matches the data).
    "ivo": {
        "test_minus_the_density_ratio": "f has a plus sign",
        "test_density_ratio_broadcasts": "",
        "test_minus_exp_of_the_logit": "f has a plus sign",
        "test_mean_of_f_over_the_batch": "f has a plus sign",
        "test_seeded_estimate": "f has a plus sign",
        "test_seeded_estimate_at_the_data": "f has a plus sign",
    },
    # E[-a * score] = (theta - mu) / s_d^2, which differs from the true gradient when s_d != s_g;
    # at the data f = 0, where several mistakes give 0 and none is named.
    "jun": {
        "test_minus_exp_of_the_logit": "the exp is missing",
        "test_mean_of_f_over_the_batch": "the exp is missing",
        "test_seeded_estimate": "the exp is missing",
        "test_seeded_estimate_at_the_data": "",
    },
    "kim": {
        "test_seeded_estimate": "the score term is missing",
        "test_seeded_estimate_at_the_data": "the score term is missing",
    },
    "lev": {
        "test_undefined_where_both_densities_vanish": "RuntimeWarning",
    },
    "nia": {
        "test_minus_exp_of_the_logit": "the logit's sign is flipped",
        "test_mean_of_f_over_the_batch": "f = -exp(-a)",
        "test_seeded_estimate": "the logit's sign is flipped",
    },
    "oli": {
        "test_seeded_estimate": "f is differentiated through",
        "test_seeded_estimate_at_the_data": "",
    },
    "pia": {
        "test_matches_the_exact_rotation": "both players descend V",
        "test_scalar_time": "both players descend V",
        "test_integer_start": "both players descend V",
    },
}


def expected_failures(student: Student, checks: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Map every hidden check ``student`` should fail to the phrase its feedback must show.

    ``checks`` maps each notebook to the ids of its hidden checks.
    """
    failures = dict(BREAKS.get(student.student_id, {}))
    for name in NOTEBOOKS:
        if student.cheats or name in student.untouched or name in student.missing:
            failures.update(dict.fromkeys(checks[name], ""))
    return failures
