"""Hidden checks of exercise 3: maximum likelihood in the GAN framework."""

import numpy as np

from gankit.judging.checking import CheckFailed, graded, is_float_array, is_python_float, same_values

SIGN = (
    "rewrite the KL gradient, an expectation over p_data, as an expectation over p_g: what weight must each "
    "sample from p_g carry, and what happens to the sign in front?"
)
LOGIT = "the optimal discriminator's logit encodes the density ratio: recover the ratio from a, then use Part A"
WORKED_F = (
    "f = -p_data / p_g (importance sampling keeps the KL gradient's minus sign; the tutorial's printed "
    "solution, section 8.3, drops it)"
)
WORKED_LOGIT = "f = -exp(a): the optimal logit is log p_data - log p_g, so exp(a) is the density ratio"


def _log_normal(x, mean, std):
    return -0.5 * ((x - mean) / std) ** 2 - np.log(std * np.sqrt(2 * np.pi))


@graded("correct_f_from_densities", weight=2, check_id="test_minus_the_density_ratio")
def test_minus_the_density_ratio(student, reference, probe):
    """f on random pairs of densities."""
    p, q = probe.uniform(0.01, 3.0, 25), probe.uniform(0.01, 3.0, 25)
    same_values(
        student.f_from_densities(p, q),
        -p / q,
        tried="f_from_densities on 25 random pairs of densities",
        expected="f at each pair, the f whose expected gradient is the KL gradient",
        hint=SIGN,
        mistakes={
            "the sign of f is flipped: the generator would climb the KL divergence": p / q,
            "the two densities are swapped in the ratio": -q / p,
        },
        worked=WORKED_F,
    )


@graded("correct_f_from_densities", weight=1, check_id="test_density_ratio_broadcasts")
def test_density_ratio_broadcasts(student, reference, probe):
    """f of a column of p_data values against a row of p_g values."""
    p, q = probe.uniform(0.01, 3.0, (3, 1)), probe.uniform(0.01, 3.0, 4)
    same_values(
        student.f_from_densities(p, q),
        -p / q,
        tried="f_from_densities on a column and a row",
        expected="a table of f, one value per pair",
        hint="numpy broadcasts elementwise operations",
        worked=WORKED_F,
    )


@graded("correct_f_from_densities", form=True, check_id="test_f_from_densities_is_a_float_array")
def test_f_from_densities_is_a_float_array(student, reference, probe):
    """The documented form: a float64 ndarray for array inputs."""
    p, q = probe.uniform(0.1, 2.0, 5), probe.uniform(0.1, 2.0, 5)
    is_float_array(student.f_from_densities(p, q), tried="f_from_densities on two arrays", shape=(5,))


@graded("correct_f_from_logit", form=True, check_id="test_f_from_logit_is_a_float_array")
def test_f_from_logit_is_a_float_array(student, reference, probe):
    """The documented form: a float64 ndarray for an array of logits."""
    is_float_array(student.f_from_logit(probe.uniform(-2.0, 2.0, 5)), tried="f_from_logit on an array", shape=(5,))


def _own_f(student, a):
    """The student's own f_from_logit at ``a``, if it gives finite numbers of the right shape (else None):
    what a later part is judged consistent with when f_from_logit itself is wrong (error carried forward)."""
    got = student.f_from_logit(a)
    values = None if got.raised else got.as_array()
    if values is None or values.shape != np.shape(a) or not np.all(np.isfinite(values)):
        return None
    return values


def _carried(check, carried_value):
    """Run ``check(want)`` with the right value; if it fails and the student's own earlier function
    gives ``carried_value`` (not None), pass when the result agrees with that instead: a mistake in
    f_from_logit is charged once, in its own part."""
    try:
        check(None)
    except CheckFailed:
        if carried_value is None:
            raise
        try:
            check(carried_value)
        except CheckFailed:
            pass
        else:
            return
        raise


@graded("correct_f_from_logit", weight=3, check_id="test_minus_exp_of_the_logit")
def test_minus_exp_of_the_logit(student, reference, probe):
    """f on random logits."""
    a = probe.uniform(-5.0, 5.0, 25)
    same_values(
        student.f_from_logit(a),
        -np.exp(a),
        tried="f_from_logit on 25 random logits between -5 and 5",
        expected="the f of Part A, written through the optimal discriminator's logit",
        hint=LOGIT,
        mistakes={
            "the sign of f is flipped": np.exp(a),
            "the logit was used as if it were the density ratio itself": -a,
            "the logit's sign is flipped (p_data and p_g are swapped)": -np.exp(-a),
        },
        worked=WORKED_LOGIT,
    )


