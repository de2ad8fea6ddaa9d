"""The similarity report's outputs: a CSV of the ranked pairs, one offline side-by-side page per
pair with the matched parts marked, and the class report's section that links to them.

Everything a student wrote is untrusted: it is escaped here, the page is cleaned again by the kit's
sanitizer (``untrusted_html.clean``) and carries the kit's content policy, which forbids every
script, so nothing in a student's code can run in a grader's browser.
"""

from __future__ import annotations

import csv
import html
from pathlib import Path

import numpy as np

from gankit.nbgrader_adapter.untrusted_html import POLICY_META, clean
from gankit.similarity import RARE_SHARE, Pair, Ranking, matched_slices, release_lines

FOLDER = "similarity"  # beside report.html: the pair pages
CSV_NAME = "similarity.csv"
CSV_COLUMNS = [
    "rank",
    "student_a",
    "student_b",
    "score",
    "unusual",
    "rare_shared",
    "cells",
    "same_failed_checks",
    "view",
]
SHOWN_IN_REPORT = 20

_STYLE = """body{font-family:sans-serif;margin:1.5em;color:#222;overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%;table-layout:fixed}td,th{border:1px solid #ccc;padding:4px 8px;
vertical-align:top}th{background:#f3f3f3}pre{white-space:pre-wrap;margin:0;font-size:13px}
mark{background:#ffb347}ins{text-decoration:none;background:#e6eefc}"""


def view_name(rank: int) -> str:
    """The pair page of the ``rank``-th pair (from 1), relative to the report."""
    return f"{FOLDER}/pair-{rank:03d}.html"


def marked(
    code: str, rare: tuple[np.ndarray, np.ndarray], common: tuple[np.ndarray, np.ndarray], release: str = ""
) -> str:
    """``code`` escaped, rare shared parts in ``<mark>``, common shared parts in ``<ins>``; the
    release's own lines never marked (a k-gram may reach into them from the student's next line)."""
    level = np.zeros(len(code), dtype=int)
    for (starts, ends), value in ((common, 1), (rare, 2)):
        for start, end in zip(starts, ends, strict=True):
            level[max(0, start) : min(len(code), end)] = np.maximum(level[max(0, start) : min(len(code), end)], value)
    level[release_lines(code, release)] = 0
    level[[character == "\n" for character in code]] = 0  # a mark ends with its line
    out, start = [], 0
    for index in range(1, len(code) + 1):
        if index == len(code) or level[index] != level[start]:
            text = html.escape(code[start:index])
            out.append(text if level[start] == 0 else f"<{'ins' if level[start] == 1 else 'mark'}>{text}</"
                       f"{'ins' if level[start] == 1 else 'mark'}>")  # fmt: skip
            start = index
    return "".join(out)


def pair_page(ranking: Ranking, pair: Pair, rank: int) -> str:
    """The side-by-side page of one pair: each answer cell either of them wrote, matched parts marked."""
    esc = html.escape
    cells = [c for c in ranking.codes[pair.a] if c in ranking.codes[pair.b]]
    cells.sort(key=lambda c: (c not in pair.cells, pair.cells.index(c) if c in pair.cells else 0))
    rows = []
    for grade_id in cells:
        rare = matched_slices(ranking, pair, grade_id, rare=True)
        common = matched_slices(ranking, pair, grade_id, rare=False)
        given = ranking.release.get(grade_id, "")
        left = marked(ranking.codes[pair.a][grade_id], rare[0], common[0], given)
        right = marked(ranking.codes[pair.b][grade_id], rare[1], common[1], given)
        rows.append(f'<tr><th colspan="2">{esc(grade_id)}</th></tr>')
        rows.append(f"<tr><td><pre>{left}</pre></td><td><pre>{right}</pre></td></tr>")
    failures = "".join(f"<li>{esc(text)}</li>" for text in pair.same_failures) or "<li>none</li>"
    body = f"""<h1>Pair {rank}: {esc(pair.a)} and {esc(pair.b)}</h1>
<p>Score {pair.score:.1f} ({pair.unusual:.1f} standard deviations above the mean of the class's pairs);
{pair.rare} shared features that at most {RARE_SHARE:.0%} of the class have (or about that). <mark>Marked</mark>: what
both wrote and few others did; <ins>tinted</ins>: what both wrote and many others did too. The release's
own code counts for nothing. Alike is not proof: read both before deciding anything.</p>
<p>Hidden checks both failed the same way:</p><ul>{failures}</ul>
<table><tr><th>{esc(pair.a)}</th><th>{esc(pair.b)}</th></tr>{"".join(rows)}</table>"""
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">{POLICY_META}'
        f"<title>Pair {rank}: {esc(pair.a)} and {esc(pair.b)}</title><style>{_STYLE}</style></head>"
        f"<body>{clean(body)}</body></html>\n"
    )


def write(ranking: Ranking, out: Path) -> Path:
    """Write the CSV and every pair's page into ``out`` (the report's folder); return the CSV's path."""
    folder = out / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("pair-*.html"):
        old.unlink()  # an earlier report's pairs
    with (out / CSV_NAME).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for rank, pair in enumerate(ranking.pairs, 1):
            (out / view_name(rank)).write_text(pair_page(ranking, pair, rank), encoding="utf-8")
            writer.writerow(
                [rank, pair.a, pair.b, f"{pair.score:.2f}", f"{pair.unusual:.1f}", pair.rare,
                 " ".join(pair.cells), "; ".join(pair.same_failures), view_name(rank)]
            )  # fmt: skip
    return out / CSV_NAME


def section(ranking: Ranking | None) -> str:
    """The class report's section: the top pairs, each linking to its page."""
    if ranking is None:
        return "<h2>Similar work</h2><p>Not computed for this report.</p>"
    esc = html.escape
    rows = "".join(
        f"<tr><td>{rank}</td><td>{esc(p.a)}</td><td>{esc(p.b)}</td><td>{p.score:.1f}</td><td>{p.unusual:.1f}</td>"
        f"<td>{p.rare}</td><td>{esc(', '.join(p.cells[:4]))}</td><td>{esc('; '.join(p.same_failures[:3]))}</td>"
        f'<td><a href="{view_name(rank)}">side by side</a></td></tr>'
        for rank, p in enumerate(ranking.pairs[:SHOWN_IN_REPORT], 1)
    )
    return f"""<h2>Similar work</h2>
<p>Pairs of students whose code is unusually alike ({ranking.students} students compared; fingerprints
by copydetect, the release's own code left out). A shared feature counts for more the fewer students
have it, so the same formula written by half the class weighs little and the same odd names, comments
or unusual mistake weigh much. "Unusual" is how far the pair's score stands above the mean of all the
class's pairs, in standard deviations. The top {len(ranking.pairs)} pairs are in <code>{CSV_NAME}</code>,
each with a side-by-side page. A high rank is a reason to read two submissions, not a finding.</p>
<table><tr><th>rank</th><th>student</th><th>student</th><th>score</th><th>unusual</th><th>rare shared</th>
<th>cells</th><th>same failed checks</th><th>view</th></tr>{rows or '<tr><td colspan="9">no pairs</td></tr>'}</table>"""
