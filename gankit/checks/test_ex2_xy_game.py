"""Hidden checks of exercise 2: gradient descent in the game V(x, y) = xy."""

import numpy as np

from gankit.judging.checking import (
    SINGLE_RTOL,
    graded,
    is_float_array,
    is_python_float,
    is_tuple_of_floats,
    require,
    same_values,
    single_precision,
)
from gankit.judging.outcome import Outcome

ROTATION = (
    "x descends V (dx/dt = -y) and y ascends it (dy/dt = +x); differentiate one equation once more and use "
    "the other, then fit the solution to the start"
)
WORKED_FLOW = "x(t) = x0 cos t - y0 sin t, y(t) = x0 sin t + y0 cos t: a rotation about (0, 0)"


def _rotation(x0, y0, t):
    return np.array([x0 * np.cos(t) - y0 * np.sin(t), x0 * np.sin(t) + y0 * np.cos(t)])


def _flow_mistakes(x0, y0, t):
    """Where the flow ends up under the two sign mistakes of the spec."""
    return {
        "both signs are flipped": _rotation(x0, y0, -t),
        "both players descend V": np.array([x0 * np.cosh(t) - y0 * np.sinh(t), y0 * np.cosh(t) - x0 * np.sinh(t)]),
    }


def _steps(x0, y0, eta, steps, alternating):
    """The update rule as a matrix power, an independent computation of the path."""
    step = np.array([[1.0, -eta], [eta, 1.0 - eta**2]]) if alternating else np.array([[1.0, -eta], [eta, 1.0]])
    return np.array([np.linalg.matrix_power(step, k) @ [x0, y0] for k in range(steps + 1)])


@graded("correct_value", weight=2, check_id="test_product_of_the_positions")
def test_product_of_the_positions(student, reference, probe):
    """V on a broadcast table of positions."""
    x, y = probe.uniform(-3.0, 3.0, (3, 1)), probe.uniform(-3.0, 3.0, 4)
    same_values(
        student.value(x, y),
        x * y,
        tried="value on a column of x and a row of y",
        expected="the table of products x * y",
        hint="V is the product of the two positions; numpy's arithmetic operators broadcast",
        mistakes={"V = x + y": x + y},
    )


@graded("correct_value", weight=1, check_id="test_value_of_numbers")
def test_value_of_numbers(student, reference, probe):
    """V of two plain numbers."""
    x, y = float(probe.uniform(-3.0, 3.0)), float(probe.uniform(-3.0, 3.0))
    same_values(
        student.value(x, y),
        x * y,
        tried="value of two random numbers",
        expected="their product",
        hint="V is the product of the two positions",
    )


@graded("correct_equilibrium", weight=1, check_id="test_the_saddle_point")
def test_the_saddle_point(student, reference, probe):
    """The equilibrium."""
    got = student.equilibrium()
    tried = "equilibrium()"
    same_values(
        got,
        (0.0, 0.0),
        tried=tried,
        expected="the point where neither player can gain by moving alone",
        hint="find the candidate points first, then check that no move of one player alone improves its value",
        worked="(0, 0): V(x, 0) = V(0, y) = 0, so neither player gains by moving alone",
    )


@graded("correct_equilibrium", form=True, check_id="test_equilibrium_is_a_tuple_of_floats")
def test_equilibrium_is_a_tuple_of_floats(student, reference, probe):
    """The documented form: a tuple of two Python floats."""
    is_tuple_of_floats(student.equilibrium(), 2, tried="equilibrium()")


@graded("correct_gradient_flow", weight=3, check_id="test_matches_the_exact_rotation")
def test_matches_the_exact_rotation(student, reference, probe):
    """The flow at random times from a random start."""
    x0, y0 = (float(v) for v in probe.uniform(-2.0, 2.0, 2))
    t = np.sort(probe.uniform(0.0, 12.0, 9))
    same_values(
        student.gradient_flow(x0, y0, t),
        _rotation(x0, y0, t),
        atol=1e-10,
        tried="gradient_flow from a random start at 9 random times up to 12",
        expected="the exact solution of dx/dt = -y, dy/dt = x through the start",
        hint=ROTATION,
        worked=WORKED_FLOW,
        mistakes=_flow_mistakes(x0, y0, t),
    )


