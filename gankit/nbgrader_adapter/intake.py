"""A student's files are data: how a submission is copied without ever following what it points to.

A submission passes two doors, and both copy it with ``copy_submission``:

* ``nbgrader collect`` (``SafeCollect``, wired in as ``ExchangeFactory.collect``), from the
  exchange's world-writable ``inbound/`` into ``submitted/``;
* ``nbgrader autograde`` (``gankit.nbgrader_adapter.autograde``), from ``submitted/`` into a private copy
  that nbgrader then reads instead, since instructors also put submissions there by hand.

The copy never follows a symbolic link and never opens anything but a regular file (no FIFO,
device or socket); every file is opened relative to its folder with ``O_NOFOLLOW`` and checked
again once open, so nothing can be swapped in between. It is bounded: the number of files, each
file's size, the total size and the folder depth. What it leaves out is named (``Skipped``) and
recorded next to the copy (``record``), so that the student is graded on what remains, the grader's
summary, the gradebook and the class report can say what was left out, and everyone else's grading
goes on.
"""

from __future__ import annotations

import fnmatch
import importlib.machinery
import json
import os
import pwd
import re
import stat
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
from nbgrader.exchange.default.collect import ExchangeCollect
from nbgrader.utils import parse_utc
from traitlets import Integer

from gankit.nbgrader_adapter.exchange import SharedRoot

# A kernel started in a folder imports from it before anything else (``python -m`` puts the folder
# first on sys.path): a student's warnings.py ran as the grader when a grader merely opened their
# notebook in JupyterLab. So nothing Python can load comes in; the course's own files (gan_checks.py)
# come from the course, as nbgrader copies them into every graded folder.
_PYTHON_SUFFIXES = (*importlib.machinery.all_suffixes(), ".pth")
PYTHON_LEFT_OUT = "Python code is not taken from a submission (the course's own files come from the course)"


def python_allowed(config: Any, assignment: str) -> frozenset[str]:
    """The Python files the course lets a submission bring: its ``Autograde.exclude_overwriting``."""
    try:
        chosen = config.Autograde.exclude_overwriting.get(assignment, [])
        return frozenset(os.path.normpath(str(path)) for path in chosen)
    except (AttributeError, TypeError):
        return frozenset()


def course_python(source: str | Path) -> frozenset[str]:
    """The Python files of an assignment's source folder, relative to it (links not followed)."""
    found = set()
    for folder, _, files in os.walk(source):
        found.update(os.path.relpath(os.path.join(folder, name), source) for name in files if importable(name))
    return frozenset(found)


def importable(name: str) -> bool:
    """Whether Python could import or run ``name`` on its own from a folder on its path."""
    return name.lower().endswith(_PYTHON_SUFFIXES)


RECORD_SUFFIX = ".intake.json"  # beside a copied folder: what was left out of it, written by the grader


@dataclass(frozen=True)
class Bounds:
    """How much one submission may bring in, and how much of it the copy may look at."""

    max_files: int = 200
    max_file_bytes: int = 100 * 1024 * 1024  # nbgrader's own default for one file
    max_total_bytes: int = 200 * 1024 * 1024
    max_depth: int = 8
    max_entries: int = 2000  # entries of any kind looked at in the whole submission
    max_folder_entries: int = 500  # entries looked at in one folder
    max_named: int = 50  # entries left out that are named one by one; the rest are counted
    max_notebook_values: int = 200_000  # JSON values in one notebook (counted from its text, see bound_notebook)
    max_notebook_depth: int = 64  # JSON nesting in one notebook
    max_metadata_bytes: int = 16 * 1024  # one kept metadata entry of a notebook or a cell, as JSON
    # Python a submission may bring after all: the course's Autograde.exclude_overwriting, where an
    # instructor asks for a student's own helper module (paths relative to the submission).
    python_allowed: frozenset[str] = frozenset()
    # The course's own Python files (as released, e.g. gan_checks.py): left out without a word, since
    # nbgrader copies the course's version into every graded folder.
    course_python: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Skipped:
    """One entry of a submission that was not copied, and why (in words a student understands)."""

    path: str
    reason: str

    def text(self) -> str:
        return f"{self.path}: {self.reason}"


