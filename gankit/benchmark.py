"""Benchmark: what the hidden checks add to ``nbgrader autograde``, per notebook.

Builds one scratch course with a simulated class's submissions, then grades the same submissions
twice with real ``nbgrader autograde``: once with nbgrader's stock preprocessors (the student's
kernel decides) and once with the kit's configuration (hidden checks decide). Prints wall time and
CPU time (nbgrader and every process it started) per notebook for both, the difference, and the
CPU the hidden checks themselves take per notebook, measured by calling the engine directly. It
also prints what the tampering students score each way.

    python -m gankit.benchmark [--students N]     (or: make benchmark)
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

from gankit import ASSIGNMENT, NOTEBOOKS, notebooks, scores
from gankit.course_cycle import run_cycle
from gankit.hidden.engine import Grader
from gankit.nbgrader_cli import run_nbgrader
from gankit.simulated_class import CLASS

# Appended to a copy of the course's config: nbgrader's own preprocessors, no hidden checks.
PLAIN_NBGRADER = """
_stock = Autograde.class_traits()
c.Autograde.sanitize_preprocessors = _stock["sanitize_preprocessors"].default()
c.Autograde.autograde_preprocessors = _stock["autograde_preprocessors"].default()
"""


def plain_nbgrader_copy(course: Path, destination: Path, students: list[str] | None = None) -> Path:
    """A copy of ``course`` (gradebook and submissions included, optionally only some students')
    whose configuration grades with nbgrader's stock preprocessors: the student's kernel decides."""

    def skip(folder: str, names: list[str]) -> set[str]:
        ignored = {"autograded", "feedback"} & set(names)
        if students is not None and Path(folder).name == "submitted":
            ignored |= set(names) - set(students)
        return ignored

    shutil.copytree(course, destination, ignore=skip)
    with (destination / "nbgrader_config.py").open("a") as config:
        config.write(PLAIN_NBGRADER)
    return destination


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _autograde(course: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one ``nbgrader autograde --force`` of every submission."""
    for folder in ("autograded", "feedback"):
        shutil.rmtree(course / folder, ignore_errors=True)
    cpu, wall = _children_cpu(), time.perf_counter()
    run_nbgrader(["autograde", ASSIGNMENT, "--force"], cwd=course, check=False)
    return time.perf_counter() - wall, _children_cpu() - cpu


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=len(CLASS), help="how many simulated students")
    args = parser.parse_args(argv)
    students = CLASS[: args.students]

    with tempfile.TemporaryDirectory(prefix="gankit-benchmark-") as tmp:
        print(f"Building a class of {len(students)} submissions (fetch and submit through the exchange)...")
        kit = run_cycle(Path(tmp) / "kit", students, say=lambda _: None).course
        plain = plain_nbgrader_copy(kit, Path(tmp) / "plain")
        count = sum(
            (kit / "submitted" / s.student_id / ASSIGNMENT / f"{n}.ipynb").exists() for s in students for n in NOTEBOOKS
        )

        plain_wall, plain_cpu = _autograde(plain)
        kit_wall, kit_cpu = _autograde(kit)

        grader = Grader(kit, ASSIGNMENT)
        own = time.process_time()
        children = _children_cpu()
        for student in students:
            for name in NOTEBOOKS:
                path = kit / "autograded" / student.student_id / ASSIGNMENT / f"{name}.ipynb"
                if path.exists():
                    grader.grade(notebooks.read(path), name, student.student_id)
        checks_cpu = time.process_time() - own + _children_cpu() - children

        print(f"\n{count} notebooks, {os.cpu_count()} cores")
        print(f"{'':34}{'wall s':>10}{'CPU s':>10}{'wall/nb':>10}{'CPU/nb':>10}")
        for label, wall, cpu in (
            ("plain nbgrader autograde", plain_wall, plain_cpu),
            ("autograde with hidden checks", kit_wall, kit_cpu),
        ):
            print(f"{label:34}{wall:10.2f}{cpu:10.2f}{wall / count:10.3f}{cpu / count:10.3f}")
        print(
            f"{'added by the hidden checks':34}{kit_wall - plain_wall:10.2f}{kit_cpu - plain_cpu:10.2f}"
            f"{(kit_wall - plain_wall) / count:10.3f}{(kit_cpu - plain_cpu) / count:10.3f}"
        )
        print(f"{'hidden checks alone (engine)':34}{'':10}{checks_cpu:10.2f}{'':10}{checks_cpu / count:10.3f}")

        cheats = [s.student_id for s in students if s.cheats]
        if cheats:
            print("\nTampering students' automatic scores: plain nbgrader -> with hidden checks")
            for student_id in cheats:
                totals = []
                for course in (plain, kit):
                    cells = scores.cell_scores(course, student_id)
                    earned, maximum = (
                        sum(t) for t in zip(*(scores.auto_total(cells, n) for n in NOTEBOOKS), strict=True)
                    )
                    totals.append(f"{earned:g}/{maximum:g}")
                print(f"  {student_id:20} {totals[0]:>8} -> {totals[1]}")


if __name__ == "__main__":
    main()
