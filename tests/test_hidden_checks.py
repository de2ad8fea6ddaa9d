"""The hidden checks and the sandbox they run students' code in, tested directly."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import numpy as np
import pytest
import zmq
from nbgrader.utils import determine_grade
from paths import RELEASE, SOURCE
from processes import running
from traitlets.config import Config
from unix_accounts import kit_reachable_by_everyone

from gankit import ASSIGNMENT, NOTEBOOKS, ROOT, notebooks
from gankit.judging import checking, student_process
from gankit.judging.checking import Probe, derive_seed, require
from gankit.judging.codec import encode_result
from gankit.judging.grader import Grader, checks_for
from gankit.judging.outcome import Outcome
from gankit.judging.student_process import CheckLimits, StudentProcess
from gankit.nbgrader_adapter.hidden_checks import HiddenChecks
from gankit.sandbox import cgroups
from gankit.sandbox.availability import SandboxUnavailable
from gankit.sandbox.cgroups import CGROUP_ROOT
from gankit.sandbox.command import SANDBOX_FAILED, UID_BASE, SandboxedCommand
from gankit.sandbox.kernel import SandboxedKernelManager
from gankit.sandbox.limits import Limits

SOLUTIONS = ROOT / "solutions" / ASSIGNMENT


@pytest.fixture(scope="module")
def grader() -> Grader:
    return Grader(ROOT, ASSIGNMENT)


def _process(*cells: str, **limits) -> StudentProcess:
    return StudentProcess(list(cells), {}, CheckLimits(**limits))


def test_every_test_cell_is_scored_by_hidden_checks_and_every_check_by_a_test_cell(grader, test_points):
    for name in NOTEBOOKS:
        scored = {check.cell for check in grader.checks[name]}
        assert scored == set(test_points[name]), name


@pytest.mark.parametrize("student_id", ["s1001", "s1002", "zoe"])
def test_model_solutions_earn_full_marks_for_any_student_and_a_regrade_is_identical(grader, student_id):
    for name in NOTEBOOKS:
        nb = notebooks.read(SOLUTIONS / f"{name}.ipynb")
        first = grader.grade(nb, name, student_id)
        again = grader.grade(nb, name, student_id)
        for grade_id, verdict in first.items():
            assert verdict.score == verdict.points, verdict.feedback()
            assert again[grade_id].feedback() == verdict.feedback()


def test_students_get_different_probes_and_a_regrade_the_same():
    def drawn(student_id):
        return Probe(derive_seed(ASSIGNMENT, NOTEBOOKS[0], student_id, "test_share")).uniform(0, 1, 5).tolist()

    assert drawn("ada") == drawn("ada")
    assert drawn("ada") != drawn("ben")


def test_the_grader_draws_each_students_own_probes_and_the_same_again_on_a_regrade(grader, monkeypatch):
    """Probes as the grader draws them: other ids get other inputs, the same id the same inputs."""
    name = NOTEBOOKS[0]
    nb = notebooks.read(SOLUTIONS / f"{name}.ipynb")
    monkeypatch.setitem(grader.checks, name, grader.checks[name][:2])

    def probes(verdicts):
        return [r.probe_values for v in verdicts.values() for r in v.results]

    both = grader.grade_many(nb, name, ["ada", "ben"])
    again = grader.grade(nb, name, "ada")
    assert all(probes(both["ada"])) and probes(again) == probes(both["ada"])
    assert all(a != b for a, b in zip(probes(both["ada"]), probes(both["ben"]), strict=True))


def test_a_hidden_check_that_crashes_awards_no_points(grader, monkeypatch):
    """A check with a bug fails its share of the cell, even for the model solution."""
    name = NOTEBOOKS[0]
    fine = grader.checks[name][0]

    @checking.graded(fine.cell, weight=fine.weight, check_id="crashes")
    def test_crashes(student, reference, probe):
        """A check with a bug in it."""
        raise ZeroDivisionError("a bug in the check")

    monkeypatch.setitem(grader.checks, name, [fine, test_crashes])
    verdict = grader.grade(notebooks.read(SOLUTIONS / f"{name}.ipynb"), name, "ada")[fine.cell]
    assert verdict.score == pytest.approx(verdict.points / 2, abs=1e-4)
    monkeypatch.setitem(grader.checks, name, [test_crashes])
    assert grader.grade(notebooks.read(SOLUTIONS / f"{name}.ipynb"), name, "ada")[fine.cell].score == 0


def test_a_checks_probes_follow_its_stable_id_not_its_function_name(monkeypatch):
    """Renaming a check's function must not change any student's inputs on a regrade."""
    grader = Grader(ROOT, ASSIGNMENT)
    name = NOTEBOOKS[0]
    nb = notebooks.read(SOLUTIONS / f"{name}.ipynb")
    check = grader.checks[name][0]
    seen = []
    original = Probe.uniform

    def recording(self, *args, **kwargs):
        values = original(self, *args, **kwargs)
        seen.append(values.tolist() if hasattr(values, "tolist") else values)
        return values

    monkeypatch.setattr(Probe, "uniform", recording)
    grader.checks[name] = [check]
    grader.grade(nb, name, "ada")
    before, seen[:] = list(seen), []
    monkeypatch.setattr(check, "__name__", "test_renamed_by_a_maintainer")
    grader.grade(nb, name, "ada")
    assert before and seen == before
    ids = [c.check_id for notebook in NOTEBOOKS for c in checks_for(notebook)]
    assert len(ids) == len(set(ids)) == sum(len(checks_for(notebook)) for notebook in NOTEBOOKS)


def test_stubs_earn_nothing(grader):
    for name in NOTEBOOKS:
        for verdict in grader.grade(notebooks.read(RELEASE / f"{name}.ipynb"), name, "blank").values():
            assert verdict.score == 0 and "NotImplementedError" in verdict.feedback()


# -- the sandbox ---------------------------------------------------------------------------------

SPY = """
def spy(path):
    import os
    try:
        if os.path.isdir(path):
            return "listed " + ",".join(sorted(os.listdir(path))[:3])
        with open(path, "rb") as f:
            return "read %d bytes" % len(f.read(100))
    except Exception as exc:
        return type(exc).__name__
"""


@pytest.mark.parametrize(
    "secret",
    [
        SOURCE / f"{NOTEBOOKS[0]}.ipynb",
        SOLUTIONS / f"{NOTEBOOKS[0]}.ipynb",
        ROOT / "gankit" / "checks" / "test_ex1_optimal_discriminator.py",
        ROOT / "nbgrader_config.py",
        ROOT / ".git",
        ROOT / "gradebook.db",
    ],
)
def test_students_code_cannot_read_the_course_the_checks_or_the_solutions(secret):
    with _process(SPY) as process:
        assert Outcome.from_reply(process.call("spy", [str(secret)])).value == "FileNotFoundError"
        # Of the course directory, only the Python environment inside it is there at all.
        assert Outcome.from_reply(process.call("spy", [str(ROOT)])).value == "listed .venv"


def test_students_code_runs_unprivileged_without_network_and_writes_only_scratch():
    cells = [
        "import os, socket\n"
        "def whoami():\n    return os.getuid()\n"
        "def connect(port):\n    socket.create_connection(('127.0.0.1', port), timeout=2)\n    return 'connected'\n"
        "def write(path):\n    open(path, 'w').write('x')\n    return 'written'\n"
    ]
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    try:
        with StudentProcess(cells, {}) as process:
            uid = Outcome.from_reply(process.call("whoami", [])).value
            connect = Outcome.from_reply(process.call("connect", [server.getsockname()[1]]))
            scratch = Outcome.from_reply(process.call("write", ["/tmp/notes.txt"]))
            runtime = Outcome.from_reply(process.call("write", [os.path.join(os.path.dirname(os.__file__), "x.py")]))
        server.settimeout(0.5)
        with pytest.raises(TimeoutError):
            server.accept()  # nothing ever arrived from the sandbox
    finally:
        server.close()
    if os.geteuid() == 0:  # as root the process gets a uid of its own; otherwise a user namespace maps it
        assert uid >= UID_BASE
    # The sandbox's loopback is its own: nothing listens there.
    assert connect.raised and connect.error_type in ("OSError", "ConnectionRefusedError")
    assert scratch.value == "written"
    assert runtime.raised and runtime.error_type == "OSError"


FILL_SCRATCH = """
def fill(mb):
    try:
        with open("/tmp/fill", "wb") as f:
            for _ in range(mb):
                f.write(bytes(1 << 20))
    except OSError as error:
        return type(error).__name__ + " " + str(error.errno)
    finally:
        import os
        os.remove("/tmp/fill")
    return "written"
