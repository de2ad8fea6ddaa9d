"""Real Unix accounts for the multi-user and JupyterHub tests (which run as root, as in CI)."""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gankit import ROOT

BIN = Path(sys.executable).parent


def _reachable_by_everyone(path: Path) -> list[tuple[Path, int]]:
    """Give others search (x) permission on ``path`` and the folders above it where it lacks; return
    what changed."""
    changed = []
    for folder in [*reversed(path.parents), path]:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            folder.chmod(mode | stat.S_IXOTH)
            changed.append((folder, mode))
    return changed


@contextmanager
def unix_accounts(*users: str, password: str | None = None) -> Iterator[None]:
    """Create the accounts (home folders private), and remove them and their processes afterwards.

    The kit's interpreter may live under a home folder others cannot enter (e.g. /root/.pyenv):
    meanwhile others may pass through it (not list it); its permissions are put back afterwards.
    """
    if os.geteuid() != 0:
        raise RuntimeError("these tests create Unix accounts and need root (make test runs as root in CI)")
    with kit_reachable_by_everyone():
        yield from _accounts(users, password)


@contextmanager
def kit_reachable_by_everyone() -> Iterator[None]:
    """Meanwhile every account may pass through (not list) the folders above the kit's interpreter
    and repository, and list the repository itself (Python finds the package ``gankit`` there by
    listing it: a 0700 clone otherwise hides it); their permissions are put back afterwards."""
    changed = _reachable_by_everyone(Path(os.path.realpath(sys.executable)).parent)
    changed += _reachable_by_everyone(ROOT)
    mode = ROOT.stat().st_mode
    if not mode & stat.S_IROTH:
        ROOT.chmod(mode | stat.S_IROTH | stat.S_IXOTH)
        changed.append((ROOT, mode))
    try:
        yield
    finally:
        for folder, mode in reversed(changed):
            folder.chmod(mode)


def _accounts(users: tuple[str, ...], password: str | None) -> Iterator[None]:
    try:
        for user in users:
            subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", user], check=True)
            Path(pwd.getpwnam(user).pw_dir).chmod(0o700)
            if password:
                subprocess.run(["chpasswd"], input=f"{user}:{password}\n", text=True, check=True)
        yield
    finally:
        for user in users:
            subprocess.run(["pkill", "-KILL", "-u", user], check=False)
        for user in users:
            subprocess.run(["userdel", "--remove", user], check=False, capture_output=True)


def run_as(user: str, args: list[str], cwd: Path, check: bool = True, **env: str) -> subprocess.CompletedProcess:
    """Run a command as ``user``, with a clean login-like environment plus the kit's bin/ on PATH."""
    home = pwd.getpwnam(user).pw_dir
    base = {
        "HOME": home,
        "USER": user,
        "LOGNAME": user,
        "PATH": f"{BIN}:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "JUPYTER_RUNTIME_DIR": f"{home}/.runtime",
        # what tells this test run's processes from another's (tests/processes.py)
        "GANKIT_TEST_RUN": os.environ.get("GANKIT_TEST_RUN", ""),
        **env,
    }
    command = ["runuser", "-u", user, "--", "env", "-i", *(f"{k}={v}" for k, v in base.items()), *args]
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if check:
        assert done.returncode == 0, f"{user}: {' '.join(args)}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


def give(path: Path, user: str) -> None:
    """Make ``user`` the owner of ``path`` and everything in it: links themselves, never what they
    point at (a planted link to /etc/passwd once handed the file to a test student)."""
    account = pwd.getpwnam(user)
    for item in [path, *path.rglob("*")]:
        os.chown(item, account.pw_uid, account.pw_gid, follow_symlinks=False)
