"""Several users on one machine: real Unix accounts (created here) sharing one nbgrader exchange.

An instructor account releases the assignment; two student accounts fetch it, do their work and
submit; neither can see the other's submission; the instructor collects both and autogrades them,
as an ordinary user, so the sandbox runs in its user-namespace form. Needs root (to create the
accounts), as ``make test`` on the course's machines has.
"""

from __future__ import annotations

import datetime
import pwd
import shutil
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from nbgrader.utils import parse_utc
from unix_accounts import BIN, give, run_as, unix_accounts

from gankit import ASSIGNMENT, COURSE_ID, NOTEBOOKS, ROOT, class_report, scores
from gankit.goldens import copy_course
from gankit.nbgrader_adapter.exchange import exchange_classes

pytestmark = [pytest.mark.root, pytest.mark.slow]  # Unix accounts of its own

SUFFIX = uuid.uuid4().hex[:6]
INSTRUCTOR, ALICE, BOB, MALLORY = (f"gk{SUFFIX}{role}" for role in ("teach", "alice", "bob", "mal"))
GHOST = f"gk{SUFFIX}ghost"  # a student id with no submission of their own (and no account)
STUDENTS = ("fetch_assignment", "submit", "list", "fetch_feedback")  # the exchange commands students run


@pytest.fixture(scope="module")
def accounts() -> Iterator[dict[str, Path]]:
    shared = Path("/srv") / f"gankit-{SUFFIX}"
    exchange = shared / "exchange"
    exchange.mkdir(parents=True)
    shared.chmod(0o755)
    exchange.chmod(0o755)  # as deploy/setup.sh makes it: root's, the course's folder its instructor's
    try:
        with unix_accounts(INSTRUCTOR, ALICE, BOB, MALLORY):
            (exchange / COURSE_ID).mkdir(mode=0o755)
            give(exchange / COURSE_ID, INSTRUCTOR)
            yield {"exchange": exchange}
    finally:
        shutil.rmtree(shared, ignore_errors=True)


@pytest.fixture(scope="module")
def course_cycle(accounts) -> dict:
    exchange = accounts["exchange"]
    options = [f"--Exchange.root={exchange}", f"--CourseDirectory.course_id={COURSE_ID}"]
    # The students' own nbgrader settings (the runtime's, on a deployed machine): nbgrader's classes
    # would refuse a root they may not write.
    students = [*options, *(f"--ExchangeFactory.{k}={v}" for k, v in exchange_classes().items() if k in STUDENTS)]
    home = Path(pwd.getpwnam(INSTRUCTOR).pw_dir)
    course = copy_course(home / "course")
    give(course, INSTRUCTOR)
    nbgrader = str(BIN / "nbgrader")
    run_as(INSTRUCTOR, [nbgrader, "generate_assignment", ASSIGNMENT, "--force"], course)
    run_as(INSTRUCTOR, [nbgrader, "release_assignment", ASSIGNMENT, *options], course)

    homework = (
        "import sys; from pathlib import Path; from gankit.simulated_class import *; "
        "Student(sys.argv[1], '').do_homework(Path('gan_exercises'), model_answers(Path(sys.argv[2])), WRITTEN_ANSWERS)"
    )
    for student in (ALICE, BOB):
        cwd = Path(pwd.getpwnam(student).pw_dir)
        run_as(student, [nbgrader, "fetch_assignment", ASSIGNMENT, *students], cwd)
        run_as(student, [str(BIN / "python"), "-c", homework, student, str(ROOT / "source" / ASSIGNMENT)], cwd)
        run_as(student, [nbgrader, "submit", ASSIGNMENT, *students], cwd)
    inbound = exchange / COURSE_ID / "inbound"
    submissions = {path.name.split("+")[0]: path for path in inbound.iterdir()}
    # Bob owns his submitted folder, so he rewrites its timestamp.txt to a time long before any
    # deadline (stock nbgrader would take it as the submission time: no late penalty, ever).
    backdated = "2020-01-01 00:00:00.000000 UTC"
    stamp = submissions[BOB] / "timestamp.txt"
    run_as(BOB, ["sh", "-c", f"printf '{backdated}' > '{stamp}'"], Path(pwd.getpwnam(BOB).pw_dir))
    # Mallory submits her untouched copy in Alice's name, after Alice: with stock nbgrader the
    # latest submission wins, and Alice would be graded on Mallory's stubs.
    cwd = Path(pwd.getpwnam(MALLORY).pw_dir)
    run_as(MALLORY, [nbgrader, "fetch_assignment", ASSIGNMENT, *students], cwd)
    run_as(MALLORY, [nbgrader, "submit", ASSIGNMENT, "--student", ALICE, *students], cwd)
    run_as(MALLORY, [nbgrader, "submit", ASSIGNMENT, "--student", GHOST, *students], cwd)
    forged = sorted(path for path in inbound.iterdir() if path.stat().st_uid == pwd.getpwnam(MALLORY).pw_uid)
    # Mallory cannot read the course, so she plants a submission of links in the exchange herself,
    # hoping that collect, running as the instructor, copies what they point to.
    plant = (
        "import os, sys; from pathlib import Path; inbound, course, name = sys.argv[1:4]; "
        "folder = Path(inbound) / f'{name}+gan_exercises+2026-11-26 08:00:00.000000 UTC+{os.urandom(8).hex()}'; "
        "folder.mkdir(); (folder / 'timestamp.txt').write_text('2026-11-26 08:00:00.000000 UTC'); "
        "[(folder / f'{nb}.ipynb').symlink_to(f'{course}/solutions/gan_exercises/{nb}.ipynb') for nb in sys.argv[4:]]; "
        "(folder / 'gradebook.db').symlink_to(f'{course}/gradebook.db'); "
        "(folder / 'zero.bin').symlink_to('/dev/zero'); os.mkfifo(folder / 'pipe.txt'); "
        "deep = folder; [deep := deep / 'd' for _ in range(30)]; deep.mkdir(parents=True)"
    )
    run_as(MALLORY, [str(BIN / "python"), "-c", plant, str(inbound), str(course), MALLORY, *NOTEBOOKS], cwd)
    return {
        "course": course,
        "options": options,
        "students": students,
        "inbound": inbound,
        "submissions": submissions,
        "forged": forged,
        "backdated": backdated,
        "nbgrader": nbgrader,
    }


