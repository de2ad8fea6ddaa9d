"""A cgroup around one sandbox, so that its processes together stay within its limits."""

from __future__ import annotations

import itertools
import os
import signal
import time
from pathlib import Path

from gankit.sandbox.limits import Limits

CGROUP_ROOT = Path("/sys/fs/cgroup")
_names = itertools.count()


def _kill_members(path: Path) -> None:
    try:
        pids = [int(p) for p in (path / "cgroup.procs").read_text().split()]
    except OSError:
        return
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def remove(path: Path) -> None:
    """Kill whatever is left in the cgroup ``path`` and remove it, trying for up to a second
    (killed processes usually leave within a few ms); a cgroup already gone is fine."""
    for _ in range(500):
        _kill_members(path)
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.002)


def _remove_stale(parent: Path) -> None:
    """Remove the cgroups of graders that were killed before they could clean up, with whatever
    still runs inside (a sandbox whose supervisor was killed too, not only its grader)."""
    if not parent.is_dir():
        return
    for path in parent.iterdir():
        owner = path.name.split("-")[0]
        if path.is_dir() and owner.isdigit() and not Path(f"/proc/{owner}").exists():
            _kill_members(path)
            try:
                path.rmdir()
            except OSError:
                pass  # its processes are still leaving: removed next time


class Cgroup:
    """A cgroup (v1 memory and pids controllers) holding one sandbox, when the machine allows it.

    Resource limits apply per process; the cgroup also bounds the sandbox as a whole, so that a
    fork bomb or many processes each just under the memory limit cannot starve the machine.
    """

    def __init__(self, limits: Limits):
        name = f"gankit/{os.getpid()}-{next(_names)}"
        self.dirs: list[Path] = []
        settings = {
            "memory": {"memory.limit_in_bytes": limits.memory_mb * 1024 * 1024},
            "pids": {"pids.max": limits.max_processes},
        }
        for controller, values in settings.items():
            _remove_stale(CGROUP_ROOT / controller / "gankit")
            path = CGROUP_ROOT / controller / name
            try:
                path.mkdir(parents=True)
                for key, value in values.items():
                    (path / key).write_text(str(value))
            except OSError:
                continue  # not root, or no such controller: the per-process limits still hold
            self.dirs.append(path)

    @property
    def procs_files(self) -> list[str]:
        return [str(path / "cgroup.procs") for path in self.dirs]

    def close(self) -> None:
        """Kill whatever is left inside and remove the cgroup."""
        for path in self.dirs:
            remove(path)
        self.dirs = []
