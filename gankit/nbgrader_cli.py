"""Run real nbgrader commands in a course directory, with the kit's environment on PATH."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path


class NbgraderError(RuntimeError):
    """An nbgrader command exited with an error; the message carries its output."""


def nbgrader_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for nbgrader: this interpreter's bin/ first (nbgrader shells out to
    ``alembic``, and kernels must come from the same environment)."""
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env.pop("MPLBACKEND", None)  # let the kernels use the inline backend
    env.update(extra or {})
    return env


def run_nbgrader(
    args: Sequence[str],
    cwd: Path,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``nbgrader ARGS`` in ``cwd`` and return the finished process (output captured)."""
    command = [str(Path(sys.executable).parent / "nbgrader"), *args]
    done = subprocess.run(command, cwd=cwd, env=nbgrader_env(env), capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise NbgraderError(
            f"`nbgrader {' '.join(args)}` failed in {cwd} (exit {done.returncode}):\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return done