@graded("correct_gradient_flow", weight=1, check_id="test_scalar_time")
def test_scalar_time(student, reference, probe):
    """The flow at one time gives one point."""
    x0, y0, t = (float(v) for v in probe.uniform(-2.0, 2.0, 3))
    same_values(
        student.gradient_flow(x0, y0, t),
        _rotation(x0, y0, t),
        atol=1e-10,
        tried="gradient_flow from a random start at one time",
        expected="the pair (x_t, y_t)",
        hint=ROTATION,
        worked=WORKED_FLOW,
        mistakes=_flow_mistakes(x0, y0, t),
    )


@graded("correct_orbit_radius", weight=2, check_id="test_distance_from_the_equilibrium")
def test_distance_from_the_equilibrium(student, reference, probe):
    """The radius of the orbit through a random point."""
    x0, y0 = (float(v) for v in probe.uniform(-3.0, 3.0, 2))
    same_values(
        student.orbit_radius(x0, y0),
        np.hypot(x0, y0),
        tried="orbit_radius at a random point",
        expected="the radius of the flow's orbit through that point",
        hint="which quantity does your gradient_flow keep constant along the way?",
        worked="sqrt(x0**2 + y0**2), the distance from the equilibrium",
        mistakes={"this is the radius squared": x0**2 + y0**2},
    )


@graded("correct_orbit_radius", form=True, check_id="test_radius_is_a_float")
def test_radius_is_a_float(student, reference, probe):
    """The documented form: a Python float, from floats and from integers."""
    x0, y0 = (float(v) for v in probe.uniform(-3.0, 3.0, 2))
    is_python_float(student.orbit_radius(x0, y0), tried="orbit_radius at a random point")
    is_python_float(student.orbit_radius(3, 4), tried="orbit_radius at the integer point (3, 4)")


@graded("correct_orbit_radius", weight=1, structural=True, check_id="test_radius_is_kept_by_the_flow")
def test_radius_is_kept_by_the_flow(student, reference, probe):
    """orbit_radius at two points of one orbit of the flow."""
    x0, y0 = (float(v) for v in probe.uniform(-3.0, 3.0, 2))
    x1, y1 = (float(v) for v in _rotation(x0, y0, float(probe.uniform(0.5, 6.0))))
    got = student.orbit_radius(x1, y1)
    same_values(
        got,
        np.hypot(x0, y0),
        tried="orbit_radius at two points of the same orbit",
        expected="the same radius at both",
        hint="which quantity does your gradient_flow keep constant along the way?",
    )


@graded("correct_simultaneous_gd", weight=3, check_id="test_simultaneous_path")
def test_simultaneous_path(student, reference, probe):
    """The path of simultaneous steps from a random start."""
    x0, y0 = (float(v) for v in probe.uniform(-2.0, 2.0, 2))
    eta, steps = float(probe.uniform(0.05, 0.8)), probe.choice([5, 8, 13])
    same_values(
        student.simultaneous_gd(x0, y0, eta, steps),
        _steps(x0, y0, eta, steps, alternating=False),
        rtol=1e-8,
        tried="simultaneous_gd from a random start with a random learning rate",
        expected="rows (x_k, y_k) following the simultaneous update rule of Part E, both from the old point",
        hint="compute both new coordinates from the old point before updating either",
        mistakes={
            "y was updated with the new x: that is the alternating scheme": _steps(x0, y0, eta, steps, True),
            "both signs are flipped": _steps(x0, y0, -eta, steps, False),
            "both players descend V (y must ascend it)": np.array(
                [np.linalg.matrix_power(np.array([[1.0, -eta], [-eta, 1.0]]), k) @ [x0, y0] for k in range(steps + 1)]
            ),
        },
    )