@graded("correct_generator_cost", weight=2, check_id="test_mean_of_f_over_the_batch")
def test_mean_of_f_over_the_batch(student, reference, probe):
    """J(G) for a random batch of logits."""
    a = probe.uniform(-3.0, 3.0, probe.choice([7, 12, 20]))
    got, own = student.generator_cost(a), _own_f(student, a)
    _carried(lambda carried: _mean_of_f(got, a, carried), None if own is None else float(np.mean(own)))


def _mean_of_f(got, a, carried):
    same_values(
        got,
        np.mean(-np.exp(a)) if carried is None else carried,
        tried="generator_cost on a random batch of logits",
        expected="the Monte Carlo estimate of J(G) over the batch",
        hint="a Monte Carlo estimate of an expectation averages over the batch; use your f_from_logit",
        mistakes={
            "the sign of f is flipped": np.mean(np.exp(a)),
            "the sum was returned instead of the mean": np.sum(-np.exp(a)),
            "the logit was used as if it were the density ratio itself": np.mean(-a),
            "the logit's sign is flipped (p_data and p_g are swapped)": np.mean(-np.exp(-a)),
        },
        worked="the mean of f_from_logit(a) = -exp(a) over the batch",
    )


@graded("correct_generator_cost", form=True, check_id="test_generator_cost_is_a_float")
def test_generator_cost_is_a_float(student, reference, probe):
    """The documented form: a Python float."""
    is_python_float(student.generator_cost(probe.uniform(-3.0, 3.0, 5)), tried="generator_cost on a small batch")


# -- ml_gradient_estimate: compared exactly with the reference on the same seeded draws ---------
#
# The notebook pins the sampling contract (the n samples are drawn first, with one call
# rng.normal(theta, sigma_g, n_samples)), so a seeded estimate has one right value: every check
# below computes it here from the same seed and compares to 1e-7. Verdicts cannot depend on how
# the probes fell (a statistical tolerance would let a slightly wrong estimator pass for some
# students and not others), and each named mistake is recognised only by its own exact value.


def _draws(seed, theta, s_g, n):
    return np.random.default_rng(seed).normal(theta, s_g, n)


def _logit(x, theta, s_g, mu, s_d):
    return _log_normal(x, mu, s_d) - _log_normal(x, theta, s_g)


def _estimators(seed, theta, s_g, mu, s_d, n):
    """The right estimate, and what each known mistake returns, on the draws of ``seed``."""
    x = _draws(seed, theta, s_g, n)
    a = _logit(x, theta, s_g, mu, s_d)
    f, score = -np.exp(a), (x - theta) / s_g**2
    wide = np.random.default_rng(seed).normal(theta, s_g**2, n)
    rng = np.random.default_rng(seed)
    first, second = rng.normal(theta, s_g, n), rng.normal(theta, s_g, n)
    from_data = np.random.default_rng(seed).normal(mu, s_d, n)
    right = float(np.mean(f * score))
    mistakes = {
        "the score factor is missing: this is the mean of f alone": float(np.mean(f)),
        "the estimate is exactly 0 whatever the samples: look at what your code differentiates": 0.0,
        "the logit was used as if it were the density ratio itself": float(np.mean(-a * score)),
        "the logit's sign is flipped (p_data and p_g are swapped)": float(np.mean(-np.exp(-a) * score)),
        "the score has the wrong power of sigma_g: differentiate log p_g with respect to theta again": float(
            np.mean(f * (x - theta) / s_g)
        ),
        "the score uses sigma_data: it is the derivative of log p_g, so only the generator's parameters enter": float(
            np.mean(f * (x - theta) / s_d**2)
        ),
        "the samples were drawn with sigma_g^2 as the scale (numpy's normal takes the standard deviation)": float(
            np.mean(-np.exp(_logit(wide, theta, s_g, mu, s_d)) * (wide - theta) / s_g**2)
        ),
        "f and the score come from different samples: both must be evaluated at the same x": float(
            np.mean(-np.exp(_logit(first, theta, s_g, mu, s_d)) * (second - theta) / s_g**2)
        ),
        "the samples come from p_data: this is the plain maximum-likelihood gradient, with no f and no "
        "generator samples in it": float(np.mean((theta - from_data) / s_g**2)),
        "a pathwise (reparameterisation) estimator: unbiased too, but Part D asks for the score-function "
        "estimator": float(np.mean(-np.exp(a) * ((x - theta) / s_g**2 - (x - mu) / s_d**2))),
    }
    return right, mistakes


