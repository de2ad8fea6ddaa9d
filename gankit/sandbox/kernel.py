"""A notebook kernel inside the sandbox, for ``nbgrader autograde`` (see ``gankit.nbgrader_adapter.execute``).

The kernel talks to the grader over ZeroMQ Unix sockets (the sandbox has no network). They live in
a 1 MiB tmpfs of the sandbox's own, ``/kernel/ipc``, which the grader reaches from outside through
``/proc/<pid>/root``: nothing of the host is writable by the kernel, and nothing it writes
outlives it. The connection file is bound in read-only. The notebook's folder (the student's own
autograded files) is its working directory, ``/submission``, so not even the course's path is
visible: a small tmpfs holding each of the folder's files and subfolders bound in read-only. A
notebook may write files beside itself (a figure, a CSV), as it could when the student ran it;
they stay in the sandbox's memory, within its limits, and vanish with it: nothing the student's
code writes reaches the grader's folders. The sandbox's private /tmp is its scratch space too.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import glob
import importlib.util
import json
import os
import time
from queue import Empty
from typing import Any

import zmq
import zmq.asyncio
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from traitlets import Type

from gankit.sandbox.command import SandboxedCommand, minimal_env, private_folder
from gankit.sandbox.settings import Sandbox

INSIDE = "/submission"  # where the notebook's folder appears in the sandbox
SOCKETS = "/kernel/ipc"  # the kernel's sockets, in a small tmpfs of the sandbox's own
CONNECTION = "/kernel/connection.json"


def _font_caches() -> list[tuple[str, str]]:
    """matplotlib's font cache, bound in so that the kernel does not rebuild it (and say so on stderr)."""
    cache = os.environ.get("MPLCONFIGDIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "matplotlib"
    )
    return [(path, "/tmp/matplotlib/" + os.path.basename(path)) for path in glob.glob(cache + "/fontlist-*.json")]


@functools.cache
def _unused_package_folders() -> tuple[str, ...]:
    """The folders of packages a grading kernel has no use for: ipykernel's debugger imports
    debugpy at start-up (about a fifth of the kernel's imports) and does without it when it cannot."""
    spec = importlib.util.find_spec("debugpy")
    return tuple(spec.submodule_search_locations or ()) if spec else ()


def _hidden_packages(private: str) -> list[tuple[str, str]]:
    """Each unused package's folder, hidden behind an empty folder of the sandbox's own."""
    empty = os.path.join(private, "empty")
    os.makedirs(empty, mode=0o755, exist_ok=True)
    return [(empty, folder) for folder in _unused_package_folders()]


