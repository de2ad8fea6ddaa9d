"""Hostile and broken submissions, graded by the real ``nbgrader autograde`` with the course's config.

One scratch course, one class of troublemakers and one well-behaved control student, one plain
``nbgrader autograde`` run (cell timeouts and the notebook budget shortened so that the endless
loops cost seconds, not minutes); each test then reads what happened to one of them. Expected
scores come from the points in the source notebooks; every attack runs with the scratch course's
real path written into it.

The whole suite runs twice: grading as root (bubblewrap privileged, a uid of the sandbox's own,
cgroups) and grading as an ordinary Unix account (bubblewrap in a user namespace, no cgroups), as
a grader on JupyterHub does. Both must hold the same line.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell
from nbgrader.api import Gradebook
from processes import MARK, of_this_run, running
from unix_accounts import give, run_as, unix_accounts

from gankit import ASSIGNMENT, NOTEBOOKS, ROOT, class_report, notebooks, scores
from gankit.goldens import copy_course
from gankit.nbgrader_adapter.faults import FAULTS_KEY
from gankit.nbgrader_cli import nbgrader_env, run_nbgrader
from gankit.plain_nbgrader import plain_nbgrader_copy
from gankit.sandbox.command import UID_BASE, runtime_paths
from gankit.simulated_class import Student, place_submission

# Grades as root and as an account of its own; alone, because the memory hoarders near the cgroup's
# limit must say how many hold their memory within the cell timeout (twice not, beside a busy worker).
pytestmark = [pytest.mark.root, pytest.mark.slow, pytest.mark.alone]

EX1, EX2, EX3 = NOTEBOOKS
BUDGET = 45  # seconds per notebook in this run (the course's default is 300)
FAST = ["--Execute.timeout=10", "--HiddenChecks.setup_seconds=8", f"--Sandbox.notebook_seconds={BUDGET}"]
# As root, grading makes no account and changes nothing above the kit: that run may go beside the
# tests that do (tests/conftest.py); the user run makes an account of its own.
MODES = (pytest.param("root", marks=pytest.mark.shares_nothing), pytest.param("user", marks=pytest.mark.accounts))


# -- building submissions -----------------------------------------------------------------------


def _path(folder: Path, notebook: str) -> Path:
    return folder / f"{notebook}.ipynb"


def _edit(folder: Path, notebook: str, change: Callable[[nbformat.NotebookNode], None]) -> None:
    nb = notebooks.read(_path(folder, notebook))
    change(nb)
    _path(folder, notebook).write_text(nbformat.writes(nb), encoding="utf-8")


def _index(nb: nbformat.NotebookNode, grade_id: str) -> int:
    return next(i for i, cell in enumerate(nb.cells) if notebooks.nbgrader_meta(cell).get("grade_id") == grade_id)


def _add_cell(notebook: str, source: str, after: str | None = None) -> Callable[[Path, dict], None]:
    """A student-added code cell, after the cell ``after`` (a grade id) or at the end."""

    def change(nb: nbformat.NotebookNode) -> None:
        position = _index(nb, after) + 1 if after else len(nb.cells)
        nb.cells.insert(position, new_code_cell(source))

    return lambda folder, ctx: _edit(folder, notebook, change)


SNOOP = """
import json, os
found = {}
for path in %(secrets)r:
    try:
        open(path, "rb").read(1)
        found[path] = "READ"
    except Exception as error:
        found[path] = type(error).__name__
for path in %(targets)r:
    try:
        with open(path, "w") as f:
            f.write("x" * 1000)
        found[path] = "WROTE"
    except Exception as error:
        found[path] = type(error).__name__
try:
    with open("/tmp/big", "wb") as f:
        for _ in range(100):
            f.write(bytes(1 << 20))
    found["/tmp/big"] = "WROTE 100 MiB"
except Exception as error:
    found["/tmp/big"] = type(error).__name__
found["listing"] = sorted(os.listdir(%(course)r)) if os.path.isdir(%(course)r) else "absent"
print("SNOOP " + json.dumps(found))
"""

DAEMON = """
import ctypes, os, subprocess, sys
libc = ctypes.CDLL(None)
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)", %(mark)r], start_new_session=True)
if os.fork() == 0:
    os.setsid()
    libc.prctl(1, 0, 0, 0, 0)  # no parent-death signal
    if os.fork() == 0:
        libc.prctl(1, 0, 0, 0, 0)
        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(3600)", %(mark)r])
    os._exit(0)
print("DAEMON started")
"""

NETWORK = """
import socket
s = socket.socket()
s.settimeout(3)
try:
    s.connect(("127.0.0.1", %(port)d))
    print("NETWORK connected")
except Exception as error:
    print("NETWORK " + type(error).__name__)
"""

FORK_BOMB = """
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
"""

MEMORY_BOMB = """
blocks = []
while True:
    blocks.append(bytearray(64 * 2**20))
"""

STUBBORN_LOOP = """
import signal
signal.signal(signal.SIGINT, signal.SIG_IGN)
while True:
    pass
"""

ESCAPE = """
import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
found = {}
def attempt(name, call):
    try:
        found[name] = "ok" if call() in (0, None) else "errno %%d" %% ctypes.get_errno()
    except Exception as error:
        found[name] = type(error).__name__
os.makedirs("/tmp/jail/inner", exist_ok=True)
attempt("chroot", lambda: libc.chroot(b"/tmp/jail"))
for _ in range(64):
    os.chdir("..")