def _sign_mistake(student, probe) -> str:
    """Name the cause of a gradient with the wrong sign from the student's own f_from_logit."""
    a = probe.uniform(-2.0, 2.0, 5)
    f = student.f_from_logit(a).as_array()
    if f is not None and f.shape == a.shape and np.allclose(f, np.exp(a), rtol=1e-9):
        return "the gradient points the wrong way, and your f_from_logit has the opposite sign too"
    if f is not None and f.shape == a.shape and np.allclose(f, -np.exp(a), rtol=1e-9):
        return "the gradient points the wrong way although your f_from_logit passes: check the sign of the score term"
    return "the estimate has the opposite sign of the gradient: check the signs of f and of the score term"


def _seeded_check(student, probe, theta, s_g, mu, s_d, tried):
    n = 20_000
    seeded = probe.generator()
    right, mistakes = _estimators(seeded.seed, theta, s_g, mu, s_d, n)
    mistakes[_sign_mistake(student, probe)] = -right
    got = student.ml_gradient_estimate(theta, s_g, mu, s_d, n, seeded)
    x = _draws(seeded.seed, theta, s_g, n)
    own = _own_f(student, _logit(x, theta, s_g, mu, s_d))
    carried = None if own is None else float(np.mean(own * (x - theta) / s_g**2))
    _carried(lambda value: _seeded_value(got, right if value is None else value, mistakes, tried), carried)


def _seeded_value(got, right, mistakes, tried):
    same_values(
        got,
        right,
        rtol=1e-7,
        atol=0.0,
        tried=tried,
        expected="the score-function estimate of Part D from the samples rng.normal(theta, sigma_g, n_samples), "
        "the same number the grader computes from the same generator",
        hint="draw the samples first, with one call rng.normal(theta, sigma_g, n_samples), and evaluate every "
        "factor of the estimator at those same samples; differentiate log p_g by theta yourself for the score",
        worked="the mean over the samples x of f_from_logit(a(x)) * (x - theta) / sigma_g**2, with "
        "a(x) = log p_data(x) - log p_g(x)",
        mistakes=mistakes,
    )


def _away_from_one(probe, low, high):
    """A standard deviation in [low, high] that is not within 0.15 of 1 (where s and s^2 agree)."""
    value = float(probe.uniform(low, high))
    return value if abs(value - 1.0) > 0.15 else value + 0.3


@graded("correct_ml_gradient_estimate", weight=3, check_id="test_seeded_estimate")
def test_seeded_estimate(student, reference, probe):
    """The estimate from seeded draws, for a generator away from the data."""
    s_d = _away_from_one(probe, 0.6, 1.6)
    # s_g^2 > s_d^2 / 2 keeps the importance weights' variance finite; s_g differs from s_d, from 1
    # and from s_d^2 so that each named mistake changes the value.
    s_g = s_d * float(probe.choice([probe.uniform(0.75, 0.85), probe.uniform(1.15, 1.3)]))
    s_g = s_g if abs(s_g - 1.0) > 0.1 and abs(s_g - s_d**2) > 0.1 else s_g * 1.2
    theta = float(probe.uniform(-1.0, 1.0))
    mu = theta + float(probe.uniform(0.3, 0.6)) * s_g * probe.choice([-1.0, 1.0])
    _seeded_check(student, probe, theta, s_g, mu, s_d, "ml_gradient_estimate with a seeded generator, for a "
                  "random generator and data distribution")  # fmt: skip


@graded("correct_ml_gradient_estimate", weight=1, check_id="test_seeded_estimate_at_the_data")
def test_seeded_estimate_at_the_data(student, reference, probe):
    """The seeded estimate when the generator matches the data."""
    s = _away_from_one(probe, 0.6, 1.6)
    theta = float(probe.uniform(-2.0, 2.0))
    _seeded_check(student, probe, theta, s, theta, s, "ml_gradient_estimate with a seeded generator, for a "
                  "generator equal to the data distribution")  # fmt: skip


@graded("correct_ml_gradient_estimate", form=True, check_id="test_estimate_is_a_float")
def test_estimate_is_a_float(student, reference, probe):
    """The documented form: a Python float."""
    is_python_float(
        student.ml_gradient_estimate(0.3, 1.2, 0.0, 1.0, 100, probe.generator()),
        tried="ml_gradient_estimate with 100 samples",
    )


@graded("correct_ml_gradient_estimate", weight=1, structural=True, check_id="test_draws_only_from_the_given_generator")
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
