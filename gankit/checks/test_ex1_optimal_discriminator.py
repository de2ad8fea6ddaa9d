"""Hidden checks of exercise 1: the optimal discriminator."""

import numpy as np

from gankit.judging.checking import graded, is_float_array, is_python_float, no_warnings, raises, same_values

SHARE = (
    "go back to the condition your derivation sets to zero at each x: which share of the total density "
    "there comes from the data?"
)
WORKED_SHARE = "D*(x) = p_data(x) / (p_data(x) + p_model(x)), the share of the data density in the total"
WORKED_LOGS = "D* = sigmoid(log p_data - log p_model), evaluated as exp(-|a|) on both branches"


@graded("correct_optimal_discriminator", weight=3, check_id="test_share_of_the_data_density")
def test_share_of_the_data_density(student, reference, probe):
    """D* on pairs of positive densities, ordinary and tiny."""
    # Every student gets both regimes: 30 ordinary pairs and 10 pairs of tiny densities (the same
    # scale within a pair), 5 of them below 1e-200 and 5 between 1e-200 and 1e-13, where any
    # constant added to guard a division shows, and so does arithmetic in single precision.
    scale = 10.0 ** np.concatenate([probe.uniform(-300.0, -200.0, 5), probe.uniform(-200.0, -13.0, 5)])
    p = np.concatenate([probe.uniform(0.01, 5.0, 30), probe.uniform(0.1, 5.0, 10) * scale])
    q = np.concatenate([probe.uniform(0.01, 5.0, 30), probe.uniform(0.1, 5.0, 10) * scale])
    tried = "optimal_discriminator on 30 pairs of ordinary densities and 10 pairs of tiny ones"
    got = student.optimal_discriminator(p, q)
    same_values(
        got,
        reference.optimal_discriminator(p, q),
        tried=tried,
        expected="D* at each pair: a probability, so a number in (0, 1)",
        hint=SHARE,
        mistakes={
            "a ratio of the two densities, which is not a probability (values above 1 appear)": p / q,
            "the roles of p_data and p_model are swapped": q / (p + q),
            "a constant added to the total biases D* wherever the densities are tiny": p / (p + q + 1e-12),
        },
        worked=WORKED_SHARE,
    )
    no_warnings(got, tried=tried, hint="ordinary positive densities should not make numpy warn")


@graded("correct_optimal_discriminator", weight=1, check_id="test_broadcasts_a_column_against_a_row")
def test_broadcasts_a_column_against_a_row(student, reference, probe):
    """D* of a column of p_data values against a row of p_model values, as an ndarray."""
    rows, columns = probe.choice([2, 3, 4]), probe.choice([3, 5])
    p, q = probe.uniform(0.01, 3.0, (rows, 1)), probe.uniform(0.01, 3.0, columns)
    tried = "optimal_discriminator on a column of p_data values and a row of p_model values"
    got = student.optimal_discriminator(p, q)
    same_values(
        got,
        reference.optimal_discriminator(p, q),
        tried=tried,
        expected="a table with one D* per pair",
        hint="let numpy broadcast the two inputs together",
    )


@graded("correct_optimal_discriminator", form=True, check_id="test_d_star_is_a_float_array")
def test_d_star_is_a_float_array(student, reference, probe):
    """The documented form: a float64 ndarray for array inputs."""
    p, q = probe.uniform(0.1, 2.0, 5), probe.uniform(0.1, 2.0, 5)
    is_float_array(student.optimal_discriminator(p, q), tried="optimal_discriminator on two arrays", shape=(5,))


@graded("correct_optimal_discriminator", weight=2, check_id="test_undefined_where_both_densities_vanish")
def test_undefined_where_both_densities_vanish(student, reference, probe):
    """nan exactly where both densities are 0, silently."""
    p, q = probe.uniform(0.1, 2.0, 12), probe.uniform(0.1, 2.0, 12)
    p[[0, 3, 7]] = 0.0
    q[[0, 5, 7]] = 0.0  # both vanish at 0 and 7; one of them at 3 and 5
    tried = "optimal_discriminator where both densities are 0 at some points and one of them at others"
    got = student.optimal_discriminator(p, q)
    same_values(
        got,
        reference.optimal_discriminator(p, q),
        tried=tried,
        expected="nan where both are 0 (D* is undefined), 0 or 1 where only one is",
        hint="D* is undefined only where both densities are 0: compute it everywhere else and fill those "
        "points with nan, without ever evaluating 0/0",
        mistakes={
            "0 was filled in where D* is undefined": np.where(
                (p == 0) & (q == 0), 0.0, p / np.where(p + q > 0, p + q, 1)
            ),
            "0.5 was filled in where D* is undefined": np.where(
                (p == 0) & (q == 0), 0.5, p / np.where(p + q > 0, p + q, 1)
            ),
        },
    )
    no_warnings(got, tried=tried, hint="evaluate 0/0 nowhere: numpy's warning would reach stderr")


