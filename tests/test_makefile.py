"""The Makefile notices an environment built for another path (a clone copied with its .venv, or
moved) and rebuilds it; one built here is left alone. Real GNU make, as a dry run (-n)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from gankit import ROOT


def _clone(tmp_path: Path, built_at: str) -> Path:
    clone = tmp_path / "clone"
    clone.mkdir()
    for name in ("Makefile", "requirements.lock"):
        shutil.copy2(ROOT / name, clone / name)
    (clone / ".venv").mkdir()
    (clone / ".venv" / ".installed").write_text(built_at.replace("HERE", str(clone)) + "\n")
    return clone


def _make_n(clone: Path) -> str:
    done = subprocess.run(["make", "-n", "venv"], cwd=clone, capture_output=True, text=True, check=True)
    return done.stdout + done.stderr


def test_an_environment_built_at_another_path_is_rebuilt(tmp_path):
    said = _make_n(_clone(tmp_path, "/home/someone-else/gankit/.venv"))
    assert "was built at '/home/someone-else/gankit/.venv', not at" in said
    assert "rm -rf .venv" in said and "-m venv .venv" in said


def test_an_environment_built_here_is_left_alone(tmp_path):
    said = _make_n(_clone(tmp_path, "HERE/.venv"))
    assert "Nothing to be done for 'venv'" in said and "rm -rf" not in said


def test_the_environment_has_no_grammar_built_on_every_import_of_nbformat():
    """make venv leaves out rfc3987-syntax: every process importing nbformat would build its grammar."""
    code = "import sys, nbformat, nbformat.validator; print(sorted(m for m in sys.modules if 'rfc3987' in m))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", (
        f"{done.stdout.strip()}: an environment from before the Makefile's uninstall step? rm -rf .venv && make venv"
    )
