"""Helpers of tools/mutation.sh (`make mutation`), run with the kit's venv Python.

``skip-annotations SESSION MODULE``: marks as skipped every mutant of MODULE that changes only a type
annotation. Every module in scope starts with ``from __future__ import annotations`` (checked here),
so its annotations are strings never evaluated: such a mutant is equivalent by construction.

``survivors SESSION COPY``: COPY holds SESSION's survivors only, pending again, to be tested with
newer tests (``cosmic-ray exec`` on COPY, in a scratch copy of the newer commit); ``merge SESSION
COPY`` then writes COPY's results into SESSION. Tests are only ever added, so a mutant the older
tests killed stays killed, and a sampled session stays the same random sample, judged by the newer
tests.

``summary SESSION...``: one line per module (mutants, skipped, tested, killed, and the killed rate
with its 95% Wilson interval when only a random sample was tested: the bounds of the whole
module's rate), the total, the rate over all of these modules with each weighed by its number of
mutants (a stratified estimate, with its 95% normal interval), then each survivor as
``path:line operator #occurrence``.
"""

from __future__ import annotations

import ast
import math
import sqlite3
import sys
from pathlib import Path

Z95 = 1.96


def annotation_spans(source: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    tree = ast.parse(source)
    if not any(
        isinstance(node, ast.ImportFrom)
        and node.module == "__future__"
        and any(a.name == "annotations" for a in node.names)
        for node in tree.body
    ):
        return []  # annotations are evaluated here: their mutants are tested like any other
    spans = []
    for node in ast.walk(tree):
        annotations = []
        if isinstance(node, ast.arg) and node.annotation is not None:
            annotations.append(node.annotation)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None:
            annotations.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
        for a in annotations:
            spans.append(((a.lineno, a.col_offset), (a.end_lineno, a.end_col_offset)))
    return spans


def skip_annotations(session: str, module: str) -> None:
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    spans = annotation_spans(Path(module).read_text())
    skipped = 0
    with use_db(session, WorkDB.Mode.open) as db:
        for item in list(db.pending_work_items):
            if all(any(s <= tuple(m.start_pos) and tuple(m.end_pos) <= e for s, e in spans) for m in item.mutations):
                db.set_result(item.job_id, WorkResult(output="annotation only", worker_outcome=WorkerOutcome.SKIPPED))
                skipped += 1
    print(f"{module}: {skipped} mutants of type annotations skipped (never evaluated)")


def wilson(killed: int, n: int) -> tuple[float, float]:
    if not n:
        return 0.0, 100.0
    p = killed / n
    centre = (p + Z95 * Z95 / (2 * n)) / (1 + Z95 * Z95 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95 * Z95 / (4 * n * n)) / (1 + Z95 * Z95 / n)
    return 100 * max(0.0, centre - half), 100 * min(1.0, centre + half)


def summary(sessions: list[str]) -> None:
    total = {"mutants": 0, "skipped": 0, "tested": 0, "killed": 0}
    survivors, strata = [], []
    print(f"{'module':45} {'mutants':>7} {'skipped':>7} {'tested':>6} {'killed':>6} {'rate%':>6}  95% bounds")
    for session in sessions:
        db = sqlite3.connect(session)
        rows = db.execute(
            "select m.module_path, m.start_pos_row, m.operator_name, m.occurrence, r.worker_outcome, r.test_outcome "
            "from mutation_specs m left join work_results r on r.job_id = m.job_id"
        ).fetchall()
        if not rows:
            continue
        module = rows[0][0]
        mutants = len(rows)
        skipped = sum((r[4] or "").lower() == "skipped" for r in rows)
        done = [r for r in rows if r[5] is not None and (r[4] or "").lower() != "skipped"]
        killed = sum(r[5].lower() != "survived" for r in done)
        survivors += sorted((r[0], r[1], r[2], r[3]) for r in done if r[5].lower() == "survived")
        low, high = wilson(killed, len(done))
        rate = 100 * killed / len(done) if done else 0.0
        every = len(done) == mutants - skipped
        bounds = "all tested" if every else f"{low:.1f}-{high:.1f}"
        print(f"{module:45} {mutants:7} {skipped:7} {len(done):6} {killed:6} {rate:6.1f}  {bounds}")
        for key, value in zip(total, (mutants, skipped, len(done), killed), strict=True):
            total[key] += value
        if done:  # one stratum of the estimate over every module: its mutants, its sample
            population, share = mutants - skipped, killed / len(done)
            strata.append((population, share, 0.0 if every else share * (1 - share) / len(done)))
    rate = 100 * total["killed"] / total["tested"] if total["tested"] else 0.0
    print(f"{'total':45} {total['mutants']:7} {total['skipped']:7} {total['tested']:6} {total['killed']:6} {rate:6.1f}")
    if strata:  # each module weighed by its mutants, not by how many of them were tested
        population = sum(n for n, _, _ in strata)
        estimate = sum(n * p for n, p, _ in strata) / population
        spread = Z95 * math.sqrt(sum(n * n * v for n, _, v in strata)) / population
        print(
            f"killed over these modules, each weighed by its mutants: {100 * estimate:.1f}% "
            f"(95%: {100 * max(0.0, estimate - spread):.1f}-{100 * min(1.0, estimate + spread):.1f})"
        )
    print(f"{len(survivors)} survivors:")
    for path, line, operator, occurrence in survivors:
        print(f"  {path}:{line} {operator} #{occurrence}")


def survivors(session: str, copy: str) -> None:
    import shutil

    shutil.copyfile(session, copy)
    db = sqlite3.connect(copy)
    db.execute("attach ? as old", (session,))
    survived = "select job_id from old.work_results where lower(test_outcome) = 'survived'"
    db.execute("delete from work_results")
    for table in ("mutation_specs", "work_items"):
        db.execute(f"delete from {table} where job_id not in ({survived})")  # noqa: S608 - fixed names
    db.commit()


def merge(session: str, copy: str) -> None:
    db = sqlite3.connect(session)
    db.execute("attach ? as new", (copy,))
    db.execute("insert or replace into work_results select * from new.work_results")
    db.commit()


if __name__ == "__main__":
    if sys.argv[1] == "skip-annotations":
        skip_annotations(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "survivors":
        survivors(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "merge":
        merge(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "summary":
        summary(sys.argv[2:])
    else:
        sys.exit(__doc__)