"""


FEW_FILES = """
def few(count):
    import os, time
    for i in range(count):
        open(f"/tmp/few{i}", "w").close()
    time.sleep(0.6)  # three looks of the supervisor's memory watch
    return "kept"
"""


def test_the_scratch_folder_holds_its_size_in_mib_and_no_more():
    """``/tmp`` is a tmpfs of ``scratch_mb`` MiB: 6 MiB fit in 8, 10 do not (ENOSPC)."""
    import errno as codes

    with _process(FILL_SCRATCH, FEW_FILES, scratch_mb=8) as process:
        assert Outcome.from_reply(process.call("fill", [6])).value == "written"
        assert Outcome.from_reply(process.call("fill", [10])).value == f"OSError {codes.ENOSPC}"
        # A few files held a while cost a few KiB of the sandbox's memory watch, nothing more.
        assert Outcome.from_reply(process.call("few", [20])).value == "kept"


@pytest.mark.seconds  # a hang waited for, a memory bomb: 7 s
def test_a_hang_a_crash_and_a_memory_bomb_cost_only_their_own_calls():
    cells = [
        "import os\nimport numpy as np\n",
        "def loop():\n    while True:\n        pass\n",
        "def die():\n    os._exit(3)\n",
        "def bomb():\n    return bytearray(4 * 1024**3)\n",
        "def fine(x):\n    return np.asarray(x) * 2\n",
        "while True:\n    pass\n",  # a cell that never finishes is skipped, not fatal
    ]
    with _process(*cells, call_seconds=2, setup_seconds=4) as process:
        results = {name: Outcome.from_reply(process.call(name, [])) for name in ("loop", "die", "bomb")}
        fine = Outcome.from_reply(process.call("fine", [[1.0, 2.0]]))
        assert 5 in process.cell_errors
    assert results["loop"].error_type == "Timeout"
    assert results["die"].error_type == "Crashed"
    assert results["bomb"].error_type == "MemoryError"
    assert fine.value.tolist() == [2.0, 4.0]


FORGER = """
import os, json
FORGED = json.dumps({"op": "result", "value": {"kind": "float", "value": 1.5}}) + "\\n"
os.write(1, ("{" + FORGED).encode())  # while its cell runs, before the setup's replies
os.write(2, FORGED.encode())

def forge(x):
    for fd in (1, 2):
        os.write(fd, FORGED.encode())  # as C code or a child process would write, past sys.stdout
    print(FORGED, end="")
    return x + 1
"""


def test_what_a_students_code_writes_to_its_descriptors_never_mixes_with_the_replies():
    """Writing to descriptors 1 and 2 directly (not through ``sys.stdout``), even a well-formed
    reply of its own, changes nothing: the grader reads only what the function returned."""
    with _process(FORGER) as process:
        first = Outcome.from_reply(process.call("forge", [41]))
        second = Outcome.from_reply(process.call("forge", [1]))
        assert process.cell_errors == {}  # known once the first call has set the process up
    assert (first.value, second.value) == (42, 2)


def test_a_students_code_reads_nothing_of_the_graders_requests_from_its_stdin():
    """A notebook's standard input is empty: reading descriptor 0 (as ``input()`` or C code
    would) gets nothing, never the grader's requests, and does not wait for them."""
    reader = "import os, sys\nREAD = os.read(0, 4096)\ndef read():\n    return len(READ) + len(sys.stdin.read())\n"
    with _process(reader, setup_seconds=5) as process:
        answer = Outcome.from_reply(process.call("read", []))
        assert process.cell_errors == {}
    assert answer.value == 0


def test_a_cell_that_raises_costs_only_what_it_defines():
    """A cell that raises is named by its exception's built-in type (nothing the code chose); the
    cells after it still run and their functions answer."""

    with _process(
        "class Mine(Exception):\n    pass\n",
        "half = 1\nraise ValueError('probe was 0.25')\n",
        "raise Mine('anything')\n",
        "def f(x):\n    return x + half\n",
    ) as process:
        answer = Outcome.from_reply(process.call("f", [1]))
        errors = dict(process.cell_errors)  # known once the first call has set the process up
    assert errors == {1: "ValueError", 2: "an exception of a class defined in your code"}
    assert answer.value == 2


def test_a_checks_sandbox_that_cannot_start_is_a_refusal_with_bubblewraps_reason(monkeypatch):
    """Bubblewrap refusing to build the hidden checks' sandbox (here: no namespaces allowed) ends
    grading with the sandbox's refusal and bubblewrap's own reason, not as the student's crash."""

    class Refused(SandboxedCommand):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.config["bwrap"] = [
                "/bin/sh",
                "-c",
                "echo 'bwrap: No permissions to create a new namespace' >&2; exit 1",
            ]

    monkeypatch.setattr(student_process, "SandboxedCommand", Refused)
    with pytest.raises(SandboxUnavailable, match="bwrap: No permissions to create a new namespace"):
        with _process("def f():\n    return 1\n") as process:
            process.call("f", [])


def test_plotting_does_nothing_in_the_checks_process_and_hides_no_error():
    """The checks' process has no matplotlib or IPython: stand-ins take every attribute, call,
    unpacking and ``with`` quietly, and an error raised inside one of their ``with`` blocks is
    still the cell's own."""
    with _process(
        "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([1], [2])\n"
        "from IPython.display import display\ndisplay(fig)\n",
        "with plt.style.context('dark'):\n    raise ValueError('inside')\n",
        "def f():\n    return 3\n",
    ) as process:
        answer = Outcome.from_reply(process.call("f", []))
        errors = dict(process.cell_errors)
    assert errors == {1: "ValueError"} and answer.value == 3


def test_a_reply_longer_than_one_read_arrives_whole_and_one_past_the_bound_is_unreadable():
    """The largest array the codec sends as values (several MiB of JSON, read in pieces) comes back
    whole; with a bound of 1 MiB on a reply, the same reply is the student's unreadable one."""
    cells = ["import numpy as np\ndef big():\n    return np.linspace(0.0, 1.0, 200_000)\n"]
    with _process(*cells) as process:
        whole = Outcome.from_reply(process.call("big", []))
    assert whole.value.shape == (200_000,) and whole.value[1] == 1 / 199_999 and whole.value[-1] == 1.0
    with _process(*cells, max_reply_mb=1) as process:
        cut = Outcome.from_reply(process.call("big", []))
    assert cut.error_type == "UnreadableReply"


def test_a_call_within_a_time_limit_shorter_than_a_second_is_answered():
    """The time limits are seconds as given, fractions included."""
    with _process("def f():\n    return 7\n", call_seconds=0.5) as process:
        assert Outcome.from_reply(process.call("f", [])).value == 7


@pytest.mark.seconds  # the setup's 2 s timeout waited for
def test_a_first_cell_that_never_finishes_is_skipped_like_any_other():
    """Even the notebook's first cell, when it runs past the setup's time, is skipped and named;
    the cells after it define what they define."""
    with _process("while True:\n    pass\n", "def f():\n    return 7\n", setup_seconds=2) as process:
        answer = Outcome.from_reply(process.call("f", []))
        assert list(process.cell_errors) == [0]
    assert answer.value == 7


ENDS_SOON = """
import os, threading, time

def ends_soon():
    threading.Thread(target=lambda: (time.sleep(0.2), os._exit(0))).start()
    return 1

def f():
    return 7
"""


def test_a_process_that_ends_between_calls_costs_only_the_next_call():
    """A process that ends itself after answering (its request pipe is then closed) fails the next
    call as a crash; the call after that runs in a new process."""
    with _process(ENDS_SOON) as process:
        first = Outcome.from_reply(process.call("ends_soon", []))
        time.sleep(1.0)
        crashed = Outcome.from_reply(process.call("f", []))
        again = Outcome.from_reply(process.call("f", []))
    assert (first.value, crashed.error_type, again.value) == (1, "Crashed", 7)


def _sleepers(*durations: str) -> list[int]:
    """Running ``sleep`` processes with one of these (unusual) durations; zombies do not count."""
    alive = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if cmdline[:1] == [b"sleep"] and cmdline[1:2] and cmdline[1].decode() in durations and state != "Z":
            alive.append(int(proc.name))
    return alive


def _gone(*durations: str, wait: float = 5.0) -> bool:
    deadline = time.monotonic() + wait  # SIGKILL is delivered asynchronously
    while _sleepers(*durations) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _sleepers(*durations) == []


