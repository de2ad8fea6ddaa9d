"""Where the tests find the course's notebooks (a plain module, so tests import it rather than conftest)."""

from __future__ import annotations

from pathlib import Path

from gankit import ASSIGNMENT, ROOT

SOURCE = ROOT / "source" / ASSIGNMENT
RELEASE = ROOT / "release" / ASSIGNMENT


def source_notebook(name: str) -> Path:
    """The instructor's version of notebook ``name``."""
    return SOURCE / f"{name}.ipynb"
