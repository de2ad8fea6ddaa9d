"""The resource limits of one sandbox, as the launcher applies them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandbox (one notebook's kernel, or one hidden-checks process)."""

    memory_mb: int = 1024  # address space of each process, and memory of the whole sandbox
    cpu_seconds: int = 300  # CPU time of each process (as c.Sandbox.cpu_seconds)
    scratch_mb: int = 32  # the private /tmp
    max_open_files: int = 64
    max_file_mb: int = 16
    max_processes: int = 64  # processes and threads of the whole sandbox

    def prlimit_args(self) -> list[str]:
        """Per-process limits, set by ``prlimit`` inside the sandbox. The process count is per user
        and user namespace, so in the sandbox it counts the sandbox's own processes and threads."""
        mib = 1024 * 1024
        return [
            f"--as={self.memory_mb * mib}",
            f"--cpu={self.cpu_seconds}",
            f"--nofile={self.max_open_files}",
            f"--fsize={self.max_file_mb * mib}",
            "--core=0",
            f"--nproc={self.max_processes}",
        ]
