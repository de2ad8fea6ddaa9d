"""The sandbox's settings in ``nbgrader_config.py`` (``c.Sandbox.*``), shared by the kernel and the hidden checks."""

from __future__ import annotations

from traitlets import Bool, Int
from traitlets.config import Configurable

from gankit.sandbox.availability import allowed_unsandboxed
from gankit.sandbox.limits import Limits


class Sandbox(Configurable):
    """Where students' code runs while grading, and how much it may use."""

    allow_unsandboxed = Bool(
        False,
        help="Run students' code without the sandbox, as the grader (not recommended; "
        "GANKIT_ALLOW_UNSANDBOXED=1 does the same).",
    ).tag(config=True)
    memory_mb = Int(1024, help="Memory of each process, and of the whole sandbox, in MiB.").tag(config=True)
    kernel_memory_mb = Int(2048, help="The same for a notebook's kernel, in MiB.").tag(config=True)
    cpu_seconds = Int(300, help="CPU seconds each process may use.").tag(config=True)
    max_processes = Int(64, help="Processes and threads the whole sandbox may have.").tag(config=True)
    scratch_mb = Int(
        32,
        help="Size of the private /tmp, and of a notebook kernel's working folder: "
        "the only places a sandbox may write.",
    ).tag(config=True)
    max_output_kb = Int(1024, help="Output a notebook cell may produce before the rest is dropped.").tag(config=True)
    max_notebook_output_kb = Int(
        8192, help="Output all of a notebook's cells together may produce before the rest is dropped."
    ).tag(config=True)
    notebook_seconds = Int(
        300,
        help="Wall-time budget of one notebook: its kernel run and its hidden checks together. "
        "Once spent, the remaining cells are not run and the remaining checks score 0.",
    ).tag(config=True)

    @property
    def enabled(self) -> bool:
        return not allowed_unsandboxed(self.allow_unsandboxed)

    def limits(self, kernel: bool = False) -> Limits:
        return Limits(
            memory_mb=self.kernel_memory_mb if kernel else self.memory_mb,
            cpu_seconds=self.cpu_seconds,
            scratch_mb=self.scratch_mb,
            max_processes=self.max_processes,
            max_open_files=256 if kernel else 64,  # a kernel holds sockets, pipes and its modules' files
        )