def test_no_process_outlives_its_notebook():
    """Children end with the student's process, even one that left for a session of its own."""
    # Durations of this run's own, so that another run of this test on the machine cannot interfere.
    first, second = (f"300.{os.getpid()}{digit}" for digit in "12")
    code = (
        "import subprocess\n"
        "def spawn():\n"
        f"    subprocess.Popen(['sleep', '{first}'])\n"
        f"    subprocess.Popen(['sleep', '{second}'], start_new_session=True)\n"
        "    return 2\n"
    )
    with _process(code) as process:
        assert Outcome.from_reply(process.call("spawn", [])).value == 2
        started = time.monotonic() + 5  # both are running (on a busy machine, give /proc a moment)
        while len(_sleepers(first, second)) < 2 and time.monotonic() < started:
            time.sleep(0.05)
        assert len(_sleepers(first, second)) == 2
    assert _gone(first, second)


def _mentioning(mark: str) -> list[str]:
    """Running processes whose command line carries ``mark``, as text or in hex (a supervisor's
    command line carries its configuration in hex, see ``SandboxedCommand.command``)."""
    marks = (mark, mark.encode().hex())
    return [p.cmdline[:160] for p in running().values() if any(m in p.cmdline for m in marks)]


@pytest.mark.seconds  # a grader started, killed and waited for: 3 s
def test_a_sandbox_whose_grader_died_while_it_was_starting_is_never_built(tmp_path):
    """A grader killed a moment after starting a sandbox (a Dask worker killed mid-notebook) leaves
    no sandbox behind: its supervisor sees that its parent is gone and builds nothing."""
    duration = f"300.{secrets.randbelow(10**12):012d}"  # this test's own
    grader = (
        "import os, subprocess\n"
        "from gankit.sandbox.command import SandboxedCommand\n"
        "from gankit.sandbox.limits import Limits\n"
        f"box = SandboxedCommand(['/bin/sleep', '{duration}'], Limits())\n"
        "subprocess.Popen(box.command, start_new_session=True)\n"
        "os._exit(0)  # gone before the supervisor it started is running\n"
    )
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", grader], env=env, check=True, timeout=60)
    built: set[str] = set()  # bubblewrap or the command: a sandbox, not only its supervisor starting
    deadline = time.monotonic() + 3  # a sandbox starts in well under a second
    while time.monotonic() < deadline:
        found = running().values()
        built |= {p.cmdline[:160] for p in found if duration in p.cmdline and "launcher.py" not in p.cmdline}
        time.sleep(0.05)
    assert built == set()
    assert _mentioning(duration) == []


def _leaving_an_orphan(orphan: str, then: str) -> list[str]:
    """A stand-in for bubblewrap: it reports its sandbox as started, starts ``sleep orphan`` in a
    subshell that exits at once (as bubblewrap's first sandboxed process is orphaned when
    bubblewrap dies before it arms its parent-death signal), then runs ``then``."""
    report = """printf '{"child-pid": %d}' $$ >&@INFO@"""
    return ["/bin/sh", "-c", f"{report}; (sleep {orphan} &); {then}"]


