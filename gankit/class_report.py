"""The class report: what a graded class got right, what it got wrong, and whose grading failed.

    python -m gankit.class_report [--course DIR] [--out DIR] [--roster CANVAS_EXPORT.csv]
                                  [--lms-assignment-id ID] [--allow-ungraded]

Reads the course's gradebook (the one its nbgrader_config.py configures: scores, automatic and
hand-given, and late penalties, as ``nbgrader export`` computes them) and the autograded
notebooks (each hidden check's verdict) and writes into ``--out`` (default
``<course>/reports/<assignment>``): ``report.html``, a self-contained page with its figures
embedded; the figures as PNG files; ``canvas_grades.csv``, for importing into a Canvas gradebook;
``similarity.csv`` and ``similarity/pair-NNN.html``, the pairs of students whose code is unusually
alike, each with a side-by-side page (``gankit.similarity``).

The CSV holds a student only once every written answer of theirs is graded (so no partial grade
is uploaded by accident); ``--allow-ungraded`` includes the others with their current score.
``--roster`` reads Canvas's own gradebook export, so that each row carries the student's Canvas
ID, SIS ids and section and the import updates the existing students; ``--lms-assignment-id``
names Canvas's assignment, "Title (id)" being the column header Canvas matches on.
"""

from __future__ import annotations

import argparse
import base64
import csv
import html
import re
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from nbformat import NotebookNode
from traitlets import Float, List
from traitlets.config import Config, Configurable, PyFileConfigLoader

from gankit import ASSIGNMENT, NOTEBOOKS, inputs, notebooks, points, scores, similarity, similarity_pages
from gankit.nbgrader_adapter.faults import FAULTS_KEY, describe
from gankit.nbgrader_adapter.hidden_checks import VERDICTS_KEY
from gankit.nbgrader_adapter.intake import read_record
from gankit.nbgrader_adapter.untrusted_html import POLICY_META, shown_markdown

TITLE = "GAN exercises"


class ClassReport(Configurable):
    """What the course counts as a pass, and its grade bands (set in ``nbgrader_config.py``)."""

    pass_mark = Float(0.5, help="Share of the assignment's maximum, after late penalties, that passes.").tag(
        config=True
    )
    grade_bands = List(
        [[0.9, "A"], [0.8, "B"], [0.7, "C"], [0.6, "D"], [0.5, "E"], [0.0, "F"]],
        help="[lowest share of the maximum, name] per band, highest first; the last must start at 0.",
    ).tag(config=True)


@dataclass(frozen=True)
class Standards:
    """The pass mark and grade bands a report applies, checked."""

    pass_mark: float = 0.5
    bands: tuple[tuple[float, str], ...] = ((0.9, "A"), (0.8, "B"), (0.7, "C"), (0.6, "D"), (0.5, "E"), (0.0, "F"))

    def band(self, share: float) -> str:
        """The band of a score that is ``share`` of the maximum."""
        return next((name for lowest, name in self.bands if share >= lowest - 1e-9), self.bands[-1][1])

    def passed(self, share: float) -> bool:
        """Whether a score that is ``share`` of the maximum passes."""
        return share >= self.pass_mark - 1e-9


def standards(course: Path) -> Standards:
    """The course's pass mark and grade bands (``c.ClassReport`` in its ``nbgrader_config.py``)."""
    config = Config()
    if (course / "nbgrader_config.py").is_file():
        config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    settings = ClassReport(config=config)
    where = f"{course / 'nbgrader_config.py'}"
    if not 0 <= settings.pass_mark <= 1:
        raise inputs.BadInput(f"{where} sets ClassReport.pass_mark = {settings.pass_mark}: give a share from 0 to 1")
    try:
        bands = tuple((float(lowest), str(name)) for lowest, name in settings.grade_bands)
    except (TypeError, ValueError):
        bands = ()
    if not bands or any(a[0] <= b[0] for a, b in zip(bands, bands[1:], strict=False)) or bands[-1][0] != 0:
        raise inputs.BadInput(
            f"{where} sets ClassReport.grade_bands = {settings.grade_bands!r}: give [share, name] pairs, "
            "shares falling, the last 0"
        )
    return Standards(settings.pass_mark, bands)