attempt("chroot_again", lambda: libc.chroot(b"."))
attempt("unshare_user", lambda: libc.unshare(0x10000000))
attempt("unshare_mount", lambda: libc.unshare(0x00020000))
attempt("clone_newuser", lambda: libc.syscall(56, 0x10000000 | 17, 0, 0, 0, 0))
attempt("mount", lambda: libc.mount(b"none", b"/tmp/jail", b"tmpfs", 0, None))
attempt("pivot_root", lambda: libc.syscall(155, b"/tmp/jail", b"/tmp/jail/inner"))
attempt("ptrace", lambda: libc.ptrace(16, 1, 0, 0))
attempt("keyctl", lambda: libc.syscall(250, 0, 0, 0, 0))
attempt("setuid0", lambda: os.setuid(0))
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
found["caps"] = sorted({status[k].strip() for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")})
found["no_new_privs"] = status["NoNewPrivs"].strip()
found["seccomp"] = status["Seccomp"].strip()
found["root"] = sorted(os.listdir("/"))
found["passwd"] = os.path.exists("/etc/passwd")
print("ESCAPE " + json.dumps(found))
"""

HOARD_PROCESSES = """
import os, time
children = []
for _ in range(300):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    children.append(pid)
print("PROCESSES %%d" %% len(children))
for pid in children:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
"""

HOARD_MEMORY = """
import os, time
children = []
told, tell = os.pipe()
for _ in range(8):
    pid = os.fork()
    if pid == 0:
        held = b"x" * (400 << 20)
        os.write(tell, b"%%8d" %% os.getpid())  # only once its 400 MiB are written
        time.sleep(60)
        os._exit(0)
    children.append(pid)
os.close(tell)
os.set_blocking(told, False)
holding, gone = set(), set()
deadline = time.monotonic() + 7  # within the suite's 10 s cell timeout, so that the count is printed
# Near a memory limit a child can wait long for its pages (reclaim): alive is not yet holding.
# Wait until each child has said it holds its memory, or has been ended. Without a bound, eight
# children write their 400 MiB in a second or two, even on a busy machine.
while len(holding | gone) < 8 and time.monotonic() < deadline:
    time.sleep(0.5)
    try:
        said = os.read(told, 4096)
    except BlockingIOError:
        said = b""
    holding |= {int(said[i:i + 8]) for i in range(0, len(said), 8)}
    gone |= {pid for pid in children if pid not in gone and os.waitpid(pid, os.WNOHANG) != (0, 0)}
print("HOLDING %%d" %% len(holding - gone))
for pid in children:
    try:
        os.kill(pid, 9)
    except OSError:
        pass
"""

FILL = """
import json, os
written = {}
deep = "/tmp/deep"
try:
    os.mkdir(deep)
    for _ in range(1500):
        deep += "/d"
        os.mkdir(deep)
    written["deep"] = "ok"
except Exception as error:
    written["deep"] = type(error).__name__
for place in ("/tmp", "/kernel/ipc", "/submission", "/", "/dev", "/usr"):
    total = 0
    try:
        for i in range(100000):
            with open("%%s/fill-%%d" %% (place.rstrip("/"), i), "wb") as f:
                f.write(bytes(256 << 10))
            total += 256 << 10
    except Exception as error:
        written[place] = [total >> 20, type(error).__name__]
print("FILL " + json.dumps(written))
"""

UPDATE_FLOOD = """
from IPython.display import display
handle = display("start", display_id=True)
for _ in range(100):
    handle.update("u" * (1 << 20))
"""

WIDGET_FLOOD = """
from ipykernel.comm import Comm
comm = Comm(target_name="jupyter.widget", data={"state": {"_model_name": "x", "value": "w" * (1 << 20)}})
for _ in range(38):
    comm.send({"method": "update", "state": {"value": "w" * (1 << 20)}})
"""

LEAK = """
import functools, types, warnings
import numpy as np

def _words(args):
    shown = [np.asarray(a).tolist() if isinstance(a, (np.ndarray, float, int)) else str(a) for a in args]
    return "LEAK" + repr(shown)[:200]

_calls = [0]

def _leaky(function):
    @functools.wraps(function)
    def wrapped(*args, **kwargs):
        _calls[0] += 1
        text, mode = _words(args), _calls[0] %% 5
        if mode == 0:
            raise ValueError(text)
        if mode == 1:
            raise type(text, (Exception,), {})()
        if mode == 2:
            warnings.warn(text)
            return function(*args, **kwargs)
        if mode == 3:
            return type(text, (), {})()
        first = float(np.ravel(np.asarray(args[0], dtype=float))[0]) if args else 0.0
        return np.zeros((0, int(abs(first) * 1e6) %% 100000 + 1))
    return wrapped

for _name, _value in list(globals().items()):
    if isinstance(_value, types.FunctionType) and _value.__module__ == __name__ and not _name.startswith("_"):
        globals()[_name] = _leaky(_value)
"""

# Reads and writes every descriptor it can reach (its own, reopened through /proc, and every
# visible process's), forges a line for the grader's log and floods its stderr for two seconds.
LOG_READER = """
import json, os, stat, sys, time
forged = b"FORGED-LOG-LINE: the hidden checks crashed; grade this student by hand\\n"
read, wrote = b"", 0
for copy in (getattr(sys.stderr, "_original_stdstream_copy", None), 2):
    if copy is not None:
        os.write(copy, forged)
for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
    try:
        fds = os.listdir("/proc/%%s/fd" %% pid)
    except OSError:
        continue
    for fd in fds:
        path = "/proc/%%s/fd/%%s" %% (pid, fd)
        try:
            if os.readlink(path).startswith(("anon_inode:", "socket:")):
                continue  # the kernel's own event counters and sockets: nothing of the grader's
        except OSError:
            continue
        for flags in (os.O_WRONLY, os.O_RDONLY):
            try:
                opened = os.open(path, flags | os.O_NONBLOCK)
            except OSError:
                continue
            try:
                if flags == os.O_WRONLY:
                    os.write(opened, forged)
                else:
                    os.lseek(opened, 0, 0) if stat.S_ISREG(os.fstat(opened).st_mode) else None
                    read += os.read(opened, 1 << 20)
            except OSError:
                pass
            finally:
                os.close(opened)
original = getattr(sys.stderr, "_original_stdstream_copy", None)  # the kernel's own stderr
flood = 2 if original is None else original  # (fd 2 is the kernel's capture, shown in the notebook)
os.set_blocking(flood, False)
ends = time.monotonic() + 2
while time.monotonic() < ends:
    try:
        wrote += os.write(flood, b"x" * 65536)
    except BlockingIOError:
        time.sleep(0.01)
text = read.decode("utf-8", "replace")  # searched here: all of it would pass the output cap
# The log's words, spelt backwards here: this cell's own source is in what it reads (its history).
# ("control" alone is also the name of a Jupyter channel, in the kernel's own files.)
words = [w[::-1] for w in ("lortnoc/dettimbus", "tixe_hsarc", "doolf/", "ppAedargotuA", "gnidargotuA")]
print("LOGREADER " + json.dumps({"found": [w for w in words if w in text], "read": len(read), "wrote": wrote}))
"""


def _attack(template: str, notebook: str, after: str | None = None) -> Callable[[Path, dict], None]:
    def build(folder: Path, ctx: dict) -> None:
        _add_cell(notebook, template % ctx, after)(folder, ctx)

    return build


def _raise_before(grade_id: str, notebook: str) -> Callable[[Path, dict], None]:
    def change(nb):
        cell = nb.cells[_index(nb, grade_id)]
        cell.source = "raise RuntimeError('not finished yet')\n" + cell.source

    return lambda folder, ctx: _edit(folder, notebook, change)


def _truncate(notebook: str) -> Callable[[Path, dict], None]:
    def build(folder, ctx):
        path = _path(folder, notebook)
        path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])

    return build


def _latin1(notebook: str) -> Callable[[Path, dict], None]:
    def build(folder, ctx):
        path = _path(folder, notebook)
        text = path.read_text(encoding="utf-8").replace("YOUR ANSWER HERE", "Erdős–Rényi")
        text = text.replace('"cells": [', '"cells": [{"cell_type": "markdown", "metadata": {}, "source": "Ça va"},', 1)
        path.write_bytes(text.encode("latin-1", "replace"))

    return build


def _nbformat(notebook: str, version: int) -> Callable[[Path, dict], None]:
    def build(folder, ctx):
        path = _path(folder, notebook)
        if version == 3:
            nb = nbformat.convert(notebooks.read(path), 3)
            path.write_text(nbformat.writes(nb, version=3), encoding="utf-8")
        else:
            data = json.loads(path.read_text(encoding="utf-8"))
            data["nbformat"] = version
            path.write_text(json.dumps(data), encoding="utf-8")

    return build


def _delete(notebook: str, *grade_ids: str) -> Callable[[Path, dict], None]:
    def change(nb):
        nb.cells = [c for c in nb.cells if notebooks.nbgrader_meta(c).get("grade_id") not in grade_ids]

    return lambda folder, ctx: _edit(folder, notebook, change)


def _duplicate(notebook: str, *grade_ids: str) -> Callable[[Path, dict], None]:
    def change(nb):
        for grade_id in grade_ids:
            i = _index(nb, grade_id)
            copy = nbformat.from_dict(json.loads(json.dumps(nb.cells[i])))
            copy.pop("id", None)
            nb.cells.insert(i + 1, copy)

    return lambda folder, ctx: _edit(folder, notebook, change)


def _reorder(notebook: str) -> Callable[[Path, dict], None]:
    def change(nb):
        nb.cells = list(reversed(nb.cells))

    return lambda folder, ctx: _edit(folder, notebook, change)


def _retype(notebook: str, grade_id: str, cell_type: str) -> Callable[[Path, dict], None]:
    def change(nb):
        cell = nb.cells[_index(nb, grade_id)]
        cell.cell_type = cell_type
        cell.pop("outputs", None)
        cell.pop("execution_count", None)

    return lambda folder, ctx: _edit(folder, notebook, change)


def _meta(notebook: str, cell_id: str, **changes) -> Callable[[Path, dict], None]:
    def change(nb):
        nb.cells[_index(nb, cell_id)].metadata["nbgrader"].update(changes)

    return lambda folder, ctx: _edit(folder, notebook, change)


def _extra_files(folder: Path, ctx: dict) -> None:
    (folder / "gan_checks.py").write_text("def check_close(*a, **k):\n    print('all good')\n", encoding="utf-8")
    (folder / "ex4_bonus.ipynb").write_text(nbformat.writes(nbformat.v4.new_notebook()), encoding="utf-8")
    (folder / "nbgrader_config.py").write_text(
        "c = get_config()\nc.Sandbox.allow_unsandboxed = True\n", encoding="utf-8"
    )
    (folder / "data.bin").write_bytes(os.urandom(3 << 20))


def _huge_saved_output(notebook: str) -> Callable[[Path, dict], None]:
    def change(nb):
        cell = next(c for c in nb.cells if c.cell_type == "code")
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="y" * (40 << 20))]

    return lambda folder, ctx: _edit(folder, notebook, change)


def _many_cells(notebook: str, source: str, count: int) -> Callable[[Path, dict], None]:
    def change(nb):
        nb.cells.extend(new_code_cell(source) for _ in range(count))

    return lambda folder, ctx: _edit(folder, notebook, change)


def _forged_metadata(folder: Path, ctx: dict) -> None:
    forged = [{"where": "FORGED", "kind": "FORGED", "message": "FORGED by the student"}]
    for name in NOTEBOOKS:

        def change(nb):
            nb.metadata["gankit_faults"] = forged
            nb.metadata["gankit_repairs"] = forged
            nb.metadata["gankit_hidden_checks"] = {"x": {"score": 99, "points": 1, "checks": []}}
            nb.cells[0].metadata["gankit_faults"] = forged

        _edit(folder, name, change)


def _links(*notebooks_linked: str, special: bool = True) -> Callable[[Path, dict], None]:
    """Notebooks replaced by links to the course's model answers, and links and special files
    beside them: a student's files are data, none of this may be followed or opened."""

    def build(folder: Path, ctx: dict) -> None:
        for name in notebooks_linked:
            _path(folder, name).unlink()
            _path(folder, name).symlink_to(f"../../../solutions/{ASSIGNMENT}/{name}.ipynb")
        (folder / "passwd.txt").symlink_to("/etc/passwd")
        if not special:  # only what stock nbgrader survives, to show the links work there
            return
        (folder / "gradebook.db").symlink_to(Path(ctx["course"]) / "gradebook.db")
        (folder / "zero.bin").symlink_to("/dev/zero")
        (folder / "checks").symlink_to(ROOT / "gankit" / "checks")
        os.mkfifo(folder / "pipe.txt")
        deep = folder
        for _ in range(40):
            deep = deep / "d"
        deep.mkdir(parents=True)

    return build


def _many_folders(folder: Path, ctx: dict) -> None:
    """20,500 subfolders in one folder: more than a grader's 1,024 open files, were each held open."""
    (folder / "many").mkdir()
    fd = os.open(folder / "many", os.O_RDONLY)
    try:
        for i in range(20_500):
            os.mkdir(f"d{i:05d}", dir_fd=fd)
    finally:
        os.close(fd)


def _bloated(notebook: str) -> Callable[[Path, dict], None]:
    """Two million empty JSON objects in the notebook's metadata: 6 MB of text, gigabytes parsed."""

    def build(folder: Path, ctx: dict) -> None:
        path = _path(folder, notebook)
        nb = json.loads(path.read_bytes())
        nb["metadata"]["bloat"] = "@BLOAT@"
        path.write_bytes(json.dumps(nb).encode().replace(b'"@BLOAT@"', b"[" + b",".join([b"{}"] * 2_000_000) + b"]"))

    return build


def _empty(folder: Path, ctx: dict) -> None:
    for name in NOTEBOOKS:
        _path(folder, name).unlink()


def _several(*builders):
    def build(folder, ctx):
        for builder in builders:
            builder(folder, ctx)

    return build


@dataclass(frozen=True)
class Case:
    student_id: str
    what: str
    build: Callable[[Path, dict], None]
    honest: bool = True  # the model answers are typed in before the attack


CASES = (
    Case("control", "a correct submission", lambda folder, ctx: None),
    Case("snoop", "reads the course, the gradebook and the checks; writes everywhere", _attack(SNOOP, EX1)),
    Case("daemon", "starts processes that try to outlive grading", _attack(DAEMON, EX2)),
    Case("network", "connects to a server on the grader's loopback", _attack(NETWORK, EX3)),
    Case(
        "crash_exit",
        "os._exit in the middle of exercise 1",
        _attack("import os\nos._exit(3)", EX1, "answer_optimal_discriminator"),
    ),
    Case(
        "crash_segv",
        "a segmentation fault in exercise 2",
        _attack("import ctypes\nctypes.string_at(0)", EX2, "answer_value"),
    ),
    Case(
        "stubborn_loop", "an endless loop that ignores interrupts", _attack(STUBBORN_LOOP, EX3, "answer_f_from_logit")
    ),
    Case("fork_bomb", "a fork bomb", _attack(FORK_BOMB, EX2, "answer_orbit_radius")),
    Case("memory_bomb", "allocates memory until something gives", _attack(MEMORY_BOMB, EX1)),
    Case("flood", "prints 20 MB", _attack("for i in range(200_000):\n    print('x' * 100)", EX2)),
    Case(
        "import_error", "an answer cell that raises before its definition", _raise_before("answer_simultaneous_gd", EX2)
    ),
    Case("bad_json", "exercise 1 is truncated JSON", _truncate(EX1)),
    Case("not_utf8", "exercise 2 saved as Latin-1", _latin1(EX2)),
    Case("old_format", "exercise 3 saved as nbformat 3", _nbformat(EX3, 3)),
    Case("future_format", "exercise 3 claims nbformat 99", _nbformat(EX3, 99)),
    Case(
        "deleted",
        "deleted test cells",
        _several(_delete(EX1, "correct_discriminator_cost"), _delete(EX2, "correct_value", "correct_equilibrium")),
    ),
    Case("duplicated", "duplicated a test cell and an answer cell", _duplicate(EX2, "correct_value", "answer_value")),
    Case("reordered", "every cell of exercise 3 in reverse order", _reorder(EX3)),
    Case("retyped", "a test cell turned into markdown", _retype(EX1, "correct_optimal_discriminator", "markdown")),
    Case(
        "edited_meta",
        "raised a test cell's points, renamed another's grade id, broke a schema version",
        _several(
            _meta(EX1, "correct_optimal_discriminator", points=100),
            _meta(EX2, "correct_orbit_radius", grade_id="correct_free_points", points=50),
            _meta(EX3, "correct_generator_cost", schema_version=1),
        ),
    ),
    Case("huge_saved_output", "40 MB of output saved in the notebook", _huge_saved_output(EX3)),
    Case(
        "extra_files", "the release plus a fake gan_checks.py, an extra notebook and config", _extra_files, honest=False
    ),
    Case("empty", "an empty submission folder", _empty),
    Case("escape", "chroot escape, namespaces, mounts, tracing, keyrings, setuid", _attack(ESCAPE, EX1)),
    Case("hoard_processes", "forks as many processes as it can", _attack(HOARD_PROCESSES, EX2)),
    Case("hoard_memory", "eight processes of 400 MiB each", _attack(HOARD_MEMORY, EX3)),
    Case("filler", "fills every writable place and makes a folder chain 1,500 deep", _attack(FILL, EX1)),
    Case(
        "outputs",
        "floods through display updates, widget state and many cells",
        _several(_attack(UPDATE_FLOOD, EX2), _attack(WIDGET_FLOOD, EX2), _many_cells(EX3, "print('o' * 900_000)", 20)),
    ),
    Case(
        "time_hog",
        "cells that each stay just under the cell timeout",
        _many_cells(EX1, "import time\ntime.sleep(8)", 8),
    ),
    Case(
        "leaky",
        "puts the probe inputs into exceptions, class names, warnings and array shapes",
        _several(*(_attack(LEAK, name) for name in NOTEBOOKS)),
    ),
    Case("forger", "writes the kit's fault and verdict records into its own metadata", _forged_metadata),
    Case("linker", "notebooks are links to the model answers; links to secrets; a FIFO", _links(*NOTEBOOKS)),
    Case("one_link", "exercise 1 is a link to its model answer", _links(EX1, special=False)),
    Case("bloated", "exercise 1 holds two million empty JSON objects in its metadata", _bloated(EX1)),
    Case("many_folders", "a folder of 20,500 subfolders", _many_folders),
    Case("log_reader", "reads, forges and floods the grader's log through its descriptors", _attack(LOG_READER, EX2)),
    Case("zz_after", "a correct submission graded after every attacker", lambda folder, ctx: None),
)
CASE = {case.student_id: case for case in CASES}


# -- the grading run ----------------------------------------------------------------------------


class Listener:
    """A TCP server on the grader's loopback that counts the connections it accepts."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self.server.accept()
            except OSError:
                continue
            self.accepted += 1
            connection.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.server.close()


def _files(course: Path) -> dict[str, int]:
    """Every entry of the course but nbgrader's own outputs (autograded, feedback, gradebook), by
    its size if it is a file; links and special files are listed, never followed or opened."""
    skip = {"autograded", "feedback", ".venv", "__pycache__"}
    found = {}
    for base, dirs, names in os.walk(course):
        for name in dirs + names:
            path = Path(base) / name
            rel = path.relative_to(course)
            if skip & set(rel.parts) or rel.name.startswith("gradebook.db"):
                continue
            info = path.lstat()
            found[str(rel)] = info.st_size if stat.S_ISREG(info.st_mode) else -stat.S_IFMT(info.st_mode)
    return found


def _digests(course: Path, folder: str) -> dict[str, bytes]:
    found = {}
    for base, _, names in os.walk(course / folder):
        for name in names:
            path = Path(base) / name
            rel = str(path.relative_to(course))
            found[rel] = (
                path.read_bytes()
                if path.is_file() and not path.is_symlink()
                else os.readlink(path)
                if path.is_symlink()
                else b"special"
            )
    return found


def _host_tmp(folder: Path | None = None) -> set[str]:
    """The grader's own folders in its temporary folder (each sandbox's, each grading run's):
    ``folder``, the run's own (so that another course grading on this machine cannot count), or
    this process's."""
    return {p.name for p in (folder or Path(tempfile.gettempdir())).glob("gankit-*")}


def _sandbox_processes(uid: int | None = None) -> list[str]:
    """This run's processes that an attack started or that run as a sandbox uid (or as ``uid``)."""
    processes = running()
    ours = of_this_run(processes)
    left = []
    for pid in sorted(ours):
        process = processes[pid]
        if MARK in process.cmdline or process.uid >= UID_BASE or process.uid == uid:
            left.append(f"{pid} uid={process.uid} {process.cmdline[:120]}")
    return left


@dataclass
class Run:
    mode: str
    course: Path
    done: subprocess.CompletedProcess
    control_before: dict
    files_before: dict
    files_after: dict
    submitted_before: dict
    listener_accepted: int
    processes_left: list[str]
    host_tmp_left: set[str]
    seconds: float


def _run_tmp(course: Path) -> Path:
    """The temporary folder of the graders this test starts on ``course``: theirs alone."""
    return course.parent / "tmp"


def _grade(mode: str, user: str, course: Path, *args: str) -> subprocess.CompletedProcess:
    """``nbgrader autograde`` on ``course``, as root or as the ordinary account ``user``."""
    tmp = _run_tmp(course)
    if mode == "root":
        return run_nbgrader(["autograde", ASSIGNMENT, *args, *FAST], cwd=course, env={"TMPDIR": str(tmp)}, check=False)
    nbgrader = str(Path(sys.executable).parent / "nbgrader")
    return run_as(user, [nbgrader, "autograde", ASSIGNMENT, *args, *FAST], course, check=False, TMPDIR=str(tmp))


@pytest.fixture(scope="module", params=MODES)
def run(request, tmp_path_factory: pytest.TempPathFactory) -> Run:
    mode = request.param
    user = f"gkadv{os.getpid() % 100000}"
    with unix_accounts(user) if mode == "user" else contextlib.nullcontext():
        home = Path(pwd.getpwnam(user).pw_dir) if mode == "user" else tmp_path_factory.mktemp(f"adversarial-{mode}")
        yield _run(mode, user, home / "course")


def _run(mode: str, user: str, course: Path) -> Run:
    course = copy_course(course)
    run_nbgrader(["generate_assignment", ASSIGNMENT, "--force"], cwd=course)
    listener = Listener()
    ctx = {
        "course": str(course),
        "secrets": [
            str(course / "source" / ASSIGNMENT / f"{EX1}.ipynb"),
            str(course / "solutions" / ASSIGNMENT / f"{EX1}.ipynb"),
            str(course / "gradebook.db"),
            str(course / "nbgrader_config.py"),
            str(ROOT / "gankit" / "checks" / f"test_{EX1}.py"),
            str(ROOT / "gankit" / "judging" / "grader.py"),
            "/etc/passwd",
        ],
        "targets": [str(course / "pwned.txt"), str(course / "source" / "pwned.txt"), "pwned.txt", "/tmp/scratch.txt"],
        "mark": MARK,
        "port": listener.port,
    }
    for case in CASES:
        folder = place_submission(course, Student(case.student_id, case.what, cheats=not case.honest))
        case.build(folder, ctx)
    uid = None
    _run_tmp(course).mkdir(mode=0o700)
    if mode == "user":
        give(course, user)
        give(_run_tmp(course), user)
        uid = pwd.getpwnam(user).pw_uid

    # The control student is graded alone first; the troublemakers' run must not change it.
    first = _grade(mode, user, course, "--student", "control")
    assert first.returncode == 0, (first.stdout + first.stderr)[-3000:]
    control_before = scores.cell_scores(course, "control")
    files_before, submitted_before = _files(course), _digests(course, "submitted")
    tmp_before = _host_tmp(_run_tmp(course))
    start = time.monotonic()
    done = _grade(mode, user, course)
    seconds = time.monotonic() - start
    time.sleep(1)
    listener.close()
    return Run(
        mode,
        course,
        done,
        control_before,
        files_before,
        _files(course),
        submitted_before,
        listener.accepted,
        _sandbox_processes(uid),
        _host_tmp(_run_tmp(course)) - tmp_before,
        seconds,
    )


def _full(test_points) -> float:
    return sum(sum(cells.values()) for cells in test_points.values())


def _total(run: Run, student_id: str) -> float:
    return scores.auto_grand_total(run.course, student_id)


def _autograded(run: Run, student_id: str, notebook: str) -> nbformat.NotebookNode:
    return notebooks.read(run.course / "autograded" / student_id / ASSIGNMENT / f"{notebook}.ipynb")


def _faults(run: Run, student_id: str, notebook: str) -> list[dict]:
    return list(_autograded(run, student_id, notebook).metadata.get(FAULTS_KEY, []))


def _text(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            parts.append(
                str(output.get("text", ""))
                + str(output.get("evalue", ""))
                + str(output.get("data", {}).get("text/plain", ""))
            )
    return "\n".join(parts)


def _log(run: Run) -> str:
    return run.done.stdout + run.done.stderr


def _printed(run: Run, student_id: str, notebook: str, marker: str) -> dict:
    """The JSON an attack printed after ``marker`` in its cell."""
    text = _text(_autograded(run, student_id, notebook))
    return json.loads(text[text.index(marker) + len(marker) :].splitlines()[0])


def _grade_cell_outputs(run: Run, student_id: str, notebook: str) -> str:
    """Everything the autograded test cells show the student: the hidden checks' feedback."""
    nb = _autograded(run, student_id, notebook)
    return json.dumps(
        [c.outputs for c in nb.cells if c.cell_type == "code" and notebooks.nbgrader_meta(c).get("grade")]
    )


# -- the run as a whole -------------------------------------------------------------------------


def test_the_run_finishes_and_grades_every_student(run):
    # Every student is graded; the exit status still says that some notebooks could not be (as
    # nbgrader's does), and the last message names each.
    assert run.done.returncode == 1, _log(run)[-4000:]
    assert "notebooks could not be graded" in _log(run), _log(run)[-6000:]
    failed = _log(run)[_log(run).rindex("notebooks could not be graded") :]
    for student_id, notebook in (("bad_json", EX1), ("not_utf8", EX2), ("future_format", EX3)):
        assert f"{student_id}/{notebook}: " in failed, (student_id, failed[:2000])
    assert "control/" not in failed
    assert scores.students(run.course) == sorted(CASE)
    print(f"adversarial autograde of {len(CASES)} students: {run.seconds:.1f} s")


def test_the_course_folder_gains_no_files_and_submissions_are_untouched(run):
    assert run.files_after == run.files_before
    assert _digests(run.course, "submitted") == run.submitted_before
    assert run.host_tmp_left == set()  # every sandbox's and every run's own folder is gone


def test_no_process_outlives_grading(run):
    assert run.processes_left == []


def test_nothing_reaches_the_network(run):
    assert run.listener_accepted == 0
    assert "NETWORK ConnectionRefusedError" in _text(_autograded(run, "network", EX3)) or "NETWORK OSError" in _text(
        _autograded(run, "network", EX3)
    )


def test_the_gradebook_is_consistent_and_the_control_student_unchanged(run, test_points):
    with sqlite3.connect(run.course / "gradebook.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    assert scores.cell_scores(run.course, "control") == run.control_before
    assert _total(run, "control") == _full(test_points)
    # Every student has a grade for every graded cell of every notebook, at the source's points.
    for student_id in CASE:
        cells = scores.cell_scores(run.course, student_id)
        assert set(cells) == set(NOTEBOOKS), student_id
        for name in NOTEBOOKS:
            auto = {grade_id: cell.max_score for grade_id, cell in cells[name].items() if cell.autograded}
            assert auto == test_points[name], (student_id, name)


def test_the_log_ends_with_a_summary_naming_each_fault(run):
    log = _log(run)
    summary = log[log.index("Faults while grading") :]
    for student_id, notebook, kind in (
        ("crash_exit", EX1, "kernel died"),
        ("stubborn_loop", EX3, "timeout"),
        ("bad_json", EX1, "unreadable"),
        ("duplicated", EX2, "edited grade cell"),
        ("flood", EX2, "output limit"),
    ):
        assert re.search(rf"{student_id}/{notebook} .*: {kind}:", summary), (student_id, kind)


def test_the_class_report_names_each_fault_and_sign_of_tampering_with_student_and_reason(run):
    rows = {row.student_id: row for row in class_report.collect(run.course).students}
    for student_id, notebook, kind, reason in (
        ("crash_exit", EX1, "kernel died", "status 3"),
        ("stubborn_loop", EX3, "timeout", "did not finish"),
        ("bad_json", EX1, "unreadable", ""),
        ("duplicated", EX2, "edited grade cell", "repeats the grade id"),
        ("retyped", EX1, "edited grade cell", "type was changed"),
        ("flood", EX2, "output limit", "KiB"),
        ("time_hog", EX1, "time budget", "ran out"),
        ("snoop", EX1, "tampering sign", "names the course's files"),
    ):
        problems = rows[student_id].problems
        assert any(p.startswith(f"{notebook} ") and f": {kind}: " in p and reason in p for p in problems), (
            student_id,
            problems,
        )
    assert rows["control"].problems == []  # and nothing for a student who did nothing wrong


# -- attacks on the machine ---------------------------------------------------------------------


def test_student_code_cannot_read_the_course_or_write_outside_its_scratch(run, test_points):
    text = _text(_autograded(run, "snoop", EX1))
    found = json.loads(text[text.index("SNOOP ") + 6 :].splitlines()[0])
    assert all(
        found[path] == "FileNotFoundError" for path in found if path.endswith((".ipynb", ".db", ".py", "passwd"))
    ), found
    # Only the sandbox's own scratch is writable: /tmp and the notebook's working folder (where a
    # relative path lands), both in memory; nothing written there reaches the course (see above).
    scratch = {"/tmp/scratch.txt", "/tmp/big", "pwned.txt"}
    assert all(found[path] != "WROTE" for path in found if path not in scratch), found
    assert found["/tmp/scratch.txt"] == found["pwned.txt"] == "WROTE"  # the private scratch works ...
    assert found["/tmp/big"] == "OSError"  # ... and is small
    assert found["listing"] == "absent"  # not even the course's path exists in there
    assert _total(run, "snoop") == _full(test_points)


@pytest.mark.parametrize(
    ("student_id", "notebook", "kind", "detail"),
    [
        ("crash_exit", EX1, "kernel died", "status 3"),
        ("crash_segv", EX2, "kernel died", "signal 11"),
        ("stubborn_loop", EX3, "timeout", "10 seconds"),
        ("fork_bomb", EX2, "timeout|kernel died", "10 seconds|signal 9"),
    ],
)
def test_a_kernel_that_dies_or_hangs_costs_only_its_cell(run, test_points, student_id, notebook, kind, detail):
    faults = _faults(run, student_id, notebook)
    assert any(re.fullmatch(kind, f["kind"]) and re.search(detail, f["message"]) for f in faults), faults
    # The notebook carried on in a fresh kernel: the visible test after the fault still ran ...
    nb = _autograded(run, student_id, notebook)
    last_test = [c for c in nb.cells if c.cell_type == "code" and notebooks.nbgrader_meta(c).get("grade")][-1]
    assert last_test.outputs
    # ... and the hidden checks, in their own process, gave full marks for the working answers.
    assert _total(run, student_id) == _full(test_points)


def test_memory_and_output_bombs_cost_nothing_but_their_own_output(run, test_points):
    assert _total(run, "memory_bomb") == _full(test_points)
    assert _total(run, "flood") == _full(test_points)
    flood = _autograded(run, "flood", EX2)
    assert len(nbformat.writes(flood)) < 3 << 20
    assert "Output stopped here" in _text(flood)


def test_a_kernel_can_neither_read_nor_write_the_graders_log(run, test_points):
    """Whatever descriptor a notebook reaches, it reads nothing of the grader's log (what was said
    about the students graded before it), writes nothing into it and floods nothing past the caps;
    the student graded after it is graded in full."""
    found = _printed(run, "log_reader", EX2, "LOGREADER ")
    assert found["found"] == [] and found["read"] > 0, found  # it read its own descriptors, none of the log
    assert "FORGED-LOG-LINE" not in _log(run)
    assert found["wrote"] > 0 and "x" * 4096 not in _log(run)
    assert _total(run, "log_reader") == _full(test_points)
    assert _total(run, "zz_after") == _full(test_points)


def test_a_submission_of_20500_folders_costs_only_what_is_left_out(run, test_points):
    """The intake looks at a bounded number of entries with a bounded number of open files: the
    student is graded in full, the folder's remainder is named, and everyone after is graded."""
    assert _total(run, "many_folders") == _full(test_points)
    assert "more than 500 entries in one folder" in _log(run)
    assert _total(run, "zz_after") == _full(test_points)
    assert run.host_tmp_left == set()


def test_a_notebook_too_large_in_structure_costs_only_itself(run, test_points):
    """Left out before nbgrader parses it, named; the student's other notebooks are graded."""
    assert _total(run, "bloated") == _full(test_points) - sum(test_points[EX1].values())
    assert "a notebook of more than 200,000 JSON values, too many to grade" in _log(run)
    assert _total(run, "zz_after") == _full(test_points)


def test_an_exception_at_import_costs_only_that_functions_checks(run, test_points):
    cells = scores.cell_scores(run.course, "import_error")
    lost = {
        name: {g: c.max_score - (c.auto_score or 0) for g, c in cells[name].items() if c.autograded}
        for name in NOTEBOOKS
    }
    assert {(n, g) for n in lost for g, v in lost[n].items() if v} == {(EX2, "correct_simultaneous_gd")}
    assert "RuntimeError" in _text(_autograded(run, "import_error", EX2))


# -- the sandbox's walls ------------------------------------------------------------------------


def test_no_way_out_of_the_sandbox(run, test_points):
    """Chroot escapes, namespaces, mounts, tracing, keyrings, setuid: all refused; no capabilities."""
    found = _printed(run, "escape", EX1, "ESCAPE ")
    refused = ("chroot", "chroot_again", "unshare_user", "unshare_mount", "clone_newuser", "mount", "pivot_root")
    for name in (*refused, "ptrace", "keyctl", "setuid0"):
        assert found[name] != "ok", (name, found)
    assert found["caps"] == ["0000000000000000"], found
    assert found["no_new_privs"] == "1" and found["seccomp"] == "2", found
    assert found["passwd"] is False
    allowed = {"dev", "etc", "kernel", "proc", "submission", "tmp", "usr", "bin", "lib", "lib64"}
    allowed |= {path.strip("/").split("/")[0] for path in runtime_paths()}
    assert set(found["root"]) <= allowed, found["root"]
    assert _total(run, "escape") == _full(test_points)


def test_processes_and_memory_are_limited_for_the_whole_sandbox(run, test_points):
    processes = int(_text(_autograded(run, "hoard_processes", EX2)).split("PROCESSES ")[1].split()[0])
    assert processes < 64  # the kernel's own threads count too
    text = _text(_autograded(run, "hoard_memory", EX3))
    died = any(f["kind"] == "kernel died" for f in _faults(run, "hoard_memory", EX3))
    holding = re.search(r"HOLDING (\d+)", text)
    # Eight processes of 400 MiB never hold more than the kernel's 2 GiB together: either the
    # sandbox was ended, or too few of them got their memory.
    assert died or (holding is not None and int(holding.group(1)) * 400 < 2048), text[-500:]
    assert _total(run, "hoard_processes") == _full(test_points)
    assert _total(run, "hoard_memory") == _full(test_points)


def test_writes_stay_in_small_in_memory_scratch_that_vanishes(run, test_points):
    found = _printed(run, "filler", EX1, "FILL ")
    assert found["deep"] == "ok"  # a 1,500-deep chain in the sandbox's /tmp costs the grader nothing
    for place in ("/tmp", "/submission"):  # the scratch space and the notebook's working folder
        assert found[place] == [32, "OSError"] or found[place][0] < 32, (place, found)
    assert found["/kernel/ipc"][0] <= 1
    for place in ("/", "/dev", "/usr"):
        assert found[place] == [0, "OSError"], (place, found)
    assert run.host_tmp_left == set()
    assert _total(run, "filler") == _full(test_points)


def test_output_is_capped_on_every_path_into_the_notebook(run, test_points):
    ex2, ex3 = _autograded(run, "outputs", EX2), _autograded(run, "outputs", EX3)
    for nb in (ex2, ex3):
        assert len(nbformat.writes(nb)) < 10 << 20
    assert len(json.dumps(ex2.metadata)) < 100_000  # no widget state kept
    assert any(f["kind"] == "output limit" for f in _faults(run, "outputs", EX2))
    assert any(f["kind"] == "output limit" and "together" in f["message"] for f in _faults(run, "outputs", EX3))
    assert _total(run, "outputs") == _full(test_points)


def test_a_spent_time_budget_stops_the_notebook_and_its_checks_score_zero(run, test_points):
    cells = scores.cell_scores(run.course, "time_hog")
    assert scores.auto_total(cells, EX1)[0] == 0
    for name in (EX2, EX3):
        assert scores.auto_total(cells, name) == (sum(test_points[name].values()),) * 2
    assert any(f["kind"] == "time budget" for f in _faults(run, "time_hog", EX1))
    assert f"time budget of {BUDGET} seconds" in _grade_cell_outputs(run, "time_hog", EX1)


def test_feedback_never_carries_what_the_students_code_wrote(run, test_points):
    """Exception messages and class names, warnings, class names and array shapes can all carry
    the probe inputs; none of it may reach the feedback."""
    for name in NOTEBOOKS:
        assert "LEAK" not in _grade_cell_outputs(run, "leaky", name), name
        assert "LEAK" not in json.dumps(_autograded(run, "leaky", name).metadata), name
    assert _total(run, "leaky") < _full(test_points)  # the leaks really ran


def test_records_the_kit_reads_come_only_from_the_grader(run, test_points):
    assert "FORGED" not in _log(run)
    for name in NOTEBOOKS:
        nb = _autograded(run, "forger", name)
        assert "FORGED" not in json.dumps(nb.metadata) + json.dumps([c.metadata for c in nb.cells]), name
    row = next(r for r in class_report.collect(run.course).students if r.student_id == "forger")
    assert row.problems == [] and _total(run, "forger") == _full(test_points)


def test_links_and_special_files_in_a_submission_are_never_followed(run, test_points):
    cells = scores.cell_scores(run.course, "linker")
    assert all(scores.auto_total(cells, name)[0] == 0 for name in NOTEBOOKS)
    one = scores.cell_scores(run.course, "one_link")
    assert scores.auto_total(one, EX1)[0] == 0
    assert all(scores.auto_total(one, name) == (sum(test_points[name].values()),) * 2 for name in (EX2, EX3))
    for student_id in ("linker", "one_link"):
        graded = run.course / "autograded" / student_id / ASSIGNMENT
        for entry in graded.rglob("*"):
            assert entry.is_dir() or (entry.is_file() and not entry.is_symlink()), entry
        assert not (graded / "passwd.txt").exists() and not (graded / "pipe.txt").exists()
    log = _log(run)
    for name in [f"{n}.ipynb" for n in NOTEBOOKS] + ["passwd.txt", "gradebook.db", "zero.bin", "checks", "pipe.txt"]:
        assert re.search(rf"linker/submission {re.escape(name)}: left out:", log), name
    assert re.search(r"linker/submission (d/){8}: left out: folders nested", log)
    with Gradebook(f"sqlite:///{run.course / 'gradebook.db'}") as gb:
        comments = gb.find_submission_notebook(EX1, ASSIGNMENT, "one_link").comments
        assert any("Left out of your submission" in (c.auto_comment or "") for c in comments)
    row = next(r for r in class_report.collect(run.course).students if r.student_id == "linker")
    assert any("symbolic link" in problem for problem in row.problems), row.problems


# -- broken submissions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("student_id", "broken", "reason"),
    [
        ("bad_json", EX1, "not valid JSON"),
        ("not_utf8", EX2, "not UTF-8"),
        ("future_format", EX3, "format"),
    ],
)
def test_an_unreadable_notebook_scores_zero_with_its_reason_and_the_others_are_graded(
    run, test_points, student_id, broken, reason
):
    cells = scores.cell_scores(run.course, student_id)
    for name in NOTEBOOKS:
        got, best = scores.auto_total(cells, name)
        assert got == (0 if name == broken else best), (student_id, name)
    feedback = _text(_autograded(run, student_id, broken))
    assert "We could not grade the notebook you submitted" in feedback and reason in feedback
    assert any(f["kind"] == "unreadable" and reason in f["message"] for f in _faults(run, student_id, broken))


@pytest.mark.parametrize(
    "student_id", ["old_format", "deleted", "duplicated", "reordered", "retyped", "edited_meta", "huge_saved_output"]
)
def test_edited_structure_is_repaired_and_the_work_fully_graded(run, test_points, student_id):
    assert _total(run, student_id) == _full(test_points)


def test_edited_grade_ids_and_duplicates_are_named(run):
    renamed = _faults(run, "edited_meta", EX2)
    assert any(f["where"] == "correct_free_points" and f["kind"] == "edited grade cell" for f in renamed), renamed
    duplicated = _faults(run, "duplicated", EX2)
    assert {f["where"] for f in duplicated if f["kind"] == "edited grade cell"} == {"correct_value", "answer_value"}


def test_extra_files_change_nothing(run):
    assert _total(run, "extra_files") == 0
    graded = run.course / "autograded" / "extra_files" / ASSIGNMENT
    assert (graded / "gan_checks.py").read_bytes() == (
        run.course / "source" / ASSIGNMENT / "gan_checks.py"
    ).read_bytes()
    assert set(scores.cell_scores(run.course, "extra_files")) == set(NOTEBOOKS)


def test_an_empty_submission_scores_zero_everywhere_and_says_so(run):
    cells = scores.cell_scores(run.course, "empty")
    assert all(scores.auto_total(cells, name)[0] == 0 for name in NOTEBOOKS)
    assert "empty submitted no notebooks" in _log(run)


# -- the refusal and the interrupted run --------------------------------------------------------


def _small_course(tmp_path: Path, students: list[str]) -> Path:
    course = copy_course(tmp_path / "course")
    run_nbgrader(["generate_assignment", ASSIGNMENT, "--force"], cwd=course)
    for student_id in students:
        place_submission(course, Student(student_id, "everything right"))
    return course


def test_an_interrupted_run_can_be_run_again_to_completion(tmp_path, test_points):
    students = ["s1", "s2", "s3"]
    course = _small_course(tmp_path, students)
    command = [str(Path(sys.executable).parent / "nbgrader"), "autograde", ASSIGNMENT]
    process = subprocess.Popen(
        command, cwd=course, env=nbgrader_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    marker = course / "autograded" / "s2" / ASSIGNMENT / ".gankit-grading"
    deadline = time.monotonic() + 120
    while not marker.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert marker.exists(), "the run never reached the second student"
    time.sleep(1.0)  # well inside s2's first notebook
    process.send_signal(signal.SIGKILL)
    process.wait()
    time.sleep(0.5)
    assert _sandbox_processes() == []  # the killed grader's kernels went with it

    assert any(f"-{process.pid}-" in name for name in _host_tmp())  # what the killed grader left ...
    again = run_nbgrader(["autograde", ASSIGNMENT], cwd=course)
    assert "interrupted last time" in again.stdout + again.stderr
    assert not any(f"-{process.pid}-" in name for name in _host_tmp())  # ... the next run removes
    for student_id in students:
        assert scores.auto_grand_total(course, student_id) == _full(test_points), student_id
        assert not (course / "autograded" / student_id / ASSIGNMENT / ".gankit-grading").exists()
    with sqlite3.connect(course / "gradebook.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_grading_refuses_without_a_sandbox_unless_told_otherwise(tmp_path, test_points):
    """Inside a user namespace, "root" cannot switch to another uid: a machine that cannot sandbox."""
    course = _small_course(tmp_path, ["s1"])
    before = (course / "gradebook.db").read_bytes()
    nbgrader = str(Path(sys.executable).parent / "nbgrader")
    command = ["unshare", "--user", "--map-root-user", nbgrader, "autograde", ASSIGNMENT]
    refused = subprocess.run(command, cwd=course, env=nbgrader_env(), capture_output=True, text=True)
    assert refused.returncode != 0
    assert "could not build one" in refused.stdout + refused.stderr
    assert "allow_unsandboxed" in refused.stdout + refused.stderr
    assert (course / "gradebook.db").read_bytes() == before
    assert not (course / "autograded" / "s1").exists()

    allowed = subprocess.run(
        command, cwd=course, env=nbgrader_env({"GANKIT_ALLOW_UNSANDBOXED": "1"}), capture_output=True, text=True
    )
    assert allowed.returncode == 0, allowed.stderr[-3000:]
    assert scores.auto_grand_total(course, "s1") == _full(test_points)


def _kill_marked() -> None:
    for line in _sandbox_processes():
        try:
            os.kill(int(line.split()[0]), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def test_the_attacks_are_real_under_stock_nbgrader(tmp_path, test_points):
    """The same submissions under nbgrader's own autograde: what the kit prevents does happen there,
    so the tests above cannot pass merely because the attacks do nothing."""
    chosen = ["snoop", "daemon", "crash_exit", "bad_json", "empty", "one_link"]
    course = _small_course(tmp_path, [])
    ctx = {
        "course": str(course),
        "secrets": [str(course / "source" / ASSIGNMENT / f"{EX1}.ipynb"), str(course / "gradebook.db")],
        "targets": [str(course / "pwned.txt")],
        "mark": MARK,
    }
    for student_id in chosen:
        case = CASE[student_id]
        case.build(place_submission(course, Student(student_id, case.what, cheats=not case.honest)), ctx)
    plain = plain_nbgrader_copy(course, tmp_path / "plain", chosen)
    try:
        # Output to a file, not a pipe: the daemons would hold a pipe open for their whole hour.
        with (tmp_path / "plain.log").open("w") as log:
            command = [str(Path(sys.executable).parent / "nbgrader"), "autograde", ASSIGNMENT, "--force"]
            done = subprocess.run(
                [*command, "--Execute.timeout=10"], cwd=plain, env=nbgrader_env(), stdout=log, stderr=subprocess.STDOUT
            )
        text = _text(notebooks.read(plain / "autograded" / "snoop" / ASSIGNMENT / f"{EX1}.ipynb"))
        found = json.loads(text[text.index("SNOOP ") + 6 :].splitlines()[0])
        assert found[str(course / "source" / ASSIGNMENT / f"{EX1}.ipynb")] == "READ"
        assert found[str(course / "gradebook.db")] == "READ"
        assert found[str(course / "pwned.txt")] == "WROTE"
        assert any(MARK in line for line in _sandbox_processes())  # the daemons outlived grading
        # A dead kernel or an unreadable notebook costs the student every notebook; an empty folder
        # is not graded at all.
        for student_id in ("crash_exit", "bad_json", "empty"):
            assert not (plain / "autograded" / student_id / ASSIGNMENT).exists(), student_id
        # A link to the model answer is followed: full marks, and /etc/passwd lands in the feedback.
        assert scores.auto_grand_total(plain, "one_link") == _full(test_points)
        assert "root:" in (plain / "autograded" / "one_link" / ASSIGNMENT / "passwd.txt").read_text()
        assert done.returncode != 0
    finally:
        _kill_marked()
        Path("/tmp/big").unlink(missing_ok=True)  # what the snoop wrote to the host under stock nbgrader
