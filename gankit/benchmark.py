"""Benchmark: what the kit's grading costs and gains against plain nbgrader, on one machine, in one run.

Builds a simulated class (60 students by default: the roster of ``simulated_class`` repeated under
new ids), submitted through the exchange and collected, then grades the same submissions in four
ways, each on its own copy of the course, and all four again ``--repeats`` times (3 by default;
each run is printed side by side and the medians are compared):

1. plain serial ``nbgrader autograde`` (nbgrader's stock preprocessors: the kernel decides);
2. the kit's serial path: ``nbgrader autograde`` with the hidden checks;
3. the kit on Dask: ``gankit.grade_class`` on a LocalCluster with one worker per core (the
   default), and again with one worker more than cores (grading waits on kernels starting and
   sandboxes being built: an extra worker fills those gaps).

It also times the class report's similarity section (``gankit.similarity``: fingerprints, ranking,
the CSV and the pair pages) on simulated classes of 200 and 2,000 students with planted copies,
and gives it as a share of what grading that many students takes at the Dask run's pace
(``--similarity-only`` times just that, without grading anything).

It prints wall and CPU time of each, per notebook, the ratios between them, the CPU the hidden
checks themselves take per notebook (the grader called directly), the workers' peak memory,
whether the serial and Dask gradebooks are identical, what the tampering students score with and
without the hidden checks, where the kit's serial CPU per notebook goes (``gankit.cpu_breakdown``:
the sandbox, the kernel's start, the notebook's cells, the hidden checks, the grading process's
own work, and what a warm kernel per student would save), and how fast the client writes grade
rows (``--rows`` synthetic students into the gradebook ``--db-url`` names, e.g. PostgreSQL; a
fresh SQLite file otherwise).

CPU is counted by a cpuacct cgroup around each run (as root): every process of the run, the
sandboxes' included, even those killed at once and never waited for. Without cgroups it falls
back to the processes the benchmark waited for, and says so.

    python -m gankit.benchmark [--students N] [--repeats N] [--rows N] [--db-url URL]
                               [--similarity-only]                      (or: make benchmark)
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import itertools
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from gankit import ASSIGNMENT, COURSE_ID, NOTEBOOKS, ROOT, inputs, notebooks, scores, similarity, similarity_pages
from gankit.cluster import rows
from gankit.course_cycle import run_cycle
from gankit.cpu_breakdown import Breakdown, counted_by, cpu_account, measure
from gankit.grade_class import grade_class
from gankit.judging.grader import Grader
from gankit.nbgrader_cli import run_nbgrader
from gankit.plain_nbgrader import plain_nbgrader_copy
from gankit.simulated_class import CLASS, Student, model_answers
from gankit.simulated_copies import class_with_copies

SIMILARITY_SIZES = (200, 2000)


def simulated_class(size: int) -> list[Student]:
    """``size`` students: the roster, then the roster again under ids with a suffix, and so on."""
    students = []
    for index, student in enumerate(itertools.islice(itertools.cycle(CLASS), size)):
        round_ = index // len(CLASS)
        students.append(
            student if round_ == 0 else dataclasses.replace(student, student_id=f"{student.student_id}_{round_ + 1}")
        )
    return students


def _timed(name: str, grade: Callable[[], object]) -> tuple[float, float, object]:
    with cpu_account(name) as cpu:
        wall = time.perf_counter()
        result = grade()
        wall = time.perf_counter() - wall
        return wall, cpu(), result


PLAIN = "plain serial nbgrader autograde"
SERIAL = "kit, serial (nbgrader autograde)"
DASK = "kit on Dask (LocalCluster)"
SERIAL_CPU_TARGET = 0.65  # kit serial CPU per notebook, as a share of plain serial nbgrader's (issue 31)
DASK_WALL_TARGET = 0.35  # the kit on Dask's wall time, as a share of plain serial nbgrader's


def where_serial_cpu_goes(serial: float, checks: float, plain: float, breakdown: Breakdown) -> list[str]:
    """The kit's serial CPU per notebook split into the notebook's execution, the hidden checks and
    the grading process's own work (the rest), and what a warm kernel per student would leave."""
    executed = breakdown.execute_kit.total
    warm = serial - breakdown.saving
    return [
        f"kit serial, per notebook: {serial:.3f} s = the notebook executed {executed:.3f} "
        f"+ hidden checks {checks:.3f} + nbgrader and the kit in the grading process {serial - executed - checks:.3f}",
        f"with a warm kernel per student (estimated saving {breakdown.saving:.3f} s): {warm:.3f} s, "
        f"{warm / plain:.2f} of plain serial's {plain:.3f} (target <= {SERIAL_CPU_TARGET:.2f})",
    ]


