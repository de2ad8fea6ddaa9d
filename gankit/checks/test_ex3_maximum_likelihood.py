"""Hidden checks of exercise 3: maximum likelihood in the GAN framework."""

import numpy as np

from gankit.hidden.checking import graded, is_python_float, same_values, within

SIGN = "the KL gradient is minus an expectation over p_data; importance sampling keeps that minus sign"


def _log_normal(x, mean, std):
    return -0.5 * ((x - mean) / std) ** 2 - np.log(std * np.sqrt(2 * np.pi))


def _expectation_under_generator(function, theta, s_g):
    """E over x ~ N(theta, s_g^2) of function(x), by quadrature on a fine grid."""
    grid = np.linspace(theta - 14 * s_g, theta + 14 * s_g, 20001)
    return float(np.sum(np.exp(_log_normal(grid, theta, s_g)) * function(grid)) * (grid[1] - grid[0]))


@graded("correct_f_from_densities", weight=2)
def test_minus_the_density_ratio(student, reference, probe):
    """f on random pairs of densities."""
    p, q = probe.uniform(0.01, 3.0, 25), probe.uniform(0.01, 3.0, 25)
    same_values(
        student.f_from_densities(p, q),
        -p / q,
        tried="f_from_densities on 25 random pairs of densities",
        expected="-p_data / p_g at each pair",
        hint=SIGN,
        mistakes={
            "f has a plus sign: the generator would climb the KL divergence": p / q,
            "the ratio is upside down (p_g / p_data)": -q / p,
        },
    )


@graded("correct_f_from_densities", weight=1)
def test_density_ratio_broadcasts(student, reference, probe):
    """f of a column of p_data values against a row of p_g values."""
    p, q = probe.uniform(0.01, 3.0, (3, 1)), probe.uniform(0.01, 3.0, 4)
    same_values(
        student.f_from_densities(p, q),
        -p / q,
        tried="f_from_densities on a column and a row",
        expected="a table of -p_data / p_g",
        hint="numpy broadcasts elementwise operations",
    )


@graded("correct_f_from_logit", weight=3)
def test_minus_exp_of_the_logit(student, reference, probe):
    """f on random logits."""
    a = probe.uniform(-5.0, 5.0, 25)
    same_values(
        student.f_from_logit(a),
        -np.exp(a),
        tried="f_from_logit on 25 random logits between -5 and 5",
        expected="-exp(a): the optimal logit is log p_data - log p_g, so exp(a) is the density ratio",
        hint=SIGN,
        mistakes={
            "f has a plus sign": np.exp(a),
            "f = -a: the exp is missing": -a,
            "f = -exp(-a): the logit's sign is flipped": -np.exp(-a),
        },
    )


@graded("correct_generator_cost", weight=2)
def test_mean_of_f_over_the_batch(student, reference, probe):
    """J(G) for a random batch of logits."""
    a = probe.uniform(-3.0, 3.0, probe.choice([7, 12, 20]))
    same_values(
        student.generator_cost(a),
        np.mean(-np.exp(a)),
        tried="generator_cost on a random batch of logits",
        expected="the mean of -exp(a) over the batch",
        hint="average f_from_logit over the batch",
        mistakes={
            "f has a plus sign": np.mean(np.exp(a)),
            "the sum was returned instead of the mean": np.sum(-np.exp(a)),
            "f = -a: the exp is missing": np.mean(-a),
            "f = -exp(-a)": np.mean(-np.exp(-a)),
        },
    )


@graded("correct_generator_cost", weight=1)
def test_generator_cost_is_a_float(student, reference, probe):
    """generator_cost returns a Python float."""
    is_python_float(student.generator_cost(probe.uniform(-3.0, 3.0, 5)), tried="generator_cost on a small batch")


def _gradient_check(student, probe, theta, s_g, mu, s_d):
    n = 100_000
    target = (theta - mu) / s_g**2
    logit = lambda x: _log_normal(x, mu, s_d) - _log_normal(x, theta, s_g)  # noqa: E731
    score = lambda x: (x - theta) / s_g**2  # noqa: E731
    second_moment = _expectation_under_generator(lambda x: (np.exp(logit(x)) * score(x)) ** 2, theta, s_g)
    se = float(np.sqrt((second_moment - target**2) / n))
    within(
        student.ml_gradient_estimate(theta, s_g, mu, s_d, n, probe.generator()),
        target,
        5 * se,
        scale=se,
        tried=f"ml_gradient_estimate with {n} samples, for a random generator and data distribution",
        expected="an estimate within 5 standard errors of (theta - mu) / s_g^2",
        hint="average f(x) * d/dtheta log p_g(x) over samples x drawn from p_g with the rng you are given; "
        "the score of N(theta, s^2) is (x - theta) / s^2",
        # What each mistake estimates on average, by quadrature (E[f] = -1 exactly).
        mistakes={
            "f has a plus sign, so the gradient points the wrong way": -target,
            "the score term is missing: this is the mean of f": -1.0,
            "f was differentiated through as well, which cancels the gradient": 0.0,
            "f = -a: the exp is missing": _expectation_under_generator(lambda x: -logit(x) * score(x), theta, s_g),
            "f = -exp(-a): the logit's sign is flipped": _expectation_under_generator(
                lambda x: -np.exp(-logit(x)) * score(x), theta, s_g
            ),
        },
    )


@graded("correct_ml_gradient_estimate", weight=3)
def test_unbiased_gradient(student, reference, probe):
    """The Monte Carlo gradient is unbiased."""
    s_d = float(probe.uniform(0.7, 1.3))
    # s_g^2 > s_d^2 / 2 keeps the variance finite, s_g < sqrt(2) s_d keeps E[exp(-a)] finite, and
    # s_g away from s_d lets the check tell f = -exp(a) from f = -a.
    s_g = s_d * float(probe.choice([probe.uniform(0.8, 0.9), probe.uniform(1.2, 1.35)]))
    theta = float(probe.uniform(-1.0, 1.0))
    mu = theta + float(probe.uniform(0.3, 0.6)) * s_g * probe.choice([-1.0, 1.0])
    _gradient_check(student, probe, theta, s_g, mu, s_d)


@graded("correct_ml_gradient_estimate", weight=1)
def test_gradient_vanishes_at_the_data(student, reference, probe):
    """The gradient is zero when the generator matches the data."""
    s = float(probe.uniform(0.6, 1.5))
    theta = float(probe.uniform(-2.0, 2.0))
    _gradient_check(student, probe, theta, s, theta, s)


@graded("correct_ml_gradient_estimate", weight=1)
def test_draws_only_from_the_given_generator(student, reference, probe):
    """Identically seeded generators give identical estimates."""
    seeded = probe.generator()
    first = student.ml_gradient_estimate(0.3, 1.0, 0.0, 1.0, 1000, seeded)
    second = student.ml_gradient_estimate(0.3, 1.0, 0.0, 1.0, 1000, seeded)
    same_values(
        second,
        first if first.as_array() is not None else np.nan,
        tried="ml_gradient_estimate twice with identically seeded generators",
        expected="the same number twice",
        hint="draw every random number from the rng argument, not np.random",
    )
