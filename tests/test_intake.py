"""A student's files are data: ``copy_submission`` never follows a link, never opens a special file
and bounds what it copies. (Its use by ``nbgrader collect`` and ``nbgrader autograde`` is tested
end to end in ``test_adversarial`` and ``test_multi_user``.)"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pwd
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from documented_limits import documented_bounds
from nbgrader.coursedir import CourseDirectory
from nbgrader.utils import parse_utc
from unix_accounts import kit_reachable_by_everyone

from gankit.nbgrader_adapter.intake import (
    Bounds,
    NotAFolder,
    SafeCollect,
    Skipped,
    copy_submission,
    importable,
    read_record,
    structure,
    take_in,
    write_record,
)


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "instructor" / "solution.ipynb"
    path.parent.mkdir()
    path.write_text("THE MODEL ANSWER")
    return path


def _submission(tmp_path: Path) -> Path:
    folder = tmp_path / "submitted" / "ann" / "gan_exercises"
    folder.mkdir(parents=True)
    return folder


def _skipped(found: list[Skipped]) -> dict[str, str]:
    return {item.path: item.reason for item in found}


def test_regular_files_and_folders_are_copied_byte_for_byte(tmp_path):
    src = _submission(tmp_path)
    (src / "ex1.ipynb").write_bytes(b'{"cells": []}')
    (src / "data").mkdir()
    (src / "data" / "x.bin").write_bytes(os.urandom(5000))
    (src / "timestamp.txt").write_text("2026-11-25 12:00:00.000000 UTC")
    dest = tmp_path / "copy"
    assert copy_submission(src, dest) == []
    for rel in ("ex1.ipynb", "data/x.bin", "timestamp.txt"):
        assert (dest / rel).read_bytes() == (src / rel).read_bytes()
        assert (dest / rel).stat().st_mtime_ns == (src / rel).stat().st_mtime_ns


def test_no_python_a_kernel_would_load_comes_in_unless_the_course_asks_for_it(tmp_path):
    """A kernel started in the folder would import a student's warnings.py as the grader: left out."""
    src = _submission(tmp_path)
    (src / "ex1.ipynb").write_bytes(b'{"cells": []}')
    (src / "data.csv").write_text("1,2\n")
    planted = ["warnings.py", "sitecustomize.py", "helper.PY", "x.pyc", "y.pth", "z.cpython-311-x86_64-linux-gnu.so"]
    for name in planted:
        (src / name).write_text("raise SystemExit(7)\n")
    (src / "pkg").mkdir()
    (src / "pkg" / "__init__.py").write_text("raise SystemExit(7)\n")
    (src / "mine.py").write_text("VALUE = 1\n")
    (src / "gan_checks.py").write_text("raise SystemExit(7)\n")  # the course's own: its copy comes from the course
    dest = tmp_path / "copy"
    bounds = Bounds(python_allowed=frozenset({"mine.py"}), course_python=frozenset({"gan_checks.py"}))
    skipped = _skipped(copy_submission(src, dest, bounds))
    assert sorted(skipped) == sorted([*planted, "pkg/__init__.py"])
    assert sorted(p.name for p in dest.rglob("*") if p.is_file()) == ["data.csv", "ex1.ipynb", "mine.py"]
    assert not importable("ex1.ipynb") and not importable("timestamp.txt") and importable("a.abi3.so")
    # What the rule is for: Python run with -m in the submitted folder imports the student's file first.
    run = [sys.executable, "-m", "json.tool", "--help"]
    assert subprocess.run(run, cwd=src, capture_output=True).returncode == 7
    assert subprocess.run(run, cwd=dest, capture_output=True).returncode == 0


def test_links_of_every_kind_are_left_out_and_named_never_followed(tmp_path, secret):
    src = _submission(tmp_path)
    (src / "ex1.ipynb").symlink_to(secret)  # absolute, to a file
    (src / "ex2.ipynb").symlink_to(os.path.relpath(secret, src))  # relative
    (src / "answers").symlink_to(secret.parent)  # to a folder
    (src / "dangling").symlink_to(tmp_path / "nothing")
    dest = tmp_path / "copy"
    skipped = _skipped(copy_submission(src, dest))
    assert set(skipped) == {"ex1.ipynb", "ex2.ipynb", "answers", "dangling"}
    assert all("symbolic link" in reason for reason in skipped.values())
    assert list(dest.iterdir()) == []
    for base, _, names in os.walk(dest):
        assert not any("MODEL ANSWER" in (Path(base) / n).read_text() for n in names)


def test_special_files_are_never_opened(tmp_path, monkeypatch):
    src = _submission(tmp_path)
    os.mkfifo(src / "pipe.ipynb")
    listening = socket.socket(socket.AF_UNIX)
    monkeypatch.chdir(src)  # bound by a relative name: a socket's path may not pass 107 bytes
    listening.bind("socket.ipynb")
    (src / "ok.txt").write_text("fine")
    dest = tmp_path / "copy"
    found: list = []
    # Opening the FIFO for reading would block for ever: the copy must finish at once.
    worker = threading.Thread(target=lambda: found.extend(copy_submission(src, dest)), daemon=True)
    worker.start()
    worker.join(timeout=20)
    listening.close()
    assert not worker.is_alive(), "the copy blocked on a special file"
    assert _skipped(found) == {"pipe.ipynb": "a named pipe, not a file", "socket.ipynb": "a socket, not a file"}
    assert [p.name for p in dest.iterdir()] == ["ok.txt"]