def _gradebook(course: Path) -> dict:
    return {student_id: scores.cell_scores(course, student_id) for student_id in scores.students(course)}


def _total(course: Path, student_id: str) -> tuple[float, float]:
    cells = scores.cell_scores(course, student_id)
    earned, maximum = zip(*(scores.auto_total(cells, name) for name in NOTEBOOKS), strict=True)
    return sum(earned), sum(maximum)


def client_writes(course: Path, count: int, url: str | None) -> tuple[int, int, float, str]:
    """Write the grade rows of ``count`` synthetic students the way the Dask client writes a result
    (``rows.write_rows``: nbgrader's upserts, then one transaction per student) into a fresh
    gradebook: the database ``url`` names (PostgreSQL; a fresh database is made in that server
    and dropped afterwards) or a new SQLite file. Returns (students, rows, seconds, where)."""
    from nbgrader.api import Gradebook

    made = None
    if url:
        import psycopg

        made = f"gankit_bench_{os.getpid()}"
        with psycopg.connect(f"{url}/postgres", autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{made}"')
        target, where = f"{url}/{made}", "PostgreSQL"
    else:
        target, where = f"sqlite:///{course.parent / 'writes.db'}", "SQLite"
    try:
        run_nbgrader(["generate_assignment", ASSIGNMENT, "--force", f"--CourseDirectory.db_url={target}"], cwd=course)
        with Gradebook(target, COURSE_ID) as gb:
            template = {
                notebook.name: {
                    "late_penalty": None,
                    "grades": {cell.name: [cell.max_score / 2, False] for cell in notebook.grade_cells},
                    "comments": {cell.name: None for cell in notebook.solution_cells},
                }
                for notebook in gb.find_assignment(ASSIGNMENT).notebooks
            }
            per_student = 1 + sum(1 + len(nb["grades"]) + len(nb["comments"]) for nb in template.values())
            names = rows.cell_names(gb, ASSIGNMENT)
            rows.ensure_indexes(gb)  # as grade_class does
            graded = {"timestamp": "2026-11-26T12:00:00", "notebooks": template}
            started = time.perf_counter()
            for index in range(count):
                rows.write_rows(gb, ASSIGNMENT, f"synthetic{index:05d}", graded, names)
            seconds = time.perf_counter() - started
    finally:
        if made:
            with psycopg.connect(f"{url}/postgres", autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{made}" WITH (FORCE)')
    return count, count * per_student, seconds, where


def similarity_timing(size: int, out: Path) -> tuple[float, float, bool]:
    """Time the similarity section on a simulated class of ``size`` students with three planted
    copies (``simulated_copies``; every honest cell is distinct text, so each is fingerprinted
    afresh): ranking, and writing the CSV and pair pages into ``out``. Returns (wall seconds, CPU
    seconds of this process, whether the planted pairs are the top three)."""
    release = {}
    for name in NOTEBOOKS:
        release.update(similarity.answer_cells(notebooks.read(ROOT / "release" / ASSIGNMENT / f"{name}.ipynb")))
    works, planted = class_with_copies(
        model_answers(ROOT / "source" / ASSIGNMENT), honest=size - 6, seed=size, notes=True
    )
    wall, cpu = time.perf_counter(), time.process_time()
    ranking = similarity.rank(release, works)
    similarity_pages.write(ranking, out)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall, cpu, {frozenset((p.a, p.b)) for p in ranking.pairs[:3]} == planted


def _print_similarity(tmp: Path, grading_seconds_per_student: float | None) -> None:
    for size in SIMILARITY_SIZES:
        wall, cpu, found = similarity_timing(size, tmp / f"similarity-{size}")
        share = ""
        if grading_seconds_per_student:
            share = (
                f"; {100 * wall / (grading_seconds_per_student * size):.2f}% of grading them at this run's Dask pace"
            )
        print(
            f"similarity report, {size} students: {wall:.1f} s wall, {cpu:.1f} s CPU{share}; "
            f"planted copies ranked top 3: {'yes' if found else 'NO'}",
            flush=True,
        )


def _check_server(url: str) -> None:
    """Refuse a --db-url that is not a PostgreSQL server this process reaches, before an hour of grading."""
    if not url.startswith(("postgresql://", "postgres://")):
        raise inputs.BadInput(
            f"--db-url {url!r} is not a PostgreSQL server's URL (postgresql://user:password@host:port); "
            "leave it out to measure on SQLite"
        )
    import psycopg

    try:
        psycopg.connect(f"{url}/postgres", connect_timeout=10).close()
    except psycopg.Error as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise inputs.BadInput(
            f"cannot reach PostgreSQL at {url} ({first}): start it (make benchmark does) or leave --db-url out"
        ) from None


def main(argv: list[str] | None = None) -> int:
    """The command line (see the module's docstring); bad input is one line and exit status 2."""
    return inputs.run("benchmark", lambda: _main(argv))


def _main(argv: list[str] | None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=60, help="size of the simulated class")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each grading; medians are compared")
    parser.add_argument(
        "--breakdown-notebooks", type=int, default=12, help="graded notebooks the CPU breakdown executes again"
    )
    parser.add_argument("--rows", type=int, default=20_000, help="synthetic students whose rows the client writes")
    parser.add_argument(
        "--db-url",
        default=os.environ.get("GANKIT_BENCHMARK_POSTGRES", ""),
        help="a PostgreSQL server (postgresql://user:password@host:port) for the writes",
    )
    parser.add_argument(
        "--similarity-only", action="store_true", help="time only the similarity report, at 200 and 2,000 students"
    )
    args = parser.parse_args(argv)
    if args.similarity_only:
        with tempfile.TemporaryDirectory(prefix="gankit-benchmark-") as tmp:
            _print_similarity(Path(tmp), None)
        return 0
    inputs.positive(args.students, "--students")
    inputs.positive(args.rows, "--rows", minimum=0)
    inputs.positive(args.repeats, "--repeats")
    inputs.positive(args.breakdown_notebooks, "--breakdown-notebooks")
    if args.rows and args.db_url:
        _check_server(args.db_url)
    students = simulated_class(args.students)

    with tempfile.TemporaryDirectory(prefix="gankit-benchmark-") as tmp:
        print(f"Building a class of {len(students)} students (fetch and submit through the exchange)...", flush=True)
        collected = run_cycle(Path(tmp) / "class", students, say=lambda _: None, grade=False).course
        count = sum(1 for _ in (collected / "submitted").glob(f"*/{ASSIGNMENT}/*.ipynb"))
        cores = os.cpu_count() or 1
        labels = (PLAIN, SERIAL, DASK, f"kit on Dask, {cores + 1} workers")
        runs: dict[str, list[tuple[float, float, object]]] = {label: [] for label in labels}
        for repeat in range(args.repeats):
            print(
                f"Grading, run {repeat + 1} of {args.repeats}: plain nbgrader, the kit serially, on Dask...", flush=True
            )
            plain = plain_nbgrader_copy(collected, Path(tmp) / f"plain-{repeat}")
            serial, on_dask, on_dask_plus = (Path(tmp) / f"{name}-{repeat}" for name in ("serial", "dask", "dask-plus"))
            for copy in (serial, on_dask, on_dask_plus):
                shutil.copytree(collected, copy)
            autograde = ["autograde", ASSIGNMENT, "--force"]
            for label, grade in zip(
                labels,
                (
                    functools.partial(run_nbgrader, autograde, cwd=plain, check=False),
                    functools.partial(run_nbgrader, autograde, cwd=serial, check=False),
                    functools.partial(grade_class, on_dask, ASSIGNMENT),
                    functools.partial(grade_class, on_dask_plus, ASSIGNMENT, workers=cores + 1),
                ),
                strict=True,
            ):
                runs[label].append(_timed(f"{repeat}-{labels.index(label)}", grade))
        summary = runs[DASK][-1][2]

        grader = Grader(serial, ASSIGNMENT)
        graded = sorted((serial / "autograded").glob(f"*/{ASSIGNMENT}/*.ipynb"))
        with cpu_account("checks") as cpu:
            for path in graded:
                grader.grade(notebooks.read(path), path.stem, path.parent.parent.name)
            checks_cpu = cpu()
        sample = graded[:: max(1, len(graded) // args.breakdown_notebooks)][: args.breakdown_notebooks]
        print(f"Taking the CPU apart on {len(sample)} of the graded notebooks...", flush=True)
        breakdown = measure(sample, runs=len(sample))

        print(f"\n{len(students)} students, {count} notebooks, {cores} cores; CPU counted by {counted_by()}")
        print(
            f"{'':36}"
            + "".join(f"{'run ' + str(i + 1):>16}" for i in range(args.repeats))
            + f"{'median':>16}{'per notebook':>18}"
        )
        print(f"{'':36}" + f"{'wall s   CPU s':>16}" * (args.repeats + 1) + f"{'wall s   CPU s':>18}")
        medians = {}
        for label, results in runs.items():
            wall, cpu_s = (statistics.median(r[i] for r in results) for i in (0, 1))
            medians[label] = wall, cpu_s
            each = "".join(f"{r[0]:8.1f}{r[1]:8.1f}" for r in results)
            print(f"{label:36}{each}{wall:8.1f}{cpu_s:8.1f}{wall / count:10.3f}{cpu_s / count:8.3f}")
        plain_wall, plain_cpu = medians[PLAIN]
        serial_wall, serial_cpu = medians[SERIAL]
        dask_wall, dask_cpu = medians[DASK]
        print(f"\nhidden checks alone (grader): {checks_cpu / count:.3f} s CPU per notebook (target <= 0.3)")
        print(
            f"kit serial / plain serial:   wall {serial_wall / plain_wall:.2f}, "
            f"CPU {serial_cpu / plain_cpu:.2f} (target <= {SERIAL_CPU_TARGET:.2f})"
        )
        print(
            f"kit on Dask / plain serial:  wall {dask_wall / plain_wall:.2f} (target <= {DASK_WALL_TARGET:.2f}), "
            f"CPU {dask_cpu / plain_cpu:.2f}"
        )
        plus_wall, plus_cpu = medians[labels[3]]
        print(
            f"kit on Dask, {cores + 1} workers / plain: wall {plus_wall / plain_wall:.2f} "
            f"(target <= {DASK_WALL_TARGET:.2f}), CPU {plus_cpu / plain_cpu:.2f}"
        )
        print(f"kit on Dask / kit serial:    wall {dask_wall / serial_wall:.2f}")
        peak = max((r.max_rss_mb for r in summary.results), default=0.0)
        print(f"peak memory of a Dask worker: {peak:.0f} MiB (target < 1024)")
        same = _gradebook(serial) == _gradebook(on_dask)
        print(f"serial and Dask gradebooks identical: {'yes' if same else 'NO'}; Dask failures: {len(summary.failed)}")
        print(f"\nWhere the CPU goes, each phase measured alone ({len(sample)} notebooks of the class):")
        print("\n".join(breakdown.lines()))
        print("\n".join(where_serial_cpu_goes(serial_cpu / count, checks_cpu / count, plain_cpu / count, breakdown)))

        print()
        _print_similarity(Path(tmp), dask_wall / len(students))

        cheats = [s.student_id for s in students if s.cheats]
        if cheats:
            print("\nTampering students' automatic scores: plain nbgrader -> with hidden checks")
            for student_id in cheats:
                before, after = _total(plain, student_id), _total(serial, student_id)
                print(f"  {student_id:22} {before[0]:g}/{before[1]:g} -> {after[0]:g}/{after[1]:g}")

        if args.rows:
            print(f"\nThe client's writes: {args.rows} synthetic students...", flush=True)
            written, row_count, seconds, where = client_writes(plain, args.rows, args.db_url or None)
            per_second = written / seconds
            grading_rate = len(students) / dask_wall / max(summary.workers, 1)  # students per second per worker
            print(
                f"{where}: {written} students ({row_count} rows) in {seconds:.1f} s: {per_second:.0f} students/s, "
                f"{row_count / seconds:.0f} rows/s; one worker grades {grading_rate:.2f} students/s here, so one "
                f"client can feed about {per_second / grading_rate:.0f} workers"
            )


if __name__ == "__main__":
    raise SystemExit(main())