class Copied(list):
    """What ``copy_submission`` left out (a list of ``Skipped``), and what it saw of the rest:
    ``complete`` is False when part of the submission could not be looked at or read (a folder
    it may not read, an entry that changed or vanished during the copy, a listing cut at a bound);
    ``changed`` is the latest inode change time of everything it did look at."""

    complete: bool = True
    changed: float = 0.0


_KINDS = {
    stat.S_IFLNK: "a symbolic link, which is never followed",
    stat.S_IFIFO: "a named pipe, not a file",
    stat.S_IFSOCK: "a socket, not a file",
    stat.S_IFCHR: "a device, not a file",
    stat.S_IFBLK: "a device, not a file",
}
_OPEN_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _shown(path: str) -> str:
    """A path as records and logs can hold it: a name that is not UTF-8 keeps its readable part."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")[:300]


class NotAFolder(OSError):
    """The submission itself is a link or not a folder: nothing is copied."""


def _read_bounded(fd: int, limit: int) -> bytes | None:
    """Up to ``limit`` bytes of an open file, or None if it holds more."""
    chunks, size = [], 0
    while True:
        chunk = os.read(fd, min(1 << 20, limit + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return None


def _valid_timestamp(data: bytes) -> bool:
    """Whether nbgrader can read ``data`` as a submission time (empty means none, as for nbgrader)."""
    try:
        text = data.decode("utf-8").strip()
        return not text or parse_utc(text) is not None
    except (UnicodeDecodeError, ValueError, OverflowError):
        return False


def copy_submission(src: str | Path, dest: str | Path, bounds: Bounds = Bounds(), ignore: Iterable[str] = ()) -> Copied:
    """Copy the folder ``src`` to ``dest`` (created), regular files and folders only, within ``bounds``.

    Names matching an ``ignore`` pattern are left out silently (as nbgrader does); anything else
    that is not copied is returned, at most ``bounds.max_named`` of them by name. The walk holds one
    descriptor per folder level (so at most ``max_depth`` + 2 at once, whatever the submission
    holds) and closes each on every path out. Raises ``NotAFolder`` if ``src`` itself is a link or
    no folder; nothing below it raises.
    """
    try:
        top = os.open(src, _OPEN_DIR)
    except OSError as error:
        raise NotAFolder(f"{src} is not a folder (links are never followed): {error.strerror}") from None
    os.makedirs(dest, exist_ok=True)
    walk = _Walk(str(dest), bounds, list(ignore))
    try:
        walk.folder(top, "", 0)
    finally:
        os.close(top)
    return walk.result()


class _Walk:
    """One copy: the folders depth first, each listed within the bounds before any is entered."""

    def __init__(self, dest: str, bounds: Bounds, ignore: list[str]):
        self.dest, self.bounds, self.ignore = dest, bounds, ignore
        self.files = self.total = self.entries = 0
        self.skipped: list[Skipped] = []
        self.unnamed = 0  # entries left out beyond those named
        self.complete = True
        self.changed = 0.0
        self.stopped = False  # the whole submission's entry bound was reached

    def skip(self, path: str, reason: str, *, partial: bool = False) -> None:
        self.complete = self.complete and not partial
        if len(self.skipped) < self.bounds.max_named:
            self.skipped.append(Skipped(_shown(path), reason))
        else:
            self.unnamed += 1

    def result(self) -> Copied:
        copied = Copied(self.skipped)
        if self.unnamed:
            copied.append(Skipped("...", f"{self.unnamed} more entries left out, not named one by one"))
        copied.complete, copied.changed = self.complete, self.changed
        return copied

    def seen(self, info: os.stat_result) -> None:
        self.changed = max(self.changed, info.st_ctime)

    def listing(self, folder: int, rel: str) -> list[str] | None:
        """The folder's names, sorted, within the bounds on entries (None if it cannot be read)."""
        names: list[str] = []
        room = min(self.bounds.max_folder_entries, self.bounds.max_entries - self.entries)
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if len(names) == room:
                        whole = len(names) < self.bounds.max_folder_entries
                        self.stopped = self.stopped or whole
                        limit = (
                            f"the submission holds more than {self.bounds.max_entries} entries"
                            if whole
                            else f"more than {self.bounds.max_folder_entries} entries in one folder"
                        )
                        self.skip(rel + "/", f"{limit}; the rest were not looked at", partial=True)
                        break
                    names.append(entry.name)
        except OSError as error:
            self.skip(rel + "/", f"could not be read: {error.strerror or error}", partial=True)
            return None
        self.entries += len(names)
        return sorted(names)

    def folder(self, fd: int, rel: str, depth: int) -> None:
        """Copy the open folder ``fd`` (``rel`` in the submission) and, one at a time, its folders."""
        names = self.listing(fd, rel)
        subfolders = []
        for name in names or ():
            path = os.path.join(rel, name)
            if any(fnmatch.fnmatch(name, pattern) for pattern in self.ignore):
                continue
            try:
                info = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except OSError as error:  # gone since the listing, or unreadable
                self.skip(path, f"could not be looked at: {error.strerror or error}", partial=True)
                continue
            self.seen(info)
            if stat.S_ISDIR(info.st_mode):
                subfolders.append(name)
            else:
                self.file(fd, name, path, info, rel == "")
        for name in subfolders:
            path = os.path.join(rel, name)
            if self.stopped:
                self.skip(path + "/", "not looked at: the submission holds too many entries", partial=True)
                continue
            if depth + 1 >= self.bounds.max_depth:
                self.skip(path + "/", f"folders nested more than {self.bounds.max_depth} deep", partial=True)
                continue
            try:
                sub = os.open(name, _OPEN_DIR, dir_fd=fd)
            except OSError as error:  # replaced by a link since the look, or unreadable
                self.skip(path + "/", f"could not be read: {error.strerror or error}", partial=True)
                continue
            try:
                os.mkdir(os.path.join(self.dest, path))
                self.folder(sub, path, depth + 1)
                self.seen(os.fstat(sub))  # after the walk: a change made meanwhile counts
            finally:
                os.close(sub)
        self.seen(os.fstat(fd))

    def file(self, folder: int, name: str, path: str, info: os.stat_result, top: bool) -> None:
        kind = stat.S_IFMT(info.st_mode)
        if kind != stat.S_IFREG:
            self.skip(path, _KINDS.get(kind, "not a regular file"))
            return
        if importable(name) and path not in self.bounds.python_allowed:
            if path not in self.bounds.course_python:
                self.skip(path, PYTHON_LEFT_OUT)
            return
        if self.files >= self.bounds.max_files:
            self.skip(path, f"more than {self.bounds.max_files} files in the submission")
            return
        limit = min(self.bounds.max_file_bytes, self.bounds.max_total_bytes - self.total)
        if info.st_size > limit:
            self.skip(path, _too_big(info.st_size, self.bounds, self.total))
            return
        try:
            fd = os.open(name, _OPEN_FILE, dir_fd=folder)
        except OSError as error:
            self.skip(path, f"could not be read: {error.strerror or error}", partial=True)
            return
        try:
            opened = os.fstat(fd)
            if not stat.S_ISREG(opened.st_mode):  # swapped for something else since the look
                self.skip(path, "changed while it was being copied", partial=True)
                return
            data = _read_bounded(fd, limit)
            self.seen(os.fstat(fd))  # after the read: a change made meanwhile counts
        except OSError as error:
            self.skip(path, f"could not be read: {error.strerror or error}", partial=True)
            return
        finally:
            os.close(fd)
        if data is None:
            self.skip(path, _too_big(limit + 1, self.bounds, self.total))
            return
        if top and name == "timestamp.txt" and not _valid_timestamp(data):
            self.skip(path, "not a submission time nbgrader can read")
            return
        target = os.path.join(self.dest, path)
        out = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        with os.fdopen(out, "wb") as handle:
            handle.write(data)
        os.utime(target, ns=(opened.st_atime_ns, opened.st_mtime_ns))
        self.files += 1
        self.total += len(data)