@pytest.mark.root  # only root may make a device node
def test_a_device_node_is_never_opened(tmp_path):
    """(Making a device node needs root, as make test has.)"""
    src = _submission(tmp_path)
    os.mknod(src / "zero.ipynb", 0o666 | 0o020000, os.makedev(1, 5))  # a copy of /dev/zero
    assert _skipped(copy_submission(src, tmp_path / "copy")) == {"zero.ipynb": "a device, not a file"}


@pytest.mark.seconds  # a folder chain 1500 deep: 4 to 5 s
def test_a_folder_chain_1500_deep_is_cut_without_recursion(tmp_path):
    src = _submission(tmp_path)
    top = os.open(src, os.O_RDONLY)
    fd = top
    for _ in range(1500):  # relative to each folder: the full path would pass PATH_MAX
        os.mkdir("d", dir_fd=fd)
        inner = os.open("d", os.O_RDONLY, dir_fd=fd)
        if fd != top:
            os.close(fd)
        fd = inner
    os.close(fd)
    os.close(top)
    dest = tmp_path / "copy"
    try:
        skipped = copy_submission(src, dest, Bounds(max_depth=8))
        assert [item.path for item in skipped] == ["d/" * 8]
        assert "nested more than 8 deep" in skipped[0].reason
        depth = sum(1 for _ in dest.rglob("d"))
        assert depth == 7
    finally:  # even when it fails: shutil.rmtree (and so pytest's cleanup of old runs) would recurse 1,500 deep
        _remove_chain(src, 1500)


def _remove_chain(top: Path, depth: int) -> None:
    """Remove the chain deepest first, each folder reached relative to its parent (no long paths)."""
    for level in range(depth, 0, -1):
        fd = os.open(top, os.O_RDONLY)
        for _ in range(level - 1):
            inner = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
        os.rmdir("d", dir_fd=fd)
        os.close(fd)


def test_count_size_and_total_are_bounded(tmp_path):
    src = _submission(tmp_path)
    for i in range(12):
        (src / f"f{i:02d}.txt").write_bytes(b"x" * 1000)
    (src / "big.bin").write_bytes(b"y" * 5000)
    bounds = Bounds(max_files=10, max_file_bytes=4000, max_total_bytes=8000)
    dest = tmp_path / "copy"
    skipped = _skipped(copy_submission(src, dest, bounds))
    copied = sorted(p.name for p in dest.iterdir())
    assert skipped["big.bin"] == "larger than 3.90625 KiB, the most one file may be"
    assert sum((dest / name).stat().st_size for name in copied) <= 8000
    assert len(copied) == 8  # the total stops it before the count does
    assert all(skipped[f"f{i:02d}.txt"] == "the submission would pass 7.8125 KiB in all" for i in range(8, 12))


def test_the_total_left_is_the_bound_less_what_was_copied(tmp_path):
    """A file passing what is left of the total is left out, whatever the numbers' bits."""
    src = _submission(tmp_path)
    (src / "a.bin").write_bytes(b"x" * 1100)
    (src / "b.bin").write_bytes(b"y" * 910)  # 2010 in all: past 2000 by ten bytes
    skipped = copy_submission(src, tmp_path / "copy", Bounds(max_file_bytes=4000, max_total_bytes=2000))
    assert _skipped(skipped) == {"b.bin": "the submission would pass 1.95312 KiB in all"}


def test_a_path_left_out_is_named_by_its_first_300_characters(tmp_path):
    """Records and logs hold at most 300 characters of a path the student chose."""
    src = _submission(tmp_path)
    folder = src / ("a" * 100) / ("b" * 100) / ("c" * 100)
    folder.mkdir(parents=True)
    os.mkfifo(folder / "pipe")
    (path,) = _skipped(copy_submission(src, tmp_path / "copy"))
    assert path == "/".join(("a" * 100, "b" * 100, "c" * 100, "pipe"))[:300]


def test_a_timestamp_nbgrader_cannot_read_is_left_out(tmp_path):
    src = _submission(tmp_path)
    (src / "timestamp.txt").write_text("the day after tomorrow")
    dest = tmp_path / "copy"
    assert _skipped(copy_submission(src, dest)) == {"timestamp.txt": "not a submission time nbgrader can read"}
    assert not (dest / "timestamp.txt").exists()


def test_a_folder_chain_past_the_depth_bound_is_cut_at_the_bound(tmp_path):
    """With the default bounds, folders are entered down to the documented depth and no further."""
    src = _submission(tmp_path)
    depth = documented_bounds().depth
    (src / ("d/" * (depth + 2))).mkdir(parents=True)
    skipped = copy_submission(src, tmp_path / "copy")
    assert [(item.path, item.reason) for item in skipped] == [("d/" * depth, f"folders nested more than {depth} deep")]
    assert sum(1 for _ in (tmp_path / "copy").rglob("d")) == depth - 1


