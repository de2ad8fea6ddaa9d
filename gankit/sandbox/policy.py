"""What a sandbox may see and use, and how the grader starts one (see ``launcher.py``).

One policy serves both places where a student's code runs during grading: the notebook's own
kernel (``kernel.py``) and the process the hidden checks call (``gankit.hidden.student_process``).
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

LAUNCHER = Path(__file__).with_name("launcher.py")
SANDBOX_FAILED = 97  # the launcher's exit status when it could not build the sandbox
UID_BASE = 1_000_000  # sandbox uid = this + the supervisor's pid: owned by no file or process
CGROUP_ROOT = Path("/sys/fs/cgroup")
_names = itertools.count()

REFUSAL = (
    "Grading runs students' code only inside a sandbox, and this machine could not build one "
    "(it needs Linux mount, PID and network namespaces: grading as root, or unprivileged user "
    "namespaces). To grade without it anyway (students' code then runs as you, and can read and "
    "write what you can), set c.Sandbox.allow_unsandboxed = True in nbgrader_config.py or "
    "GANKIT_ALLOW_UNSANDBOXED=1."
)


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot be built on this machine; the message says why and what to do."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandbox (one notebook's kernel, or one hidden-checks process)."""

    memory_mb: int = 1024  # address space of each process, and memory of the whole sandbox
    cpu_seconds: int = 120  # CPU time of each process
    scratch_mb: int = 32  # the private /tmp
    max_open_files: int = 64
    max_file_mb: int = 16
    max_processes: int = 64  # processes and threads of the whole sandbox

    def rlimits(self) -> dict[str, int]:
        mib = 1024 * 1024
        return {
            "RLIMIT_AS": self.memory_mb * mib,
            "RLIMIT_CPU": self.cpu_seconds,
            "RLIMIT_NOFILE": self.max_open_files,
            "RLIMIT_FSIZE": self.max_file_mb * mib,
            "RLIMIT_CORE": 0,
        }


def allowed_unsandboxed(configured: bool = False) -> bool:
    """Whether the grader opted out of the sandbox (configuration or environment)."""
    return configured or os.environ.get("GANKIT_ALLOW_UNSANDBOXED", "") == "1"


def runtime_paths() -> list[str]:
    """The Python runtime and system libraries: all a sandbox may read besides what it is given."""
    paths = ["/usr", "/lib", "/lib64", "/bin", sys.base_prefix, sys.prefix]
    paths.append(os.path.dirname(os.path.dirname(os.path.realpath(sys.executable))))
    seen: list[str] = []
    for path in paths:
        if os.path.isdir(path) and path not in seen:
            seen.append(path)
    return seen


def minimal_env(**extra: str) -> dict[str, str]:
    """The environment inside: nothing of the grader's but what numpy needs on some CPUs."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if name in os.environ:
            env[name] = os.environ[name]
    env.update(extra)
    return env


def _remove_stale(parent: Path) -> None:
    """Remove the empty cgroups of graders that were killed before they could clean up."""
    if not parent.is_dir():
        return
    for path in parent.iterdir():
        owner = path.name.split("-")[0]
        if path.is_dir() and owner.isdigit() and not Path(f"/proc/{owner}").exists():
            try:
                path.rmdir()
            except OSError:
                pass


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
            for _ in range(50):
                try:
                    pids = [int(p) for p in (path / "cgroup.procs").read_text().split()]
                    for pid in pids:
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)
        self.dirs = []


class SandboxedCommand:
    """The command that runs ``argv`` in a fresh sandbox, and the resources to clean up after it."""

    def __init__(
        self,
        argv: list[str],
        limits: Limits,
        *,
        enabled: bool = True,
        read_only: Iterable[str | tuple[str, str]] = (),
        read_write: Iterable[str] = (),
        copies: Iterable[tuple[str, str]] = (),
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        quiet: bool = False,
    ):
        self.enabled = enabled
        self.root = tempfile.mkdtemp(prefix="gankit-root-") if enabled else ""
        self.cgroup = Cgroup(limits) if enabled else None
        self.config = {
            "sandbox": enabled,
            "root": self.root,
            "read_only": runtime_paths() + [p if isinstance(p, str) else list(p) for p in read_only if p],
            "read_write": list(read_write),
            "copies": [list(c) for c in copies],
            "scratch_mb": limits.scratch_mb,
            "cwd": cwd,
            "argv": argv,
            "env": env if env is not None else minimal_env(),
            "limits": limits.rlimits(),
            "max_processes": limits.max_processes,
            "uid_base": UID_BASE,
            "quiet": quiet,
            "cgroup_procs": self.cgroup.procs_files if self.cgroup else [],
        }

    @property
    def command(self) -> list[str]:
        return [sys.executable, "-I", str(LAUNCHER), json.dumps(self.config)]

    def close(self) -> None:
        if self.cgroup:
            self.cgroup.close()
        if self.root:
            try:
                os.rmdir(self.root)  # the tmpfs lived only in the sandbox's mount namespace
            except OSError:
                pass
            self.root = ""


@lru_cache(maxsize=1)
def _probe() -> str:
    """Build one sandbox that does nothing; return the launcher's complaint, or "" if it worked."""
    box = SandboxedCommand([sys.executable, "-I", "-c", "pass"], Limits())
    try:
        done = subprocess.run(box.command, capture_output=True, timeout=60)
    finally:
        box.close()
    if done.returncode == 0:
        return ""
    return done.stderr.decode("utf-8", "replace").strip()[-1000:] or f"exit status {done.returncode}"


def ensure_available() -> None:
    """Raise ``SandboxUnavailable`` (saying why) unless a sandbox can be built here."""
    complaint = _probe()
    if complaint:
        raise SandboxUnavailable(f"{complaint}\n{REFUSAL}")