@graded("correct_optimal_discriminator", weight=1, structural=True, check_id="test_rejects_negative_densities")
def test_rejects_negative_densities(student, reference, probe):
    """A negative density raises ValueError, in either argument."""
    for negative, name in ((0, "p_data"), (1, "p_model")):
        densities = [probe.uniform(0.1, 2.0, 6), probe.uniform(0.1, 2.0, 6)]
        densities[negative][probe.choice([1, 2, 4])] *= -1.0
        raises(
            student.optimal_discriminator(*densities),
            "ValueError",
            tried=f"optimal_discriminator with one negative value of {name} among positive ones",
            hint="a density is never negative: check both inputs and raise ValueError",
        )


@graded("correct_discriminator_from_logs", weight=1, check_id="test_agrees_with_the_densities")
def test_agrees_with_the_densities(student, reference, probe):
    """D* from moderate log-densities."""
    a, b = probe.uniform(-6.0, 1.0, 30), probe.uniform(-6.0, 1.0, 30)
    same_values(
        student.optimal_discriminator_from_logs(a, b),
        reference.optimal_discriminator_from_logs(a, b),
        tried="optimal_discriminator_from_logs on 30 random pairs of moderate log-densities",
        expected="the same D* as Part A gives from the densities themselves",
        hint="your D* from Part A, rewritten so that only log-densities appear in it",
        mistakes={"the roles of p_data and p_model are swapped": 1.0 / (1.0 + np.exp(a - b))},
        worked=WORKED_LOGS,
    )


@graded("correct_discriminator_from_logs", weight=2, check_id="test_exact_in_the_far_tails")
def test_exact_in_the_far_tails(student, reference, probe):
    """D* where both densities underflow to 0."""
    b = probe.uniform(-950.0, -760.0, 30)
    a = b + probe.uniform(-6.0, 6.0, 30)
    tried = "optimal_discriminator_from_logs on 30 pairs of log-densities below -750"
    got = student.optimal_discriminator_from_logs(a, b)
    same_values(
        got,
        1.0 / (1.0 + np.exp(-(a - b))),
        tried=tried,
        expected="finite values, the same D* as for the same two densities scaled up together",
        hint="both densities underflow here, but their ratio does not: work with the difference of the "
        "log-densities, and never exponentiate the log-densities themselves",
        mistakes={
            "the log-densities were exponentiated first, so both underflowed to 0": np.full(30, np.nan),
            "the roles of p_data and p_model are swapped": 1.0 / (1.0 + np.exp(a - b)),
        },
        worked=WORKED_LOGS,
    )
    no_warnings(got, tried=tried, hint="nothing here needs a division by zero: work with the difference")


@graded("correct_discriminator_from_logs", weight=1, check_id="test_huge_gaps_do_not_overflow")
def test_huge_gaps_do_not_overflow(student, reference, probe):
    """D* when the log-densities differ by tens to hundreds, exact to the last digits."""
    # Gaps past 35 tell a clipped log-ratio apart; gaps past 760 make exp overflow both of the gap
    # (a naive sigmoid) and of log p_data itself (densities exponentiated first: b is above -50), for
    # every student alike. Between 709.8 and 760 the second would depend on the draw.
    gap = np.concatenate([probe.uniform(35.0, 700.0, 6), probe.uniform(760.0, 1000.0, 4)]) * np.array([1.0, -1.0] * 5)
    b = probe.uniform(-50.0, 0.0, 10)
    tried = "optimal_discriminator_from_logs with log-densities tens to hundreds apart"
    got = student.optimal_discriminator_from_logs(b + gap, b)
    tiny = np.exp(-np.abs(gap))  # the exact sigmoid, evaluated without overflow
    same_values(
        got,
        np.where(gap > 0, 1.0 / (1.0 + tiny), tiny / (1.0 + tiny)),
        atol=0.0,  # D* is tiny on one side: only a relative comparison sees a clipped log-ratio
        tried=tried,
        expected="values extremely close to 0 or 1 (the small ones correct in every digit), never nan",
        hint="a huge difference of log-densities must neither overflow nor be cut off: look at which "
        "intermediate quantity becomes enormous when the gap is large, and avoid computing it",
        # exp(gap) overflows only past log(max float), about 709.78: below that the naive form is exact
        mistakes={
            "an intermediate result overflowed to inf, and inf/inf gave nan": np.where(
                gap > np.log(np.finfo(float).max), np.nan, np.where(gap > 0, 1.0 / (1.0 + tiny), tiny / (1.0 + tiny))
            )
        },
        worked=WORKED_LOGS,
    )
    no_warnings(got, tried=tried, hint="an overflow warning means a huge intermediate value: avoid computing it")