def test_an_ignored_name_leaves_out_only_itself(tmp_path):
    """nbgrader's ignore patterns (its defaults here) drop the entries they name, not the entries
    after them in the folder."""
    src = _submission(tmp_path)
    (src / "__pycache__").mkdir()
    (src / ".ipynb_checkpoints").mkdir()
    for name in ("a.pyc", "data.csv", "zeta.txt", "feedback"):
        (src / name).write_text("x")
    assert copy_submission(src, tmp_path / "copy", ignore=CourseDirectory().ignore) == []
    assert sorted(p.name for p in (tmp_path / "copy").iterdir()) == ["data.csv", "zeta.txt"]


def test_a_timestamp_txt_in_a_subfolder_is_an_ordinary_file(tmp_path):
    """Only the submission's own ``timestamp.txt`` must be a time nbgrader can read."""
    src = _submission(tmp_path)
    (src / "data").mkdir()
    (src / "data" / "timestamp.txt").write_text("measured on Tuesday")
    assert copy_submission(src, tmp_path / "copy") == []
    assert (tmp_path / "copy" / "data" / "timestamp.txt").read_text() == "measured on Tuesday"


def test_collect_takes_a_students_own_latest_submission_and_names_each_other(tmp_path, caplog):
    """Of the submissions in one student's name, those their account made come first, newest
    first; one that is not theirs (here: gone before collect looked at its owner) comes after
    them, never collected while one of theirs is, and the log names it with the reason."""
    inbound = tmp_path / "inbound"
    inbound.mkdir()
    me = pwd.getpwuid(os.getuid()).pw_name
    when = [datetime(2026, 11, day, 9, 0) for day in (1, 2, 3)]
    records = [
        {"username": me, "filename": f"{me}+ps1+older", "timestamp": when[0]},
        {"username": me, "filename": f"{me}+ps1+gone", "timestamp": when[2]},
        {"username": me, "filename": f"{me}+ps1+newer", "timestamp": when[1]},
    ]
    for record in records[0], records[2]:
        (inbound / record["filename"]).mkdir()
    collect = SafeCollect(coursedir=CourseDirectory(root=str(tmp_path)))
    collect.inbound_path = str(inbound)
    collect.log = logging.getLogger("test-collect")
    with caplog.at_level(logging.INFO, logger="test-collect"):
        ordered = collect._sort_by_timestamp(records)
    assert [record["filename"].split("+")[-1] for record in ordered] == ["newer", "older", "gone"]
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        (
            "ERROR",
            f"Not collected: {inbound / records[1]['filename']}: submitted by the account nobody readable "
            f"(No such file or directory), not by {me}",
        )
    ]


@pytest.mark.parametrize("bound", [1024, 1023])
def test_a_file_that_grows_past_its_bound_while_copied_is_named_by_that_bound(tmp_path, monkeypatch, bound):
    """The size is checked on the listing and again on what is read: a file a writer grows in
    between is left out, named by the bound it passed (the file's, not the submission's)."""
    src = _submission(tmp_path)
    (src / "grow.csv").write_bytes(b"x" * 10)
    real_open = os.open

    def a_writer_gets_there_first(path, flags, *args, **kwargs):
        if path == "grow.csv":
            with open(src / "grow.csv", "ab") as handle:
                handle.write(b"y" * 2048)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", a_writer_gets_there_first)
    skipped = copy_submission(src, tmp_path / "copy", Bounds(max_file_bytes=bound, max_total_bytes=10 * 1024))
    assert _skipped(skipped) == {"grow.csv": f"larger than {bound / 1024:g} KiB, the most one file may be"}
    assert not (tmp_path / "copy" / "grow.csv").exists()


def test_an_entry_that_vanishes_after_the_listing_costs_only_itself(tmp_path, monkeypatch):
    """An entry gone between the folder's listing and its look (a student's process still
    running, a synced folder) is named; the entries after it are copied."""
    src = _submission(tmp_path)
    for name in ("a.txt", "gone.txt", "z.txt"):
        (src / name).write_text(name)
    real_stat = os.stat

    def vanishing(path, *args, **kwargs):
        if path == "gone.txt":
            raise FileNotFoundError(2, "No such file or directory")
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", vanishing)
    skipped = copy_submission(src, tmp_path / "copy")
    assert _skipped(skipped) == {"gone.txt": "could not be looked at: No such file or directory"}
    assert skipped.complete is False
    assert sorted(p.name for p in (tmp_path / "copy").iterdir()) == ["a.txt", "z.txt"]


def test_a_folder_whose_listing_fails_is_named_and_the_rest_copied(tmp_path, monkeypatch):
    """A folder opened but not listed (an I/O error) is named with a slash; its siblings and the
    files beside it are copied, and the copy is known to be incomplete."""
    src = _submission(tmp_path)
    for name in ("broken", "fine"):
        (src / name).mkdir()
        (src / name / "inner.txt").write_text(name)
    (src / "top.txt").write_text("top")
    real_scandir, opened = os.scandir, []

    def failing(fd):
        opened.append(fd)
        if len(opened) == 2:  # the first subfolder listed: "broken"
            raise OSError(5, "Input/output error")
        return real_scandir(fd)

    monkeypatch.setattr(os, "scandir", failing)
    skipped = copy_submission(src, tmp_path / "copy")
    assert _skipped(skipped) == {"broken/": "could not be read: Input/output error"}
    assert skipped.complete is False
    assert (tmp_path / "copy" / "fine" / "inner.txt").read_text() == "fine"
    assert (tmp_path / "copy" / "top.txt").read_text() == "top"


