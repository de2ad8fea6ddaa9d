"""Where a student's code runs for the hidden checks: ``runner.py`` in a sandboxed process.

The process is built by ``gankit.sandbox`` (no course files, no network, its own uid, limits on
memory, CPU, files and processes; everything it starts ends with it). Only JSON lines come back.
Each notebook gets a fresh process, forked by a server in the sandbox that has loaded Python and
numpy once; one server serves one student's notebooks, in turn, and empties the sandbox between
them (``runner.serve``).
If the machine cannot build the sandbox, grading refuses to run unless the grader opts out
explicitly (``Sandbox.allow_unsandboxed = True`` or ``GANKIT_ALLOW_UNSANDBOXED=1``).
"""

from __future__ import annotations

import atexit
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, BinaryIO

from gankit.judging.outcome import public_name
from gankit.sandbox.availability import REFUSAL, SandboxUnavailable
from gankit.sandbox.command import SANDBOX_FAILED, SandboxedCommand
from gankit.sandbox.limits import Limits

# The codec first: the student process cannot import the kit (see runner.py).
RUNNER_SOURCE = "\n\n".join(
    Path(__file__).with_name(name).read_text(encoding="utf-8") for name in ("codec.py", "runner.py")
)

__all__ = ["CheckLimits", "StudentProcess", "SandboxUnavailable", "discard_prestarted", "prestart"]


@dataclass(frozen=True)
class CheckLimits(Limits):
    """The limits of the hidden checks' process: the sandbox's, plus the deadlines of the protocol."""

    setup_seconds: float = 20.0  # all the notebook's cells together
    call_seconds: float = 10.0  # one call of one function
    max_reply_mb: int = 32


def _public_cell_error(text: str) -> str:
    """What the student process said about a cell, as feedback may repeat it: the student's code
    can write anything there, so only the exception's built-in name survives."""
    if text.startswith("skipped:"):
        return "skipped: it did not finish in time before"
    return public_name(text.split(":", 1)[0].strip())


