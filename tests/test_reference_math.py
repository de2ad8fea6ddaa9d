"""The reference solutions (the instructor's source notebooks) against independent mathematics:
brute-force minimisation, quadrature, a high-accuracy ODE solve, matrix powers and Monte Carlo
error bars. Nothing here trusts a number produced by the code under test."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from paths import source_notebook
from scipy import integrate, optimize, stats

from gankit.notebooks import load_functions


@pytest.fixture(scope="module")
def ex1():
    return load_functions(source_notebook("ex1_optimal_discriminator"))


@pytest.fixture(scope="module")
def ex2():
    return load_functions(source_notebook("ex2_xy_game"))


@pytest.fixture(scope="module")
def ex3():
    return load_functions(source_notebook("ex3_maximum_likelihood"))


DATA, MODEL = stats.norm(1.0, 0.8), stats.norm(-0.5, 1.3)


# --- Exercise 1 -------------------------------------------------------------------------------


def test_d_star_is_the_brute_force_minimiser_of_the_pointwise_cost(ex1):
    """At each x, minimise -p_data log D - p_model log(1 - D) over D numerically."""
    for x in np.linspace(-4.0, 5.0, 19):
        p, q = DATA.pdf(x), MODEL.pdf(x)
        best = optimize.minimize_scalar(
            lambda d, p=p, q=q: -p * math.log(d) - q * math.log1p(-d),
            bounds=(1e-12, 1 - 1e-12),
            method="bounded",
            options={"xatol": 1e-12},
        )
        assert ex1["optimal_discriminator"](p, q) == pytest.approx(best.x, abs=1e-6)


def test_d_star_minimises_the_discretised_cost_as_a_whole(ex1):
    """L-BFGS over the logits of D at every grid point at once, on an independently written J."""
    x = np.linspace(-3.0, 4.0, 141)
    dx = x[1] - x[0]
    p, q = DATA.pdf(x), MODEL.pdf(x)

    def cost_and_gradient(logits):  # J / dx, for better conditioning
        d = 1.0 / (1.0 + np.exp(-logits))
        return -0.5 * np.sum(p * np.log(d) + q * np.log1p(-d)), -0.5 * (p * (1 - d) - q * d)

    found = optimize.minimize(
        cost_and_gradient,
        np.zeros_like(x),
        jac=True,
        method="L-BFGS-B",
        options={"gtol": 1e-12, "ftol": 1e-16, "maxiter": 20_000},
    )
    d_star = ex1["optimal_discriminator"](p, q)
    assert np.allclose(1.0 / (1.0 + np.exp(-found.x)), d_star, atol=1e-5)
    assert ex1["discriminator_cost"](d_star, p, q, dx) <= found.fun * dx + 1e-12


def test_cost_at_the_optimum_is_log_2_minus_jsd(ex1):
    """J(D*), by the kit's Riemann sum and by quadrature, against log 2 - JSD by quadrature."""
    # Both densities stay representable on [-20, 20]; the mass outside is below 1e-100.
    log_mixture = lambda x: np.logaddexp(DATA.logpdf(x), MODEL.logpdf(x)) - math.log(2)  # noqa: E731
    kl_to_mixture = lambda dist: integrate.quad(  # noqa: E731
        lambda x: dist.pdf(x) * (dist.logpdf(x) - log_mixture(x)), -20, 20, limit=200
    )[0]
    jsd = 0.5 * kl_to_mixture(DATA) + 0.5 * kl_to_mixture(MODEL)
    assert 0.05 < jsd < math.log(2)  # a real divergence, not a degenerate case

    def integrand(x):
        d = float(ex1["optimal_discriminator"](DATA.pdf(x), MODEL.pdf(x)))
        return -0.5 * (DATA.pdf(x) * math.log(d) + MODEL.pdf(x) * math.log1p(-d))

    assert integrate.quad(integrand, -20, 20, limit=200)[0] == pytest.approx(math.log(2) - jsd, abs=1e-9)
    x = np.linspace(-20.0, 20.0, 40_001)
    d_star = ex1["optimal_discriminator"](DATA.pdf(x), MODEL.pdf(x))
    riemann = ex1["discriminator_cost"](d_star, DATA.pdf(x), MODEL.pdf(x), x[1] - x[0])
    assert isinstance(riemann, float)
    assert riemann == pytest.approx(math.log(2) - jsd, abs=1e-8)


