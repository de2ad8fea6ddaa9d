"""Where a student's code runs for the hidden checks: ``runner.py`` in a sandboxed process.

The process is built by ``gankit.sandbox`` (no course files, no network, its own uid, limits on
memory, CPU, files and processes; everything it starts ends with it). Only JSON lines come back.
If the machine cannot build the sandbox, grading refuses to run unless the grader opts out
explicitly (``Sandbox.allow_unsandboxed = True`` or ``GANKIT_ALLOW_UNSANDBOXED=1``).
"""

from __future__ import annotations

import atexit
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

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


def _start(limits: Limits, sandbox: bool) -> tuple[SandboxedCommand, subprocess.Popen[bytes]]:
    """A new runner process in a new sandbox, waiting for its setup."""
    box = SandboxedCommand([sys.executable, "-I", "-c", RUNNER_SOURCE], limits, enabled=sandbox)
    proc = subprocess.Popen(
        box.command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, so that everything it starts can be ended
    )
    return box, proc


def _spawn_key(limits: Limits) -> Limits:
    """What a runner's sandbox depends on: the limits, without the protocol's deadlines."""
    return Limits(**{f.name: getattr(limits, f.name) for f in fields(Limits)})


# At most one runner started ahead of its notebook (see ``prestart``), by what it was started with.
_prestarted: dict[tuple[Limits, bool], tuple[SandboxedCommand, subprocess.Popen[bytes]]] = {}


def discard_prestarted() -> None:
    """End the runner started ahead, if nobody took it."""
    while _prestarted:
        box, proc = _prestarted.popitem()[1]
        _end(proc)
        box.close()


def prestart(limits: Limits, sandbox: bool = True) -> None:
    """Start the runner for the next notebook's hidden checks now, while its kernel runs: Python,
    the sandbox and numpy then load in parallel with the notebook instead of after it. The next
    ``StudentProcess`` with these limits takes it; it serves that one notebook only, like any
    runner, and one not taken is ended at the next ``prestart`` or when this process exits."""
    discard_prestarted()
    _prestarted[(_spawn_key(limits), sandbox)] = _start(limits, sandbox)


atexit.register(discard_prestarted)


def _end(proc: subprocess.Popen[bytes]) -> tuple[int | None, str]:
    """Kill the runner and everything it started; return its exit status and the end of its stderr."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    status = proc.wait()
    failure = proc.stderr.read().decode("utf-8", "replace")[-2000:] if proc.stderr else ""
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream:
            stream.close()
    return status, failure


class StudentProcess:
    """A running student submission: set up once, then asked to call functions one at a time.

    A call that times out or kills the process fails alone: the process is started again (skipping
    any cell that never finished) before the next call.
    """

    def __init__(
        self,
        cells: list[str],
        modules: dict[str, str],
        limits: CheckLimits = CheckLimits(),
        sandbox: bool = True,
        deadline: float | None = None,
    ):
        self.cells = cells
        self.deadline = deadline  # time.monotonic() past which no call may run (the notebook's budget)
        self.modules = modules
        self.limits = limits
        self.sandbox = sandbox
        self.skip: set[int] = set()
        self.cell_errors: dict[int, str] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._box: SandboxedCommand | None = None
        self._buffer = b""
        self._ended = ""  # why the last read gave up: "timeout", "eof" or "garbled"

    # -- lifecycle ---------------------------------------------------------------------------

    def _spawn(self) -> None:
        self._box, self._proc = _prestarted.pop((_spawn_key(self.limits), self.sandbox), None) or _start(
            self.limits, self.sandbox
        )
        if self._proc.poll() is not None:  # a prestarted process that died meanwhile: start afresh
            self._stop()
            self._box, self._proc = _start(self.limits, self.sandbox)
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

    def _stop(self) -> tuple[int | None, str]:
        """End the process and everything it started; return its exit status and its stderr."""
        proc, self._proc = self._proc, None
        failure, status = "", None
        if proc is not None:
            status, failure = _end(proc)
        if self._box:
            self._box.close()
            self._box = None
        return status, failure

    def close(self) -> None:
        self._stop()

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
        assert self._proc is not None and self._proc.stdin is not None
        try:
            self._proc.stdin.write(json.dumps(message, allow_nan=False).encode() + b"\n")
            self._proc.stdin.flush()
        except BrokenPipeError:
            pass  # the process is gone; the read that follows reports it

    def _receive(self, deadline: float) -> dict[str, Any] | None:
        """The next reply, or None if the process died, timed out or said something unreadable."""
        assert self._proc is not None and self._proc.stdout is not None
        stdout = self._proc.stdout
        limit = self.limits.max_reply_mb * 1024 * 1024
        with selectors.DefaultSelector() as selector:
            selector.register(stdout, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    self._ended = "timeout"
                    return None
                chunk = os.read(stdout.fileno(), 1 << 20)
                if not chunk or len(self._buffer) > limit:
                    self._ended = "eof" if not chunk else "garbled"
                    return None
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            reply = json.loads(line)
        except ValueError:
            self._ended = "garbled"
            return None
        return reply if isinstance(reply, dict) else None

    def call(self, function: str, args: list[Any], kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call ``function`` in the student's process; return the runner's reply (plain data)."""
        if self._proc is None and not self._expired():
            self._spawn()
        if self._proc is None or self._expired():
            return {"op": "result", "error": {"type": "Timeout", "message": "the notebook's time budget ran out"}}
        self._send({"op": "call", "function": function, "args": args, "kwargs": kwargs or {}})
        reply = self._receive(self._until(self.limits.call_seconds))
        if reply is None or reply.get("op") != "result":
            timed_out = self._ended == "timeout"
            self._stop()
            if timed_out:
                kind, message = (
                    "Timeout",
                    f"did not return within {self.limits.call_seconds:g} seconds",
                )
            else:
                kind, message = (
                    "Crashed",
                    "the process running your code died (a crash or a resource limit)",
                )
            return {"op": "result", "error": {"type": kind, "message": message}}
        return reply
