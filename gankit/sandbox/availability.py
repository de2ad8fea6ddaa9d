"""Whether this machine can build a sandbox, and what grading does when it cannot."""

from __future__ import annotations

import os
import subprocess
import sys
from functools import lru_cache

from gankit.sandbox.command import SandboxedCommand, bwrap_path
from gankit.sandbox.limits import Limits

REFUSAL = (
    "Grading runs students' code only inside a sandbox, and this machine could not build one "
    "(it needs bubblewrap, Debian's bubblewrap package, and Linux namespaces: grading as root, or "
    "unprivileged user namespaces). To grade without it anyway (students' code then runs as you, and can read and "
    "write what you can), set c.Sandbox.allow_unsandboxed = True in nbgrader_config.py or "
    "GANKIT_ALLOW_UNSANDBOXED=1."
)


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot be built on this machine; the message says why and what to do."""


def allowed_unsandboxed(configured: bool = False) -> bool:
    """Whether the grader opted out of the sandbox (configuration or environment)."""
    return configured or os.environ.get("GANKIT_ALLOW_UNSANDBOXED", "") == "1"


@lru_cache(maxsize=1)
def _probe() -> str:
    """Build one sandbox that does nothing; return the launcher's complaint, or "" if it worked."""
    if not bwrap_path():
        return "sandbox: bubblewrap (bwrap) is not installed: apt-get install bubblewrap"
    box = SandboxedCommand([sys.executable, "-I", "-c", "pass"], Limits(), grader_stderr=True)  # no student code
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