def test_each_student_fetched_and_submitted_through_the_shared_exchange(course_cycle):
    assert set(course_cycle["submissions"]) == {ALICE, BOB}  # Mallory planted hers by hand
    for student, path in course_cycle["submissions"].items():
        assert path.stat().st_uid == pwd.getpwnam(student).pw_uid
        assert {p.name for p in path.iterdir()} >= {f"{name}.ipynb" for name in NOTEBOOKS}


def test_a_student_cannot_make_a_courses_folder_in_the_exchange(course_cycle):
    """The root is not theirs to write: no folder of a course not yet released can be theirs."""
    exchange = course_cycle["inbound"].parent.parent
    cwd = Path(pwd.getpwnam(MALLORY).pw_dir)
    made = run_as(MALLORY, ["mkdir", "-p", f"{exchange}/next_course/inbound"], cwd, check=False)
    assert made.returncode != 0 and "Permission denied" in made.stderr
    assert sorted(p.name for p in exchange.iterdir()) == [COURSE_ID]
    listed = run_as(MALLORY, [course_cycle["nbgrader"], "list", *course_cycle["students"]], cwd, check=False)
    assert listed.returncode == 0 and ASSIGNMENT in listed.stdout + listed.stderr  # students still list


def test_a_student_cannot_list_or_guess_another_students_submission(course_cycle):
    inbound = course_cycle["inbound"]
    cwd = Path(pwd.getpwnam(BOB).pw_dir)
    # inbound/ is writable by every student: its sticky bit keeps Bob from renaming (or removing)
    # Alice's submission there, even knowing its name.
    alice = course_cycle["submissions"][ALICE]
    assert inbound.stat().st_mode & stat.S_ISVTX
    moved = run_as(BOB, ["mv", str(alice), f"{alice}-gone"], cwd, check=False)
    if moved.returncode == 0:  # put it back for the tests that follow, then fail
        Path(f"{alice}-gone").rename(alice)
    assert moved.returncode != 0 and alice.is_dir()
    listing = run_as(BOB, ["ls", str(inbound)], cwd, check=False)
    assert listing.returncode != 0 and "Permission denied" in listing.stderr
    # nbgrader names a submission student+assignment+timestamp+random string: without listing the
    # folder, the name (and so the file) cannot be found.
    without_random = alice.name.rsplit("+", 1)[0]
    guess = run_as(BOB, ["cat", f"{inbound}/{without_random}/{NOTEBOOKS[0]}.ipynb"], cwd, check=False)
    assert guess.returncode != 0
    # Nor can Bob read Alice's own copy in her home folder.
    own = run_as(BOB, ["cat", f"{pwd.getpwnam(ALICE).pw_dir}/{ASSIGNMENT}/{NOTEBOOKS[0]}.ipynb"], cwd, check=False)
    assert own.returncode != 0 and "Permission denied" in own.stderr