def late_text(seconds: float) -> str:
    """How late a submission was, for a person: "2 d 3 h", "3 h 5 min", "40 s"."""
    seconds = round(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


@dataclass
class StudentRow:
    student_id: str
    notebooks: dict[str, tuple[float, float]]  # score (automatic and written) and maximum, per notebook
    problems: list[str] = field(default_factory=list)
    grade: scores.AssignmentGrade | None = None

    @property
    def total(self) -> float:
        """The assignment score after late penalties, as nbgrader export gives it."""
        if self.grade is not None:
            return self.grade.score
        return sum(score for score, _ in self.notebooks.values())

    @property
    def maximum(self) -> float:
        if self.grade is not None:
            return self.grade.max_score
        return sum(maximum for _, maximum in self.notebooks.values())

    @property
    def awaiting(self) -> tuple[str, ...]:
        """The written answers still to be graded by hand."""
        return self.grade.awaiting if self.grade is not None else ()

    @property
    def share(self) -> float:
        """The total as a share of the maximum."""
        return self.total / self.maximum if self.maximum else 0.0

    @property
    def seconds_late(self) -> float:
        """How late the submission was (0 if on time), as nbgrader counts it."""
        return self.grade.seconds_late if self.grade is not None else 0.0

    @property
    def late_penalty(self) -> float:
        """The points the late policy took."""
        return self.grade.late_penalty if self.grade is not None else 0.0


@dataclass
class ClassData:
    assignment: str
    students: list[StudentRow]
    check_results: dict[tuple[str, str], Counter] = field(default_factory=dict)  # (notebook, check) -> counts
    mistakes: Counter = field(default_factory=Counter)  # (notebook, mistake) -> students
    mistake_examples: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    fault_kinds: Counter = field(default_factory=Counter)  # kind of grading fault -> occurrences
    standards: Standards = field(default_factory=Standards)
    similarity: similarity.Ranking | None = None  # the most alike pairs of students

    def verdict(self, row: StudentRow) -> str:
        """ "passed", "not passed", or "not final" while written answers await grading."""
        if row.awaiting:
            return "not final"
        return "passed" if self.standards.passed(row.share) else "not passed"

    @property
    def failed(self) -> list[StudentRow]:
        return [row for row in self.students if row.problems]


def misconception(mistake: str) -> str:
    """The misconception a diagnosed mistake names, without the explanation that follows it
    ("f has a plus sign: the generator would climb ..." and "f has a plus sign, so ..." are one)."""
    return re.split(r": |, | \(", mistake, maxsplit=1)[0].strip()


def attempted(graded: NotebookNode, released: NotebookNode | None) -> bool:
    """Whether the student changed any answer cell of the released notebook (else every check
    fails for want of an attempt, not for a mistake)."""
    if released is None:
        return True
    stubs = {
        grade_id: {cell.source.strip(), shown_markdown(cell.source).strip()}  # a written answer as graded
        for grade_id, cell in notebooks.cells_by_grade_id(released).items()
        if notebooks.nbgrader_meta(cell).get("solution")
    }
    answers = notebooks.cells_by_grade_id(graded)
    return any(grade_id in answers and answers[grade_id].source.strip() not in stub for grade_id, stub in stubs.items())


def collect(
    course: Path,
    assignment: str = ASSIGNMENT,
    failures: Mapping[str, str] | None = None,
    judged_by: Standards | None = None,
) -> ClassData:
    """Everything the report shows, from the gradebook and the autograded notebooks; the pass mark
    and bands are ``judged_by``, else the course's (``standards``)."""
    rows = []
    checks: dict[tuple[str, str], Counter] = defaultdict(Counter)
    mistakes: Counter = Counter()
    examples: dict[tuple[str, str], list[str]] = defaultdict(list)
    kinds: Counter = Counter()
    release = {
        name: notebooks.read(path)
        for name in NOTEBOOKS
        if (path := course / "release" / assignment / f"{name}.ipynb").is_file()
    }
    for grade in scores.assignment_grades(course, assignment):
        student_id = grade.student_id
        row = StudentRow(student_id, {name: grade.notebooks.get(name, (0.0, 0.0)) for name in NOTEBOOKS}, grade=grade)
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
            # The autograded copy, written by the kit from the safe intake copy: the student's own
            # files are never read here (a submitted notebook may be anything).
            try:
                graded = notebooks.read(autograded)
            except (OSError, ValueError) as error:  # never let one notebook stop the report
                row.problems.append(f"{name}: its graded notebook cannot be read ({type(error).__name__})")
                continue
            # What went wrong while grading (timeouts, a dead kernel, an output flood, an unreadable
            # notebook, an edited grade cell, signs of tampering): written by the kit, never the student.
            for item in graded.metadata.get(FAULTS_KEY, []):
                row.problems.append(describe(name, item))
                kinds[item["kind"]] += 1
            verdicts = graded.metadata.get(VERDICTS_KEY, {})
            tried = attempted(graded, release.get(name))
            seen = set()
            for verdict in verdicts.values():
                for check in verdict["checks"]:
                    if check.get("internal_error"):
                        row.problems.append(f"{name}: the hidden check '{check['name']}' could not run (grading log)")
                        kinds["check could not run"] += 1
                    # a notebook left as released fails every check: that is not evidence of difficulty
                    outcome = ("passed" if check["passed"] else "failed") if tried else "not attempted"
                    checks[(name, check["name"])][outcome] += 1
                    mistake = misconception(check.get("mistake") or "")
                    if mistake and (name, mistake) not in seen:  # count each student once per misconception
                        seen.add((name, mistake))
                        mistakes[(name, mistake)] += 1
                        examples[(name, mistake)].append(student_id)
        rows.append(row)
    judged_by = judged_by or standards(course)
    alike = similarity.rank_class(course, assignment)
    return ClassData(assignment, rows, dict(checks), mistakes, dict(examples), kinds, judged_by, alike)


# -- figures --------------------------------------------------------------------------------------


def _figure(width: float, height: float):
    """A Matplotlib figure drawn without pyplot (no backend, no global state), imported only here:
    Matplotlib costs a command that refuses its input a second or more of imports."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def _figure_scores(data: ClassData, path: Path) -> None:
    fig = _figure(13, 3.2)
    axes = fig.subplots(1, len(NOTEBOOKS) + 1)
    panels = [("total", [r.total for r in data.students], max((r.maximum for r in data.students), default=1))]
    for name in NOTEBOOKS:
        maximum = max((r.notebooks[name][1] for r in data.students), default=1)
        panels.append((name, [r.notebooks[name][0] for r in data.students], maximum))
    for ax, (title, values, maximum) in zip(axes, panels, strict=True):
        ax.hist(values, bins=min(12, max(4, int(maximum) + 1)), range=(0, maximum), color="C0", edgecolor="white")
        if values:
            middle, mean = float(np.median(values)), float(np.mean(values))
            ax.axvline(middle, color="k", lw=2, label=f"median {points(middle)}")
            ax.axvline(mean, color="C1", lw=2, ls="--", label=f"mean {points(mean)}")
            ax.legend(fontsize=7, loc="upper left")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(f"score (of {points(maximum)})", fontsize=8)
    axes[0].set_ylabel("students")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def _figure_checks(data: ClassData, path: Path) -> None:
    names = list(data.check_results)
    rates = [_pass_rate(data.check_results[key]) for key in names]
    fig = _figure(11, 0.28 * len(names) + 1)
    ax = fig.subplots()
    ax.barh(range(len(names)), rates, color=["C2" if r >= 0.8 else "C1" if r >= 0.5 else "C3" for r in rates])
    ax.set_yticks(range(len(names)), [f"{nb.split('_')[0]}: {check}" for nb, check in names], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of attempted notebooks passing the check")
    fig.subplots_adjust(left=0.42, right=0.98, top=0.98, bottom=0.5 / (0.28 * len(names) + 1))
    fig.savefig(path, dpi=90)


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
        median = float(np.median(totals))
        lines.append(
            f"Score (automatic and written, after late penalties): mean {points(mean)}, "
            f"median {points(median)} of {points(maximum)}."
        )
    if data.students:
        verdicts = Counter(data.verdict(row) for row in data.students)
        bands = Counter(data.standards.band(row.share) for row in data.students if not row.awaiting)
        lines.append(
            f"Passed (at least {data.standards.pass_mark:.0%} of {points(maximum)}): {verdicts['passed']} of "
            f"{len(data.students)}; not passed: {verdicts['not passed']}"
            + (f"; not final (written answers to grade): {verdicts['not final']}" if verdicts["not final"] else "")
            + ". Bands: "
            + ", ".join(f"{name} {bands[name]}" for _, name in data.standards.bands)
            + "."
        )
    late = [row for row in data.students if row.seconds_late > 0]
    if late:
        lines.append(
            f"Late: {len(late)} student{'' if len(late) == 1 else 's'} ("
            + ", ".join(
                f"{row.student_id} {late_text(row.seconds_late)}"
                + (f", -{points(row.late_penalty)}" if row.late_penalty else "")
                for row in late[:8]
            )
            + (", ..." if len(late) > 8 else "")
            + ")"
        )
    waiting = [row for row in data.students if row.awaiting]
    if waiting:
        per_answer = Counter(answer for row in waiting for answer in row.awaiting)
        lines.append(
            f"Written answers not graded yet: {len(waiting)} students "
            f"({', '.join(row.student_id for row in waiting[:8])}{', ...' if len(waiting) > 8 else ''}); "
            + "; ".join(f"{answer}: {count}" for answer, count in sorted(per_answer.items()))
        )
    if data.mistakes:
        lines.append("Most frequent mistakes:")
        for (name, mistake), count in data.mistakes.most_common(top):
            lines.append(
                f"  {count:3d} x {mistake} ({name}; e.g. {', '.join(data.mistake_examples[(name, mistake)][:3])})"
            )
    hardest = sorted(data.check_results.items(), key=lambda item: _pass_rate(item[1]))[:3]
    if hardest:
        lines.append("Hardest checks: " + "; ".join(f"{check} ({_pass_rate(c):.0%})" for (_, check), c in hardest))
    if data.similarity is not None and data.similarity.pairs:
        lines.append(
            "Most alike work (similarity.csv; a reason to read both, not a finding): "
            + "; ".join(f"{p.a} and {p.b} ({p.score:.0f})" for p in data.similarity.pairs[:3] if p.score > 0)
        )
    if data.failed:
        kinds = ", ".join(f"{kind}: {count}" for kind, count in data.fault_kinds.most_common())
        lines.append(f"Problems for {len(data.failed)} students" + (f" ({kinds})" if kinds else "") + ":")
    for row in data.failed:
        lines.append(f"  {row.student_id}: {'; '.join(row.problems)}")
    return "\n".join(lines)


@dataclass(frozen=True)
class RosterEntry:
    """A student as Canvas's gradebook export lists them."""

    name: str
    canvas_id: str
    sis_user_id: str
    sis_login_id: str
    section: str


def read_canvas_roster(path: Path) -> tuple[dict[str, RosterEntry], dict[str, str]]:
    """The students of a Canvas gradebook export, by every id they may be known by here (SIS login,
    SIS user id, Canvas id), and its assignment columns by title ("Title (id)" -> id)."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    if not rows or rows[0][:2] != ["Student", "ID"]:
        raise ValueError(f"{path} is not a Canvas gradebook export (its first columns must be Student, ID)")
    header = rows[0]
    column = {name: header.index(name) for name in ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
              if name in header}  # fmt: skip
    assignments = {}
    for title in header:
        if title.endswith(")") and " (" in title:
            assignments[title.rsplit(" (", 1)[0]] = title.rsplit(" (", 1)[1][:-1]
    entries: dict[str, RosterEntry] = {}
    for row in rows[1:]:
        name = row[0].strip() if row else ""
        if not name or name == "Points Possible" or name.startswith("Student, Test"):
            continue  # Canvas's own rows: points possible, posting policy, the test student

        def cell(key: str, row: list[str] = row) -> str:
            return row[column[key]].strip() if key in column and column[key] < len(row) else ""

        entry = RosterEntry(name, cell("ID"), cell("SIS User ID"), cell("SIS Login ID"), cell("Section"))
        for key in (entry.sis_login_id, entry.sis_user_id, entry.canvas_id):
            if key:
                entries.setdefault(key, entry)
    return entries, assignments


def write_canvas_csv(
    data: ClassData,
    path: Path,
    *,
    roster: Mapping[str, RosterEntry] | None = None,
    lms_assignment_id: str = "",
    allow_ungraded: bool = False,
) -> tuple[list[str], list[str]]:
    """Grades in the layout of Canvas's gradebook import; return (written, held back) student ids.

    A student whose written answers are not all graded is held back unless ``allow_ungraded``.
    """
    column = f"{TITLE} ({lms_assignment_id or data.assignment})"
    maximum = max((row.maximum for row in data.students), default=0)
    written, held = [], []
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", column])
        writer.writerow(["Points Possible", "", "", "", "", points(maximum)])
        for row in data.students:
            if row.awaiting and not allow_ungraded:
                held.append(row.student_id)
                continue
            grade = row.grade
            known = (roster or {}).get(row.student_id) or (roster or {}).get(grade.lms_user_id if grade else "")
            if known is not None:
                identity = [known.name, known.canvas_id, known.sis_user_id, known.sis_login_id, known.section]
            else:
                name = f"{grade.last_name}, {grade.first_name}" if grade and grade.last_name else row.student_id
                identity = [name, grade.lms_user_id if grade else "", row.student_id, row.student_id, ""]
            writer.writerow([*identity, points(row.total)])
            written.append(row.student_id)
    return written, held


GRADES_COLUMNS = [
    "student_id", "score", "max_score", "share", "result", "band", "seconds_late", "late", "late_penalty",
    "written_answers_to_grade",
]  # fmt: skip


def write_grades_csv(data: ClassData, path: Path) -> None:
    """Every student's grade with what Canvas's file cannot carry (Canvas makes a new assignment of
    any column it does not know): pass or not by the course's pass mark, band, lateness, penalty."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(GRADES_COLUMNS)
        for row in data.students:
            writer.writerow(
                [
                    row.student_id,
                    points(row.total),
                    points(row.maximum),
                    f"{row.share:.4f}",
                    data.verdict(row),
                    "" if row.awaiting else data.standards.band(row.share),
                    f"{row.seconds_late:.0f}",
                    late_text(row.seconds_late) if row.seconds_late > 0 else "",
                    points(row.late_penalty),
                    len(row.awaiting),
                ]
            )


def _png(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def write_report(data: ClassData, out: Path, **canvas: object) -> Path:
    """Write report.html, its PNG figures, canvas_grades.csv (``canvas``: the options of
    ``write_canvas_csv``) and grades.csv into ``out``; return the HTML path."""
    out.mkdir(parents=True, exist_ok=True)
    _figure_scores(data, out / "scores.png")
    _figure_checks(data, out / "checks.png")
    write_canvas_csv(data, out / "canvas_grades.csv", **canvas)  # type: ignore[arg-type]
    write_grades_csv(data, out / "grades.csv")
    if data.similarity is not None:
        similarity_pages.write(data.similarity, out)
    esc = html.escape

    def late(r: StudentRow) -> str:
        if r.seconds_late <= 0:
            return ""
        return late_text(r.seconds_late) + (f" (&minus;{points(r.late_penalty)})" if r.late_penalty else "")

    student_rows = "".join(
        f"<tr><td>{esc(r.student_id)}</td>"
        + "".join(f"<td>{points(r.notebooks[n][0])} / {points(r.notebooks[n][1])}</td>" for n in NOTEBOOKS)
        + f"<td><b>{points(r.total)}</b> / {points(r.maximum)}"
        + (" (written answers not graded yet)" if r.awaiting else "")
        + f"</td><td>{esc(data.verdict(r))}{'' if r.awaiting else ', ' + esc(data.standards.band(r.share))}</td>"
        + f"<td>{late(r)}</td><td>{esc('; '.join(r.problems))}</td></tr>"
        for r in data.students
    )
    check_rows = "".join(
        f"<tr><td>{esc(nb)}</td><td>{esc(check)}</td><td>{c['passed']}</td><td>{c['failed']}</td>"
        f"<td>{_pass_rate(c):.0%}</td><td>{c['not attempted']}</td></tr>"
        for (nb, check), c in data.check_results.items()
    )
    mistake_rows = "".join(
        f"<tr><td>{count}</td><td>{esc(mistake)}</td><td>{esc(nb)}</td>"
        f"<td>{esc(', '.join(data.mistake_examples[(nb, mistake)][:5]))}</td></tr>"
        for (nb, mistake), count in data.mistakes.most_common()
    )
    failed_rows = "".join(f"<li><b>{esc(r.student_id)}</b>: {esc('; '.join(r.problems))}</li>" for r in data.failed)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">{POLICY_META}<title>Class report: {esc(data.assignment)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;overflow-wrap:anywhere}}
table{{border-collapse:collapse;margin:1em 0;max-width:100%}}
td,th{{border:1px solid #ccc;padding:3px 8px;font-size:13px}}
td{{overflow-wrap:anywhere}}th{{background:#f3f3f3}}img{{max-width:100%}}
pre{{background:#f7f7f7;padding:1em;white-space:pre-wrap;overflow-wrap:anywhere}}</style></head><body>
<h1>Class report: {esc(data.assignment)}</h1>
<pre>{esc(text_summary(data))}</pre>
<h2>Score distributions</h2><img alt="score distributions" src="{_png(out / "scores.png")}">
<h2>Most frequent diagnosed mistakes</h2>
<p>Each student counts once per misconception and notebook, whichever check found it.</p>
<table><tr><th>students</th><th>misconception</th><th>notebook</th><th>for example</th></tr>{mistake_rows}</table>
<h2>Pass rate of every hidden check</h2><img alt="pass rates" src="{_png(out / "checks.png")}">
<p>Pass rates count the notebooks a student attempted; notebooks left as released are counted apart.</p>
<table><tr><th>notebook</th><th>check</th><th>passed</th><th>failed</th><th>pass rate</th><th>not attempted</th></tr>
{check_rows}</table>
<h2>Problems: grading that failed or was incomplete, faults, signs of tampering</h2>
<p>Each with the student and the reason. Faults cost the student only the cells concerned; signs of
tampering change no grade (the hidden checks judge outside the student's kernel) and are listed
for a human to look at.</p>
<ul>{failed_rows or "<li>none</li>"}</ul>
{similarity_pages.section(data.similarity)}
<h2>Every student</h2>
<p>Pass mark: {data.standards.pass_mark:.0%} of the maximum, after late penalties; bands:
{esc(", ".join(f"{name} from {lowest:.0%}" for lowest, name in data.standards.bands))}
(the course's <code>c.ClassReport</code> in nbgrader_config.py). Late: after the due date and any extension.</p>
<table><tr><th>student</th>{"".join(f"<th>{esc(n)}</th>" for n in NOTEBOOKS)}<th>total</th><th>result</th>
<th>late</th><th>problems</th></tr>
{student_rows}</table>
</body></html>
"""
    (out / "report.html").write_text(page, encoding="utf-8")
    return out / "report.html"


def main(argv: list[str] | None = None) -> int:
    """The command line (see the module's docstring); bad input is one line and exit status 2."""
    return inputs.run("class_report", lambda: _main(argv))


def _roster(path: Path) -> tuple[dict[str, RosterEntry], dict[str, str]]:
    try:
        return read_canvas_roster(path)
    except (OSError, UnicodeDecodeError, ValueError, csv.Error) as error:
        why = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise inputs.BadInput(
            f"cannot read the roster {path}: {why} (pass Canvas's gradebook export: Grades, Export, CSV)"
        ) from None


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--course", type=Path, default=Path.cwd())
    parser.add_argument("--assignment", default=ASSIGNMENT)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--roster", type=Path, help="Canvas's gradebook export, for the students' Canvas ids")
    parser.add_argument("--lms-assignment-id", default="", help="Canvas's id of the assignment")
    parser.add_argument("--allow-ungraded", action="store_true", help="include students with ungraded answers")
    args = parser.parse_args(argv)
    course = inputs.course(args.course)
    url = inputs.gradebook(course)
    inputs.graded(url, course, args.assignment)
    roster, assignments = _roster(args.roster) if args.roster else ({}, {})
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        raise inputs.BadInput(f"--out {args.out} is a file: name a folder for the report")
    data = collect(course, args.assignment)
    out = args.out or course / "reports" / args.assignment
    report = write_report(
        data,
        out,
        roster=roster,
        lms_assignment_id=args.lms_assignment_id or assignments.get(TITLE, ""),
        allow_ungraded=args.allow_ungraded,
    )
    print(text_summary(data))
    print(f"Report: {report}")
    held = [row.student_id for row in data.students if row.awaiting and not args.allow_ungraded]
    written = len(data.students) - len(held)
    print(f"Canvas CSV: {out / 'canvas_grades.csv'} with {written} students", end="")
    if held:
        print(
            f"; {len(held)} held back until their written answers are graded: {', '.join(held[:10])}"
            f"{', ...' if len(held) > 10 else ''} (grade them in Formgrader, or pass --allow-ungraded)"
        )
    else:
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
