"""Where a student's code runs for hidden grading: a separate, locked-down process.

The process sees only a read-only Python runtime and a small private scratch folder (a tmpfs
mounted in its own mount namespace, then ``chroot``): not the course directory, the checks, the
reference solutions or the gradebook. It has no network (its own network namespace), runs as
``nobody`` when grading runs as root (inside a user namespace otherwise), and has limits on
memory, CPU time, open files, file size and processes. Only JSON lines come back.

If the machine cannot build this sandbox, grading refuses to run unless the grader opts out
explicitly (``HiddenChecks.allow_unsandboxed = True`` or ``GANKIT_ALLOW_UNSANDBOXED=1``).
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RUNNER_SOURCE = (Path(__file__).with_name("runner.py")).read_text(encoding="utf-8")

# Runs first in the new process, as the grader, to build the sandbox; then becomes the runner.
LAUNCHER = r"""
import ctypes, json, os, resource, sys
cfg = json.loads(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p)

def ok(result, what):
    if result != 0:
        errno = ctypes.get_errno()
        sys.stderr.write("sandbox: %s failed: %s\n" % (what, os.strerror(errno)))
        sys.exit(97)

RDONLY, NOSUID, NODEV, REMOUNT, BIND, REC, PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
if cfg["sandbox"]:
    uid, gid = os.getuid(), os.getgid()
    flags = 0x00020000 | 0x40000000 | 0x08000000 | 0x04000000  # mount, network, IPC, UTS
    if uid != 0:
        flags |= 0x10000000  # a user namespace lets an ordinary user build the rest
    ok(libc.unshare(flags), "unshare")
    if uid != 0:
        for name, text in (("setgroups", "deny"), ("uid_map", "0 %d 1" % uid), ("gid_map", "0 %d 1" % gid)):
            with open("/proc/self/" + name, "w") as f:
                f.write(text)
    ok(libc.mount(None, b"/", None, REC | PRIVATE, None), "making mounts private")
    root = cfg["root"].encode()
    ok(libc.mount(b"tmpfs", root, b"tmpfs", NOSUID | NODEV, b"size=%dm,mode=755" % cfg["scratch_mb"]), "tmpfs")
    for path in cfg["read_only"]:
        target = root + path.encode()
        os.makedirs(target, exist_ok=True)
        ok(libc.mount(path.encode(), target, None, BIND | REC, None), "binding " + path)
        ok(libc.mount(None, target, None, BIND | REMOUNT | RDONLY | NOSUID, None), "read-only " + path)
    os.makedirs(root + b"/dev", exist_ok=True)
    open(root + b"/dev/null", "w").close()
    ok(libc.mount(b"/dev/null", root + b"/dev/null", None, BIND, None), "binding /dev/null")
    os.makedirs(root + b"/tmp", exist_ok=True)
    os.chmod(root + b"/tmp", 0o1777)
    os.chroot(root)
    os.chdir("/tmp")
for name, value in cfg["limits"].items():
    resource.setrlimit(getattr(resource, name), (value, value))
if cfg["sandbox"] and os.getuid() == 0:
    resource.setrlimit(resource.RLIMIT_NPROC, (cfg["max_processes"], cfg["max_processes"]))
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)  # nobody
libc.prctl(38, 1, 0, 0, 0)  # no new privileges, ever
libc.prctl(1, 9, 0, 0, 0)  # die with the grader (set after setuid, which clears it)
os.execve(cfg["python"], [cfg["python"], "-I", "-c", cfg["runner"]], cfg["env"])
"""


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot be built on this machine; the message says why and what to do."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one student process."""

    setup_seconds: float = 20.0  # all the notebook's cells together
    call_seconds: float = 10.0  # one call of one function
    memory_mb: int = 1024
    cpu_seconds: int = 120
    scratch_mb: int = 32
    max_open_files: int = 64
    max_file_mb: int = 16
    max_processes: int = 64
    max_reply_mb: int = 32


def _read_only_paths() -> list[str]:
    """The Python runtime and system libraries: all the student process may see."""
    paths = ["/usr", "/lib", "/lib64", "/bin", sys.base_prefix, sys.prefix]
    real_python = os.path.realpath(sys.executable)
    paths.append(os.path.dirname(os.path.dirname(real_python)))
    seen: list[str] = []
    for path in paths:
        if os.path.isdir(path) and path not in seen:
            seen.append(path)
    return seen


