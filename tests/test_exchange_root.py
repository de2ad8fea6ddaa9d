"""The exchange's root is never made writable by everyone (issue 27, item 3).

nbgrader checks that every user may write the root, and ``release_assignment`` sets it to 0777:
then a student may create the folder of a course not yet released, and own it. The kit's classes
(``SharedRoot``) only search it. Here, as the fast lane's one account: every exchange command is
configured with one of them, and a release leaves an existing root's mode as it is (a missing one
it makes 0755); the multi-user and hub tests try a student's ``mkdir`` for real.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from nbgrader.coursedir import CourseDirectory
from nbgrader.exchange import ExchangeError, ExchangeFactory
from nbgrader.exchange.default.release_assignment import ExchangeReleaseAssignment
from traitlets.config import Config

from gankit import ASSIGNMENT, COURSE_ID
from gankit.nbgrader_adapter import exchange, pipeline


def test_every_exchange_command_of_the_course_searches_the_root_only():
    config = Config()
    pipeline.apply(config)
    factory = ExchangeFactory(config=config)
    for setting in exchange.exchange_classes():
        cls = getattr(factory, setting)
        assert issubclass(cls, exchange.SharedRoot), setting
    # every command nbgrader has ("exchange" is the base class the others derive from)
    assert set(exchange.exchange_classes()) == set(ExchangeFactory.class_traits(config=True)) - {"exchange"}


def _release(root: Path, cls=exchange.StickyRelease):
    coursedir = CourseDirectory(course_id=COURSE_ID, assignment_id=ASSIGNMENT, root=str(root.parent))
    return cls(coursedir=coursedir, config=Config({"Exchange": {"root": str(root)}}))


def test_a_release_keeps_the_roots_mode_and_makes_a_missing_root_0755(tmp_path):
    root = tmp_path / "exchange"
    _release(root).ensure_root()
    assert stat.S_IMODE(root.stat().st_mode) == 0o755
    _release(root).ensure_root()
    assert stat.S_IMODE(root.stat().st_mode) == 0o755
    _release(root, ExchangeReleaseAssignment).ensure_root()  # what the test guards against
    assert stat.S_IMODE(root.stat().st_mode) == 0o777


def test_a_student_command_without_an_exchange_says_so(tmp_path):
    coursedir = CourseDirectory(course_id=COURSE_ID, assignment_id=ASSIGNMENT, root=str(tmp_path))
    fetch = exchange.Fetch(coursedir=coursedir, config=Config({"Exchange": {"root": str(tmp_path / "none")}}))
    with pytest.raises(ExchangeError, match="no exchange at"):
        fetch.start()
    assert not Path(tmp_path / "none").exists()


def test_a_release_makes_inbound_sticky_and_a_submission_stays_its_owners(tmp_path, monkeypatch):
    """The kit's release leaves ``inbound/`` sticky (nobody removes another's submission) and its
    submit leaves the submission's folder 0755 (writable by its owner only), as the exchange's
    documented modes say; the multi-user tests try both as other accounts."""
    from gankit import ROOT

    root = tmp_path / "exchange"
    config = Config({"Exchange": {"root": str(root)}})
    release_dir = CourseDirectory(course_id=COURSE_ID, assignment_id=ASSIGNMENT, root=str(ROOT))
    exchange.StickyRelease(coursedir=release_dir, config=config).start()
    inbound = root / COURSE_ID / "inbound"
    first = stat.S_IMODE(inbound.stat().st_mode)
    assert first & stat.S_ISVTX
    # Released again (a fix, --force): still sticky, and no other bit changed.
    exchange.StickyRelease(coursedir=release_dir, config=config, force=True).start()
    assert stat.S_IMODE(inbound.stat().st_mode) == first
    plain_release = root / "plain"
    ExchangeReleaseAssignment(coursedir=release_dir, config=Config({"Exchange": {"root": str(plain_release)}})).start()
    assert not stat.S_IMODE((plain_release / COURSE_ID / "inbound").stat().st_mode) & stat.S_ISVTX  # nbgrader's own

    student = tmp_path / "student"
    (student / ASSIGNMENT).mkdir(parents=True)
    for notebook in (ROOT / "release" / ASSIGNMENT).glob("*.ipynb"):
        (student / ASSIGNMENT / notebook.name).write_bytes(notebook.read_bytes())
    monkeypatch.chdir(student)
    student_dir = CourseDirectory(course_id=COURSE_ID, assignment_id=ASSIGNMENT, root=str(student))
    from nbgrader.auth import Authenticator

    exchange.PrivateSubmit(coursedir=student_dir, authenticator=Authenticator(config=config), config=config).start()
    (submission,) = inbound.iterdir()
    assert stat.S_IMODE(submission.stat().st_mode) == 0o755