@graded("correct_simultaneous_gd", weight=1, check_id="test_simultaneous_radius_grows")
def test_simultaneous_radius_grows(student, reference, probe):
    """The radius along many simultaneous steps."""
    x0, y0 = (float(v) for v in probe.uniform(0.5, 2.0, 2))
    eta = float(probe.uniform(0.05, 1.0))
    got = student.simultaneous_gd(x0, y0, eta, 20)
    path = got.as_array()
    tried = "the radius along 20 simultaneous steps"
    require(
        path is not None and path.shape == (21, 2),
        tried=tried,
        expected="an array of shape (21, 2)",
        got=got.describe(),
        hint="one row per point, the start included",
    )
    radius = np.hypot(path[:, 0], path[:, 1])
    ratio = radius[1:] / radius[:-1]
    same_values(  # a path computed in single precision is judged to single precision, as everywhere
        Outcome("ndarray", ratio.astype(np.float32) if single_precision(got) else ratio),
        np.full(20, np.sqrt(1 + eta**2)),
        tried=tried,
        expected="the growth of the radius that the update rule of Part E implies, step after step",
        rtol=1e-8,
        hint="take the update rule of Part E exactly as written, for many steps: both new coordinates from "
        "the old point",
        worked="each simultaneous step multiplies the radius by sqrt(1 + eta^2)",
    )


@graded("correct_simultaneous_gd", weight=1, check_id="test_simultaneous_shape_and_start")
def test_simultaneous_shape_and_start(student, reference, probe):
    """steps + 1 rows with the start in row 0, even for 0 steps."""
    x0, y0 = (float(v) for v in probe.uniform(-2.0, 2.0, 2))
    for steps in (0, probe.choice([3, 4])):
        got = student.simultaneous_gd(x0, y0, 0.1, steps)
        path = got.as_array()
        require(
            path is not None
            and path.shape == (steps + 1, 2)
            and np.allclose(path[0], (x0, y0), rtol=SINGLE_RTOL if single_precision(got) else 1e-12),
            tried=f"simultaneous_gd with {steps} steps",
            expected=f"an array of {steps + 1} rows, row 0 the start",
            got=got.describe(),
            hint="allocate steps + 1 rows and put the start in row 0",
        )


@graded("correct_alternating_gd", weight=3, check_id="test_alternating_path")
def test_alternating_path(student, reference, probe):
    """The path of alternating steps from a random start."""
    x0, y0 = (float(v) for v in probe.uniform(-2.0, 2.0, 2))
    eta, steps = float(probe.uniform(0.05, 1.5)), probe.choice([5, 8, 13])
    y_first = np.array([[1.0 - eta**2, -eta], [eta, 1.0]])
    same_values(
        student.alternating_gd(x0, y0, eta, steps),
        _steps(x0, y0, eta, steps, alternating=True),
        rtol=1e-8,
        tried="alternating_gd from a random start with a random learning rate",
        expected="rows (x_k, y_k) with x moving first and y then using the new x",
        hint="update x, then compute y from the x you just updated",
        mistakes={
            "y was updated with the old x: that is the simultaneous scheme": _steps(x0, y0, eta, steps, False),
            "y moved first": np.array([np.linalg.matrix_power(y_first, k) @ [x0, y0] for k in range(steps + 1)]),
        },
    )


@graded("correct_alternating_gd", weight=1, structural=True, check_id="test_alternating_stays_bounded")
def test_alternating_stays_bounded(student, reference, probe):
    """Alternating steps stay bounded over 60 steps."""
    # 60 steps: longer than one turn for every eta drawn, and few enough rows for a list to be judged too
    angle, eta = float(probe.uniform(0.0, np.pi)), float(probe.uniform(0.2, 1.8))
    got = student.alternating_gd(np.cos(angle), np.sin(angle), eta, 60)
    path = got.as_array()
    tried = "60 alternating steps from a random point at radius 1"
    require(
        path is not None and path.shape == (61, 2),
        tried=tried,
        expected="an array of shape (61, 2)",
        got=got.describe(),
        hint="one row per point, the start included",
    )
    x, y = path[:, 0], path[:, 1]
    with np.errstate(all="ignore"):  # a diverging path overflows here; it fails below either way
        largest, bound = float(np.max(np.hypot(x, y))), np.sqrt((2 + eta) / (2 - eta))
        invariant = x**2 - eta * x * y + y**2
    slack = 1e-4 if single_precision(got) else 1e-8  # 60 steps in single precision drift that much
    require(
        bool(np.all(np.isfinite(invariant)))
        and largest <= bound * (1 + slack)
        and bool(np.allclose(invariant, invariant[0], rtol=slack)),
        tried=tried,
        expected="a path that stays as close to the equilibrium as the alternating rule of Part F keeps it",
        got=(
            f"a path going {'far' if largest > 2 * bound else 'somewhat'} beyond where the alternating rule keeps it"
            if largest > bound * (1 + slack)
            else "a path that does not follow the alternating rule"
        )
        if np.isfinite(largest)
        else "a path that diverges",
        hint="take the update rule of Part F exactly as written: x first, then y from the new x",
    )


