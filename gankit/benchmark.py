"""Benchmark: what the kit's grading costs and gains against plain nbgrader, on one machine, in one run.

Builds a simulated class (60 students by default: the roster of ``simulated_class`` repeated under
new ids), submitted through the exchange and collected, then grades the same submissions three
times, each on its own copy of the course:

1. plain serial ``nbgrader autograde`` (nbgrader's stock preprocessors: the kernel decides);
2. the kit's serial path: ``nbgrader autograde`` with the hidden checks;
3. the kit's parallel path: ``gankit.parallel_autograde`` with one worker per core.

It prints wall and CPU time (grader and every process it waited for) of each, per notebook, the
ratios between them, the CPU the hidden checks themselves take per notebook (the engine called
directly), the workers' peak memory, whether serial and parallel gradebooks are identical, and
what the tampering students score with and without the hidden checks.

    python -m gankit.benchmark [--students N]     (or: make benchmark)
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
import resource
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from gankit import ASSIGNMENT, NOTEBOOKS, notebooks, scores
from gankit.course_cycle import run_cycle
from gankit.hidden.engine import Grader
from gankit.nbgrader_cli import run_nbgrader
from gankit.parallel_autograde import autograde_in_parallel
from gankit.simulated_class import CLASS, Student

# Appended to a copy of the course's config: nbgrader's own preprocessors, no hidden checks.
PLAIN_NBGRADER = """
from nbgrader.converters import Autograde
_stock = Autograde.class_traits()
c.Autograde.sanitize_preprocessors = _stock["sanitize_preprocessors"].default()
c.Autograde.autograde_preprocessors = _stock["autograde_preprocessors"].default()
from nbgrader.apps import api as _api, autogradeapp as _autogradeapp
_autogradeapp.Autograde = _api.Autograde = Autograde  # nbgrader's own converter, not the kit's
from nbgrader.exchange.default.collect import ExchangeCollect as _StockCollect
c.ExchangeFactory.collect = _StockCollect
"""


def plain_nbgrader_copy(course: Path, destination: Path, students: list[str] | None = None) -> Path:
    """A copy of ``course`` (gradebook and submissions included, optionally only some students')
    whose configuration grades with nbgrader's stock preprocessors: the student's kernel decides."""

    def skip(folder: str, names: list[str]) -> set[str]:
        ignored = {"autograded", "feedback"} & set(names)
        if students is not None and Path(folder).name == "submitted":
            ignored |= set(names) - set(students)
        return ignored

    shutil.copytree(course, destination, ignore=skip, symlinks=True)  # a student's links stay links
    with (destination / "nbgrader_config.py").open("a") as config:
        config.write(PLAIN_NBGRADER)
    return destination


def simulated_class(size: int) -> list[Student]:
    """``size`` students: the roster, then the roster again under ids with a suffix, and so on."""
    students = []
    for index, student in enumerate(itertools.islice(itertools.cycle(CLASS), size)):
        round_ = index // len(CLASS)
        students.append(
            student if round_ == 0 else dataclasses.replace(student, student_id=f"{student.student_id}_{round_ + 1}")
        )
    return students


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(grade: Callable[[], object]) -> tuple[float, float, object]:
    cpu, wall = _children_cpu(), time.perf_counter()
    result = grade()
    return time.perf_counter() - wall, _children_cpu() - cpu, result


def _gradebook(course: Path) -> dict:
    return {student_id: scores.cell_scores(course, student_id) for student_id in scores.students(course)}


def _total(course: Path, student_id: str) -> tuple[float, float]:
    cells = scores.cell_scores(course, student_id)
    earned, maximum = zip(*(scores.auto_total(cells, name) for name in NOTEBOOKS), strict=True)
    return sum(earned), sum(maximum)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=60, help="size of the simulated class")
    args = parser.parse_args(argv)
    students = simulated_class(args.students)

    with tempfile.TemporaryDirectory(prefix="gankit-benchmark-") as tmp:
        print(f"Building a class of {len(students)} students (fetch and submit through the exchange)...", flush=True)
        collected = run_cycle(Path(tmp) / "class", students, say=lambda _: None, grade=False).course
        count = sum(1 for _ in (collected / "submitted").glob(f"*/{ASSIGNMENT}/*.ipynb"))
        plain = plain_nbgrader_copy(collected, Path(tmp) / "plain")
        serial = Path(tmp) / "serial"
        parallel = Path(tmp) / "parallel"
        for copy in (serial, parallel):
            shutil.copytree(collected, copy)

        print("Grading: plain nbgrader, the kit serially, the kit in parallel...", flush=True)
        runs = {
            "plain serial nbgrader autograde": _timed(
                lambda: run_nbgrader(["autograde", ASSIGNMENT, "--force"], cwd=plain, check=False)
            ),
            "kit, serial (nbgrader autograde)": _timed(
                lambda: run_nbgrader(["autograde", ASSIGNMENT, "--force"], cwd=serial, check=False)
            ),
            "kit, parallel": _timed(lambda: autograde_in_parallel(parallel, ASSIGNMENT)),
        }
        summary = runs["kit, parallel"][2]

        grader = Grader(serial, ASSIGNMENT)
        own, children = time.process_time(), _children_cpu()
        for path in sorted((serial / "autograded").glob(f"*/{ASSIGNMENT}/*.ipynb")):
            grader.grade(notebooks.read(path), path.stem, path.parent.parent.name)
        checks_cpu = time.process_time() - own + _children_cpu() - children

        print(f"\n{len(students)} students, {count} notebooks, {os.cpu_count()} cores")
        print(f"{'':36}{'wall s':>9}{'CPU s':>9}{'wall/nb':>9}{'CPU/nb':>9}")
        for label, (wall, cpu, _) in runs.items():
            print(f"{label:36}{wall:9.1f}{cpu:9.1f}{wall / count:9.3f}{cpu / count:9.3f}")
        plain_wall, plain_cpu, _ = runs["plain serial nbgrader autograde"]
        serial_wall, serial_cpu, _ = runs["kit, serial (nbgrader autograde)"]
        parallel_wall, parallel_cpu, _ = runs["kit, parallel"]
        print(f"\nhidden checks alone (engine): {checks_cpu / count:.3f} s CPU per notebook (target <= 0.3)")
        print(f"kit serial / plain serial:   wall {serial_wall / plain_wall:.2f}, CPU {serial_cpu / plain_cpu:.2f}")
        print(
            f"kit parallel / plain serial: wall {parallel_wall / plain_wall:.2f} (target <= 0.55), "
            f"CPU {parallel_cpu / plain_cpu:.2f}"
        )
        print(f"kit parallel / kit serial:   wall {parallel_wall / serial_wall:.2f}")
        peak = max((r.max_rss_mb for r in summary.results), default=0.0)
        print(
            f"peak memory of a parallel worker: {peak:.0f} MiB (target < 1024); "
            f"largest process waited for: {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f} MiB"
        )
        same = _gradebook(serial) == _gradebook(parallel)
        print(
            f"serial and parallel gradebooks identical: {'yes' if same else 'NO'}; "
            f"parallel failures: {len(summary.failed)}"
        )

        cheats = [s.student_id for s in students if s.cheats]
        if cheats:
            print("\nTampering students' automatic scores: plain nbgrader -> with hidden checks")
            for student_id in cheats:
                before, after = _total(plain, student_id), _total(serial, student_id)
                print(f"  {student_id:22} {before[0]:g}/{before[1]:g} -> {after[0]:g}/{after[1]:g}")


if __name__ == "__main__":
    main()