def test_a_process_bubblewrap_leaves_behind_ends_with_the_sandbox(tmp_path):
    """The supervisor is the sandbox's subreaper: what bubblewrap orphaned is killed before it exits."""
    orphan = f"300.{secrets.randbelow(10**12):012d}"
    box = SandboxedCommand(["/bin/true"], Limits())
    try:
        box.config["bwrap"] = _leaving_an_orphan(orphan, "exit 3")
        # Not captured: the orphan holds what it inherited open, a pipe would never end.
        done = subprocess.run(box.command, timeout=60, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert done.returncode == 3  # the command's own status, passed on
        assert _gone(orphan)
    finally:
        box.close()


@pytest.mark.parametrize(
    ("bwrap", "said"),
    [
        (["/nonexistent/bwrap", "--die-with-parent"], "starting /nonexistent/bwrap failed: [Errno 2] No such file"),
        (
            ["/bin/sh", "-c", "echo 'bwrap: No permissions to create a new namespace' >&2; exit 1"],
            "starting bubblewrap failed: bwrap: No permissions to create a new namespace",
        ),
        (["/bin/sh", "-c", "kill -9 $$"], "starting bubblewrap failed: exit status -9"),
        (
            ["/bin/sh", "-c", "printf 'x%.0s' $(seq 1100) >&2; echo END >&2; exit 1"],
            "starting bubblewrap failed: " + "x" * 997 + "END\n",
        ),  # its last 1000 characters
        (
            ["/bin/sh", "-c", "printf 'a%.0s' $(seq 1500) >&2; sleep 1; printf 'b%.0s' $(seq 1500) >&2; exit 1"],
            "starting bubblewrap failed: " + "a" * 500 + "b" * 500 + "\n",
        ),  # the last 1000 of the first 2000 kept, however they came
    ],
)
def test_a_bubblewrap_that_fails_before_the_sandbox_exists_is_the_sandboxs_failure(bwrap, said):
    """Bubblewrap missing, refusing, or killed before it made the sandbox's process: no student
    code ran, so its own words are passed on, as the sandbox's failure (status 97, which the grader
    turns into a refusal with the reason)."""
    box = SandboxedCommand(["/bin/true"], Limits())
    try:
        box.config["bwrap"] = bwrap
        done = subprocess.run(box.command, timeout=60, capture_output=True, text=True)
    finally:
        box.close()
    assert done.returncode == SANDBOX_FAILED
    assert done.stderr.startswith(f"sandbox: {said}") and done.stderr.count("\n") == 1, done.stderr


def test_a_cgroup_the_supervisor_cannot_join_is_the_sandboxs_failure():
    """Grading as root, the supervisor joins the sandbox's cgroups first: if it cannot, nothing
    is started unlimited, and the failure names the cgroup."""
    box = SandboxedCommand(["/bin/true"], Limits())
    try:
        box.config["cgroup_procs"] = ["/nonexistent/gankit-test/cgroup.procs"]
        done = subprocess.run(box.command, timeout=60, capture_output=True, text=True)
    finally:
        box.close()
    assert done.returncode == SANDBOX_FAILED
    assert done.stderr.startswith("sandbox: joining cgroup /nonexistent/gankit-test/cgroup.procs failed: [Errno 2]")


@pytest.mark.parametrize("ended_by", [signal.SIGKILL, signal.SIGHUP])
def test_the_supervisor_exits_with_128_and_the_signal_that_ended_bubblewrap(ended_by):
    """Bubblewrap killed once the sandbox exists (the memory limit, or the grader's kill): the
    supervisor exits as a shell would report it, 128 + the signal, the first signal included."""
    report = """printf '{"child-pid": %d}' $$ >&@INFO@"""
    box = SandboxedCommand(["/bin/true"], Limits())
    try:
        box.config["bwrap"] = ["/bin/sh", "-c", f"{report}; kill -{int(ended_by)} $$"]
        done = subprocess.run(box.command, timeout=60, capture_output=True, text=True)
    finally:
        box.close()
    assert (done.returncode, done.stderr) == (128 + ended_by, "")


def test_an_unsandboxed_command_runs_as_given_with_its_status_passed_on():
    """Grading unsandboxed (the grader's explicit choice), the supervisor runs the command itself,
    with its own arguments, and its status is the command's."""
    box = SandboxedCommand(["/bin/sh", "-c", "echo ran $0; exit 3", "as-given"], Limits(), enabled=False)
    try:
        done = subprocess.run(box.command, timeout=60, capture_output=True, text=True)
    finally:
        box.close()
    assert (done.returncode, done.stdout, done.stderr) == (3, "ran as-given\n", "")


def test_a_report_file_planted_before_the_sandbox_exists_is_never_opened(tmp_path):
    """The file bubblewrap reports the sandbox's process into is made fresh, never opened if
    something is there already (a link planted to make the supervisor write elsewhere): the
    sandbox's failure, naming it, and nothing written through the link."""
    target = tmp_path / "target"
    target.write_text("untouched")
    box = SandboxedCommand(["/bin/true"], Limits())
    try:
        os.symlink(target, box.config["info_path"])
        done = subprocess.run(box.command, timeout=60, capture_output=True, text=True)
    finally:
        box.close()
    assert done.returncode == SANDBOX_FAILED
    assert done.stderr.startswith(f"sandbox: creating {box.config['info_path']} failed: [Errno 17]"), done.stderr
    assert target.read_text() == "untouched"


def test_a_sandbox_whose_grader_dies_is_ended_with_what_bubblewrap_left(tmp_path):
    """A grader killed while its sandbox runs (a Dask worker killed mid-notebook): the supervisor
    ends bubblewrap, and also the processes bubblewrap had orphaned, then exits."""
    orphan, command = (f"300.{secrets.randbelow(10**12):012d}" for _ in range(2))
    grader = (
        "import os, subprocess, time\n"
        "from gankit.sandbox.command import SandboxedCommand\n"
        "from gankit.sandbox.limits import Limits\n"
        "box = SandboxedCommand(['/bin/true'], Limits())\n"
        f"box.config['bwrap'] = {_leaving_an_orphan(orphan, f'exec sleep {command}')!r}\n"
        "subprocess.Popen(box.command, start_new_session=True)\n"
        "time.sleep(1)\n"
        "os._exit(0)  # killed: nothing cleaned up\n"
    )
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    grading = subprocess.Popen([sys.executable, "-c", grader], env=env)
    deadline = time.monotonic() + 30
    while len(_sleepers(orphan, command)) < 2 and grading.poll() is None:
        assert time.monotonic() < deadline, "the sandbox never started"
        time.sleep(0.05)
    assert len(_sleepers(orphan, command)) == 2  # both were running while their grader lived
    assert grading.wait(timeout=60) == 0
    assert _gone(orphan, command)
    assert _mentioning(orphan) == []


@pytest.mark.root
def test_what_a_killed_grader_left_in_its_cgroup_is_ended_by_the_next_sandbox():
    """Should a grader and its supervisor both be killed, the next sandbox made on the machine
    kills what still runs in their cgroup (named after the dead grader) and removes it."""
    gone = subprocess.Popen(["true"])
    gone.wait()  # a grader pid that no longer runs
    stale = CGROUP_ROOT / "pids" / "gankit" / f"{gone.pid}-0"
    stale.mkdir(parents=True)
    # A living grader's cgroup and a folder named after no grader are not the next sandbox's to end.
    kept = [CGROUP_ROOT / "pids" / "gankit" / f"{os.getpid()}-{secrets.randbelow(10**9)}-live", stale.parent / "notes"]
    for path in kept:
        path.mkdir()
    left = subprocess.Popen(["sleep", f"300.{secrets.randbelow(10**12):012d}"])
    stays = subprocess.Popen(["sleep", f"300.{secrets.randbelow(10**12):012d}"])
    try:
        (stale / "cgroup.procs").write_text(str(left.pid))
        (kept[0] / "cgroup.procs").write_text(str(stays.pid))
        SandboxedCommand(["/bin/true"], Limits()).close()
        assert left.wait(timeout=10) == -signal.SIGKILL
        SandboxedCommand(["/bin/true"], Limits()).close()  # the one after removes the emptied cgroup
        assert not stale.exists()
        assert stays.poll() is None and all(path.is_dir() for path in kept)
    finally:
        for process in (left, stays):
            process.kill()
            process.wait()
        for path in (stale, *kept):
            cgroups.remove(path)


@pytest.mark.root
def test_a_sandboxs_cgroups_hold_its_memory_and_process_limits_and_go_with_it():
    """As root each sandbox gets a memory and a pids cgroup set to its limits, removed when it closes."""
    from gankit.sandbox.cgroups import Cgroup

    for controller in ("memory", "pids"):  # as on a machine where no sandbox was made yet
        with contextlib.suppress(OSError):  # unless another grader's sandbox is in there
            (CGROUP_ROOT / controller / "gankit").rmdir()
    group = Cgroup(Limits(memory_mb=300, max_processes=8))
    try:
        found = {path.parent.parent.name: path for path in group.dirs}
        assert sorted(found) == ["memory", "pids"]
        assert (found["memory"] / "memory.limit_in_bytes").read_text().strip() == str(300 << 20)
        assert (found["pids"] / "pids.max").read_text().strip() == "8"
        assert group.procs_files == [str(path / "cgroup.procs") for path in group.dirs]
    finally:
        group.close()
    assert not any(path.exists() for path in found.values()) and group.dirs == []


def _in_a_grading_kernel(folder: Path, body):
    """``await body(client)`` with the client of a ready sandboxed kernel working in ``folder``, in an
    event loop of its own (whatever runs in this thread); the kernel is ended afterwards."""

    async def run():
        manager = SandboxedKernelManager(kernel_name="python3")
        await manager.start_kernel(cwd=str(folder))
        client = manager.client()
        client.start_channels()
        try:
            await client.wait_for_ready(timeout=60)
            return await body(client)
        finally:
            client.stop_channels()
            await manager.shutdown_kernel(now=True)

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


def test_a_grading_kernel_runs_without_a_debugger_and_the_students_imports_still_work(tmp_path):
    """ipykernel's debugger (debugpy, a fifth of the kernel's start-up) is hidden from grading
    kernels; ipykernel does without it, and what a notebook imports is there."""
    outputs: list[dict] = []
    code = (
        "import ipykernel.debugger, numpy, matplotlib\n"
        "print(ipykernel.debugger._is_debugpy_available, numpy.arange(3).sum())"
    )

    async def body(client) -> dict:
        return await client.execute_interactive(code, timeout=60, output_hook=outputs.append)

    reply = _in_a_grading_kernel(tmp_path, body)
    assert reply["content"]["status"] == "ok", reply["content"]
    assert [m["content"]["text"] for m in outputs if m["msg_type"] == "stream"] == ["False 3\n"]


def test_the_graders_sockets_to_a_starting_kernel_try_again_within_milliseconds(tmp_path):
    """The grader connects before the sandboxed kernel has bound its sockets; every channel of the
    client tries again every few milliseconds (ZeroMQ's default, 0.1 s, is a wait on every
    notebook), and the kernel answers on each."""

    async def body(client) -> tuple[list[int], dict]:
        channels = (client.shell_channel, client.iopub_channel, client.stdin_channel, client.control_channel)
        intervals = [channel.socket.getsockopt(zmq.RECONNECT_IVL) for channel in channels]
        return intervals, await client.execute_interactive("1 + 1", timeout=60)

    intervals, reply = _in_a_grading_kernel(tmp_path, body)
    assert max(intervals) <= 10, intervals
    assert reply["content"]["status"] == "ok"


def test_a_grading_kernel_leaves_nothing_in_the_temporary_folder(tmp_path, monkeypatch):
    """jupyter_client writes every kernel's connection (its HMAC key included) to a temporary file
    before the sandbox's own copy is made; once the kernel ends, neither is left (issue 27)."""
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))  # this test's own: others grade too
    seen: list[str] = []

    async def body(client) -> dict:
        seen.extend(p.name for p in private_tmp.iterdir())
        return await client.execute_interactive("1 + 1", timeout=60)

    work = tmp_path / "work"
    work.mkdir()
    assert _in_a_grading_kernel(work, body)["content"]["status"] == "ok"
    assert any(name.startswith("gankit-sandbox-") for name in seen)  # the kernel did use this folder
    assert sorted(p.name for p in private_tmp.iterdir()) == []


def test_the_server_started_ahead_ends_with_the_autograde_command(tmp_path, monkeypatch):
    """In a long-lived process (Formgrader, in the graders' JupyterLab) the server started ahead
    for a next notebook would wait idle for as long as the process runs: autograde ends it."""
    from nbgrader.converters import Autograde
    from nbgrader.coursedir import CourseDirectory

    from gankit.nbgrader_adapter.autograde import KitAutograde

    started = []

    def grade_as_nbgrader_would(self) -> None:  # nbgrader's run: its last notebook started a server
        student_process.prestart(Limits(), sandbox=False, student="ada")
        started.append(_waiting_server())

    monkeypatch.setattr(Autograde, "start", grade_as_nbgrader_would)
    coursedir = CourseDirectory(root=str(tmp_path), assignment_id=ASSIGNMENT)
    KitAutograde(coursedir=coursedir).start()
    assert started and student_process._waiting == {}
    assert not started[0].alive()


# Run inside a sandbox: every descriptor any process there holds (by the object it names: device
# and inode), after writing the marker to fd 2 and to every descriptor it can reopen through /proc,
# and reading what those give.
DESCRIPTORS = r"""
import json, os, stat, sys
def descriptors(mark, own=()):
    mark = mark.encode()
    seen, read = {}, b""
    for copy in (getattr(sys.stderr, "_original_stdstream_copy", None), 2):
        if copy is not None:
            os.write(copy, mark)
    for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            path = f"/proc/{pid}/fd/{fd}"
            try:
                info = os.stat(path)
            except OSError:
                continue
            seen[f"{pid}/{fd}"] = [info.st_dev, info.st_ino, stat.S_IFMT(info.st_mode), os.readlink(path)]
            if seen[f"{pid}/{fd}"][3].startswith(("anon_inode:", "socket:")):
                continue  # event counters (reading one would steal the kernel's wake-ups) and sockets
            if [info.st_dev, info.st_ino] in own:
                continue  # the process's own requests and replies (see SUMMARY)
            for flags in (os.O_WRONLY, os.O_RDONLY):
                try:
                    opened = os.open(path, flags | os.O_NONBLOCK)
                except OSError:
                    continue
                try:
                    if flags == os.O_WRONLY:
                        os.write(opened, mark)
                    elif not stat.S_ISREG(info.st_mode):
                        read += os.read(opened, 1 << 16)
                except OSError:
                    pass
                finally:
                    os.close(opened)
    copies = [getattr(s, "_original_stdstream_copy", None) for s in (sys.stdout, sys.stderr)]
    return json.dumps({"seen": seen, "read": read.decode("utf-8", "replace"),
                       "copies": [os.readlink(f"/proc/self/fd/{c}") if c is not None else None for c in copies]})
"""