def test_a_folder_that_cannot_be_opened_makes_the_copy_incomplete(tmp_path, monkeypatch):
    """A subfolder the copy may not open (made unreadable, or swapped for a link) is named with a
    slash and the copy is known to be incomplete, so that nothing trusts its times."""
    src = _submission(tmp_path)
    (src / "locked").mkdir()
    (src / "open.txt").write_text("open")
    real_open = os.open

    def refusing(path, flags, *args, **kwargs):
        if path == "locked":
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing)
    skipped = copy_submission(src, tmp_path / "copy")
    assert _skipped(skipped) == {"locked/": "could not be read: Permission denied"}
    assert skipped.complete is False
    assert (tmp_path / "copy" / "open.txt").read_text() == "open"


def test_a_copied_file_is_readable_by_everyone_and_writable_by_the_grader_alone(tmp_path):
    """Whatever the student's file modes, the copy is 0644 (as nbgrader's own copies), under the
    grader's umask."""
    src = _submission(tmp_path)
    (src / "mine.txt").write_text("x")
    os.chmod(src / "mine.txt", 0o400)
    umask = os.umask(0o022)
    try:
        copy_submission(src, tmp_path / "copy")
    finally:
        os.umask(umask)
    assert (tmp_path / "copy" / "mine.txt").stat().st_mode & 0o777 == 0o644


def test_a_submission_that_is_itself_a_link_is_refused(tmp_path, secret):
    link = tmp_path / "submitted" / "ann" / "gan_exercises"
    link.parent.mkdir(parents=True)
    link.symlink_to(secret.parent)
    with pytest.raises(NotAFolder):
        copy_submission(link, tmp_path / "copy")


@pytest.mark.parametrize("kind", ["file", "fifo"])
def test_a_submission_that_is_a_file_or_a_fifo_is_refused_without_waiting(tmp_path, kind):
    """A submission that is not a folder is refused when opened; a FIFO put in a submission's place
    never holds the grader waiting for a writer."""
    src = tmp_path / "submitted" / "ann" / "gan_exercises"
    src.parent.mkdir(parents=True)
    if kind == "file":
        src.write_text("{}")
    else:
        os.mkfifo(src)
    refused: list[str] = []

    def copy() -> None:
        with contextlib.suppress(NotAFolder):
            copy_submission(src, tmp_path / "copy")
            return
        refused.append(kind)

    worker = threading.Thread(target=copy, daemon=True)
    worker.start()
    worker.join(10)
    if worker.is_alive():
        with open(src, "w"):  # the writer it waits for, so that the thread ends
            pass
        worker.join(10)
        pytest.fail("the copy opened the FIFO and waited for a writer")
    assert refused == [kind] and not (tmp_path / "copy").exists()


def test_the_record_sits_beside_the_copy_and_reads_back(tmp_path):
    folder = tmp_path / "submitted" / "ann" / "gan_exercises"
    folder.mkdir(parents=True)
    items = [Skipped("ex1.ipynb", "a symbolic link, which is never followed")]
    write_record(folder, items)
    assert (folder.parent / "gan_exercises.intake.json").is_file()
    assert read_record(folder) == items
    write_record(folder, [])
    assert read_record(folder) == [] and not (folder.parent / "gan_exercises.intake.json").exists()
    (folder.parent / "gan_exercises.intake.json").symlink_to(tmp_path / "elsewhere.json")
    assert read_record(folder) == []  # a record is the grader's file, never a link


def test_a_file_swapped_for_a_link_after_it_was_looked_at_is_not_followed(tmp_path, secret, monkeypatch):
    """The look (``lstat``) and the open are two steps: a link put in between is still not followed."""
    src = _submission(tmp_path)
    (src / "ex1.ipynb").write_text("my answer")
    looked = os.stat

    def swap_after_the_look(path, *args, **kwargs):
        info = looked(path, *args, **kwargs)
        if path == "ex1.ipynb" and kwargs.get("follow_symlinks") is False:
            (src / "ex1.ipynb").unlink()
            (src / "ex1.ipynb").symlink_to(secret)
        return info

    monkeypatch.setattr(os, "stat", swap_after_the_look)
    dest = tmp_path / "copy"
    try:
        copy_submission(src, dest)
    except OSError:
        pass  # refusing the whole copy is as safe as leaving the file out
    monkeypatch.undo()
    assert (src / "ex1.ipynb").is_symlink()  # the swap happened
    for base, _, names in os.walk(dest):
        assert not any("MODEL ANSWER" in (Path(base) / n).read_text() for n in names)


def test_collect_bounds_files_by_nbgraders_max_file_size_in_kilobytes(tmp_path):
    """``CourseDirectory.max_file_size`` is in kilobytes (nbgrader's unit): 2 means 2000 bytes."""
    src = _submission(tmp_path)
    (src / "small.txt").write_bytes(b"x" * 1500)
    (src / "large.txt").write_bytes(b"y" * 2500)
    dest = tmp_path / "collected" / "ann" / "gan_exercises"
    collect = SafeCollect(coursedir=CourseDirectory(max_file_size=2, max_dir_size=100), check_owner=False)
    collect.do_copy(str(src), str(dest))
    assert (dest / "small.txt").read_bytes() == b"x" * 1500
    assert not (dest / "large.txt").exists()
    assert "large.txt" in _skipped(read_record(dest))


