"""Shared fixtures (the source notebooks' points, one real course cycle per test session, a
browser) and the test lanes.

Lanes, as pytest markers (``pytest -m "not slow"``; ``make test-fast`` runs the fast lane, needing
no root, no services and no browser): a test that uses the course cycle or runs for more than a
few seconds is ``slow``; one that drives Chromium is ``browser`` (given by the ``browser`` fixture);
one that creates Unix accounts or installs system-wide is ``root``; one that needs the PostgreSQL
server ``make test`` starts is ``postgres``. Modules declare ``root``, ``postgres`` and ``slow``;
the fixtures ``cycle``, ``cycle_and_root`` and ``browser`` add theirs here, so no test can forget.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from browsing import ARTIFACTS, CHROMIUM_ARGS, chromium
from paths import SOURCE

from gankit import NOTEBOOKS, ROOT, notebooks
from gankit.course_cycle import CycleResult, run_cycle
from gankit.judging.grader import checks_for
from gankit.judging.student_process import discard_prestarted

# Fixtures that put a test in a lane whatever its module says.
_LANES = {"cycle": ("slow",), "cycle_and_root": ("slow",), "browser": ("slow", "browser")}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for fixture in getattr(item, "fixturenames", ()):
            for lane in _LANES.get(fixture, ()):
                item.add_marker(lane)


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