def _working_folder(cwd: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The folders and regular files of ``cwd`` (never a link), each bound read-only into ``INSIDE``."""
    folders, files = [], []
    for entry in sorted(os.scandir(cwd), key=lambda e: e.name):
        if entry.is_dir(follow_symlinks=False):
            folders.append((entry.path, f"{INSIDE}/{entry.name}"))
        elif entry.is_file(follow_symlinks=False):
            files.append((entry.path, f"{INSIDE}/{entry.name}"))
    return folders, files


# The grader's sockets connect before the kernel, still starting in its sandbox, has bound its own,
# and ZeroMQ tries again only every 0.1 s by default: a wait of up to that on every notebook's path.
RECONNECT_MS = 5


class SandboxedKernelClient(AsyncKernelClient):
    """jupyter_client's client, ready as soon as the kernel is."""

    def _context_default(self) -> zmq.asyncio.Context:
        context = super()._context_default()  # the client's own: the manager's is not passed on
        context.setsockopt(zmq.RECONNECT_IVL, RECONNECT_MS)
        return context

    async def wait_for_ready(self, timeout: float | None = None) -> None:
        """Wait for a ``kernel_info`` reply and for IOPub to carry messages, as jupyter_client does,
        without its closing wait for IOPub to stay silent for 0.2 s (on every notebook's path):
        what is left there belongs to the ``kernel_info`` requests, and nbclient reads only the
        replies to its own requests."""
        deadline = time.monotonic() + (timeout if timeout is not None else float("inf"))
        while True:
            self.kernel_info()
            try:
                reply = await self.shell_channel.get_msg(timeout=1)
            except Empty:
                pass
            else:
                if reply["msg_type"] == "kernel_info_reply":
                    try:
                        await self.iopub_channel.get_msg(timeout=0.02)  # IOPub is connected
                    except Empty:
                        pass  # not yet (the request's status went unheard): ask again
                    else:
                        self._handle_kernel_info_reply(reply)
                        return
            if not await self.is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")


class SandboxedKernelManager(AsyncKernelManager):
    """Starts each kernel in a fresh sandbox and removes everything it left when the kernel ends."""

    client_factory = Type(SandboxedKernelClient, klass=AsyncKernelClient)  # what client() makes
    _command: SandboxedCommand | None = None

    @property
    def settings(self) -> Sandbox:
        return Sandbox(config=self.config)

    async def _async_pre_start_kernel(self, **kw: Any) -> Any:
        if self.settings.enabled:
            if self._command is not None:  # a sandbox of an earlier start that was not cleaned up
                self._command.close()
                self._command = None
            self.transport = "ipc"
            self.context.setsockopt(zmq.RECONNECT_IVL, RECONNECT_MS)  # the control socket's
            self.ip = SOCKETS + "/kernel"  # as the kernel sees it; the grader's path is set once it runs
            self.connection_file = ""  # a fresh file in the sandbox's private folder (format_kernel_cmd)
        return await super()._async_pre_start_kernel(**kw)

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        settings = self.settings
        if not settings.enabled:
            return super().format_kernel_cmd(extra_arguments)
        cwd = self._launch_args.get("cwd") if isinstance(self._launch_args, dict) else None
        cwd = os.path.realpath(str(cwd)) if cwd else None
        private = private_folder("sandbox")  # removed with the sandbox
        # jupyter_client's provisioner has already written the connection (ports, HMAC key) to a
        # temporary file of its own (mkstemp, /tmp/tmpXXXXXXXX.json), which nothing would remove.
        written = self.connection_file
        self.connection_file = os.path.join(private, "connection.json")
        self.write_connection_file()
        if written and written != self.connection_file:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(written)
        os.chmod(self.connection_file, 0o644)  # for the sandbox's uid; its folder stays the grader's alone
        cmd = [CONNECTION if arg == self.connection_file else arg for arg in super().format_kernel_cmd(extra_arguments)]
        limits = settings.limits(kernel=True)
        folders, files = _working_folder(cwd) if cwd else ([], [])
        self._command = SandboxedCommand(
            cmd,
            limits,
            private=private,
            read_only=[*_hidden_packages(private), *folders],
            files=[(self.connection_file, CONNECTION), *_font_caches(), *files],
            scratch=[(SOCKETS, 1), *([(INSIDE, limits.scratch_mb)] if cwd else [])],
            cwd=INSIDE if cwd else None,
            env=minimal_env(MPLCONFIGDIR="/tmp/matplotlib", IPYTHONDIR="/tmp/ipython", JUPYTER_RUNTIME_DIR="/tmp"),
            quiet=True,
        )
        return self._command.command

    async def _async_post_start_kernel(self, **kw: Any) -> None:
        if self._command is not None:
            self.ip = f"/proc/{self._sandbox_pid()}/root{SOCKETS}/kernel"  # the same sockets, from outside
        await super()._async_post_start_kernel(**kw)

    def _sandbox_pid(self, wait: float = 30.0) -> int:
        """The sandbox's first process, as bubblewrap reports it once the sandbox is built."""
        assert self._command is not None
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                with open(self._command.info_path) as f:
                    return int(json.loads(f.read())["child-pid"])
            except (OSError, ValueError, KeyError, TypeError):
                time.sleep(0.002)  # the kernel cannot start before; its wait is on every notebook's path
        raise RuntimeError("the kernel's sandbox did not start")

    async def _async_wait(self, pollinterval: float = 0.1) -> None:
        """Wait for the kernel's process to end, looking every 5 ms instead of jupyter_client's
        0.1 s: a kernel's shutdown is on every notebook's path, and its sandbox ends within
        milliseconds of a kill."""
        while await self.is_alive():
            await asyncio.sleep(min(pollinterval, 0.005))

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        try:
            await super()._async_cleanup_resources(restart=restart)
        finally:
            if self._command is not None:
                self._command.close()  # kills anything left in the sandbox's cgroup; removes its folder
                self._command = None