def test_collects_total_bound_is_max_dir_size_in_kilobytes(tmp_path):
    """``CourseDirectory.max_dir_size`` is in kilobytes too: 3 means 3000 bytes in all, exactly."""
    src = _submission(tmp_path)
    (src / "a1.txt").write_bytes(b"x" * 1500)
    (src / "a2.txt").write_bytes(b"y" * 1500)
    (src / "z.txt").write_bytes(b"z")
    dest = tmp_path / "collected" / "ann" / "gan_exercises"
    collect = SafeCollect(coursedir=CourseDirectory(max_file_size=2, max_dir_size=3), check_owner=False)
    collect.do_copy(str(src), str(dest))
    assert sorted(p.name for p in dest.iterdir() if p.name != "timestamp.txt") == ["a1.txt", "a2.txt"]
    assert _skipped(read_record(dest))["z.txt"] == "the submission would pass 2.92969 KiB in all"


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def _folders(top: Path, count: int) -> None:
    top.mkdir()
    fd = os.open(top, os.O_RDONLY)
    try:
        for i in range(count):
            os.mkdir(f"d{i:05d}", dir_fd=fd)
    finally:
        os.close(fd)


@pytest.fixture
def few_descriptors():
    """This process may open only 48 more descriptors than it holds now, as a grader near its
    limit would (the soft limit is restored afterwards)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (_open_descriptors() + 48, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_folder_of_2500_subfolders_is_cut_with_few_descriptors_and_the_next_student_copied(tmp_path, few_descriptors):
    """2,500 subfolders (five times the folder's bound; the adversarial suite sends 20,500), copied
    by a grader that may open only 48 more files: the walk holds one descriptor per folder level,
    names what it did not look at, leaks nothing, and the next student's submission is copied whole."""
    src = _submission(tmp_path)
    (src / "ex1.ipynb").write_text("{}")
    _folders(src / "many", 2_500)
    before = _open_descriptors()
    copied = copy_submission(src, tmp_path / "copy")
    assert _open_descriptors() == before
    assert copied.complete is False
    assert _skipped(copied) == {"many/": "more than 500 entries in one folder; the rest were not looked at"}
    assert len(list((tmp_path / "copy" / "many").iterdir())) == 500
    assert (tmp_path / "copy" / "ex1.ipynb").read_text() == "{}"
    honest = tmp_path / "honest"
    honest.mkdir()
    (honest / "ex1.ipynb").write_text('{"cells": []}')
    (honest / "data").mkdir()
    (honest / "data" / "x.csv").write_text("1,2")
    after = copy_submission(honest, tmp_path / "honest-copy")
    assert after == [] and after.complete
    assert (tmp_path / "honest-copy" / "data" / "x.csv").read_text() == "1,2"


def test_entries_are_bounded_in_all_and_only_the_first_are_named(tmp_path):
    src = _submission(tmp_path)
    for name in ("a", "b", "c"):
        (src / name).mkdir()
        for i in range(300):
            os.symlink("/etc/passwd", src / name / f"l{i:03d}")
    bounds = Bounds(max_entries=700, max_folder_entries=400, max_named=50)
    copied = copy_submission(src, tmp_path / "copy", bounds)
    assert not copied.complete
    # Looked at: a, b, c, then a's 300 links and b's 300 (603 entries), then 97 of c's (700); left
    # out: those 697 links and the rest of c, 698 in all, the first 50 by name.
    assert len(copied) == 51 and copied[-1] == Skipped("...", "648 more entries left out, not named one by one")
    assert all("symbolic link" in item.reason for item in copied[:50])
    assert sorted(p.name for p in (tmp_path / "copy").iterdir()) == ["a", "b", "c"]
    every = copy_submission(src, tmp_path / "copy2", Bounds(max_entries=700, max_folder_entries=400, max_named=1000))
    assert len(every) == 698
    assert Skipped("c/", "the submission holds more than 700 entries; the rest were not looked at") in every


def test_an_error_part_way_leaks_no_descriptor(tmp_path, monkeypatch):
    src = _submission(tmp_path)
    for i in range(20):
        (src / f"d{i:02d}" / "inner").mkdir(parents=True)
    made = []
    real_mkdir = os.mkdir

    def full_disk(path, *args, **kwargs):
        made.append(path)
        if len(made) == 15:
            raise OSError(28, "No space left on device")
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", full_disk)
    before = _open_descriptors()
    with pytest.raises(OSError):
        copy_submission(src, tmp_path / "copy")
    assert _open_descriptors() == before


# -- the submission time collect records ------------------------------------------------------------

CLAIM = "2020-01-01 00:00:00.000000 UTC"  # long before any file here was made


def _collect(src: Path, dest: Path) -> tuple[str, list[Skipped]]:
    """``SafeCollect.do_copy`` of ``src`` as nbgrader collect calls it: the time it records, and
    what it left out."""
    collect = SafeCollect(coursedir=CourseDirectory(root=str(src.parent)), check_owner=False)
    collect.do_copy(str(src), str(dest))
    return (dest / "timestamp.txt").read_text(), read_record(dest)


def _as_time(text: str) -> float:
    return parse_utc(text).replace(tzinfo=timezone.utc).timestamp()


def test_a_backdated_time_is_replaced_and_an_honest_one_kept(tmp_path):
    src = _submission(tmp_path)
    (src / "ex1.ipynb").write_text("{}")
    (src / "timestamp.txt").write_text(CLAIM)
    recorded, _ = _collect(src, tmp_path / "copy")
    assert abs(_as_time(recorded) - os.stat(src / "timestamp.txt").st_ctime) < 1e-3
    honest = tmp_path / "honest"
    honest.mkdir()
    (honest / "ex1.ipynb").write_text("{}")
    claim = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
    (honest / "timestamp.txt").write_text(claim)
    assert _collect(honest, tmp_path / "honest-copy") == (claim, [])


@pytest.fixture
def shared_tmp():
    """A folder every account may pass through (pytest's own are root's alone when run as root)."""
    folder = Path(tempfile.mkdtemp(prefix="intake-test-"))
    folder.chmod(0o755)
    yield folder
    for path in folder.rglob("*"):
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o755)
    shutil.rmtree(folder)


