"""The hidden checks' server and the grader's side of its protocol, piece by piece: the reply bound
at its byte, the wait for the server's word that its sandbox is fresh again, and the server's
clean-up between two notebooks (run in a real sandbox, whose pid namespace is the server's).

The whole round trip, student code included, is tested in ``tests/test_hidden_checks.py``; these
tests reach the edges that a real student process cannot be made to hit on cue.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import stat
import struct
import subprocess
import sys
import termios
import threading
import time
import types
from concurrent.futures import ThreadPoolExecutor

from documented_limits import documented_limits

from gankit.judging import student_process
from gankit.judging.student_process import RUNNER_SOURCE, CheckLimits, StudentProcess
from gankit.sandbox.command import SandboxedCommand
from gankit.sandbox.limits import Limits

MIB = 1 << 20


def _runner() -> types.ModuleType:
    """The server's functions, as the sandbox's ``python -c`` defines them (without serving)."""
    runner = types.ModuleType("runner_under_test")
    sys.modules[runner.__name__] = runner  # its dataclasses look their module up
    try:
        exec(compile(RUNNER_SOURCE, "runner.py", "exec"), runner.__dict__)
    finally:
        del sys.modules[runner.__name__]
    return runner


# -- the reply bound ------------------------------------------------------------------------------


def _reply_line(size: int) -> bytes:
    """A result reply of exactly ``size`` bytes, its newline apart."""
    head, tail = b'{"op": "result", "pad": "', b'"}'
    return head + b"a" * (size - len(head) - len(tail)) + tail


def _unread(fd: int) -> int:
    return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4))[0]


def _receive_once_all_has_arrived(size: int, max_reply_mb: int) -> dict | None:
    """What the grader makes of a reply of ``size`` bytes whose newline comes only once every byte
    before it has been read (so the bound is looked at with exactly ``size`` bytes held)."""
    process = StudentProcess([], {}, CheckLimits(max_reply_mb=max_reply_mb))
    replies, theirs = os.pipe()
    process._replies = replies

    def send() -> None:
        ends = time.monotonic() + 30
        with contextlib.suppress(OSError), open(theirs, "wb", buffering=0) as pipe:
            pipe.write(_reply_line(size))  # blocks until the grader reads; EPIPE once it gave up
            while _unread(replies) and time.monotonic() < ends:  # the grader has taken every byte
                time.sleep(0.01)
            time.sleep(0.05)
            pipe.write(b"\n")

    sender = threading.Thread(target=send)
    sender.start()
    try:
        return process._receive(time.monotonic() + 30)
    finally:
        process._close_pipes()  # a grader that gave up early leaves the sender an EPIPE, not a hang
        sender.join(timeout=35)
        assert not sender.is_alive()


def test_the_reply_bound_is_the_one_docs_security_states():
    """The bound on one reply, as the documentation promises it."""
    assert CheckLimits().max_reply_mb == documented_limits().reply_mb


def test_a_reply_of_exactly_the_bound_is_read_and_one_byte_more_is_unreadable():
    """``max_reply_mb`` is the most of a reply that may have arrived, its line's end not among it,
    for the grader to read on: with exactly that held it reads on, with one byte more it stops and
    the reply is the student's unreadable one (the bound is looked at before each read)."""
    whole = _receive_once_all_has_arrived(MIB, max_reply_mb=1)
    assert whole == json.loads(_reply_line(MIB))
    assert _receive_once_all_has_arrived(MIB + 1, max_reply_mb=1) is None


# -- the server's word that its sandbox is fresh again -----------------------------------------------