@graded("correct_discriminator_from_logs", weight=1, check_id="test_scalars_and_broadcasting")
def test_scalars_and_broadcasting(student, reference, probe):
    """D* of two numbers, and of a column of log p_data against a row of log p_model."""
    a, b = (float(v) for v in probe.uniform(-8.0, 2.0, 2))
    column, row = probe.uniform(-8.0, 2.0, (3, 1)), probe.uniform(-8.0, 2.0, 4)
    for tried, got, want in (
        ("optimal_discriminator_from_logs of two numbers", student.optimal_discriminator_from_logs(a, b),
         1.0 / (1.0 + np.exp(b - a))),
        ("optimal_discriminator_from_logs of a column against a row",
         student.optimal_discriminator_from_logs(column, row), 1.0 / (1.0 + np.exp(row - column))),
    ):  # fmt: skip
        same_values(
            got,
            want,
            tried=tried,
            expected="D* for every pair, broadcast like any numpy operation (one value for two numbers)",
            worked=WORKED_LOGS,
            hint="work with whole arrays (np.where, np.exp) rather than Python branches on single values",
        )


@graded("correct_discriminator_from_logs", form=True, check_id="test_from_logs_is_a_float_array")
def test_from_logs_is_a_float_array(student, reference, probe):
    """The documented form: a float64 ndarray for array inputs."""
    a, b = probe.uniform(-6.0, 1.0, 5), probe.uniform(-6.0, 1.0, 5)
    is_float_array(
        student.optimal_discriminator_from_logs(a, b), tried="optimal_discriminator_from_logs on two arrays", shape=(5,)
    )


@graded("correct_discriminator_cost", weight=3, check_id="test_riemann_sum_of_the_cost")
def test_riemann_sum_of_the_cost(student, reference, probe):
    """J(D) on a random grid."""
    n = probe.choice([7, 11, 16])
    d, p, q = probe.uniform(0.05, 0.95, n), probe.uniform(0.0, 1.0, n), probe.uniform(0.0, 1.0, n)
    dx = float(probe.uniform(0.01, 0.2))
    j = -0.5 * dx * np.sum(p * np.log(d) + q * np.log1p(-d))
    same_values(
        student.discriminator_cost(d, p, q, dx),
        j,
        tried="discriminator_cost on a random grid of discriminator and density values",
        expected="the integral form of J(D) from the introduction, as a Riemann sum over the grid",
        hint="check each part of the integral in the introduction: the factors in front of it, which density "
        "goes with log D and which with log(1 - D), and the width dx of each grid cell",
        worked="J = -1/2 * sum(p_data * log d + p_model * log(1 - d)) * dx",
        mistakes={
            "the factors 1/2 are missing": 2 * j,
            "the sign is flipped": -j,
            "the sum was not multiplied by dx": j / dx,
            "the roles of p_data and p_model are swapped": -0.5 * dx * np.sum(p * np.log1p(-d) + q * np.log(d)),
        },
    )


@graded("correct_discriminator_cost", form=True, check_id="test_cost_is_a_float")
def test_cost_is_a_float(student, reference, probe):
    """The documented form: a Python float."""
    d, p, q = probe.uniform(0.1, 0.9, 5), probe.uniform(0.0, 1.0, 5), probe.uniform(0.0, 1.0, 5)
    is_python_float(student.discriminator_cost(d, p, q, 0.1), tried="discriminator_cost on a small grid")
