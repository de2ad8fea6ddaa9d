"""Rebuild ``release/`` and ``solutions/`` from ``source/`` with nbgrader, committed clean.

nbgrader runs in a scratch copy of the course, so the instructor's own gradebook is untouched.
``python -m gankit.goldens`` (``make goldens``) writes into the repository; the drift test
writes into a temporary folder and compares.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from gankit import ASSIGNMENT, ROOT, notebooks
from gankit.nbgrader_cli import run_nbgrader

GENERATED = ("release", "solutions")


def copy_course(destination: Path, root: Path = ROOT) -> Path:
    """Copy what defines the course (config, ``source/`` and the ``solutions/`` that the hidden
    checks compare with) into ``destination``; return it."""
    destination.mkdir(parents=True, exist_ok=True)
    shutil.copy2(root / "nbgrader_config.py", destination / "nbgrader_config.py")
    for folder in ("source", "solutions"):
        shutil.copytree(
            root / folder,
            destination / folder,
            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"),
        )
    return destination


def regenerate(out_root: Path = ROOT) -> list[Path]:
    """Generate the student and solution versions of the assignment into ``out_root``; return the
    files written."""
    written = []
    with tempfile.TemporaryDirectory(prefix="gankit-regenerate-") as tmp:
        course = copy_course(Path(tmp) / "course")
        run_nbgrader(["generate_assignment", ASSIGNMENT, "--force"], cwd=course)
        run_nbgrader(["generate_solution", ASSIGNMENT, "--force"], cwd=course)
        for folder in GENERATED:
            generated = course / folder / ASSIGNMENT
            target = out_root / folder / ASSIGNMENT
            if target.exists():
                shutil.rmtree(target)
            target.mkdir(parents=True)
            for path in sorted(generated.rglob("*")):
                if path.is_dir() or "__pycache__" in path.parts:
                    continue
                dest = target / path.relative_to(generated)
                dest.parent.mkdir(parents=True, exist_ok=True)
                if path.suffix == ".ipynb":
                    notebooks.write_clean(notebooks.read(path), dest)
                else:
                    shutil.copyfile(path, dest)
                written.append(dest)
    return written


def main() -> None:
    for path in regenerate():
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
