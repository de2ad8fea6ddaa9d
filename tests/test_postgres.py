"""Grading on a real PostgreSQL gradebook (CourseDirectory.db_url), as a course with several
graders would: the parallel command and serial `nbgrader autograde` agree, and agree with SQLite.

`make test` starts the server (tools/postgres.sh) and passes its URL in GANKIT_TEST_POSTGRES.
"""

from __future__ import annotations

import os
import shutil
import uuid

import psycopg
import pytest
from gradebooks import every_field

from gankit import ASSIGNMENT, class_report, scores
from gankit.goldens import copy_course
from gankit.grade_class import grade_class
from gankit.nbgrader_cli import run_nbgrader

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SERVER = os.environ.get("GANKIT_TEST_POSTGRES", "")
STUDENTS = ["ada", "ben", "dev", "hana", "ivo", "mo", "tampers_cells"]


@pytest.fixture
def new_database():
    """Makes empty PostgreSQL databases for one test and drops them afterwards."""
    assert SERVER, "GANKIT_TEST_POSTGRES is not set: run the tests with `make test`, which starts PostgreSQL"
    made = []

    def make() -> str:
        name = f"gankit_{uuid.uuid4().hex[:12]}"
        _admin(f'CREATE DATABASE "{name}"')
        made.append(name)
        return f"{SERVER}/{name}"

    yield make
    for name in made:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin(statement: str) -> None:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as connection:
        connection.execute(statement)


def _course_on(url, cycle, destination):
    """A copy of the course whose gradebook is the PostgreSQL database ``url``, with the cycle's
    submissions of STUDENTS."""
    course = copy_course(destination)
    with (course / "nbgrader_config.py").open("a") as config:
        config.write(f'\nc.CourseDirectory.db_url = "{url}"\n')
    run_nbgrader(["generate_assignment", ASSIGNMENT, "--force"], cwd=course)
    for student_id in STUDENTS:
        shutil.copytree(cycle.course / "submitted" / student_id, course / "submitted" / student_id)
    return course


def test_dask_and_serial_grading_agree_on_postgresql_and_with_sqlite(cycle, tmp_path, new_database):
    serial_url, parallel_url = new_database(), new_database()
    serial = _course_on(serial_url, cycle, tmp_path / "serial")
    parallel = _course_on(parallel_url, cycle, tmp_path / "parallel")
    assert not (serial / "gradebook.db").exists()

    run_nbgrader(["autograde", ASSIGNMENT, "--force"], cwd=serial, check=False)
    summary = grade_class(parallel, ASSIGNMENT, workers=2)
    assert not summary.failed, summary.failed
    assert not grade_class(parallel, ASSIGNMENT, workers=2).failed  # a rerun: nothing duplicated

    on_serial = {s: scores.cell_scores(serial, s, url=serial_url) for s in STUDENTS}
    on_parallel = {s: scores.cell_scores(parallel, s, url=parallel_url) for s in STUDENTS}
    assert on_parallel == on_serial
    assert every_field(parallel, parallel_url) == every_field(serial, serial_url)
    assert sorted(every_field(parallel, parallel_url)) == sorted(STUDENTS)
    assert on_serial == {s: scores.cell_scores(cycle.course, s) for s in STUDENTS}
    assert not (parallel / "gradebook.db").exists()
    # The report reads the gradebook the course configures (here PostgreSQL), and creates no other.
    report = {row.student_id: row.total for row in class_report.collect(serial).students}
    assert report == {s: sum(c.score for cells in on_serial[s].values() for c in cells.values()) for s in STUDENTS}
    assert not (serial / "gradebook.db").exists()
