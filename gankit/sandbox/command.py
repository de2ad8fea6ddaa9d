"""The command line that starts a sandbox: what it may see and use, as bubblewrap arguments for
``launcher.py``. It serves both places where a student's code runs during grading: the notebook's
own kernel (``kernel.py``) and the process the hidden checks call
(``gankit.judging.student_process``).
"""

from __future__ import annotations

import marshal
import os
import shutil
import sys
import tempfile
import weakref
from collections.abc import Iterable
from pathlib import Path

from gankit.sandbox import seccomp
from gankit.sandbox.cgroups import Cgroup
from gankit.sandbox.limits import Limits

LAUNCHER = Path(__file__).with_name("launcher.py")
SANDBOX_FAILED = 97  # the launcher's exit status when it could not build the sandbox
UID_BASE = 1_000_000  # sandbox uid when grading as root: this + the supervisor's pid, owned by nothing
INSIDE_UID = 1000  # the uid the sandbox sees when grading as an ordinary user (mapped to the grader)


def runtime_paths() -> list[str]:
    """The Python runtime, system libraries and font settings: all a sandbox may read besides what it is given."""
    paths = ["/usr", "/lib", "/lib64", "/bin", "/etc/fonts", sys.base_prefix, sys.prefix]
    paths.append(os.path.dirname(os.path.dirname(os.path.realpath(sys.executable))))
    seen: list[str] = []
    for path in paths:
        if os.path.isdir(path) and path not in seen:
            seen.append(path)
    return seen


