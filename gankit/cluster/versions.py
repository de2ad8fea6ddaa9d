"""The versions a worker must share with the client: the same code must grade the same way."""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
from pathlib import Path

import gankit

# What decides a score: nbgrader and its execution stack, the kernel and what the notebooks import.
PACKAGES = (
    "nbgrader",
    "nbconvert",
    "nbformat",
    "nbclient",
    "jupyter_client",
    "ipykernel",
    "ipython",
    "numpy",
    "scipy",
    "matplotlib",
    "dask",
    "distributed",
)


def kit_digest() -> str:
    """A digest of the kit's own code (every ``.py`` file of the package, by path and content)."""
    root = Path(gankit.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def versions() -> dict[str, str]:
    """This process's Python, packages and kit."""
    found = {"python": platform.python_version(), "gankit": kit_digest()}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def differences(here: dict[str, str], there: dict[str, str], where: str) -> list[str]:
    """Each package whose version differs, in words: ``numpy 2.1.0 here, 2.0.2 on tcp://...``."""
    return [
        f"{name} {here.get(name, 'not installed')} here, {there.get(name, 'not installed')} on {where}"
        for name in sorted(set(here) | set(there))
        if here.get(name) != there.get(name)
    ]