def take_in(folder: Path, copy: Path, bounds: Bounds = Bounds(), ignore: Iterable[str] = ()) -> list[Skipped] | None:
    """Copy the submission ``folder`` (``submitted/<student>/<assignment>``) to ``copy`` as data; return
    what was left out of it, collect's record included, or None when the student's folder itself
    is not a folder (a link is never followed): nothing of it is graded then."""
    try:
        if not stat.S_ISDIR(os.lstat(folder.parent).st_mode):
            return None
    except OSError:
        return None
    skipped = read_record(folder)
    try:
        skipped += copy_submission(folder, copy, bounds, ignore)
    except NotAFolder:
        copy.mkdir(parents=True, exist_ok=True)
        skipped.append(Skipped(folder.name, "the submission is a link, not a folder; it was not followed"))
    except Exception as error:  # noqa: BLE001 - whatever it is, it costs this student alone
        copy.mkdir(parents=True, exist_ok=True)
        skipped.append(Skipped(folder.name, f"could not be read: {_error_text(error)}"))
    for notebook in sorted(copy.glob("*.ipynb")):  # what nbgrader grades: the top folder's notebooks
        try:
            left_out = bound_notebook(notebook, bounds)
        except Exception as error:  # noqa: BLE001 - this notebook's alone
            notebook.unlink(missing_ok=True)
            left_out = Skipped(notebook.name, f"could not be read: {_error_text(error)}")
        if left_out is not None:
            skipped.append(left_out)
    return skipped