@graded("correct_gradient_flow", weight=1, check_id="test_integer_start")
def test_integer_start(student, reference, probe):
    """The flow from a start given as integers."""
    x0, y0 = probe.choice([-3, -2, 2, 3]), probe.choice([-2, -1, 1, 2])
    t = np.sort(probe.uniform(0.1, 6.0, 5))
    same_values(
        student.gradient_flow(x0, y0, t),
        _rotation(x0, y0, t),
        atol=1e-10,
        tried="gradient_flow from a start given as two integers",
        expected="the same rotation as from the equal floats",
        hint="integers must not make the result an integer array: compute in floats",
        mistakes=_flow_mistakes(x0, y0, t),
    )


def _integer_start(student, probe, alternating: bool) -> None:
    """A path of steps from a start given as integers, compared with the path from equal floats."""
    scheme, other = ("alternating", "simultaneous") if alternating else ("simultaneous", "alternating")
    x0, y0 = probe.choice([-3, -2, 2, 3]), probe.choice([-2, -1, 1, 2])
    eta = float(probe.uniform(0.05, 1.5 if alternating else 0.8))
    same_values(
        getattr(student, f"{scheme}_gd")(x0, y0, eta, 6),
        _steps(x0, y0, eta, 6, alternating=alternating),
        rtol=1e-8,
        tried=f"{scheme}_gd from a start given as two integers",
        expected="the same path as from the equal floats",
        hint="an array built from integers holds integers and rounds every step: make it a float array",
        mistakes={
            f"y was updated with the {'old' if alternating else 'new'} x: that is the {other} scheme": _steps(
                x0, y0, eta, 6, not alternating
            )
        },
    )


@graded("correct_simultaneous_gd", weight=1, check_id="test_simultaneous_integer_start")
def test_simultaneous_integer_start(student, reference, probe):
    """Simultaneous steps from a start given as integers."""
    _integer_start(student, probe, alternating=False)


@graded("correct_alternating_gd", weight=1, check_id="test_alternating_integer_start")
def test_alternating_integer_start(student, reference, probe):
    """Alternating steps from a start given as integers."""
    _integer_start(student, probe, alternating=True)


def _path_form(student, probe, scheme: str) -> None:
    x0, y0 = probe.choice([-2, -1, 1, 2]), probe.choice([-2, -1, 1, 2])
    steps = probe.choice([3, 4, 5])
    got = getattr(student, f"{scheme}_gd")(x0, y0, 0.25, steps)
    is_float_array(
        got, tried=f"{scheme}_gd from a start given as two integers", shape=(steps + 1, 2), shape_text="(steps + 1, 2)"
    )


@graded("correct_simultaneous_gd", form=True, check_id="test_simultaneous_is_a_float_array")
def test_simultaneous_is_a_float_array(student, reference, probe):
    """The documented form: a float64 ndarray of shape (steps + 1, 2)."""
    _path_form(student, probe, "simultaneous")


@graded("correct_alternating_gd", form=True, check_id="test_alternating_is_a_float_array")
def test_alternating_is_a_float_array(student, reference, probe):
    """The documented form: a float64 ndarray of shape (steps + 1, 2)."""
    _path_form(student, probe, "alternating")