def minimal_env(**extra: str) -> dict[str, str]:
    """The environment inside: nothing of the grader's but what numpy needs on some CPUs, and
    ``NBGRADER_EXECUTION``, which nbgrader sets while it autogrades or validates (instructors use it
    to skip slow cells then)."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "NBGRADER_EXECUTION"):
        if name in os.environ:
            env[name] = os.environ[name]
    env.update(extra)
    return env


def private_folder(kind: str) -> str:
    """A new folder of the grader's alone (0700) in the temporary folder, named after this process
    so that ``remove_stale_folders`` can tell when its owner was killed before cleaning up."""
    return tempfile.mkdtemp(prefix=f"gankit-{kind}-{os.getpid()}-")


def remove_stale_folders() -> None:
    """Remove the private folders of graders that were killed (e.g. by SIGKILL) before cleaning up."""
    for path in Path(tempfile.gettempdir()).glob("gankit-*-*-*"):
        owner = path.name.split("-")[2]
        try:
            mine = path.is_dir() and not path.is_symlink() and path.lstat().st_uid == os.geteuid()
        except OSError:
            continue
        if mine and owner.isdigit() and not Path(f"/proc/{owner}").exists():
            shutil.rmtree(path, ignore_errors=True)


def bwrap_path() -> str:
    """bubblewrap: ``GANKIT_BWRAP``, else ``bwrap`` on PATH or in /usr/bin ("" if there is none)."""
    found = os.environ.get("GANKIT_BWRAP") or shutil.which("bwrap") or "/usr/bin/bwrap"
    return found if os.access(found, os.X_OK) else ""


def _ancestors(paths: Iterable[str]) -> list[str]:
    """The folders above ``paths``, parents first, each once (bubblewrap would copy their host modes,
    and a 0700 home above the Python runtime would shut the sandbox's uid out of it)."""
    seen: list[str] = []
    for path in paths:
        parts = path.strip("/").split("/")
        for i in range(1, len(parts)):
            folder = "/" + "/".join(parts[:i])
            if folder not in seen:
                seen.append(folder)
    return seen


class SandboxedCommand:
    """The command that runs ``argv`` in a fresh sandbox, and the resources to clean up after it.

    ``read_only`` are host folders (or ``(host, inside)`` pairs) and ``files`` host files
    ``(host, inside)`` the sandbox may read; ``scratch`` are extra size-limited tmpfs folders
    ``(inside, MiB)``. Nothing of the host is writable inside: the only writable places are
    ``/tmp`` and the scratch folders, all in memory, all bounded, all gone with the sandbox.

    ``quiet``: the command's stdin and stdout are /dev/null (else it gets those the grader starts
    the launcher with, which must be made for it alone). Its stderr is a pipe the launcher drains
    and discards; ``grader_stderr`` hands it the grader's instead, only for a command that runs no
    student code (the availability probe, whose complaint the grader shows).
    """

    def __init__(
        self,
        argv: list[str],
        limits: Limits,
        *,
        enabled: bool = True,
        read_only: Iterable[str | tuple[str, str]] = (),
        files: Iterable[tuple[str, str]] = (),
        scratch: Iterable[tuple[str, int]] = (),
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        quiet: bool = False,
        private: str | None = None,
        grader_stderr: bool = False,
    ):
        self.enabled = enabled
        # The grader's own folder for this sandbox (0700): bubblewrap's report, files bound in.
        self.private = private or (private_folder("sandbox") if enabled else "")
        # Removed by close(), or at the latest when this object is collected or the grader exits.
        self._remove = weakref.finalize(self, shutil.rmtree, self.private, True) if self.private else None
        self.info_path = os.path.join(self.private, "info.json") if enabled else ""
        self.cgroup = Cgroup(limits) if enabled and os.geteuid() == 0 else None
        env = env if env is not None else minimal_env()
        scratch = list(scratch)
        program, unavailable = seccomp.compiled() if enabled else ("", "")
        self.config = {
            "sandbox": enabled,
            "argv": argv,
            "env": env,
            "bwrap": self._bwrap(argv, limits, read_only, files, scratch, cwd, env) if enabled else [],
            "info_path": self.info_path,
            "uid": UID_BASE,  # plus the launcher's pid: unique while the sandbox lives
            "grader_pid": os.getpid(),  # the launcher's parent: it ends when this process is gone
            "memory_bytes": limits.memory_mb * 1024 * 1024,
            "scratch": ["/tmp", *(inside for inside, _ in scratch)],  # tmpfs mounts whose inodes count
            "quiet": quiet,
            "grader_stderr": grader_stderr,
            "cgroup_procs": self.cgroup.procs_files if self.cgroup else [],
            "seccomp": program,
            "seccomp_error": unavailable,
        }

    @staticmethod
    def _bwrap(argv, limits, read_only, files, scratch, cwd, env) -> list[str]:
        binds = [(p, p) for p in runtime_paths()]
        binds += [(p, p) if isinstance(p, str) else tuple(p) for p in read_only if p]
        files = [tuple(f) for f in files]
        scratch = [("/tmp", limits.scratch_mb), *scratch]
        command = [bwrap_path() or "bwrap"]
        command += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
        command += ["--die-with-parent", "--new-session", "--seccomp", "@SECCOMP@", "--info-fd", "@INFO@"]
        if os.geteuid() == 0:
            # bubblewrap runs privileged and keeps only what setpriv needs to drop to the sandbox's
            # own uid (the launcher's @UID@) inside; setpriv then drops those too.
            command += ["--cap-drop", "ALL"] + [
                a for c in ("CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP") for a in ("--cap-add", c)
            ]
        else:
            command += ["--unshare-user", "--disable-userns", "--uid", str(INSIDE_UID), "--gid", str(INSIDE_UID)]
        command += ["--clearenv"] + [a for name, value in env.items() for a in ("--setenv", name, value)]
        devices = ["/dev/null", "/dev/zero", "/dev/urandom"]
        mounts = [inside for inside, _ in scratch]

        def under_scratch(folder: str) -> bool:
            return any(folder.startswith(mount + "/") for mount in mounts)

        # Folders first, then the scratch tmpfs mounts, then what lies inside them (a runtime under
        # /tmp, the font cache in /tmp/matplotlib): a later mount would hide an earlier bind.
        folders = [f for f in _ancestors([i for _, i in binds + files] + mounts + devices) if f not in mounts]
        for folder in [f for f in folders if not under_scratch(f)]:
            command += ["--perms", "0755", "--dir", folder]
        for inside, size_mb in scratch:
            command += ["--size", str(size_mb * 1024 * 1024), "--tmpfs", inside]
        for folder in [f for f in folders if under_scratch(f)]:  # as writable as the scratch around them
            command += ["--perms", "1777", "--dir", folder]
        for host, inside in binds + files:
            command += ["--ro-bind", host, inside]
        for device in devices:
            command += ["--dev-bind", device, device]
        command += ["--proc", "/proc"]
        for inside in mounts:
            command += ["--chmod", "1777", inside]
        command += ["--remount-ro", "/", "--chdir", cwd or "/tmp", "--"]
        if os.geteuid() == 0:
            command += ["/usr/bin/setpriv", "--reuid=@UID@", "--regid=@UID@", "--clear-groups"]
            command += ["--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
        command += ["/usr/bin/prlimit", *limits.prlimit_args(), "--", *argv]
        return command

    @property
    def command(self) -> list[str]:
        # marshal, not json: the launcher starts twice per notebook, and json's import is costly.
        return [sys.executable, "-I", "-S", str(LAUNCHER), marshal.dumps(self.config).hex()]

    def close(self) -> None:
        if self.cgroup:
            self.cgroup.close()
        if self._remove is not None:
            self._remove()
        self.private = ""
