"""A notebook kernel inside the sandbox, for ``nbgrader autograde`` (see ``gankit.grading.execute``).

The kernel talks to the grader over Unix sockets in a private folder (the sandbox has no network,
so TCP on loopback would not reach it); that folder and the connection file are the only host
paths it may write. The notebook's folder (the student's own autograded files) appears read-only
as ``/submission``, its working directory, so not even the course's path is visible; its private
/tmp is the scratch space.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from typing import Any

from jupyter_client.manager import AsyncKernelManager

from gankit.sandbox.policy import SandboxedCommand, minimal_env
from gankit.sandbox.settings import Sandbox

INSIDE = "/submission"  # where the notebook's folder appears in the sandbox


def _font_caches() -> list[tuple[str, str]]:
    """matplotlib's font cache, copied in so that the kernel does not rebuild it (and say so on stderr)."""
    cache = os.environ.get("MPLCONFIGDIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "matplotlib"
    )
    return [(path, "/tmp/matplotlib/" + os.path.basename(path)) for path in glob.glob(cache + "/fontlist-*.json")]


class SandboxedKernelManager(AsyncKernelManager):
    """Starts each kernel in a fresh sandbox and removes everything it left when the kernel ends."""

    _command: SandboxedCommand | None = None
    _kernel_dir: str | None = None

    @property
    def settings(self) -> Sandbox:
        return Sandbox(config=self.config)

    async def _async_pre_start_kernel(self, **kw: Any) -> Any:
        if self.settings.enabled:
            self._kernel_dir = tempfile.mkdtemp(prefix="gankit-kernel-")
            self.transport = "ipc"
            self.ip = os.path.join(self._kernel_dir, "socket")
            self.connection_file = os.path.join(self._kernel_dir, "connection.json")
        return await super()._async_pre_start_kernel(**kw)

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        cmd = super().format_kernel_cmd(extra_arguments)
        settings = self.settings
        if not settings.enabled:
            return cmd
        cwd = self._launch_args.get("cwd") if isinstance(self._launch_args, dict) else None
        cwd = os.path.realpath(str(cwd)) if cwd else None
        self._command = SandboxedCommand(
            cmd,
            settings.limits(kernel=True),
            read_only=[(cwd, INSIDE)] if cwd else [],
            read_write=[self._kernel_dir or ""],
            copies=_font_caches(),
            cwd=INSIDE if cwd else None,
            env=minimal_env(MPLCONFIGDIR="/tmp/matplotlib", IPYTHONDIR="/tmp/ipython", JUPYTER_RUNTIME_DIR="/tmp"),
            quiet=True,
        )
        return self._command.command

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if self._command is not None:
            self._command.close()  # kills anything still in the sandbox's cgroup
            self._command = None
        if self._kernel_dir and not restart:
            shutil.rmtree(self._kernel_dir, ignore_errors=True)
            self._kernel_dir = None
