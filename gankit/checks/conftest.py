"""pytest fixtures for running the hidden checks on one submission from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from gankit import ASSIGNMENT, ROOT, notebooks
from gankit.judging.checking import Probe, derive_seed
from gankit.judging.grader import Grader, ReferenceCalls, StudentCalls
from gankit.judging.student_process import StudentProcess


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--submission", help="folder of one student's notebooks (e.g. submitted/<id>/gan_exercises)")
    parser.addoption("--student", default="student", help="the student id the probes are drawn for")
    parser.addoption("--course", default=str(ROOT), help="the course directory")


def _notebook(request: pytest.FixtureRequest) -> str:
    return request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")


@pytest.fixture(scope="session")
def grader(request: pytest.FixtureRequest) -> Grader:
    return Grader(Path(request.config.getoption("--course")), ASSIGNMENT)


@pytest.fixture(scope="module")
def student(request: pytest.FixtureRequest, grader: Grader):
    folder = request.config.getoption("--submission")
    if not folder:
        pytest.fail("give the submission to check with --submission")
    nb = notebooks.read(Path(folder) / f"{_notebook(request)}.ipynb")
    with StudentProcess(notebooks.runnable_sources(nb), grader.modules, grader.limits) as process:
        yield StudentCalls(process)


@pytest.fixture
def reference(request: pytest.FixtureRequest, grader: Grader) -> ReferenceCalls:
    return ReferenceCalls(grader.references[_notebook(request)])


@pytest.fixture
def probe(request: pytest.FixtureRequest) -> Probe:
    student_id = request.config.getoption("--student")
    return Probe(derive_seed(ASSIGNMENT, _notebook(request), student_id, request.function.__name__))