# -- a notebook's structure, bounded before nbgrader parses it ------------------------------------

# What nbgrader, nbconvert and JupyterLab use of a notebook's and a cell's metadata; the rest
# (anything a student or an extension put there) is dropped from the copy that is graded.
NOTEBOOK_METADATA = frozenset({"kernelspec", "language_info", "celltoolbar", "nbgrader"})
CELL_METADATA = frozenset(
    {"nbgrader", "deletable", "editable", "tags", "collapsed", "scrolled", "jupyter", "trusted", "slideshow"}
)
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')  # a JSON string, escapes included
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def structure(data: bytes) -> tuple[int, int]:
    """An upper bound on the number of JSON values in ``data`` and its nesting depth, read from the
    text without building any of it (a notebook of two million empty objects is 6 MB of text but
    gigabytes once parsed). Strings are blanked first; then every value but the last of each
    container is followed by a comma, and every container opens with a bracket."""
    bare = _STRING.sub(b"", data)
    values = bare.count(b",") + bare.count(b"{") + bare.count(b"[") + 1
    brackets = np.frombuffer(bare.translate(None, _NOT_BRACKETS), dtype=np.uint8)
    del bare
    depth = deepest = 0
    for start in range(0, brackets.size, 1 << 20):  # a megabyte at a time: memory stays a few copies of the text
        chunk = brackets[start : start + (1 << 20)]
        walk = np.cumsum(((chunk == ord("{")) | (chunk == ord("["))).astype(np.int32) * 2 - 1) + depth
        deepest, depth = max(deepest, int(walk.max())), int(walk[-1])
    return values, deepest