def _idle_after(script: list[tuple[float, bytes | None]], wait: float) -> tuple[bool, float]:
    """``_Server.idle(wait)`` on a server that says each piece of ``script`` at its time (None:
    closes its end); whether the grader keeps it, and how long it took to decide."""
    ours, theirs = socket.socketpair()
    server = student_process._Server.__new__(student_process._Server)  # only its control socket
    server.control = ours
    decided = threading.Event()

    def speak() -> None:
        start = time.monotonic()
        for at, said in script:
            if decided.wait(max(0.0, at - (time.monotonic() - start))):
                return  # the grader has decided: the rest would go unheard
            if said is None:
                theirs.shutdown(socket.SHUT_WR)
                return
            theirs.sendall(said)

    speaker = threading.Thread(target=speak)
    speaker.start()
    start = time.monotonic()
    try:
        return server.idle(wait), time.monotonic() - start
    finally:
        decided.set()
        speaker.join()
        ours.close()
        theirs.close()


def test_a_server_is_kept_only_when_it_says_idle_within_the_wait():
    """The server is kept for the student's next notebook when it says ``idle`` within the wait,
    in one piece or several; silence past the wait, other words or a closed socket end it (without
    waiting longer than asked)."""
    cases = {
        "late but in time": ([(0.5, b"idle\n")], 3.0),
        "in pieces": ([(0.1, b"id"), (0.3, b"le\n")], 3.0),
        "silent": ([(10.0, None)], 1.0),  # closes only long after the wait: had the grader waited on
        "other words": ([(0.1, b"busy\n")], 3.0),
        "more than idle": ([(0.1, b"idle and more\n")], 3.0),
        "closed": ([(0.2, None)], 3.0),
    }
    with ThreadPoolExecutor(len(cases)) as pool:
        decided = dict(zip(cases, pool.map(lambda case: _idle_after(*case), cases.values()), strict=True))
    kept = {name: result[0] for name, result in decided.items()}
    assert kept == {
        "late but in time": True,
        "in pieces": True,
        "silent": False,
        "other words": False,
        "more than idle": False,
        "closed": False,
    }
    assert 0.4 <= decided["late but in time"][1] < 3.0  # its word came 0.5 s after the speaker started
    assert 1.0 <= decided["silent"][1] < 2.5  # the wait is bounded: a server that never answers is ended
    assert decided["closed"][1] < 2.5  # a closed socket is an answer: no need to wait for the rest


# -- the server's clean-up between notebooks -------------------------------------------------------


def test_the_scratch_listing_enters_folders_and_keeps_their_modes(tmp_path):
    """What the server compares after each notebook: every file and folder under /tmp, nested ones
    included, with its mode (a folder whose mode the student changed is not the sandbox built)."""
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "f").write_text("x")
    (tmp_path / "a" / "b").chmod(0o750)
    (tmp_path / "link").symlink_to("/etc")
    listing = _runner()._scratch(str(tmp_path), os.stat(tmp_path).st_dev)
    found = {os.path.relpath(path, tmp_path): mode for path, mode in listing}
    assert set(found) == {"a", "a/b", "a/b/f", "link"}
    assert found["a/b"] == stat.S_IFDIR | 0o750
    assert stat.S_ISREG(found["a/b/f"]) and stat.S_ISLNK(found["link"])  # the link is listed, not followed
    assert listing == sorted(listing)


# The start of a script run in a real sandbox: the server's functions, a child that lives for a
# while, and what the script found (printed as JSON after "FOUND ").
IN_A_SANDBOX = """
import json, os, signal, sys, time, types
runner = sys.modules["runner_under_test"] = types.ModuleType("runner_under_test")
exec(compile(sys.argv[1], "runner.py", "exec"), runner.__dict__)  # defines, does not serve
found = {}

def child(seconds):
    pid = os.fork()
    if pid == 0:
        time.sleep(seconds)
        os._exit(0)
    return pid
"""


def _found_in_a_sandbox(script: str) -> dict:
    """What ``script`` (after ``IN_A_SANDBOX``) found, run as the command of a real sandbox."""
    box = SandboxedCommand([sys.executable, "-I", "-c", IN_A_SANDBOX + script, RUNNER_SOURCE], Limits())
    try:
        done = subprocess.run(box.command, capture_output=True, text=True, timeout=30)
    finally:
        box.close()
    assert "FOUND " in done.stdout, done.stdout + done.stderr
    return json.loads(done.stdout.split("FOUND ", 1)[1])