@pytest.mark.accounts  # opens the folders above the kit to uid 65534 meanwhile
@pytest.mark.seconds  # another account copying: 3 s
def test_a_folder_collect_cannot_read_makes_the_time_collect_time(shared_tmp):
    """The copy stops short of a folder its owner made unreadable (mode 000), collected by an
    ordinary account (this one, or uid 65534 when the tests run as root): the student keeps what
    was copied, and the claimed time is bounded all the same, by collect time."""
    src = _submission(shared_tmp)
    (src / "ex1.ipynb").write_text("{}")
    (src / "timestamp.txt").write_text(CLAIM)
    (src / "locked").mkdir()
    (src / "locked" / "x.txt").write_text("x")
    (src / "locked").chmod(0)
    out = shared_tmp / "out"
    out.mkdir()
    out.chmod(0o777)
    grader = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"] if os.geteuid() == 0 else []
    script = (
        "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[3]); "
        "from test_intake import _collect; print(_collect(Path(sys.argv[1]), Path(sys.argv[2]))[0])"
    )
    started = time.time()
    with kit_reachable_by_everyone() if grader else contextlib.nullcontext():
        done = subprocess.run(
            [*grader, sys.executable, "-c", script, str(src), str(out / "copy"), str(Path(__file__).parent)],
            capture_output=True,
            text=True,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    assert _as_time(done.stdout.strip()) >= started - 1
    record = read_record(out / "copy")
    assert any(item.path == "locked/" and "could not be read" in item.reason for item in record), record
    assert (out / "copy" / "ex1.ipynb").read_text() == "{}"


def test_a_walk_cut_at_a_bound_makes_the_time_collect_time(tmp_path):
    src = _submission(tmp_path)
    (src / "timestamp.txt").write_text(CLAIM)
    _folders(src / "many", 600)
    started = time.time()
    recorded, record = _collect(src, tmp_path / "copy")
    assert _as_time(recorded) >= started - 1
    assert any("the rest were not looked at" in item.reason for item in record)


def test_files_changing_during_collect_never_keep_a_backdated_time(tmp_path):
    """A process of the student's makes and removes files in the submission while it is collected
    (entries vanish between the listing and the look): the recorded time is never the claim."""
    src = _submission(tmp_path)
    (src / "timestamp.txt").write_text(CLAIM)
    for i in range(400):
        (src / f"f{i:03d}.txt").write_text("x")
    stop = threading.Event()

    def churn():
        while not stop.is_set():
            for i in range(400):
                with contextlib.suppress(OSError):
                    (src / f"f{i:03d}.txt").unlink()
                    (src / f"f{i:03d}.txt").write_text("y")

    worker = threading.Thread(target=churn, daemon=True)
    worker.start()
    try:
        for round_ in range(6):
            started = time.time()
            recorded, _ = _collect(src, tmp_path / f"copy{round_}")
            assert _as_time(recorded) >= started - 1, recorded
    finally:
        stop.set()
        worker.join()


# -- a notebook's structure, bounded before nbgrader parses it ----------------------------------------

RELEASED = Path(__file__).resolve().parent.parent / "release" / "gan_exercises" / "ex1_optimal_discriminator.ipynb"


def _bloated(objects: int) -> bytes:
    """The released notebook with ``objects`` empty JSON objects in its metadata (written as text:
    building them as Python objects is what the bound avoids)."""
    nb = json.loads(RELEASED.read_bytes())
    nb["metadata"]["bloat"] = "@BLOAT@"
    return json.dumps(nb).encode().replace(b'"@BLOAT@"', b"[" + b",".join([b"{}"] * objects) + b"]")


MEASURE = """
import json, sys, time
from pathlib import Path
from gankit.nbgrader_adapter.intake import take_in
import nbformat
def status(field):  # this process's own figures, in MiB (VmHWM is its peak since clear_refs)
    line = next(l for l in open("/proc/self/status") if l.startswith(field + ":"))
    return int(line.split()[1]) / 1024
folder, copy, parse = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "parse"
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # the peak starts again from here, after the imports
base = status("VmRSS")
start = time.monotonic()
if parse:
    nbformat.read(str(folder / "ex1_optimal_discriminator.ipynb"), as_version=4)
    left = []
else:
    left = [[i.path, i.reason] for i in take_in(folder, copy)]
print(json.dumps({"seconds": time.monotonic() - start, "base_mib": base, "peak_mib": status("VmHWM"), "left": left}))
"""


def _measure(folder: Path, copy: Path, parse: bool = False) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(folder), str(copy), "parse" if parse else "intake"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


@pytest.mark.seconds  # a 2-million-object notebook: 6 s
def test_a_notebook_of_two_million_empty_objects_is_left_out_and_costs_the_grader_little(tmp_path):
    """The issue's notebook (5.7 MiB of text, two million empty objects in its metadata; nbgrader's
    parse took 4.3 GiB) is left out at intake, for its structure, read from the text alone; the
    student's other notebook is graded. Figures are printed: the intake's peak memory, and for
    scale what parsing a notebook of a twentieth of that bloat costs."""
    src = _submission(tmp_path)
    attack = _bloated(2_000_000)
    (src / "ex1_optimal_discriminator.ipynb").write_bytes(attack)
    (src / "ex2.ipynb").write_bytes(RELEASED.read_bytes())
    intake = _measure(src, tmp_path / "copy")
    small = tmp_path / "small"
    small.mkdir()
    (small / "ex1_optimal_discriminator.ipynb").write_bytes(_bloated(100_000))
    parsed = _measure(small, tmp_path / "unused", parse=True)
    print(
        f"\nnotebook of {len(attack) / 2**20:.1f} MiB, 2,000,000 empty objects: intake {intake['seconds']:.2f} s, "
        f"peak {intake['peak_mib']:.0f} MiB ({intake['peak_mib'] - intake['base_mib']:.0f} MiB over the "
        f"{intake['base_mib']:.0f} MiB after imports); nbformat parsing 100,000 of them: {parsed['seconds']:.2f} s, "
        f"{parsed['peak_mib'] - parsed['base_mib']:.0f} MiB over its imports"
    )
    assert intake["left"] == [
        ["ex1_optimal_discriminator.ipynb", "a notebook of more than 200,000 JSON values, too many to grade"]
    ]
    assert not (tmp_path / "copy" / "ex1_optimal_discriminator.ipynb").exists()
    assert (
        json.loads((tmp_path / "copy" / "ex2.ipynb").read_bytes())["cells"]
        == json.loads(RELEASED.read_bytes())["cells"]
    )
    # The copy and the scan hold a few copies of the text at a time (its bytes, the copy's, the text
    # without its strings, the brackets): linear in its size, under what parsing a twentieth costs.
    assert intake["peak_mib"] - intake["base_mib"] < 8 * len(attack) / 2**20 + 8
    assert intake["peak_mib"] - intake["base_mib"] < parsed["peak_mib"] - parsed["base_mib"]


def test_a_notebook_nested_too_deep_is_left_out(tmp_path):
    src = _submission(tmp_path)
    nb = json.loads(RELEASED.read_bytes())
    nb["metadata"]["deep"] = "@DEEP@"
    (src / "ex1.ipynb").write_bytes(json.dumps(nb).encode().replace(b'"@DEEP@"', b"[" * 100 + b"]" * 100))
    assert _skipped(take_in(src, tmp_path / "copy")) == {
        "ex1.ipynb": "a notebook nested more than 64 deep, too deep to grade"
    }


def test_unknown_metadata_and_saved_outputs_are_dropped_before_grading(tmp_path):
    """What nbgrader never reads is not copied: unknown and oversized metadata, saved outputs.
    The cells, their sources and their grading metadata are kept as they were."""
    src = _submission(tmp_path)
    nb = json.loads(RELEASED.read_bytes())
    nb["metadata"]["widgets"] = {"state": "w" * 1000}
    nb["metadata"]["gankit_faults"] = [{"forged": True}]
    code = next(cell for cell in nb["cells"] if cell["cell_type"] == "code")
    code["metadata"]["tags"] = ["x" * 20_000]  # a known entry past the bound
    code["metadata"]["anything"] = {"a": 1}
    code["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "y" * 100_000}]
    (src / "ex1.ipynb").write_text(json.dumps(nb))
    assert take_in(src, tmp_path / "copy") == []
    copied = json.loads((tmp_path / "copy" / "ex1.ipynb").read_text())
    assert set(copied["metadata"]) == {"kernelspec", "language_info"}
    released = json.loads(RELEASED.read_bytes())
    assert [c["source"] for c in copied["cells"]] == [c["source"] for c in released["cells"]]
    assert [c["metadata"] for c in copied["cells"]] == [c["metadata"] for c in released["cells"]]
    assert all(not c.get("outputs") for c in copied["cells"])


def test_the_intakes_bounds_are_the_ones_docs_security_states():
    """Every bound docs/security.md gives for one submission is the one the intake applies."""
    stated, bounds = documented_bounds(), Bounds()
    assert (bounds.max_files, bounds.max_depth, bounds.max_entries, bounds.max_folder_entries) == (
        stated.files,
        stated.depth,
        stated.entries,
        stated.folder_entries,
    )
    assert (bounds.max_named, bounds.max_notebook_values, bounds.max_notebook_depth) == (
        stated.named,
        stated.notebook_values,
        stated.notebook_depth,
    )
    assert bounds.max_metadata_bytes == stated.metadata_bytes


@pytest.mark.parametrize("past", [0, 1])
def test_a_known_metadata_entry_of_exactly_the_bound_is_kept(tmp_path, past):
    """The bound on a kept metadata entry counts its JSON text and includes the bound itself."""
    src = _submission(tmp_path)
    nb = json.loads(RELEASED.read_bytes())
    code = next(cell for cell in nb["cells"] if cell["cell_type"] == "code")
    tags = ["x" * (documented_bounds().metadata_bytes - len('[""]') + past)]
    code["metadata"]["tags"] = tags
    (src / "ex1.ipynb").write_text(json.dumps(nb))
    take_in(src, tmp_path / "copy")
    copied = json.loads((tmp_path / "copy" / "ex1.ipynb").read_text())
    kept = next(cell for cell in copied["cells"] if cell["cell_type"] == "code")["metadata"]
    assert kept.get("tags") == (None if past else tags)


def test_a_submission_is_its_students_only_when_their_account_owns_it(tmp_path):
    """Collect's owner check (nbgrader's ``check_owner``, on by default) compares account names."""
    folder = tmp_path / "inbound" / "submission"
    folder.mkdir(parents=True)
    me = pwd.getpwuid(os.getuid()).pw_name
    student = bytes(me, "utf-8").decode()  # the same name as another string (as a student id comes)
    collect = SafeCollect(coursedir=CourseDirectory(root=str(tmp_path)))
    assert collect._forged(str(folder), student) is None
    assert collect._forged(str(folder), "eve") == f"submitted by the account {me}, not by eve"
    unchecked = SafeCollect(coursedir=CourseDirectory(root=str(tmp_path)), check_owner=False)
    assert unchecked._forged(str(folder), "eve") is None


@pytest.mark.root
def test_a_submission_owned_by_an_account_without_a_name_is_named_by_its_uid(tmp_path):
    """A uid no account has (a deleted account's files) is named by its number."""
    uid = 3_000_000_000
    while True:
        try:
            pwd.getpwuid(uid)
        except KeyError:
            break
        uid += 1
    folder = tmp_path / "submission"
    folder.mkdir()
    os.chown(folder, uid, -1)
    collect = SafeCollect(coursedir=CourseDirectory(root=str(tmp_path)))
    assert collect._forged(str(folder), "ada") == f"submitted by the account uid {uid}, not by ada"


@pytest.mark.parametrize("text", [b'{"cells": [', b"\xff\xfe not utf-8", b'{"nbformat": 3, "worksheets": []}'])
def test_what_is_not_a_notebook_of_nbformat_4_is_left_for_nbgrader_to_name(tmp_path, text):
    src = _submission(tmp_path)
    (src / "ex1.ipynb").write_bytes(text)
    assert take_in(src, tmp_path / "copy") == []
    assert (tmp_path / "copy" / "ex1.ipynb").read_bytes() == text


@pytest.mark.parametrize(
    ("text", "values", "depth"),
    [
        (b"[[[]]]", 4, 3),  # no comma: three brackets, and one for the last value
        (b'{"a": [1, 2, {"b": "[[[[,,"}]}', 6, 3),  # brackets and commas inside strings do not count
        (b'["\\"[", {}]', 4, 2),  # an escaped quote does not end the string
        (b"[" * ((1 << 20) + 5) + b"]" * ((1 << 20) + 5), (1 << 20) + 6, (1 << 20) + 5),  # across a megabyte's chunk
        (b"[]" * 3 + b"[[]]", 6, 2),
    ],
    ids=["nested", "strings", "escapes", "past-a-chunk", "siblings"],
)
def test_a_notebooks_structure_is_counted_from_its_text(text, values, depth):
    """An upper bound on the JSON values and the nesting depth, counted by hand here."""
    assert structure(text) == (values, depth)


def test_a_file_past_a_bound_of_mebibytes_is_named_in_mebibytes(tmp_path):
    src = _submission(tmp_path)
    (src / "data.bin").write_bytes(b"z" * (3 << 20))
    (src / "ok.txt").write_bytes(b"x")
    skipped = _skipped(copy_submission(src, tmp_path / "copy", Bounds(max_file_bytes=(5 << 20) // 2)))
    assert skipped == {"data.bin": "larger than 2.5 MiB, the most one file may be"}
    assert (tmp_path / "copy" / "ok.txt").read_bytes() == b"x"


def test_folders_listed_once_the_entry_bound_is_reached_are_named_and_never_entered(tmp_path):
    """14 folders, a bound of 13 entries: 13 are listed (whichever the file system gives first),
    none is entered, each is named as a folder left out, and the listing as cut."""
    src = _submission(tmp_path)
    for i in range(14):
        (src / f"d{i:02d}" / "inner").mkdir(parents=True)
    copied = copy_submission(src, tmp_path / "copy", Bounds(max_entries=13))
    assert not copied.complete
    assert copied[0] == Skipped("/", "the submission holds more than 13 entries; the rest were not looked at")
    left = [item for item in copied[1:] if item.reason == "not looked at: the submission holds too many entries"]
    assert len(left) == len(copied) - 1 == 13 and all(re.fullmatch(r"d\d\d/", item.path) for item in left)
    assert list((tmp_path / "copy").iterdir()) == []