def sandbox_disabled_by_environment() -> bool:
    return os.environ.get("GANKIT_ALLOW_UNSANDBOXED", "") == "1"


class StudentProcess:
    """A running student submission: set up once, then asked to call functions one at a time.

    A call that times out or kills the process fails alone: the process is started again (skipping
    any cell that never finished) before the next call.
    """

    def __init__(
        self,
        cells: list[str],
        modules: dict[str, str],
        limits: Limits = Limits(),
        sandbox: bool = True,
    ):
        self.cells = cells
        self.modules = modules
        self.limits = limits
        self.sandbox = sandbox
        self.skip: set[int] = set()
        self.cell_errors: dict[int, str] = {}
        self.restarts = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._root: str | None = None
        self._buffer = b""
        self._ended = ""  # why the last read gave up: "timeout", "eof" or "garbled"

    # -- lifecycle ---------------------------------------------------------------------------

    def _config(self) -> dict[str, Any]:
        mib = 1024 * 1024
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": "/tmp",
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "LANG": "C.UTF-8",
        }
        for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):  # some CPUs need these to run numpy
            if name in os.environ:
                env[name] = os.environ[name]
        return {
            "sandbox": self.sandbox,
            "root": self._root or "",
            "read_only": _read_only_paths(),
            "scratch_mb": self.limits.scratch_mb,
            "python": sys.executable,
            "runner": RUNNER_SOURCE,
            "env": env,
            "max_processes": self.limits.max_processes,
            "limits": {
                "RLIMIT_AS": self.limits.memory_mb * mib,
                "RLIMIT_CPU": self.limits.cpu_seconds,
                "RLIMIT_NOFILE": self.limits.max_open_files,
                "RLIMIT_FSIZE": self.limits.max_file_mb * mib,
                "RLIMIT_CORE": 0,
            },
        }

    def _spawn(self) -> None:
        self._root = tempfile.mkdtemp(prefix="gankit-sandbox-") if self.sandbox else None
        self._proc = subprocess.Popen(
            [sys.executable, "-I", "-c", LAUNCHER, json.dumps(self._config())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group, so that everything it starts can be ended
        )
        self._buffer = b""
        self._send({"op": "setup", "modules": self.modules, "cells": self.cells, "skip": sorted(self.skip)})
        deadline = time.monotonic() + self.limits.setup_seconds
        reported = -1
        while True:
            reply = self._receive(deadline)
            if reply is None:
                failure = self._stop()
                if failure.startswith("sandbox:"):
                    raise SandboxUnavailable(
                        f"{failure.strip()}\nThe hidden checks run student code only inside a sandbox, and "
                        "this machine could not build one (it needs Linux mount and network namespaces: "
                        "root, or unprivileged user namespaces). To grade without it anyway, set "
                        "HiddenChecks.allow_unsandboxed = True in nbgrader_config.py or "
                        "GANKIT_ALLOW_UNSANDBOXED=1."
                    )
                # The cell after the last one reported never finished: skip it next time.
                stuck = reported + 1
                if stuck >= len(self.cells) or stuck in self.skip:
                    raise RuntimeError(f"the student process failed while starting: {failure}")
                self.skip.add(stuck)
                self.cell_errors[stuck] = "did not finish within the time limit, or crashed the process"
                self.restarts += 1
                return self._spawn()
            if reply.get("op") == "cell":
                reported = int(reply["index"])
                if reply.get("error") and reported not in self.cell_errors:
                    self.cell_errors[reported] = str(reply["error"])
            elif reply.get("op") == "ready":
                return

    def _stop(self) -> str:
        """End the process and everything it started; return what it wrote to stderr."""
        proc, self._proc = self._proc, None
        failure = ""
        if proc is not None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
            failure = proc.stderr.read().decode("utf-8", "replace")[-2000:] if proc.stderr else ""
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream:
                    stream.close()
        if self._root:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None
        return failure

    def close(self) -> None:
        self._stop()

    def __enter__(self) -> StudentProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
        if self._proc is None:
            self._spawn()
        self._send({"op": "call", "function": function, "args": args, "kwargs": kwargs or {}})
        reply = self._receive(time.monotonic() + self.limits.call_seconds)
        if reply is None or reply.get("op") != "result":
            timed_out = self._ended == "timeout"
            self._stop()
            self.restarts += 1
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