def bound_notebook(path: Path, bounds: Bounds = Bounds()) -> Skipped | None:
    """Leave the notebook at ``path`` (the grader's copy) out if its JSON structure passes the
    bounds, saying why; otherwise drop what grading never reads (saved outputs, which autograde
    clears anyway, and unknown or oversized metadata), so that nbgrader parses, and
    ``autograded/`` keeps, no more than the notebook's cells. Text that is not a JSON notebook
    of nbformat 4 is left as it is, for nbgrader to name."""
    data = path.read_bytes()
    values, depth = structure(data)
    reason = None
    if values > bounds.max_notebook_values:
        reason = f"a notebook of more than {bounds.max_notebook_values:,} JSON values, too many to grade"
    elif depth > bounds.max_notebook_depth:
        reason = f"a notebook nested more than {bounds.max_notebook_depth} deep, too deep to grade"
    if reason:
        path.unlink()
        return Skipped(path.name, reason)
    try:
        nb = json.loads(data)
    except (ValueError, RecursionError):
        return None  # not JSON (or not UTF-8): nbgrader's own reading names it
    del data
    if not isinstance(nb, dict) or nb.get("nbformat") != 4 or not isinstance(nb.get("cells"), list):
        return None
    changed = _keep_metadata(nb, NOTEBOOK_METADATA, bounds)
    for cell in nb["cells"]:
        if not isinstance(cell, dict):
            continue
        changed |= _keep_metadata(cell, CELL_METADATA, bounds)
        if cell.get("outputs"):
            cell["outputs"], changed = [], True
    if changed:
        path.write_text(json.dumps(nb, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return None


def _keep_metadata(holder: dict, known: frozenset[str], bounds: Bounds) -> bool:
    """Keep only the ``known`` metadata entries of ``holder`` that are no larger than the bound;
    return whether any was dropped."""
    metadata = holder.get("metadata")
    if not isinstance(metadata, dict):
        return False
    kept = {
        key: value
        for key, value in metadata.items()
        if key in known and len(json.dumps(value)) <= bounds.max_metadata_bytes
    }
    holder["metadata"] = kept
    return len(kept) != len(metadata)


def _error_text(error: BaseException) -> str:
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return _shown(f"{text}")[:200]


def _too_big(size: int, bounds: Bounds, total: int) -> str:
    if size > bounds.max_file_bytes:
        return f"larger than {_size(bounds.max_file_bytes)}, the most one file may be"
    return f"the submission would pass {_size(bounds.max_total_bytes)} in all"


def _size(count: int) -> str:
    return f"{count / 2**20:g} MiB" if count >= 2**20 else f"{count / 2**10:g} KiB"


# -- the record beside a copy -----------------------------------------------------------------------


def record_path(folder: str | Path) -> Path:
    """Where the grader keeps what was left out of ``folder`` (beside it, never inside it)."""
    folder = Path(folder)
    return folder.with_name(folder.name + RECORD_SUFFIX)


def write_record(folder: str | Path, skipped: list[Skipped]) -> None:
    """Record ``skipped`` beside ``folder`` (or remove an old record if nothing was left out)."""
    path = record_path(folder)
    path.unlink(missing_ok=True)
    if skipped:
        path.write_text(json.dumps([asdict(item) for item in skipped], indent=1), encoding="utf-8")


def read_record(folder: str | Path) -> list[Skipped]:
    """What was left out of ``folder``, as recorded (nothing if there is no readable record)."""
    path = record_path(folder)
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return []
        items = json.loads(path.read_text(encoding="utf-8"))
        return [Skipped(str(item["path"]), str(item["reason"])) for item in items]
    except (OSError, ValueError, KeyError, TypeError):
        return []


# -- nbgrader collect ---------------------------------------------------------------------------


def owner(path: str | Path) -> str:
    """The account that owns ``path`` itself (a link is not followed)."""
    uid = os.lstat(path).st_uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


class SafeCollect(SharedRoot, ExchangeCollect):
    """``nbgrader collect`` that copies each submission with ``copy_submission``, and only the
    submissions a student made as themselves.

    nbgrader's own collect copies with ``shutil.copytree``, which copies the targets of symbolic
    links (a student's links to the instructor's solutions, as the instructor), opens FIFOs and
    devices, and stops the whole collection on a file it cannot read. It also collects whatever
    names a student id: anyone may ``nbgrader submit --student victim`` into the shared exchange,
    and the latest submission wins, so nbgrader's warning ("cheating attempt?") comes with the
    forger's work already in place of the victim's. Here (with ``check_owner``, nbgrader's default)
    a submission owned by another account is never collected: the student's own latest submission
    is, and if there is none, nothing is (no folder in ``submitted/``) and the log names the forged one.
    """

    timestamp_slack = Integer(
        300,
        help="Seconds a submission's timestamp.txt may precede the last change to its files (clock skew "
        "between machines sharing the exchange); an earlier claim is replaced by that change's time.",
    ).tag(config=True)

    def _forged(self, src: str, student_id: str) -> str | None:
        """Why the submission folder ``src`` is not ``student_id``'s own (None if it is)."""
        if not self.check_owner:
            return None
        try:
            made_by = owner(src)
        except OSError as error:
            made_by = f"nobody readable ({error.strerror})"
        return None if made_by == student_id else f"submitted by the account {made_by}, not by {student_id}"

    def _sort_by_timestamp(self, records: list[dict]) -> list[dict]:
        # nbgrader takes the first record of each student's list: their own latest submission
        # comes before any that another account made in their name.
        genuine, forged = [], []
        for record in super()._sort_by_timestamp(records):
            src = os.path.join(self.inbound_path, record["filename"])
            reason = self._forged(src, record["username"])
            (forged if reason else genuine).append(record)
            if reason:
                self.log.error("Not collected: %s: %s", src, reason)
        return genuine + forged

    def init_src(self) -> None:
        # A student whose only submissions were made by other accounts gets nothing: no folder in
        # submitted/ (an empty one would be graded as a submission scoring 0). Each forged one is
        # named in the log by _sort_by_timestamp.
        super().init_src()
        kept = []
        for record in self.src_records:
            if self._forged(os.path.join(self.inbound_path, record["filename"]), record["username"]):
                self.log.error("Nothing collected for %s: no submission of their own", record["username"])
            else:
                kept.append(record)
        self.src_records = kept

    def _bound_submission_time(self, src: str, dest: str, changed: float | None) -> list[Skipped]:
        """Replace a submission time that claims to be earlier than the submission's files by
        when they last changed: a student owns their submitted folder and can rewrite its
        timestamp.txt (to escape a late penalty), but not the change times of its files.
        ``changed`` is that time as the copy saw it; None when the copy could not see or read all
        of the submission, which then counts as changed now, at collect time."""
        stamp = Path(dest) / "timestamp.txt"
        try:
            text = stamp.read_text(encoding="utf-8").strip() if stamp.is_file() else ""
            claimed = parse_utc(text) if text else None
        except (OSError, UnicodeDecodeError, ValueError, OverflowError):
            text, claimed = "", None
        now = datetime.now(timezone.utc).timestamp()
        latest = datetime.fromtimestamp(now if changed is None else changed, timezone.utc).replace(tzinfo=None)
        if claimed is not None and latest <= claimed + timedelta(seconds=self.timestamp_slack):
            return []
        when = latest.strftime("%Y-%m-%d %H:%M:%S.%f UTC")
        os.makedirs(dest, exist_ok=True)
        stamp.unlink(missing_ok=True)
        stamp.write_text(when, encoding="utf-8")
        said = f"it said {text!r}" if text else "it had none"
        why = "was not all readable when collected" if changed is None else f"last changed at {when}"
        self.log.warning("Submission time of %s: %s, but its files %s", src, said, why)
        return [Skipped("timestamp.txt", f"{said}, but the submission's files {why}: {when} is its time")]

    def do_copy(self, src: str, dest: str, log=None) -> None:  # noqa: ANN001 - nbgrader's signature
        reason = self._forged(src, Path(dest).parent.name)
        if reason:  # init_src leaves these out; never copy one whatever the caller
            self.log.error("Not collected: %s: %s", src, reason)
            return
        bounds = Bounds(
            max_file_bytes=self.coursedir.max_file_size * 1000,
            max_total_bytes=self.coursedir.max_dir_size * 1000,
            python_allowed=python_allowed(self.config, self.coursedir.assignment_id),
            course_python=course_python(
                self.coursedir.format_path(self.coursedir.source_directory, ".", self.coursedir.assignment_id)
            ),
        )
        changed: float | None = None  # unless the copy saw and read all of it: changed now
        try:
            copied = copy_submission(src, dest, bounds, self.coursedir.ignore)
            skipped = list(copied)
            changed = copied.changed if copied.complete else None
        except NotAFolder as error:
            self.log.error("Not collected: %s", error)
            os.makedirs(dest, exist_ok=True)
            write_record(
                dest, [Skipped(os.path.basename(src), "the submission is not a folder; nothing was collected")]
            )
            return
        except Exception as error:  # noqa: BLE001 - e.g. a folder the instructor may not read: this student only
            self.log.error("Could not fully collect %s: %s", src, _error_text(error))
            skipped = [Skipped(os.path.basename(src), f"could not be read: {_error_text(error)}")]
        # Whatever the copy met: a backdated time must not survive a copy that stopped part-way.
        skipped += self._bound_submission_time(src, dest, changed)
        for item in skipped:
            self.log.warning("Left out of %s: %s", dest, item.text())
        write_record(dest, skipped)
