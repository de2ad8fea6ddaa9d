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
import itertools
import json
import os
import pwd
import stat
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from nbgrader.exchange.default.collect import ExchangeCollect
from nbgrader.utils import parse_utc
from traitlets import Integer

from gankit.nbgrader_adapter.exchange import SharedRoot

RECORD_SUFFIX = ".intake.json"  # beside a copied folder: what was left out of it, written by the grader


@dataclass(frozen=True)
class Bounds:
    """How much one submission may bring in."""

    max_files: int = 200
    max_file_bytes: int = 100 * 1024 * 1024  # nbgrader's own default for one file
    max_total_bytes: int = 200 * 1024 * 1024
    max_depth: int = 8


@dataclass(frozen=True)
class Skipped:
    """One entry of a submission that was not copied, and why (in words a student understands)."""

    path: str
    reason: str

    def text(self) -> str:
        return f"{self.path}: {self.reason}"


_KINDS = {
    stat.S_IFLNK: "a symbolic link, which is never followed",
    stat.S_IFIFO: "a named pipe, not a file",
    stat.S_IFSOCK: "a socket, not a file",
    stat.S_IFCHR: "a device, not a file",
    stat.S_IFBLK: "a device, not a file",
}
_OPEN_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


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


def copy_submission(
    src: str | Path, dest: str | Path, bounds: Bounds = Bounds(), ignore: Iterable[str] = ()
) -> list[Skipped]:
    """Copy the folder ``src`` to ``dest`` (created), regular files and folders only, within ``bounds``.

    Names matching an ``ignore`` pattern are left out silently (as nbgrader does); anything else
    that is not copied is returned. Raises ``NotAFolder`` if ``src`` itself is a link or no folder.
    """
    ignore = list(ignore)
    try:
        top = os.open(src, _OPEN_DIR)
    except OSError as error:
        raise NotAFolder(f"{src} is not a folder (links are never followed): {error.strerror}") from None
    os.makedirs(dest, exist_ok=True)
    skipped: list[Skipped] = []
    files = total = 0
    todo = [(top, "", 0)]
    while todo:
        folder, rel, depth = todo.pop()
        try:
            for name in sorted(os.listdir(folder)):
                path = os.path.join(rel, name)
                if any(fnmatch.fnmatch(name, pattern) for pattern in ignore):
                    continue
                info = os.stat(name, dir_fd=folder, follow_symlinks=False)
                kind = stat.S_IFMT(info.st_mode)
                if kind == stat.S_IFDIR:
                    if depth + 1 >= bounds.max_depth:
                        skipped.append(Skipped(path + "/", f"folders nested more than {bounds.max_depth} deep"))
                        continue
                    sub = os.open(name, _OPEN_DIR, dir_fd=folder)
                    os.mkdir(os.path.join(dest, path))
                    todo.append((sub, path, depth + 1))
                    continue
                if kind != stat.S_IFREG:
                    skipped.append(Skipped(path, _KINDS.get(kind, "not a regular file")))
                    continue
                if files >= bounds.max_files:
                    skipped.append(Skipped(path, f"more than {bounds.max_files} files in the submission"))
                    continue
                limit = min(bounds.max_file_bytes, bounds.max_total_bytes - total)
                if info.st_size > limit:
                    skipped.append(Skipped(path, _too_big(info.st_size, bounds, total)))
                    continue
                fd = os.open(name, _OPEN_FILE, dir_fd=folder)
                try:
                    opened = os.fstat(fd)
                    if not stat.S_ISREG(opened.st_mode):  # swapped for something else since the look
                        skipped.append(Skipped(path, "changed while it was being copied"))
                        continue
                    data = _read_bounded(fd, limit)
                finally:
                    os.close(fd)
                if data is None:
                    skipped.append(Skipped(path, _too_big(limit + 1, bounds, total)))
                    continue
                if rel == "" and name == "timestamp.txt" and not _valid_timestamp(data):
                    skipped.append(Skipped(path, "not a submission time nbgrader can read"))
                    continue
                out = os.open(os.path.join(dest, path), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
                with os.fdopen(out, "wb") as handle:
                    handle.write(data)
                os.utime(os.path.join(dest, path), ns=(opened.st_atime_ns, opened.st_mtime_ns))
                files += 1
                total += len(data)
        finally:
            os.close(folder)
    return skipped


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
    except OSError as error:  # unreadable by the grader: the student is graded on what was copied
        skipped.append(Skipped(folder.name, f"could not be read: {error.strerror or error}"))
    return skipped


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


def _entries(folder: str | Path) -> Iterator[str]:
    for root, dirs, files in os.walk(folder, followlinks=False):
        for name in dirs + files:
            yield os.path.join(root, name)


def last_changed(folder: str | Path, limit: int = 10_000) -> datetime:
    """When ``folder`` or anything in it last changed, in UTC (inode change times, which no user
    can set back); links are not followed, and at most ``limit`` entries are looked at."""
    latest = os.lstat(folder).st_ctime
    for path in itertools.islice(_entries(folder), limit):  # the walk stops at the limit too
        try:
            latest = max(latest, os.lstat(path).st_ctime)
        except OSError:
            continue
    return datetime.fromtimestamp(latest, timezone.utc).replace(tzinfo=None)  # naive UTC, as nbgrader's times


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

    def _bound_submission_time(self, src: str, dest: str) -> list[Skipped]:
        """Replace a submission time that claims to be earlier than the submission's files by
        when they last changed: a student owns their submitted folder and can rewrite its
        timestamp.txt (to escape a late penalty), but not the change times of its files."""
        stamp = Path(dest) / "timestamp.txt"
        try:
            text = stamp.read_text(encoding="utf-8").strip() if stamp.is_file() else ""
            claimed = parse_utc(text) if text else None
        except (OSError, UnicodeDecodeError, ValueError, OverflowError):
            claimed = None
        changed = last_changed(src)
        if claimed is not None and changed <= claimed + timedelta(seconds=self.timestamp_slack):
            return []
        when = changed.strftime("%Y-%m-%d %H:%M:%S.%f UTC")
        stamp.write_text(when, encoding="utf-8")
        said = f"it said {text!r}" if text else "it had none"
        self.log.warning("Submission time of %s: %s, but its files last changed at %s", src, said, when)
        return [
            Skipped("timestamp.txt", f"{said}, but the submission's files last changed at {when}: that is its time")
        ]

    def do_copy(self, src: str, dest: str, log=None) -> None:  # noqa: ANN001 - nbgrader's signature
        reason = self._forged(src, Path(dest).parent.name)
        if reason:  # init_src leaves these out; never copy one whatever the caller
            self.log.error("Not collected: %s: %s", src, reason)
            return
        bounds = Bounds(
            max_file_bytes=self.coursedir.max_file_size * 1000,
            max_total_bytes=self.coursedir.max_dir_size * 1000,
        )
        try:
            skipped = copy_submission(src, dest, bounds, self.coursedir.ignore)
            skipped += self._bound_submission_time(src, dest)
        except NotAFolder as error:
            self.log.error("Not collected: %s", error)
            os.makedirs(dest, exist_ok=True)
            skipped = [Skipped(os.path.basename(src), "the submission is not a folder; nothing was collected")]
        except OSError as error:  # e.g. a folder the instructor may not read: this student only
            self.log.error("Could not fully collect %s: %s", src, error)
            skipped = [Skipped(os.path.basename(src), f"could not be read: {error.strerror or error}")]
        for item in skipped:
            self.log.warning("Left out of %s: %s", dest, item.text())
        write_record(dest, skipped)
