"""Shared fixtures: the source notebooks' points and one real course cycle per test session."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from browsing import ARTIFACTS, CHROMIUM_ARGS, chromium
from playwright.sync_api import Browser, sync_playwright

from gankit import ASSIGNMENT, NOTEBOOKS, ROOT, notebooks
from gankit.course_cycle import CycleResult, run_cycle
from gankit.hidden.engine import checks_for

SOURCE = ROOT / "source" / ASSIGNMENT
RELEASE = ROOT / "release" / ASSIGNMENT


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


def source_notebook(name: str) -> Path:
    return SOURCE / f"{name}.ipynb"


@pytest.fixture(scope="session")
def browser() -> Browser:
    """Headless Debian Chromium, driven by Playwright (no browser download)."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)  # this run's screenshots only
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        yield launched
        launched.close()
