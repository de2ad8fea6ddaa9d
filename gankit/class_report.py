"""The class report: what a graded class got right, what it got wrong, and whose grading failed.

    python -m gankit.class_report [--course DIR] [--out DIR]

Reads the gradebook (scores) and the autograded notebooks (each hidden check's verdict, recorded
by ``HiddenChecks`` in the notebook's metadata) and writes into ``--out`` (default
``<course>/reports/<assignment>``): ``report.html``, a self-contained page with its figures
embedded; the figures as PNG files; ``canvas_grades.csv``, for importing into an LMS gradebook
such as Canvas. It prints a short text summary.
"""

from __future__ import annotations

import argparse
import base64
import csv
import html
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from gankit import ASSIGNMENT, NOTEBOOKS, notebooks, scores  # noqa: E402
from gankit.grading.intake import read_record  # noqa: E402
from gankit.hidden.nbgrader_plugin import VERDICTS_KEY  # noqa: E402


@dataclass
class StudentRow:
    student_id: str
    notebooks: dict[str, tuple[float, float]]  # automatic score and maximum, per notebook
    problems: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        return round(sum(score for score, _ in self.notebooks.values()), 4)

    @property
    def maximum(self) -> float:
        return sum(maximum for _, maximum in self.notebooks.values())


@dataclass
class ClassData:
    assignment: str
    students: list[StudentRow]
    check_results: dict[tuple[str, str], Counter] = field(default_factory=dict)  # (notebook, check) -> counts
    mistakes: Counter = field(default_factory=Counter)  # (notebook, mistake) -> students
    mistake_examples: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    @property
    def failed(self) -> list[StudentRow]:
        return [row for row in self.students if row.problems]


def collect(course: Path, assignment: str = ASSIGNMENT, failures: Mapping[str, str] | None = None) -> ClassData:
    """Everything the report shows, from the gradebook and the autograded notebooks."""
    rows = []
    checks: dict[tuple[str, str], Counter] = defaultdict(Counter)
    mistakes: Counter = Counter()
    examples: dict[tuple[str, str], list[str]] = defaultdict(list)
    for student_id in scores.students(course, assignment):
        cells = scores.cell_scores(course, student_id, assignment)
        row = StudentRow(student_id, {name: scores.auto_total(cells, name) for name in NOTEBOOKS})
        if failures and student_id in failures:
            row.problems.append(f"grading failed: {failures[student_id]}")
        for item in read_record(course / "autograded" / student_id / assignment):
            row.problems.append(f"left out of the submission: {item.text()}")
        for name in NOTEBOOKS:
            submitted = course / "submitted" / student_id / assignment / f"{name}.ipynb"
            autograded = course / "autograded" / student_id / assignment / f"{name}.ipynb"
            if not submitted.is_file() or submitted.is_symlink():
                row.problems.append(f"{name} not submitted")
                continue
            if not autograded.exists():
                row.problems.append(f"{name} could not be graded")
                continue
            verdicts = notebooks.read(autograded).metadata.get(VERDICTS_KEY, {})
            seen = set()
            for verdict in verdicts.values():
                for check in verdict["checks"]:
                    checks[(name, check["name"])]["passed" if check["passed"] else "failed"] += 1
                    mistake = check.get("mistake")
                    if mistake and (name, mistake) not in seen:  # count each student once per mistake
                        seen.add((name, mistake))
                        mistakes[(name, mistake)] += 1
                        examples[(name, mistake)].append(student_id)
        rows.append(row)
    return ClassData(assignment, rows, dict(checks), mistakes, dict(examples))


# -- figures --------------------------------------------------------------------------------------


