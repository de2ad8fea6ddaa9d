"""A student's files are data: ``copy_submission`` never follows a link, never opens a special file
and bounds what it copies. (Its use by ``nbgrader collect`` and ``nbgrader autograde`` is tested
end to end in ``test_adversarial`` and ``test_multi_user``.)"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest
from nbgrader.coursedir import CourseDirectory

from gankit.nbgrader_adapter.intake import (
    Bounds,
    NotAFolder,
    SafeCollect,
    Skipped,
    copy_submission,
    read_record,
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


def test_special_files_are_never_opened(tmp_path):
    src = _submission(tmp_path)
    os.mkfifo(src / "pipe.ipynb")
    listening = socket.socket(socket.AF_UNIX)
    listening.bind(str(src / "socket.ipynb"))
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
    skipped = copy_submission(src, dest, Bounds(max_depth=8))
    assert [item.path for item in skipped] == ["d/" * 8]
    assert "nested more than 8 deep" in skipped[0].reason
    depth = sum(1 for _ in dest.rglob("d"))
    assert depth == 7
    _remove_chain(src, 1500)  # shutil.rmtree (and so pytest's cleanup) would recurse 1,500 deep


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


def test_a_timestamp_nbgrader_cannot_read_is_left_out(tmp_path):
    src = _submission(tmp_path)
    (src / "timestamp.txt").write_text("the day after tomorrow")
    dest = tmp_path / "copy"
    assert _skipped(copy_submission(src, dest)) == {"timestamp.txt": "not a submission time nbgrader can read"}
    assert not (dest / "timestamp.txt").exists()


def test_a_submission_that_is_itself_a_link_is_refused(tmp_path, secret):
    link = tmp_path / "submitted" / "ann" / "gan_exercises"
    link.parent.mkdir(parents=True)
    link.symlink_to(secret.parent)
    with pytest.raises(NotAFolder):
        copy_submission(link, tmp_path / "copy")


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