def test_d_star_contract_undefined_points_negative_densities_and_broadcasting(ex1):
    optimal = ex1["optimal_discriminator"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "no warning printed" is part of the contract
        both_zero = optimal(np.array([0.0, 1.0]), np.array([0.0, 3.0]))
    assert np.isnan(both_zero[0]) and both_zero[1] == 0.25
    assert optimal(np.ones((3, 1)), np.ones(4)).shape == (3, 4)
    assert optimal(2.0, 2.0).dtype == np.float64
    for bad in ((-1e-9, 1.0), (1.0, np.array([0.5, -2.0]))):
        with pytest.raises(ValueError):
            optimal(*bad)


def test_d_star_from_logs_is_the_exact_sigmoid_everywhere(ex1):
    from_logs = ex1["optimal_discriminator_from_logs"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert from_logs(-800.0, -801.0) == pytest.approx(1.0 / (1.0 + math.exp(-1.0)), rel=1e-15)
        gaps = np.array([-1000.0, -40.0, -1.5, 0.0, 2.5, 40.0, 1000.0])
        got = from_logs(gaps - 900.0, np.full_like(gaps, -900.0))
        exact = np.array([float(1 / (1 + np.exp(np.float128(-g)))) for g in gaps])  # extended precision
        assert np.allclose(got, exact, rtol=1e-14, atol=0.0)
        assert np.all(np.isfinite(got))
        x = np.linspace(-6, 6, 25)
        assert np.allclose(
            from_logs(DATA.logpdf(x), MODEL.logpdf(x)),
            ex1["optimal_discriminator"](DATA.pdf(x), MODEL.pdf(x)),
            rtol=1e-13,
        )
        assert np.isnan(from_logs(-np.inf, -np.inf))


# --- Exercise 2 -------------------------------------------------------------------------------


def test_value_and_equilibrium(ex2):
    assert (
        ex2["value"](np.arange(3.0)[:, None], np.arange(4.0)).tolist()
        == np.outer(np.arange(3.0), np.arange(4.0)).tolist()
    )
    point = ex2["equilibrium"]()
    assert point == (0.0, 0.0) and all(type(v) is float for v in point)
    # both partial derivatives of V vanish there, by central differences
    h = 1e-6
    assert ex2["value"](point[0] + h, point[1]) - ex2["value"](point[0] - h, point[1]) == 0.0
    assert ex2["value"](point[0], point[1] + h) - ex2["value"](point[0], point[1] - h) == 0.0


@pytest.mark.parametrize("start", [(1.0, 0.0), (0.3, -1.7), (-2.0, 0.5)])
def test_gradient_flow_matches_a_high_accuracy_ode_solve_and_keeps_its_radius(ex2, start):
    times = np.linspace(0.0, 20.0, 81)
    solved = integrate.solve_ivp(
        lambda t, z: [-z[1], z[0]],
        (0.0, 20.0),
        start,
        t_eval=times,
        method="DOP853",
        rtol=1e-13,
        atol=1e-13,
    )
    x_t, y_t = ex2["gradient_flow"](*start, times)
    assert np.allclose(x_t, solved.y[0], atol=1e-9) and np.allclose(y_t, solved.y[1], atol=1e-9)
    radius = ex2["orbit_radius"](*start)
    assert isinstance(radius, float) and radius == pytest.approx(math.hypot(*start), rel=1e-15)
    assert np.allclose(np.hypot(x_t, y_t), radius, rtol=1e-12)


def test_the_orbit_runs_counter_clockwise_from_1_0(ex2):
    x, y = ex2["gradient_flow"](1.0, 0.0, math.pi / 2)
    assert (x, y) == (pytest.approx(0.0, abs=1e-15), pytest.approx(1.0))


@pytest.mark.parametrize("eta", [0.01, 0.1, 0.5, 1.5])
def test_simultaneous_steps_are_a_matrix_power_and_grow_the_radius_by_sqrt_1_plus_eta2(ex2, eta):
    path = ex2["simultaneous_gd"](0.6, -0.2, eta, 40)
    assert path.shape == (41, 2) and path.dtype == np.float64
    step = np.array([[1.0, -eta], [eta, 1.0]])
    expected = np.array([np.linalg.matrix_power(step, k) @ [0.6, -0.2] for k in range(41)])
    assert np.allclose(path, expected, rtol=1e-12)
    radius = np.hypot(path[:, 0], path[:, 1])
    assert np.allclose(radius[1:] / radius[:-1], math.sqrt(1 + eta**2), rtol=1e-13)


# The bound is approached over starting points when a step's rotation angle is not a rational
# multiple of pi; at eta = 1 the orbit has period 6 and never reaches the major axis.
@pytest.mark.parametrize(("eta", "tight"), [(0.1, True), (0.5, True), (1.0, False), (1.3, True), (1.9, True)])
def test_alternating_steps_conserve_their_invariant_and_respect_the_tight_bound(ex2, eta, tight):
    step = np.array([[1.0, -eta], [eta, 1.0 - eta**2]])  # x first, then y with the new x
    path = ex2["alternating_gd"](1.0, 0.0, eta, 50)
    expected = np.array([np.linalg.matrix_power(step, k) @ [1.0, 0.0] for k in range(51)])
    assert path.shape == (51, 2) and np.allclose(path, expected, atol=1e-11)
    bound = math.sqrt((2 + eta) / (2 - eta))
    largest = 0.0
    # A start every 15 degrees; 135 degrees among them has the largest invariant on the unit circle.
    for angle in np.linspace(0.0, math.pi, 12, endpoint=False):
        x0, y0 = math.cos(angle), math.sin(angle)
        long_path = ex2["alternating_gd"](x0, y0, eta, 3000)
        x, y = long_path[:, 0], long_path[:, 1]
        invariant = x**2 - eta * x * y + y**2
        assert np.allclose(invariant, invariant[0], rtol=1e-9)
        largest = max(largest, float(np.max(np.hypot(x, y))))
    assert largest <= bound * (1 + 1e-9)
    if tight:
        assert largest >= bound * (1 - 2e-3), "the bound should be tight over starting points"
    else:
        assert largest < bound * 0.95


# --- Exercise 3 -------------------------------------------------------------------------------


def _kl(mu, s_d, theta, s_g):
    """KL(N(mu, s_d^2) || N(theta, s_g^2)) by quadrature."""
    p, q = stats.norm(mu, s_d), stats.norm(theta, s_g)
    return integrate.quad(lambda x: p.pdf(x) * (p.logpdf(x) - q.logpdf(x)), -25, 25, limit=200)[0]


@pytest.mark.parametrize(("mu", "s_d", "theta", "s_g"), [(0.0, 1.0, 0.5, 1.0), (1.0, 0.8, 0.2, 1.1)])
def test_f_reproduces_the_kl_gradient_by_quadrature_and_its_sign_matters(ex3, mu, s_d, theta, s_g):
    """E_pg[f d/dtheta log p_g] with the kit's f equals a finite-difference derivative of KL."""
    p, q = stats.norm(mu, s_d), stats.norm(theta, s_g)
    f = lambda x: float(ex3["f_from_densities"](p.pdf(x), q.pdf(x)))  # noqa: E731
    via_f = integrate.quad(lambda x: q.pdf(x) * f(x) * (x - theta) / s_g**2, -25, 25, limit=200)[0]
    h = 1e-4
    finite_difference = (_kl(mu, s_d, theta + h, s_g) - _kl(mu, s_d, theta - h, s_g)) / (2 * h)
    assert via_f == pytest.approx(finite_difference, abs=1e-6)
    assert via_f == pytest.approx((theta - mu) / s_g**2, abs=1e-8)
    assert np.sign(via_f) == np.sign(theta - mu)  # the tutorial's erratum: a plus sign would flip it


def test_f_from_logit_agrees_with_f_from_densities_and_generator_cost_averages_it(ex3):
    x = np.linspace(-3, 3, 13)
    p, q = stats.norm(0.2, 0.9), stats.norm(-0.1, 1.2)
    assert np.allclose(
        ex3["f_from_logit"](p.logpdf(x) - q.logpdf(x)),
        ex3["f_from_densities"](p.pdf(x), q.pdf(x)),
        rtol=1e-12,
    )
    assert np.allclose(ex3["f_from_densities"](p.pdf(x), q.pdf(x)), -p.pdf(x) / q.pdf(x), rtol=1e-15)
    logits = np.array([-1.0, 0.0, 0.7, 2.0])
    cost = ex3["generator_cost"](logits)
    assert isinstance(cost, float) and cost == pytest.approx(-np.exp(logits).mean(), rel=1e-15)


@pytest.mark.parametrize(
    ("theta", "s_g", "mu", "s_d", "seed"),
    [(0.5, 1.0, 0.0, 1.0, 1), (-0.3, 1.2, 0.1, 1.0, 2), (1.2, 1.0, 1.0, 1.3, 3)],
)
def test_monte_carlo_gradient_within_five_standard_errors(ex3, theta, s_g, mu, s_d, seed):
    """The standard error comes from the second moment of one sample's term, by quadrature."""
    assert s_g**2 > s_d**2 / 2  # finite variance of the importance weights
    n = 200_000
    p, q = stats.norm(mu, s_d), stats.norm(theta, s_g)
    target = (theta - mu) / s_g**2
    second_moment = integrate.quad(
        lambda x: q.pdf(x) * (p.pdf(x) / q.pdf(x) * (x - theta) / s_g**2) ** 2, -25, 25, limit=200
    )[0]
    standard_error = math.sqrt((second_moment - target**2) / n)
    estimate = ex3["ml_gradient_estimate"](theta, s_g, mu, s_d, n, np.random.default_rng(seed))
    assert isinstance(estimate, float)
    assert abs(estimate - target) < 5 * standard_error
    # it draws from the generator it is given, and only from it
    again = ex3["ml_gradient_estimate"](theta, s_g, mu, s_d, n, np.random.default_rng(seed))
    assert again == estimate