def test_the_instructor_collects_everyone_and_grades_them_unprivileged(course_cycle, test_points):
    course = course_cycle["course"]
    collected = run_as(INSTRUCTOR, [course_cycle["nbgrader"], "collect", ASSIGNMENT, *course_cycle["options"]], course)
    for student in (ALICE, BOB):
        assert (course / "submitted" / student / ASSIGNMENT / f"{NOTEBOOKS[0]}.ipynb").exists()
    # Mallory's submission in Alice's name is newer than Alice's own, and named, not collected:
    # Alice's full marks below are her own work.
    forged, ghost = course_cycle["forged"]
    assert forged.name.startswith(f"{ALICE}+") and f"Not collected: {forged}: " in collected.stderr
    assert f"submitted by the account {MALLORY}, not by {ALICE}" in collected.stderr
    # Bob's backdated time is replaced by when his files last changed (which he cannot set back).
    collected_time = parse_utc((course / "submitted" / BOB / ASSIGNMENT / "timestamp.txt").read_text())
    assert collected_time > parse_utc(course_cycle["backdated"]) + datetime.timedelta(days=365)
    assert abs(collected_time - datetime.datetime.now(datetime.UTC).replace(tzinfo=None)) < datetime.timedelta(hours=1)
    record = (course / "submitted" / BOB / f"{ASSIGNMENT}.intake.json").read_text()
    assert f"it said '{course_cycle['backdated']}', but the submission's files last changed at" in record
    assert not (course / "submitted" / ALICE / f"{ASSIGNMENT}.intake.json").exists()  # her time stands
    # A submission in the name of someone who made none: nothing of it is collected (not even an
    # empty folder, which autograde would grade as 0), and collect says why.
    assert ghost.name.startswith(f"{GHOST}+")
    assert not (course / "submitted" / GHOST).exists()
    assert f"submitted by the account {MALLORY}, not by {GHOST}" in collected.stderr
    assert f"Nothing collected for {GHOST}: no submission of their own" in collected.stderr
    # Grading as an ordinary user: the sandbox is built in a user namespace (no cgroups, no root).
    run_as(INSTRUCTOR, [course_cycle["nbgrader"], "autograde", ASSIGNMENT], course)
    full = sum(sum(cells.values()) for cells in test_points.values())
    for student in (ALICE, BOB):
        assert scores.auto_grand_total(course, student) == full, student


def test_links_planted_in_the_exchange_are_never_followed(course_cycle):
    """Collect, as the instructor, copies none of what Mallory's links point to; she scores 0 and
    is told why; the others are graded as usual (previous test)."""
    course = course_cycle["course"]
    submitted = course / "submitted" / MALLORY / ASSIGNMENT
    for entry in submitted.rglob("*"):
        assert entry.is_dir() or (entry.is_file() and not entry.is_symlink()), entry
    assert not any(submitted.glob("*.ipynb")) and not (submitted / "pipe.txt").exists()
    assert scores.auto_grand_total(course, MALLORY) == 0
    record = (submitted.parent / f"{ASSIGNMENT}.intake.json").read_text()
    for name in [f"{nb}.ipynb" for nb in NOTEBOOKS] + ["gradebook.db", "zero.bin", "pipe.txt"]:
        assert name in record, name
    row = next(r for r in class_report.collect(course).students if r.student_id == MALLORY)
    assert any("symbolic link" in problem for problem in row.problems), row.problems
