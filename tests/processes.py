"""Which running processes belong to this test run, so that leak checks see only their own.

Another course may be grading on the same machine (another clone's CI, an instructor): its
sandboxes run under the same uid range. This run's processes are told apart by ``RUN_ID``: pytest
puts it in its own environment, every grader the tests start inherits it, and so do the sandbox's
supervisors (launcher, bubblewrap), which are the ancestors of everything inside a sandbox for as
long as it lives. Attack code puts it in its command line (``MARK``).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

RUN_ID = os.environ.setdefault("GANKIT_TEST_RUN", uuid.uuid4().hex[:12])
MARK = f"gankit-adversary-{RUN_ID}"


@dataclass(frozen=True)
class Process:
    pid: int
    ppid: int
    uid: int
    cmdline: str
    environ: bytes


def running() -> dict[int, Process]:
    """Every live process that can be read (zombies left out: they wait only to be collected)."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            status = dict(line.split(":", 1) for line in (proc / "status").read_text().splitlines() if ":" in line)
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            try:
                environ = (proc / "environ").read_bytes()
            except OSError:
                environ = b""  # another user's, read as an ordinary user
        except OSError:
            continue
        if status["State"].strip().startswith("Z"):
            continue
        pid = int(proc.name)
        found[pid] = Process(pid, int(status["PPid"]), int(status["Uid"].split()[0]), cmdline, environ)
    return found


def of_this_run(processes: dict[int, Process]) -> set[int]:
    """The pids that are this run's: marked themselves, or started (at any depth) by a marked one."""
    marker = f"GANKIT_TEST_RUN={RUN_ID}".encode()

    def marked(p: Process) -> bool:
        return MARK in p.cmdline or marker in p.environ.split(b"\0")

    ours: set[int] = set()
    for pid, process in processes.items():
        seen = set()
        while process is not None and process.pid not in seen:
            if marked(process):
                ours.add(pid)
                break
            seen.add(process.pid)
            process = processes.get(process.ppid)
    return ours