def _figure_scores(data: ClassData, path: Path) -> None:
    fig, axes = plt.subplots(1, len(NOTEBOOKS) + 1, figsize=(13, 3.2))
    panels = [("total", [r.total for r in data.students], max((r.maximum for r in data.students), default=1))]
    for name in NOTEBOOKS:
        maximum = max((r.notebooks[name][1] for r in data.students), default=1)
        panels.append((name, [r.notebooks[name][0] for r in data.students], maximum))
    for ax, (title, values, maximum) in zip(axes, panels, strict=True):
        ax.hist(values, bins=min(12, max(4, int(maximum) + 1)), range=(0, maximum), color="C0", edgecolor="white")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(f"automatic score (of {maximum:g})", fontsize=8)
    axes[0].set_ylabel("students")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _figure_checks(data: ClassData, path: Path) -> None:
    names = list(data.check_results)
    rates = [_pass_rate(data.check_results[key]) for key in names]
    fig, ax = plt.subplots(figsize=(11, 0.28 * len(names) + 1))
    ax.barh(range(len(names)), rates, color=["C2" if r >= 0.8 else "C1" if r >= 0.5 else "C3" for r in rates])
    ax.set_yticks(range(len(names)), [f"{nb.split('_')[0]}: {check}" for nb, check in names], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of graded notebooks passing the check")
    fig.subplots_adjust(left=0.42, right=0.98, top=0.98, bottom=0.5 / (0.28 * len(names) + 1))
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _pass_rate(counts: Counter) -> float:
    total = counts["passed"] + counts["failed"]
    return counts["passed"] / total if total else 0.0


# -- outputs --------------------------------------------------------------------------------------


def text_summary(data: ClassData, top: int = 5) -> str:
    """A few lines for the terminal."""
    totals = [row.total for row in data.students]
    maximum = max((row.maximum for row in data.students), default=0)
    lines = [f"{len(data.students)} students graded on {data.assignment}."]
    if totals:
        mean = sum(totals) / len(totals)
        median = sorted(totals)[len(totals) // 2]
        lines.append(f"Automatic score: mean {mean:.1f}, median {median:.1f} of {maximum:g}.")
    if data.mistakes:
        lines.append("Most frequent mistakes:")
        for (name, mistake), count in data.mistakes.most_common(top):
            lines.append(
                f"  {count:3d} x {mistake} ({name}; e.g. {', '.join(data.mistake_examples[(name, mistake)][:3])})"
            )
    hardest = sorted(data.check_results.items(), key=lambda item: _pass_rate(item[1]))[:3]
    if hardest:
        lines.append("Hardest checks: " + "; ".join(f"{check} ({_pass_rate(c):.0%})" for (_, check), c in hardest))
    for row in data.failed:
        lines.append(f"Problem for {row.student_id}: {'; '.join(row.problems)}")
    return "\n".join(lines)


def write_canvas_csv(data: ClassData, path: Path) -> None:
    """Grades in the layout of Canvas's gradebook import (one assignment column, points possible)."""
    column = f"GAN exercises ({data.assignment})"
    maximum = max((row.maximum for row in data.students), default=0)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", column])
        writer.writerow(["Points Possible", "", "", "", "", f"{maximum:g}"])
        for row in data.students:
            writer.writerow([row.student_id, "", row.student_id, row.student_id, "", f"{row.total:g}"])


def _png(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def write_report(data: ClassData, out: Path) -> Path:
    """Write report.html, its PNG figures and canvas_grades.csv into ``out``; return the HTML path."""
    out.mkdir(parents=True, exist_ok=True)
    _figure_scores(data, out / "scores.png")
    _figure_checks(data, out / "checks.png")
    write_canvas_csv(data, out / "canvas_grades.csv")
    esc = html.escape
    student_rows = "".join(
        f"<tr><td>{esc(r.student_id)}</td>"
        + "".join(f"<td>{r.notebooks[n][0]:g} / {r.notebooks[n][1]:g}</td>" for n in NOTEBOOKS)
        + f"<td><b>{r.total:g}</b> / {r.maximum:g}</td><td>{esc('; '.join(r.problems))}</td></tr>"
        for r in data.students
    )
    check_rows = "".join(
        f"<tr><td>{esc(nb)}</td><td>{esc(check)}</td><td>{c['passed']}</td><td>{c['failed']}</td>"
        f"<td>{_pass_rate(c):.0%}</td></tr>"
        for (nb, check), c in data.check_results.items()
    )
    mistake_rows = "".join(
        f"<tr><td>{count}</td><td>{esc(mistake)}</td><td>{esc(nb)}</td>"
        f"<td>{esc(', '.join(data.mistake_examples[(nb, mistake)][:5]))}</td></tr>"
        for (nb, mistake), count in data.mistakes.most_common()
    )
    failed_rows = "".join(f"<li><b>{esc(r.student_id)}</b>: {esc('; '.join(r.problems))}</li>" for r in data.failed)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Class report: {esc(data.assignment)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:3px 8px;font-size:13px}}
th{{background:#f3f3f3}}img{{max-width:100%}}pre{{background:#f7f7f7;padding:1em}}</style></head><body>
<h1>Class report: {esc(data.assignment)}</h1>
<pre>{esc(text_summary(data))}</pre>
<h2>Score distributions</h2><img alt="score distributions" src="{_png(out / "scores.png")}">
<h2>Most frequent diagnosed mistakes</h2>
<table><tr><th>students</th><th>mistake</th><th>notebook</th><th>for example</th></tr>{mistake_rows}</table>
<h2>Pass rate of every hidden check</h2><img alt="pass rates" src="{_png(out / "checks.png")}">
<table><tr><th>notebook</th><th>check</th><th>passed</th><th>failed</th><th>pass rate</th></tr>{check_rows}</table>
<h2>Students whose grading failed or is incomplete</h2><ul>{failed_rows or "<li>none</li>"}</ul>
<h2>Every student</h2>
<table><tr><th>student</th>{"".join(f"<th>{esc(n)}</th>" for n in NOTEBOOKS)}<th>total</th><th>problems</th></tr>
{student_rows}</table>
</body></html>
"""
    (out / "report.html").write_text(page, encoding="utf-8")
    return out / "report.html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--course", type=Path, default=Path.cwd())
    parser.add_argument("--assignment", default=ASSIGNMENT)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    data = collect(args.course.resolve(), args.assignment)
    report = write_report(data, args.out or args.course / "reports" / args.assignment)
    print(text_summary(data))
    print(f"Report: {report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