class _Server:
    """``runner.py`` serving in a sandbox of its own: one fresh process per notebook, forked from a
    server that has loaded Python and numpy once (see ``runner.serve``)."""

    def __init__(self, limits: Limits, sandbox: bool):
        self.pooled = sandbox  # only a sandbox's pid namespace can be emptied between notebooks
        argv = [sys.executable, "-I", "-c", RUNNER_SOURCE, *(["--pooled"] if self.pooled else [])]
        self.box = SandboxedCommand(argv, limits, enabled=sandbox)
        self.control, theirs = socket.socketpair()
        try:
            self.proc = subprocess.Popen(
                self.box.command,
                stdin=theirs,
                stdout=theirs,
                stderr=subprocess.PIPE,
                start_new_session=True,  # its own process group, so that everything it starts can be ended
            )
        finally:
            theirs.close()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def fork(self) -> tuple[BinaryIO, int] | None:
        """A fresh process for one notebook: its requests' pipe and its replies' file descriptor
        (None if the server is gone, which the first read then reports)."""
        requests_read, requests_write = os.pipe()
        replies_read, replies_write = os.pipe()
        try:
            socket.send_fds(self.control, [b"fork\n"], [requests_read, replies_write])
        except OSError:
            for fd in (requests_read, requests_write, replies_read, replies_write):
                os.close(fd)
            return None
        os.close(requests_read)
        os.close(replies_write)
        return os.fdopen(requests_write, "wb"), replies_read

    def idle(self, wait: float = 3.0) -> bool:
        """Whether the server, its notebook's process ended (the grader has closed its pipes),
        has made the sandbox fresh again and waits for the next fork."""
        said, ends = b"", time.monotonic() + wait
        try:
            while not said.endswith(b"\n") and len(said) < 16:
                self.control.settimeout(max(ends - time.monotonic(), 0.001))
                chunk = self.control.recv(16 - len(said))
                if not chunk:
                    return False
                said += chunk
        except OSError:  # a timeout included
            return False
        return said == b"idle\n"

    def end(self) -> tuple[int | None, str]:
        """Kill the server and everything in its sandbox; its exit status and the end of its stderr."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        status = self.proc.wait()
        failure = self.proc.stderr.read().decode("utf-8", "replace")[-2000:] if self.proc.stderr else ""
        if self.proc.stderr:
            self.proc.stderr.close()
        self.control.close()
        self.box.close()
        return status, failure


def _spawn_key(limits: Limits) -> Limits:
    """What a runner's sandbox depends on: the limits, without the protocol's deadlines."""
    return Limits(**{f.name: getattr(limits, f.name) for f in fields(Limits)})


# At most one server waiting for a notebook (see ``prestart``), by what it was started with and the
# student it serves; None serves a single notebook.
_Key = tuple[Limits, bool, str | None]
_waiting: dict[_Key, _Server] = {}


def discard_prestarted() -> None:
    """End the server waiting for a notebook, if any."""
    while _waiting:
        _waiting.popitem()[1].end()


def prestart(limits: Limits, sandbox: bool = True, student: str | None = None) -> None:
    """Have a server ready for the next notebook's hidden checks, started now, while its kernel runs:
    Python, the sandbox and numpy then load in parallel with the notebook instead of after it. The
    ``student``'s own server, if it waits already, is kept: the next ``StudentProcess`` with these
    limits for this student takes it, and a server never serves two students. Any other is ended."""
    key = (_spawn_key(limits), sandbox, student)
    if student is not None and key in _waiting and _waiting[key].alive():
        return
    discard_prestarted()
    _waiting[key] = _Server(limits, sandbox)


atexit.register(discard_prestarted)


class StudentProcess:
    """A running student submission: set up once, then asked to call functions one at a time.

    A call that times out or kills the process fails alone: the process is started again (skipping
    any cell that never finished) before the next call, in a new sandbox.

    ``student``: whose notebook this is. Its server, if the notebook ends cleanly, then waits for the
    same student's next notebook; without a student, it serves this notebook alone.
    """

    def __init__(
        self,
        cells: list[str],
        modules: dict[str, str],
        limits: CheckLimits = CheckLimits(),
        sandbox: bool = True,
        deadline: float | None = None,
        student: str | None = None,
    ):
        self.cells = cells
        self.student = student
        self.deadline = deadline  # time.monotonic() past which no call may run (the notebook's budget)
        self.modules = modules
        self.limits = limits
        self.sandbox = sandbox
        self.skip: set[int] = set()
        self.cell_errors: dict[int, str] = {}
        self._server: _Server | None = None
        self._requests: BinaryIO | None = None  # this notebook's process: its stdin
        self._replies: int | None = None  # and its stdout
        self._buffer = b""
        self._ended = ""  # why the last read gave up: "timeout", "eof" or "garbled"

    # -- lifecycle ---------------------------------------------------------------------------

    def _spawn(self) -> None:
        server = _waiting.pop(self._key, None)
        if server is not None and not server.alive():  # one started ahead that died meanwhile
            server.end()
            server = None
        self._server = server or _Server(self.limits, self.sandbox)
        channel = self._server.fork()
        self._requests, self._replies = channel if channel else (None, None)
        self._buffer = b""
        self._send({"op": "setup", "modules": self.modules, "cells": self.cells, "skip": sorted(self.skip)})
        deadline = self._until(self.limits.setup_seconds)
        reported = -1
        while True:
            reply = self._receive(deadline)
            if reply is None:
                status, failure = self._stop()
                if status == SANDBOX_FAILED and failure.startswith("sandbox:"):
                    raise SandboxUnavailable(f"{failure.strip()}\n{REFUSAL}")
                if self._expired():
                    return  # the notebook's budget is spent: no call will run (see ``call``)
                # The cell after the last one reported never finished: skip it next time.
                stuck = reported + 1
                if stuck >= len(self.cells) or stuck in self.skip:
                    raise RuntimeError(f"the student process failed while starting: {failure}")
                self.skip.add(stuck)
                self.cell_errors[stuck] = "did not finish within the time limit, or crashed the process"
                return self._spawn()
            if reply.get("op") == "cell":
                reported = int(reply["index"])
                error = reply.get("error")
                if error and reported not in self.cell_errors:
                    self.cell_errors[reported] = _public_cell_error(str(error))
                if error and str(error).startswith("MemoryError") and reported not in self.skip:
                    # Whatever the cell holds would starve every later call: start again without it.
                    self.skip.add(reported)
                    self._stop()
                    return self._spawn()
            elif reply.get("op") == "ready":
                return

    @property
    def _key(self) -> _Key:
        return (_spawn_key(self.limits), self.sandbox, self.student)

    def _close_pipes(self) -> None:
        if self._requests is not None:
            try:
                self._requests.close()
            except OSError:
                pass  # the process is gone: nothing was waiting to be written
            self._requests = None
        if self._replies is not None:
            os.close(self._replies)
            self._replies = None

    def _stop(self) -> tuple[int | None, str]:
        """End the process, its sandbox and everything in it; return the sandbox's exit status and
        its stderr."""
        self._close_pipes()
        server, self._server = self._server, None
        return server.end() if server is not None else (None, "")

    def close(self) -> None:
        """End this notebook's process; its server waits for the student's next notebook if the
        sandbox is fresh again, and is ended otherwise."""
        server = self._server
        if server is None or self.student is None or not server.pooled:
            self._stop()
            return
        self._close_pipes()  # the process reads the end of its requests and exits
        self._server = None
        if server.idle() and server.alive():
            discard_prestarted()  # at most one waits: this one, for the student's next notebook
            _waiting[self._key] = server
        else:
            server.end()

    def __enter__(self) -> StudentProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _expired(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def _until(self, seconds: float) -> float:
        """The deadline of a step that may take ``seconds``, within the notebook's budget."""
        ends = time.monotonic() + seconds
        return min(ends, self.deadline) if self.deadline is not None else ends

    # -- protocol ----------------------------------------------------------------------------

    def _send(self, message: dict[str, Any]) -> None:
        if self._requests is None:
            return  # the server was gone before it could fork: the read that follows reports it
        try:
            self._requests.write(json.dumps(message, allow_nan=False).encode() + b"\n")
            self._requests.flush()
        except BrokenPipeError:
            pass  # the process is gone; the read that follows reports it

    def _receive(self, deadline: float) -> dict[str, Any] | None:
        """The next reply, or None if the process died, timed out or said something unreadable."""
        if self._replies is None:
            self._ended = "eof"
            return None
        replies = self._replies
        limit = self.limits.max_reply_mb * 1024 * 1024
        with selectors.DefaultSelector() as selector:
            selector.register(replies, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    self._ended = "timeout"
                    return None
                chunk = os.read(replies, 1 << 20)
                if not chunk or len(self._buffer) > limit:
                    self._ended = "eof" if not chunk else "garbled"
                    return None
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            reply = json.loads(line)
        except (ValueError, RecursionError):  # not JSON, an int past Python's digits, nested too deep
            self._ended = "garbled"
            return None
        return reply if isinstance(reply, dict) else None

    def call(self, function: str, args: list[Any], kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call ``function`` in the student's process; return the runner's reply (plain data)."""
        if self._server is None and not self._expired():
            self._spawn()
        if self._server is None or self._expired():
            return {"op": "result", "error": {"type": "Timeout", "message": "the notebook's time budget ran out"}}
        self._send({"op": "call", "function": function, "args": args, "kwargs": kwargs or {}})
        reply = self._receive(self._until(self.limits.call_seconds))
        if reply is None or reply.get("op") != "result":
            ended = self._ended if reply is None else "garbled"
            self._stop()
            if ended == "timeout":
                kind, message = (
                    "Timeout",
                    f"did not return within {self.limits.call_seconds:g} seconds",
                )
            elif ended == "garbled":
                kind, message = (
                    "UnreadableReply",
                    "the process running your code sent back something that is no result",
                )
            else:
                kind, message = (
                    "Crashed",
                    "the process running your code died (a crash or a resource limit)",
                )
            return {"op": "result", "error": {"type": kind, "message": message}}
        return reply
