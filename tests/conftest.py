"""Shared fixtures (the source notebooks' points, one real course cycle per test session, a
browser) and the test lanes.

Lanes, as pytest markers (``pytest -m "not slow"``; ``make test-fast`` runs the fast lane, needing
no root, no services and no browser): a test that uses the course cycle or runs for more than a
few seconds is ``slow``; one that drives Chromium is ``browser`` (given by the ``browser`` fixture);
one that creates Unix accounts or installs system-wide is ``root``; one that needs the PostgreSQL
server ``make test`` starts is ``postgres``. A test that needs none of these but takes seconds (a
timeout waited for, a huge input, nbgrader commands) is ``seconds``, which makes it ``slow`` too:
``make mutation`` keeps it with the fast tests of its module. Modules declare ``root``, ``postgres``
and ``slow``; the fixtures ``cycle``, ``cycle_and_root`` and ``browser`` add theirs here, so no test can forget.

``make test`` and ``make test-fast`` run the tests on pytest-xdist workers (``--dist loadgroup``):
``_worker_group`` says which tests one worker must run, one after another, and a test marked
``alone`` runs while no other worker runs one (``_turn``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from _pytest.nodeid import coerce_node_id
from browsing import ARTIFACTS, CHROMIUM_ARGS, chromium
from paths import SOURCE

from gankit import NOTEBOOKS, ROOT, notebooks
from gankit.judging.grader import checks_for
from gankit.judging.student_process import discard_prestarted

if TYPE_CHECKING:  # the course cycle's imports (nbgrader, matplotlib, Dask) cost every worker seconds
    from gankit.course_cycle import CycleResult

# The environment here sets PYTHONDONTWRITEBYTECODE; in this process (not in the kernels and commands
# it starts) the test modules as pytest rewrites them, and the kit's modules, are kept in
# __pycache__ (which git ignores): collecting the fast lane took 13.6 s a worker without, about 9 s with.
sys.dont_write_bytecode = False

# Modules dealt to the workers as two halves, their tests alternately: a third of the fast lane, on one
# worker it ended long after the other. test_hidden_checks' only module-scoped fixture is a cheap Grader.
_HALVED = {"tests/test_hidden_checks.py"}

# Fixtures that put a test in a lane whatever its module says.
_LANES = {"cycle": ("slow",), "cycle_and_root": ("slow",), "browser": ("slow", "browser")}


# Each pytest-xdist worker is a test run of its own (tests/processes.py): a leak check must not count
# the graders that a test on the other worker is running meanwhile.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["GANKIT_TEST_RUN"] = uuid.uuid4().hex[:12]


def _worker_group(item: pytest.Item) -> str:
    """The tests one pytest-xdist worker runs, one after another:

    - ``root``: Unix accounts, system-wide installs (apt's lock), and the folders above the kit
      opened to every account and closed again (``tests/unix_accounts.py``; marker ``accounts``):
      two such tests side by side would undo each other's changes. A root test marked
      ``shares_nothing`` (grading as root in its own folders: the adversarial suite's root run)
      goes with its module instead;
    - ``cycle``: the tests that read the session's course cycle, so that it is built once, not once
      per worker (the PostgreSQL test among them: it grades the cycle's class);
    - else the test's module: its module-scoped fixtures are built once."""
    if item.get_closest_marker("accounts") or (
        item.get_closest_marker("root") and not item.get_closest_marker("shares_nothing")
    ):
        return "root"
    if {"cycle", "cycle_and_root"} & set(getattr(item, "fixturenames", ())):
        return "cycle"
    return item.nodeid.split("::", 1)[0]


def _xdist_loadgroup(config: pytest.Config) -> bool:
    return bool(getattr(config.option, "loadgroup", False))  # what pytest-xdist tells a worker of --dist loadgroup


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for fixture in getattr(item, "fixturenames", ()):
            for lane in _LANES.get(fixture, ()):
                item.add_marker(lane)
        # Seconds each: out of make test-fast (under a minute), in make test and make mutation.
        if item.get_closest_marker("seconds"):
            item.add_marker("slow")
    if not _xdist_loadgroup(config):
        return
    groups = {item: _worker_group(item) for item in items}
    dealt: Counter[str] = Counter()
    for item in items:
        group = groups[item]
        if group in _HALVED:
            groups[item] = f"{group}#{dealt[group] % 2}"
            dealt[group] += 1
    # pytest-xdist 3.8 puts a test in its group by appending "@group" to item._nodeid, which pytest 9
    # no longer reads (it keeps the id in item._id): so the id is given its group here, and checked.
    for item, group in groups.items():
        item._id = coerce_node_id(f"{item.nodeid}@{group}")
        assert item.nodeid.endswith(f"@{group}"), "pytest's node ids changed: see _worker_group"
    # Workers are handed groups in this order (make test passes --no-loadscope-reorder): the two
    # big ones, then the others with slow tests, the fast ones last, to fill the gaps at the end.
    slow = {group for item, group in groups.items() if item.get_closest_marker("slow")}
    rank = {"root": 0, "cycle": 1}
    rank |= {group: 0 for item, group in groups.items() if item.get_closest_marker("shares_nothing")}
    items.sort(key=lambda item: rank.get(groups[item], 2 if groups[item] in slow else 3))


# Two lock files shared by the workers of every run in this clone (build/ is not committed).
_TURN = ROOT / "build" / "xdist-turn"


@contextlib.contextmanager
def _turn(alone: bool):
    """Hold the room while a test runs: shared, or to itself for a test marked ``alone``.

    A test whose outcome needs an otherwise idle machine (the hostile class's memory hoarders near
    the cgroup's limit, a JupyterLab session whose dialogs come late on a busy one) waits for the
    other worker's current test to end, and that worker waits for it. The turnstile keeps a waiting
    ``alone`` test from being starved by the other worker's stream of shared turns."""
    _TURN.mkdir(parents=True, exist_ok=True)
    # Read-only descriptors (flock needs no more), files readable by all: an ordinary account's run
    # can take turns in a clone whose lock files a root run made.
    turnstile = os.open(_TURN / "turnstile", os.O_RDONLY | os.O_CREAT, 0o644)
    room = os.open(_TURN / "room", os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        try:
            fcntl.flock(room, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        finally:
            fcntl.flock(turnstile, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(room, fcntl.LOCK_UN)
    finally:
        os.close(turnstile)
        os.close(room)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    """Setup, call and teardown of each test under its turn, on a pytest-xdist worker (one process
    runs one test at a time anyway): a module-scoped fixture is built in its first test's setup."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return (yield)
    with _turn(alone=item.get_closest_marker("alone") is not None):
        return (yield)


def pytest_sessionstart(session: pytest.Session) -> None:
    # Under pytest-xdist several workers may start a browser: the run's controller empties the
    # screenshots' folder, once, before any of them (the browser fixture does it in a serial run).
    if session.config.pluginmanager.has_plugin("dsession"):
        shutil.rmtree(ARTIFACTS, ignore_errors=True)


@pytest.fixture(autouse=True)
def no_server_waits_after_a_test():
    """A student's hidden-checks server waits for their next notebook (``student_process.prestart``);
    a test that graded in this process ends it, so that the next test sees only its own processes."""
    yield
    discard_prestarted()


@pytest.fixture(scope="session")
def hidden_checks() -> dict[str, dict[str, tuple[str, float]]]:
    """Per notebook: each hidden check's name -> (the test cell it scores, its weight)."""
    return {name: {check.__name__: (check.cell, check.weight) for check in checks_for(name)} for name in NOTEBOOKS}


@pytest.fixture(scope="session")
def blank_gradebook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty SQLite gradebook made by nbgrader's own API, once for the whole run: a test copies it
    and fills it (a new gradebook starts ``alembic heads``, a Python process of 2 to 3 s; opening one
    does not). Shared by the workers in their run's folder, the first to take the lock making it."""
    from nbgrader.api import Gradebook

    from gankit.nbgrader_cli import nbgrader_env

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # pytest-N, this run's alone
    path = shared / "blank-gradebook.db"
    with open(shared / "blank-gradebook.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            made = path.with_suffix(".part")
            with pytest.MonkeyPatch.context() as patch:  # nbgrader runs `alembic` from PATH
                patch.setenv("PATH", nbgrader_env()["PATH"])
                Gradebook(f"sqlite:///{made}").close()
            made.rename(path)
    return path


@pytest.fixture(scope="session")
def test_points() -> dict[str, dict[str, float]]:
    """Points of every autograded test cell, per notebook, read from the instructor's source."""
    return {name: notebooks.graded_test_points(notebooks.read(SOURCE / f"{name}.ipynb")) for name in NOTEBOOKS}


INSTRUCTOR_PATHS = (
    "source",
    "release",
    "solutions",
    "submitted",
    "autograded",
    "feedback",
    "nbgrader_config.py",
    "gradebook.db",
)


def snapshot(root: Path = ROOT) -> dict[str, str]:
    """Digest of every file the instructor owns: course folders, config and gradebook."""
    files = []
    for name in INSTRUCTOR_PATHS:
        path = root / name
        files += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path] * path.exists()
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in files
        if "__pycache__" not in path.parts
    }


@pytest.fixture(scope="session")
def cycle_and_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[CycleResult, dict, dict]:
    """The whole course cycle on the simulated class, run once in a scratch folder, with
    snapshots of the repository taken before and after it."""
    from gankit.course_cycle import run_cycle

    before = snapshot()
    result = run_cycle(tmp_path_factory.mktemp("cycle") / "work", say=lambda _: None)
    return result, before, snapshot()


@pytest.fixture(scope="session")
def cycle(cycle_and_root) -> CycleResult:
    return cycle_and_root[0]


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium, driven by Playwright (no browser download)."""
    from playwright.sync_api import sync_playwright  # only the browser lane needs the browser stack

    if not os.environ.get("PYTEST_XDIST_WORKER"):  # under xdist, pytest_sessionstart did
        shutil.rmtree(ARTIFACTS, ignore_errors=True)  # this run's screenshots only
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def start_lab(tmp_path_factory):
    """Start JupyterLab servers on loopback (``start(root, exchange)``); stop them all at the end."""
    from browsing import start_lab_server

    started = []

    def start(root: Path, exchange: Path):
        lab = start_lab_server(root, exchange, tmp_path_factory.mktemp("home"))
        started.append(lab)
        return lab

    yield start
    for lab in started:
        lab.process.terminate()
        try:
            lab.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            lab.process.kill()