OTHERS_GONE = """
others_gone = runner._others_gone

zombie = os.fork()
if zombie == 0:
    os._exit(0)
while open(f"/proc/{zombie}/stat").read().rsplit(")", 1)[1].split()[0] != "Z":
    time.sleep(0.01)
found["zombie"] = others_gone(wait=0.5)  # ended, only not yet reaped: it counts as gone

late = child(0.8)
start = time.monotonic()
found["ends_within_the_wait"] = others_gone(wait=5.0)
found["ends_within_the_wait_after"] = time.monotonic() - start

stays = child(60)
start = time.monotonic()
found["stays"] = others_gone(wait=0.5)
found["stays_after"] = time.monotonic() - start
os.kill(stays, signal.SIGKILL)
print("FOUND " + json.dumps(found), flush=True)
"""


def test_the_server_waits_for_every_other_process_to_be_gone_and_no_longer():
    """After a notebook the server waits, within its bound, until no process of the notebook is
    left in the sandbox's pid namespace: a zombie is gone already, a process that ends within the
    wait is waited for, and one that stays makes the sandbox not fresh once the wait is over."""
    found = _found_in_a_sandbox(OTHERS_GONE)
    assert found["zombie"] is True
    assert found["ends_within_the_wait"] is True and 0.7 <= found["ends_within_the_wait_after"] < 4.0
    assert found["stays"] is False and 0.5 <= found["stays_after"] < 3.0


FRESH_AGAIN = """
os.makedirs("/tmp/built/inner")
built = runner._scratch("/tmp", os.stat("/tmp").st_dev)  # what the server saw when it started

# Only the sandbox's command (this process, pid 2) ends every other process: any other refuses.
sleeper = child(60)
other = os.fork()
if other == 0:
    os._exit(0 if runner._fresh_again(built) is False else 1)
found["another_refuses"] = os.waitstatus_to_exitcode(os.waitpid(other, 0)[1]) == 0
found["sleeper_spared"] = os.waitpid(sleeper, os.WNOHANG) == (0, 0)

# What a notebook left: files, folders, a folder it made unreadable, a link out.
os.makedirs("/tmp/left/deeper")
open("/tmp/left/deeper/f.txt", "w").write("x")
open("/tmp/built/inner/g.txt", "w").write("x")
os.chmod("/tmp/left", 0)
os.symlink("/etc/passwd", "/tmp/link")
found["emptied"] = runner._fresh_again(built)
found["left"] = sorted(os.listdir("/tmp")) + sorted(os.listdir("/tmp/built/inner"))

os.chmod("/tmp/built/inner", 0o777)  # a folder the sandbox was built with, changed
found["mode_changed"] = runner._fresh_again(built)
os.chmod("/tmp/built/inner", 0o755)

os.chdir("/tmp")
for _ in range(1500):  # deeper than the server's walk can go (its 64 descriptors end it first)
    os.mkdir("d")
    os.chdir("d")
os.chdir("/")
found["too_deep"] = runner._fresh_again(built)
print("FOUND " + json.dumps(found), flush=True)
"""


def test_the_server_empties_scratch_back_to_how_it_was_built_or_says_it_cannot():
    """Between two notebooks the server ends every other process and removes what the notebook left
    in /tmp (an unreadable folder and a link included, the link's target untouched), and keeps the
    sandbox only if /tmp is then as it was built: a built folder whose mode changed, or a chain too
    deep to walk, means a new sandbox (never an error that ends the server unexplained). No process
    but the sandbox's command (pid 2 in its pid namespace) may end every process it can signal:
    run anywhere else (outside a sandbox, it would be every process of the grader's account), it
    refuses."""
    found = _found_in_a_sandbox(FRESH_AGAIN)
    assert found == {
        "another_refuses": True,
        "sleeper_spared": True,
        "emptied": True,  # the sleeper too: every process but the server's own is ended
        "left": ["built"],
        "mode_changed": False,
        "too_deep": False,
    }