# The same, as plain data the hidden checks' protocol carries (strings are cut at 300 characters).
SUMMARY = """
import gc, io
def summary(mark, secret):
    # Its own pipes to the grader, the runner's requests and replies, are left alone: as an
    # ordinary user's sandbox it may reopen them, and the grader, waiting for this reply, could
    # read the mark before it is read back (this call's reply garbled, the student's own loss).
    pipes = [os.fstat(h.fileno()) for h in gc.get_objects()
             if isinstance(h, io.TextIOWrapper) and not h.closed and h.fileno() > 2 and h.mode in ("r", "w")]
    own = [[info.st_dev, info.st_ino] for info in pipes if stat.S_ISFIFO(info.st_mode)]
    found = json.loads(descriptors(mark, own))
    entries = [[key, dev, ino, link[:100]] for key, (dev, ino, _, link) in found["seen"].items()]
    return entries[:60], secret in found["read"], len(found["seen"])
"""


def _plain(outcome: Outcome):
    """An outcome's value as plain Python data (tuples and lists as lists)."""
    if outcome.kind in ("tuple", "list"):
        return [_plain(item) for item in outcome.value]
    return outcome.value


def _graders_objects(but: set[int] = frozenset()) -> dict[tuple[int, int], str]:
    """What this process's descriptors (but ``but``) name, by device and inode; /dev/null aside."""
    null = os.stat("/dev/null")
    found = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            info = os.stat(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if int(fd) not in but and (info.st_dev, info.st_ino) != (null.st_dev, null.st_ino):
            found[(info.st_dev, info.st_ino)] = os.readlink(f"/proc/self/fd/{fd}")
    return found


def _descriptors_under(supervisor: int) -> dict[str, list]:
    """Every descriptor of every process below the sandbox's ``supervisor`` (not its own), seen by
    the grader from outside, in the form ``descriptors`` reports."""
    found, todo = {}, [supervisor]
    while todo:
        pid = todo.pop()
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                todo += [int(child) for child in f.read().split()]
        if pid == supervisor:
            continue
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                info = os.stat(f"/proc/{pid}/fd/{fd}")
                found[f"{pid}/{fd}"] = [info.st_dev, info.st_ino, 0, os.readlink(f"/proc/{pid}/fd/{fd}")]
    return found


def _shared(inside: dict, graders: dict) -> list[str]:
    """The descriptors inside that name an object the grader holds. (Every eventfd and epoll
    instance shares one anonymous inode, so those cannot be told apart and are not compared.)"""
    return [
        f"{key} -> {link} (the grader's {graders[(dev, ino)]})"
        for key, (dev, ino, _, link) in inside.items()
        if (dev, ino) in graders and not link.startswith("anon_inode:")
    ]


def test_a_grading_kernel_holds_no_descriptor_of_the_graders(tmp_path, capfd):
    """The kernel gets nothing of the grader's: no descriptor in its sandbox names anything the
    grader holds (its stderr, its log, its pipes), stdin and stdout are /dev/null, and what it
    writes to fd 2 or to any descriptor it reopens through /proc never reaches the grader's
    stderr, nor can it read the grader's log from one."""
    secret, mark = f"GRADER-LOG-{secrets.token_hex(8)}", f"FORGED-{secrets.token_hex(8)}"
    os.write(2, f"{secret} the grader's log, before the kernel starts\n".encode())
    outputs: list[dict] = []

    async def body(client) -> dict:
        graders = _graders_objects()  # the grader's while its kernel runs: its sockets and pipes
        reply = await client.execute_interactive(
            DESCRIPTORS + f"\nprint(descriptors({mark!r}))", timeout=60, output_hook=outputs.append
        )
        return reply, graders

    reply, graders = _in_a_grading_kernel(tmp_path, body)
    assert reply["content"]["status"] == "ok", reply["content"]
    text = "".join(m["content"]["text"] for m in outputs if m["msg_type"] == "stream")
    found = json.loads(text[text.index("{") :].splitlines()[0])
    assert len(found["seen"]) > 20  # the kernel's own sockets, pipes and files, at least
    assert _shared(found["seen"], graders) == []
    assert found["copies"] == ["/dev/null", found["copies"][1]] and found["copies"][1].startswith("pipe:")
    assert secret not in found["read"]
    assert mark not in capfd.readouterr().err


def test_the_hidden_checks_process_holds_no_descriptor_of_the_graders(capfd):
    """The same for the hidden checks' process: nothing in its sandbox names what the grader holds
    but the pipes made for this notebook's requests and replies, and what it writes to fd 2 or
    any descriptor it reopens never reaches the grader's stderr."""
    secret, mark = f"GRADER-LOG-{secrets.token_hex(8)}", f"FORGED-{secrets.token_hex(8)}"
    os.write(2, f"{secret} the grader's log\n".encode())
    with StudentProcess([DESCRIPTORS + SUMMARY], {}) as process:
        reply = process.call("summary", [mark, secret])
        protocol = {process._replies, process._requests.fileno()}
        graders = _graders_objects(but=protocol)
        # Also seen from outside: processes the notebook cannot look into (bubblewrap's, the server).
        # Only root can: for an ordinary user they are in a user namespace of their own and not
        # dumpable, so their descriptors are closed to the grader as to the student.
        outside = _descriptors_under(process._server.proc.pid) if os.geteuid() == 0 else None
    entries, read_secret, count = _plain(Outcome.from_reply(reply))
    seen = {key: [dev, ino, 0, link] for key, dev, ino, link in entries}
    assert 3 <= count == len(seen)
    assert _shared(seen, graders) == []
    if outside is not None:
        assert len(outside) > len(seen)
        assert _shared(outside, graders) == []
    assert read_secret is False
    assert mark not in capfd.readouterr().err


def _waiting_server() -> student_process._Server:
    (server,) = student_process._waiting.values()
    return server


def test_the_server_started_ahead_serves_the_next_notebook_with_its_limits_and_student():
    """``prestart`` starts the next notebook's server early: the next process with the same limits
    and student takes it (its code runs there), and other limits or another student get their own.
    Without a student, a server serves one notebook and ends with it."""
    limits = CheckLimits(call_seconds=5.0)
    student_process.prestart(limits)
    ahead = _waiting_server()
    cells = ["def double(x):\n    return 2 * x"]
    with StudentProcess(cells, {}, CheckLimits(call_seconds=7.0)) as first:
        assert first.call("double", [21])["value"] == encode_result(42)
        assert first._server is ahead  # the same deadlines aside, the same sandbox: taken
        assert student_process._waiting == {}
    assert not ahead.alive()  # no student: ended with its notebook, never handed on
    student_process.prestart(CheckLimits(memory_mb=limits.memory_mb + 1), student="ada")
    other = _waiting_server()
    with StudentProcess(cells, {}, limits, student="ada") as second:
        assert second.call("double", [2])["value"] == encode_result(4)
        assert second._server is not other  # a server built with other limits is not taken
    assert not other.alive()  # one server waits at most: the one ada's notebook just used
    student_process.prestart(limits, student="ben")
    assert _waiting_server().alive() and [student for *_, student in student_process._waiting] == ["ben"]
    student_process.discard_prestarted()
    assert student_process._waiting == {}


LEAVER = """
import ctypes, os, subprocess
def leave(sleeper, too_deep):
    os.makedirs("/tmp/locked/deep")
    open("/tmp/locked/deep/answers.py", "w").write("ANSWER = 42")
    os.symlink("/proc/self/environ", "/tmp/link")
    os.chmod("/tmp/locked", 0)
    subprocess.Popen(["sleep", sleeper], start_new_session=True)
    if too_deep:  # folders nested past what the server's clean-up walks (System V IPC is refused)
        os.chdir("/tmp")
        for _ in range(1200):
            os.mkdir("d")
            os.chdir("d")
        return ctypes.CDLL(None).shmget(0, 4096, 0o1600)
    return " ".join(sorted(os.listdir("/tmp")))
def poke():  # the server's memory, which every later notebook's process is forked from
    with open(f"/proc/{os.getppid()}/mem", "r+b"):
        return "opened"
"""

LOOKER = """
import os
def look():
    others = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, os.getppid(), os.getpid())]
    return f"in /tmp: {sorted(os.listdir('/tmp'))}, other processes: {others}"
"""


def test_a_students_next_notebook_runs_in_a_fresh_process_in_an_emptied_sandbox():
    """One server serves a student's notebooks in turn: each notebook's process is new, and what
    the one before left (processes, files, folders it locked, links) is gone before the next
    starts. Another student's notebook never runs there. A sandbox that cannot be emptied (folders
    nested past what the clean-up walks) is ended, never handed on."""
    sleeper = f"300.{os.getpid()}3"
    with StudentProcess([LOOKER], {}) as blank:  # a new sandbox (its /tmp holds the runtime when that lies under /tmp)
        new = Outcome.from_reply(blank.call("look", [])).value
    assert new.endswith("other processes: []")
    with StudentProcess([LEAVER], {}, student="ada") as first:
        left = Outcome.from_reply(first.call("leave", [sleeper, False])).value
        server = first._server
        assert Outcome.from_reply(first.call("poke", [])).error_type == "PermissionError"
        assert _sleepers(sleeper)
    assert {"link", "locked"} <= set(left.split())
    assert _waiting_server() is server and server.alive()
    assert _gone(sleeper)
    with StudentProcess([LEAVER, LOOKER], {}, student="ada") as second:
        assert Outcome.from_reply(second.call("look", [])).value == new
        assert second._server is server  # the same sandbox, emptied
        assert Outcome.from_reply(second.call("leave", [sleeper, True])).value == -1  # no System V segment
    assert student_process._waiting == {} and not server.alive()
    assert _gone(sleeper)
    with StudentProcess([LOOKER], {}, student="ada") as third:
        assert Outcome.from_reply(third.call("look", [])).value == new
        assert third._server is not server
        server = third._server
    assert _waiting_server() is server
    with StudentProcess([LOOKER], {}, student="ben") as other:  # never another student's server
        assert Outcome.from_reply(other.call("look", [])).value == new
        assert other._server is not server
    assert _waiting_server() is not server and not server.alive()  # ada's ends once ben's waits
    student_process.discard_prestarted()


def test_an_object_that_lies_about_equality_crosses_as_its_plain_data():
    class Liar(np.ndarray):
        def __eq__(self, other):
            return True

        def tolist(self):
            return [0.5]

    encoded = encode_result(np.array([3.0, 4.0]).view(Liar))
    decoded = Outcome.from_reply({"value": encoded})
    assert decoded.kind == "ndarray subclass Liar" and decoded.value.tolist() == [3.0, 4.0]
    assert type(decoded.value) is np.ndarray


# -- secrets -------------------------------------------------------------------------------------

CHECK_CODE = re.compile(r"probe\.|@graded|derive_seed|gankit|test_share_of_the_data_density|same_values")


@pytest.mark.parametrize("folder", [RELEASE, SOURCE])
def test_student_facing_notebooks_carry_no_check_code(folder):
    for name in NOTEBOOKS:
        assert not CHECK_CODE.search((folder / f"{name}.ipynb").read_text())
    assert not CHECK_CODE.search((folder / "gan_checks.py").read_text())


def _appearances(values, text):
    found = []
    for value in values:
        for shown in {repr(value), f"{value:.6g}", f"{value:.5f}"}:
            if len(shown.lstrip("-").replace(".", "")) >= 5 and shown in text:
                found.append(shown)
    return found


@pytest.mark.parametrize("student_id", ["ada", "dev", "ivo"])
def test_feedback_shows_no_probe_values_and_no_check_code(cycle, grader, student_id):
    for name in NOTEBOOKS:
        html = cycle.feedback_html(student_id, name).read_text()
        verdicts = grader.grade(notebooks.read(cycle.autograded(student_id, name)), name, student_id)
        probes = [v for verdict in verdicts.values() for result in verdict.results for v in result.probe_values]
        assert len(probes) > 20
        assert not _appearances(probes, html), name
        assert not CHECK_CODE.search(html), name


@pytest.mark.parametrize("student_id", ["ann", "ben"])
def test_feedback_shows_nothing_the_students_code_chose(grader, student_id):
    """Functions that put their inputs into exception messages and class names, warnings, class
    names and array shapes: none of it, and no probe value, reaches the feedback."""
    from test_adversarial import LEAK

    for name in NOTEBOOKS:
        nb = notebooks.read(SOLUTIONS / f"{name}.ipynb")
        nb.cells.append(nbformat.v4.new_code_cell(LEAK % {}))
        verdicts = grader.grade(nb, name, student_id)
        text = "\n".join(verdict.feedback() for verdict in verdicts.values())
        probes = [v for verdict in verdicts.values() for result in verdict.results for v in result.probe_values]
        assert "LEAK" not in text, name
        assert not _appearances(probes, text), name
        assert any(not result.passed for verdict in verdicts.values() for result in verdict.results)


@pytest.mark.parametrize(("folder", "earns"), [(SOLUTIONS, 1.0), (RELEASE, 0.0)])
def test_the_autograde_step_writes_each_cells_hidden_score_where_nbgrader_reads_it(folder, earns, test_points):
    """nbgrader reads a test cell's score from its output: full points for the model answer, 0 for the stubs."""
    name = NOTEBOOKS[0]
    step = HiddenChecks(config=Config({"CourseDirectory": {"root": str(ROOT)}}))
    resources = {"nbgrader": {"notebook": name, "student": "ada", "assignment": ASSIGNMENT}}
    nb, _ = step.preprocess(notebooks.read(folder / f"{name}.ipynb"), resources)
    read = {
        cell.metadata.nbgrader["grade_id"]: determine_grade(cell)
        for cell in nb.cells
        if cell.metadata.get("nbgrader", {}).get("grade_id") in test_points[name]
    }
    assert read == {grade_id: (earns * points, points) for grade_id, points in test_points[name].items()}


def test_an_unreadable_notebook_scores_zero_in_every_test_cell_with_its_reason_first_among_its_faults(test_points):
    """A notebook intake could not read is never run: each test cell gets 0 of its points and the
    reason, and the fault leads the notebook's list; worked answers are marked only when asked for."""
    from gankit.nbgrader_adapter.faults import FAULTS_KEY, UNREADABLE_KEY
    from gankit.nbgrader_adapter.hidden_checks import VERDICTS_KEY, WORKED_KEY

    name = NOTEBOOKS[0]
    nb = notebooks.read(SOLUTIONS / f"{name}.ipynb")  # the model answers: only "unreadable" makes them score 0
    earlier = [{"where": f"cell {i}", "kind": "error", "message": "m"} for i in (3, 4)]
    nb.metadata[UNREADABLE_KEY] = "it is not JSON"
    nb.metadata[FAULTS_KEY] = list(earlier)
    nb.metadata[WORKED_KEY] = True
    step = HiddenChecks(config=Config({"CourseDirectory": {"root": str(ROOT)}}))
    resources = {"nbgrader": {"notebook": name, "student": "ada", "assignment": ASSIGNMENT}}
    nb, _ = step.preprocess(nb, resources)
    graded = {
        cell.metadata.nbgrader["grade_id"]: cell
        for cell in nb.cells
        if cell.metadata.get("nbgrader", {}).get("grade_id") in test_points[name]
    }
    assert {g: determine_grade(cell) for g, cell in graded.items()} == {
        g: (0.0, p) for g, p in test_points[name].items()
    }
    for cell in graded.values():
        assert "We could not grade the notebook you submitted: it is not JSON." in cell.outputs[0]["text"]
    assert nb.metadata[FAULTS_KEY] == [{"where": name, "kind": "unreadable", "message": "it is not JSON"}, *earlier]
    assert set(nb.metadata[VERDICTS_KEY]) == set(test_points[name])
    assert WORKED_KEY not in nb.metadata
    asked = Config({"CourseDirectory": {"root": str(ROOT)}, "HiddenChecks": {"worked_answers": True}})
    nb, _ = HiddenChecks(config=asked).preprocess(nb, resources)
    assert nb.metadata[WORKED_KEY] is True


def test_the_hidden_checks_budget_starts_when_they_start_unless_the_kernel_run_started_it(monkeypatch):
    """A notebook's wall-time budget (``c.Sandbox.notebook_seconds``) is shared: the hidden checks
    get what the kernel run left (its deadline), or the whole budget from now when run alone."""
    from gankit.nbgrader_adapter.faults import DEADLINE_KEY

    step = HiddenChecks(config=Config({"CourseDirectory": {"root": str(ROOT)}, "Sandbox": {"notebook_seconds": 77}}))
    asked = []
    monkeypatch.setattr(step.grader(ASSIGNMENT), "grade", lambda *args, deadline: asked.append(deadline) or {})
    resources = {"nbgrader": {"notebook": NOTEBOOKS[0], "student": "ada", "assignment": ASSIGNMENT}}
    before = time.monotonic()
    step.preprocess(nbformat.v4.new_notebook(), resources)
    after = time.monotonic()
    step.preprocess(nbformat.v4.new_notebook(), {**resources, DEADLINE_KEY: before + 5.0})
    (alone, budget), shared = asked
    assert before + 77 <= alone <= after + 77 and budget == 77
    assert shared == (before + 5.0, 77)


def test_stale_private_folders_of_dead_graders_are_removed_and_no_others(tmp_path, monkeypatch):
    """``gankit-KIND-PID-xxxx``: removed when process PID is gone, kept while it runs, and a folder
    named otherwise is never touched."""
    from gankit.sandbox.command import private_folder, remove_stale_folders

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ended = subprocess.Popen(["true"])
    ended.wait()  # its pid names no process now
    dead = tmp_path / f"gankit-kernel-{ended.pid}-abc123"
    dead.mkdir()
    (dead / "left.txt").write_text("x")
    alive = Path(private_folder("checks"))
    other = tmp_path / "gankit-notes-x-7"
    other.mkdir()
    remove_stale_folders()
    assert not dead.exists() and alive.is_dir() and other.is_dir()
    assert alive.name.startswith(f"gankit-checks-{os.getpid()}-") and alive.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize(
    ("report", "pid"),
    [
        ('{\n    "child-pid": 4242\n}', 4242),  # as bubblewrap writes it
        ('{"child-pid":17,"cgroup-namespace":1}', 17),
        ('{"child-pid": "x"}', None),
        ("", None),
    ],
)
def test_the_supervisor_reads_the_sandboxs_pid_from_bubblewraps_report(tmp_path, report, pid):
    from gankit.sandbox.launcher import read_info

    (tmp_path / "info").write_text(report)
    assert read_info(str(tmp_path / "info")) == pid


def test_the_supervisors_look_at_a_process_that_has_just_ended_finds_nothing():
    """The supervisor walks the sandbox's processes five times a second; one that ends meanwhile
    has no children and no memory, and the walk goes on (an error here would end the supervisor)."""
    from gankit.sandbox.launcher import children, memory_bytes

    gone = subprocess.Popen(["/bin/true"])
    gone.wait()  # reaped: its pid names no process now
    assert children(gone.pid) == []
    assert memory_bytes([gone.pid]) == 0
    assert memory_bytes([os.getpid()]) > 0  # a living one has


# -- the sandbox's own limits, in user mode ------------------------------------------------------


@pytest.fixture
def user_mode(monkeypatch) -> None:
    """Build sandboxes as an ordinary user's grader does, even when the tests run as root: no
    cgroups, so the seccomp filter, the rlimits and the supervisor's memory watch are all that
    hold (as root, the cgroup's own limits would hide a missing one)."""
    if os.geteuid() == 0:
        monkeypatch.setattr(os, "geteuid", lambda: 1000)


READ_OWN_MEMORY = """
import ctypes, os

class _Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("length", ctypes.c_size_t)]

def read_own_memory():
    libc = ctypes.CDLL(None, use_errno=True)
    source, target = ctypes.create_string_buffer(b"mine", 8), ctypes.create_string_buffer(8)
    local = _Iovec(ctypes.cast(target, ctypes.c_void_p), 8)
    remote = _Iovec(ctypes.cast(source, ctypes.c_void_p), 8)
    done = libc.process_vm_readv(os.getpid(), ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
    return done if done >= 0 else -ctypes.get_errno()
"""


def test_the_seccomp_filter_denies_what_no_namespace_or_missing_capability_does(user_mode):
    """``process_vm_readv`` on itself needs no privilege (it reads 8 bytes without the filter):
    only the seccomp filter makes it fail, with EPERM."""
    with _process(READ_OWN_MEMORY) as process:
        assert Outcome.from_reply(process.call("read_own_memory", [])).value == -errno.EPERM


NAMESPACE_FLAGS = {
    "CLONE_NEWNS": 0x00020000,
    "CLONE_NEWCGROUP": 0x02000000,
    "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
}
DENIED_ARGUMENTS = """
import ctypes, fcntl, os, signal, termios

def clone_with(flag):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    pid = libc.syscall(56, ctypes.c_ulong(flag | signal.SIGCHLD), None, None, None, None)  # x86-64 clone
    if pid == 0:
        os._exit(0)  # a child the filter let through: it must not run the rest of this process
    if pid < 0:
        return -ctypes.get_errno()
    os.waitpid(pid, 0)
    return pid

def inject_into_terminal():
    with open("/dev/null", "rb") as null:
        try:
            fcntl.ioctl(null, termios.TIOCSTI, b"x")
        except OSError as error:
            return -error.errno
    return 0
"""


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the probe calls clone by its x86-64 number")
def test_the_seccomp_filter_refuses_every_namespace_flag_of_clone_and_terminal_injection(user_mode):
    """``clone`` with any one namespace flag fails with the filter's EPERM (without it, a new user
    namespace fails later, with the nesting limit's ENOSPC, and the others for want of a
    capability); ``TIOCSTI`` fails with EPERM where a device that is no terminal says ENOTTY."""
    with _process(DENIED_ARGUMENTS) as process:
        cloned = {
            name: Outcome.from_reply(process.call("clone_with", [flag])).value for name, flag in NAMESPACE_FLAGS.items()
        }
        injected = Outcome.from_reply(process.call("inject_into_terminal", [])).value
        plain = Outcome.from_reply(process.call("clone_with", [0])).value  # a plain fork works
    assert cloned == dict.fromkeys(NAMESPACE_FLAGS, -errno.EPERM)
    assert injected == -errno.EPERM
    assert plain > 0


def test_a_system_call_this_libseccomp_does_not_know_is_left_out_and_the_filter_compiled_once(monkeypatch):
    """A name an older libseccomp or kernel lacks is skipped, not fatal (the filter still compiles
    with every other rule); the filter is compiled once per grading process, as its module says."""
    from gankit.sandbox import seccomp

    monkeypatch.setattr(seccomp, "DENIED", [*seccomp.DENIED, "no_such_call"])
    monkeypatch.setattr(seccomp, "ABSENT", [*seccomp.ABSENT, "no_such_call_either"])
    seccomp.compiled.cache_clear()
    try:
        program, why = seccomp.compiled()
        assert (bool(program), why) == (True, "")
        assert seccomp.compiled() is seccomp.compiled()
    finally:
        seccomp.compiled.cache_clear()


RLIMITS = """
import resource

def rlimits():
    names = ("AS", "CPU", "NOFILE", "FSIZE", "CORE", "NPROC")
    return [list(resource.getrlimit(getattr(resource, "RLIMIT_" + name))) for name in names]
"""


def test_a_sandboxed_process_runs_under_the_per_process_limits_docs_security_states(user_mode):
    """Address space, CPU time, open files, file size, core files and processes, as the process
    itself sees them with the course's default limits (soft and hard alike)."""
    from documented_limits import documented_limits

    promised, mib = documented_limits(), 1 << 20
    with _process(RLIMITS) as process:
        seen = _plain(Outcome.from_reply(process.call("rlimits", [])))
    expected = [
        promised.checks_memory_mb * mib,
        promised.cpu_seconds,
        promised.open_files,
        promised.file_mb * mib,
        0,
        promised.max_processes,
    ]
    assert seen == [[value, value] for value in expected]


THREADS = """
import resource, threading

def threads(wanted):
    threading.stack_size(256 * 1024)  # so that the address-space limit is not what stops them
    started, stop = 0, threading.Event()
    try:
        for _ in range(wanted):
            threading.Thread(target=stop.wait).start()
            started += 1
    except RuntimeError:
        pass
    stop.set()
    return list(resource.getrlimit(resource.RLIMIT_NPROC)), started
"""
GRADING_AS_ROOT = os.geteuid() == 0


def test_the_process_count_limit_holds_threads_included_without_cgroups(user_mode):
    """At most ``max_processes`` processes and threads in the whole sandbox, from the rlimit alone."""
    with _process(THREADS, max_processes=8) as process:
        limit, started = Outcome.from_reply(process.call("threads", [40])).value
    assert [item.value for item in limit.value] == [8, 8]
    # The kernel does not count a user namespace that host root made (the sandbox's processes are
    # root's there), so the count itself is only seen bounded when the tests run unprivileged.
    assert GRADING_AS_ROOT or 0 < started.value < 8


HOGS = """
import subprocess, sys, time

def hogs(count, mib):
    code = "import time; x = b'x' * (%d << 20); time.sleep(30)" % mib
    children = [subprocess.Popen([sys.executable, "-I", "-S", "-c", code]) for _ in range(count)]
    time.sleep(8)  # time to allocate even on a busy machine; the supervisor ends it much sooner
    for child in children:
        child.kill()
    return "all alive"
"""


def test_the_supervisor_ends_a_sandbox_whose_processes_together_pass_its_memory(user_mode):
    """Four processes of 100 MiB each fit the per-process limit of 300 MiB, but not the sandbox's."""
    with _process(HOGS, memory_mb=300, call_seconds=20) as process:
        outcome = Outcome.from_reply(process.call("hogs", [4, 100]))
    assert outcome.raised, outcome


# -- a student's values are the student's doing ----------------------------------------------------

UNJUDGEABLE = """
import gc, io
def discriminator_cost(d, p_data, p_model, dx):
    return 10**400  # a Python int past a float's range
def optimal_discriminator_from_logs(log_p_data, log_p_model):
    # A reply line nested too deep for any JSON parser, written to the process's own reply pipe.
    for handle in gc.get_objects():
        if isinstance(handle, io.TextIOWrapper) and handle.mode == "w" and handle.fileno() > 2:
            handle.write("[" * 200000 + "]" * 200000 + "\\n")
            handle.flush()
    return 0.5
"""


def test_values_that_cannot_be_judged_are_the_students_fault_never_the_graders(grader):
    """A number past a float's range or a reply nested too deep fails the student's checks, named
    as theirs; no check is said to have failed on the grader's side, the other cells keep their
    points, and the next student is graded in full."""
    name = NOTEBOOKS[0]
    nb = notebooks.read(SOLUTIONS / f"{name}.ipynb")
    nb.cells.append(nbformat.v4.new_code_cell(UNJUDGEABLE))
    verdicts = grader.grade(nb, name, "mallory")
    text = "\n".join(verdict.feedback() for verdict in verdicts.values())
    assert not any(r.internal_error for verdict in verdicts.values() for r in verdict.results), text
    assert "grader's side" not in text
    assert verdicts["correct_discriminator_cost"].score == 0
    assert "not numbers" in verdicts["correct_discriminator_cost"].feedback()
    assert "UnreadableReply" in verdicts["correct_discriminator_from_logs"].feedback()
    assert verdicts["correct_discriminator_from_logs"].score < verdicts["correct_discriminator_from_logs"].points
    assert verdicts["correct_optimal_discriminator"].score == verdicts["correct_optimal_discriminator"].points
    after = grader.grade(notebooks.read(SOLUTIONS / f"{name}.ipynb"), name, "zoe")
    assert all(verdict.score == verdict.points for verdict in after.values())


def _only_check(grader: Grader, monkeypatch, name: str, check_id: str, body) -> None:
    """Have ``body`` stand for the check ``check_id`` of notebook ``name``, its only check."""
    (check,) = [c for c in grader.checks[name] if c.check_id == check_id]
    for attribute in ("cell", "weight", "structural", "check_id"):
        setattr(body, attribute, getattr(check, attribute))
    monkeypatch.setitem(grader.checks, name, [body])


def test_a_check_that_trips_over_a_students_value_blames_the_student(grader, monkeypatch):
    """Any check that raises on what a student's code returned (here it reads the value with
    ``float``, which a Python int past a float's range breaks) fails that student's check, named as
    theirs, since the same check runs on the model answer; the next student is graded in full."""
    name = NOTEBOOKS[0]

    def reads_with_float(student, reference, probe):
        """J(D) read as a float."""
        got = student.discriminator_cost(np.array([0.5]), np.array([1.0]), np.array([1.0]), 0.1)
        require(float(got.value) > -1e300, tried="J(D)", expected="a number", got=got.describe(), hint="")

    _only_check(grader, monkeypatch, name, "test_riemann_sum_of_the_cost", reads_with_float)
    nb = notebooks.read(SOLUTIONS / f"{name}.ipynb")
    nb.cells.append(nbformat.v4.new_code_cell(UNJUDGEABLE))
    verdict = grader.grade(nb, name, "mallory")["correct_discriminator_cost"]
    assert verdict.results[0].internal_error is None and verdict.score == 0
    assert "could not be judged (OverflowError while reading them)" in verdict.feedback()
    assert "grader's side" not in verdict.feedback()
    after = grader.grade(notebooks.read(SOLUTIONS / f"{name}.ipynb"), name, "zoe")["correct_discriminator_cost"]
    assert after.results[0].passed and after.score == after.points


def test_a_check_that_fails_on_the_model_answer_too_is_the_graders_fault(grader, monkeypatch):
    """The other side of the line: a check broken for every answer is an internal error, said to
    be the grader's, and earns nothing."""
    name = NOTEBOOKS[0]

    def broken(student, reference, probe):
        return {}["no such key"]

    _only_check(grader, monkeypatch, name, "test_riemann_sum_of_the_cost", broken)
    verdict = grader.grade(notebooks.read(SOLUTIONS / f"{name}.ipynb"), name, "ada")["correct_discriminator_cost"]
    assert verdict.results[0].internal_error == "KeyError: 'no such key'"
    assert verdict.score == 0 and "a problem on the grader's side" in verdict.feedback()


# -- memory that no process's set size shows ------------------------------------------------------

PINNER = r"""
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
print("shmget", libc.shmget(0, 4096, 0o1600), ctypes.get_errno(), flush=True)
try:
    os.memfd_create("pinned")
    print("memfd made", flush=True)
except OSError as error:
    print("memfd", error.errno, flush=True)
made = 0
while made < 600_000:  # empty folders: no page of memory each, but an inode and a dentry of the kernel's
    os.mkdir("/tmp/d%d" % made)
    made += 1
    if made % 50000 == 0:
        print("folders", made, flush=True)
print("never stopped", flush=True)  # three times the limit, had the bound not held
"""

AS_AN_ORDINARY_ACCOUNT = """
import subprocess, sys
from gankit.sandbox.command import SandboxedCommand
from gankit.sandbox.limits import Limits
box = SandboxedCommand([sys.executable, "-I", "-S", "-c", sys.argv[1]], Limits(memory_mb=200), grader_stderr=True)
done = subprocess.run(box.command, capture_output=True, text=True)
box.close()
print(done.stdout + f"status {done.returncode}")
print(done.stderr, end="", file=sys.stderr)
"""


@pytest.mark.accounts  # "ordinary" opens the folders above the kit to uid 65534 meanwhile
@pytest.mark.parametrize("account", ["this", "ordinary"])
def test_memory_outside_every_process_is_refused_or_counted(account, tmp_path):
    """System V segments and memfd files, which no process's memory shows, are refused (as if
    absent); a tmpfs's inodes (millions of empty folders) count toward the whole-sandbox limit, so
    the sandbox ends near its 200 MiB: as this account (root: a cgroup too) and as an ordinary one
    (uid 65534 when the tests run as root), where the supervisor's count is the only bound."""
    ordinary = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
    prefix = ordinary if account == "ordinary" and os.geteuid() == 0 else []
    with kit_reachable_by_everyone() if prefix else contextlib.nullcontext():
        done = subprocess.run(
            [*prefix, sys.executable, "-c", AS_AN_ORDINARY_ACCOUNT, PINNER],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path.anchor,
            env={**os.environ, "HOME": "/tmp", "TMPDIR": "/tmp"},
        )
    lines = done.stdout.splitlines()
    assert lines[:2] == ["shmget -1 38", "memfd 38"], done.stdout + done.stderr  # ENOSYS
    made = max([int(line.split()[1]) for line in lines if line.startswith("folders")], default=0)
    # Killed (by the supervisor, or as root perhaps by the cgroup, which kills the supervisor too).
    assert lines[-1] in (f"status {128 + signal.SIGKILL}", f"status {-signal.SIGKILL}"), done.stdout + done.stderr
    if prefix or os.geteuid() != 0:  # no cgroup: the supervisor's count is the bound
        assert "the whole sandbox passed its memory limit of 200 MiB" in done.stderr
        # 1 KiB an inode: the folders alone reach the limit at 204,800; the supervisor samples five
        # times a second, so a loaded machine may let a burst pass it a little before the kill.
        assert made < 300_000, made
