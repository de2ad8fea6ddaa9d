"""The similarity report: planted copies rank above honest students who wrote the same formulas, the
release's code counts for nothing, rarity decides the weight, and the pair pages are inert."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import subprocess
import sys
from collections import Counter

import pytest
from browsing import new_page, screenshot
from xss_payloads import HTML, answer_dialog, live_payloads, page_policy

from gankit import ASSIGNMENT, NOTEBOOKS, ROOT, class_report, notebooks, similarity, similarity_pages
from gankit.nbgrader_adapter.untrusted_html import PAGE_POLICY
from gankit.simulated_class import model_answers
from gankit.simulated_copies import DISGUISED, OWN_STYLE, UNUSUAL_WRONG, class_with_copies

MODEL = model_answers(ROOT / "source" / ASSIGNMENT)
RELEASE = {
    grade_id: code
    for name in NOTEBOOKS
    for grade_id, code in similarity.answer_cells(
        notebooks.read(ROOT / "release" / ASSIGNMENT / f"{name}.ipynb")
    ).items()
}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_planted_copies_rank_above_every_honest_pair(seed):
    works, planted = class_with_copies(MODEL, honest=40, seed=seed)
    ranking = similarity.rank(RELEASE, works, top=10)
    top = [frozenset((p.a, p.b)) for p in ranking.pairs]
    assert set(top[:3]) == planted, [(p.a, p.b, round(p.score)) for p in ranking.pairs]
    assert ranking.pairs[2].score > ranking.pairs[3].score  # strictly: no honest pair ties a copy
    by_pair = {frozenset((p.a, p.b)): p for p in ranking.pairs}
    # each copy is found in the cells that were copied
    assert set(by_pair[frozenset(("verbatim_author", "verbatim_copier"))].cells[:3]) == set(OWN_STYLE)
    assert set(by_pair[frozenset(("disguised_author", "disguised_copier"))].cells[:3]) == set(DISGUISED)
    assert by_pair[frozenset(("wrong_answer_author", "wrong_answer_copier"))].cells[0] == next(iter(UNUSUAL_WRONG))


_RANK_IN_A_PROCESS = """
import json
from gankit import ASSIGNMENT, NOTEBOOKS, ROOT, notebooks, similarity
from gankit.simulated_class import model_answers
from gankit.simulated_copies import class_with_copies
release = {}
for name in NOTEBOOKS:
    release.update(similarity.answer_cells(notebooks.read(ROOT / "release" / ASSIGNMENT / f"{name}.ipynb")))
works, _ = class_with_copies(model_answers(ROOT / "source" / ASSIGNMENT), honest=12, seed=0)
print(json.dumps([(p.a, p.b, p.score, p.cells) for p in similarity.rank(release, works, top=20).pairs]))
"""


@pytest.mark.slow  # 3 s: a second Python process, with its own string-hash seed
def test_the_ranking_is_the_same_in_every_process():
    """The same class ranks the same, scores to the last digit, whatever the process's string-hash
    seed (copydetect's own k-gram hashes change with it, and so did every score)."""
    mine = os.environ.get("PYTHONHASHSEED", "")
    other_seed = str(int(mine) + 1) if mine.isdigit() else "1"  # unset or "random": this one's is random
    run = subprocess.run(
        [sys.executable, "-c", _RANK_IN_A_PROCESS],
        cwd=ROOT,
        env={**os.environ, "PYTHONHASHSEED": other_seed},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    elsewhere = json.loads(run.stdout)
    works, _ = class_with_copies(MODEL, honest=12, seed=0)
    here = [[p.a, p.b, p.score, p.cells] for p in similarity.rank(RELEASE, works, top=20).pairs]
    assert here == elsewhere and len(here) == 20 and here[0][2] > 0


def _plain_copydetect(code_a: str, code_b: str) -> float:
    """copydetect's own similarity of two submissions, its defaults, no rarity and no boilerplate."""
    from copydetect import CodeFingerprint, compare_files  # imports pyplot: in this module's tests only

    prints = [
        CodeFingerprint("a.py", 25, 1, filter=True, language="python", fp=io.StringIO(c)) for c in (code_a, code_b)
    ]
    return min(compare_files(*prints)[1])


def test_without_the_rarity_weights_honest_look_alikes_would_rank_with_the_copies():
    """The weights are what separates them: copydetect alone finds two honest students who both wrote
    the model answer everywhere at least as alike as any planted copy."""
    works, planted = class_with_copies(MODEL, honest=40, seed=0)
    text = {w.student_id: "\n".join(w.cells[g] for g in sorted(w.cells)) for w in works}
    model_only = [w.student_id for w in works if dict(w.cells) == MODEL]
    assert len(model_only) >= 2
    honest_twins = _plain_copydetect(text[model_only[0]], text[model_only[1]])
    copies = [_plain_copydetect(*(text[s] for s in sorted(pair))) for pair in planted]
    assert honest_twins >= max(copies)
    ranking = similarity.rank(RELEASE, works, top=5000)
    scores = {frozenset((p.a, p.b)): p.score for p in ranking.pairs}
    assert scores.get(frozenset(model_only[:2]), 0.0) == 0.0  # what a fifth of the class wrote weighs nothing


def test_the_releases_code_counts_for_nothing():
    """Two students whose cells share only the release's lines (signature, docstring, comment) and
    whose own code differs score 0."""
    from copydetect import CodeFingerprint

    cell = "answer_ml_gradient_estimate"
    stub = RELEASE[cell].replace("raise NotImplementedError()", "")
    a = stub + "draws = rng.normal(theta, sigma_g, size=n_samples)\nreturn float(np.mean(draws * 0.0))\n"
    b = stub + "total = 0.0\nfor _ in range(n_samples):\n    total += theta\nreturn total / n_samples\n"
    raw = [
        CodeFingerprint("a.py", similarity.TEXT_K, similarity.TEXT_WINDOW, filter=False, fp=io.StringIO(code)).hashes
        for code in (a, b)
    ]
    assert raw[0] & raw[1]  # without the boilerplate removal, the release's lines alone make them alike
    others = [similarity.Work(f"s{i}", {cell: f"{stub}return {i}.{i}{i} * theta ** {i}\n"}) for i in range(8)]
    works = [similarity.Work("a", {cell: a}), similarity.Work("b", {cell: b}), *others]
    pairs = {frozenset((p.a, p.b)): p.score for p in similarity.rank(RELEASE, works, top=100).pairs}
    assert pairs[frozenset(("a", "b"))] == 0.0
    untouched = similarity.Fingerprints(RELEASE).of(similarity.Work("ben", dict(RELEASE)))
    assert untouched == {}  # a cell left as released holds nothing of the student's


def test_a_feature_weighs_the_surprise_of_finding_it_in_a_second_student():
    n = 101
    assert similarity.weight(1, n) == 0.0  # not shared
    assert similarity.weight(2, n) == pytest.approx(math.log(0.2 * 100))
    assert similarity.weight(21, n) == pytest.approx(0.0)  # a fifth of the class: nothing
    assert similarity.weight(80, n) == 0.0
    assert [similarity.weight(df, n) for df in range(2, 22)] == sorted(
        (similarity.weight(df, n) for df in range(2, 22)), reverse=True
    )


def test_the_same_rare_failed_check_weighs_more_than_a_common_one():
    """All write the model answer; x and y alone fail one check the same way, and x shares a
    failure with half the class: the pair's score is exactly the rare failure's weight."""
    n = 30
    rare = ("ex3_maximum_likelihood", "test_score_term", "no score term")
    common = ("ex1_optimal_discriminator", "test_tails", "")
    works = [
        similarity.Work(f"s{i:02d}", dict(MODEL), frozenset({common} if i < n // 2 else set())) for i in range(n - 2)
    ]
    works += [
        similarity.Work("x", dict(MODEL), frozenset({rare, common})),
        similarity.Work("y", dict(MODEL), frozenset({rare})),
    ]
    pairs = {frozenset((p.a, p.b)): p for p in similarity.rank(RELEASE, works, top=1000).pairs}
    assert pairs[frozenset(("x", "y"))].score == pytest.approx(math.log(0.2 * (n - 1)))
    assert pairs[frozenset(("x", "y"))].same_failures == ["ex3_maximum_likelihood: test_score_term (no score term)"]
    assert pairs.get(frozenset(("x", "s00")), similarity.Pair("x", "s00", 0.0)).score == 0.0


PAYLOAD = "# " + " ".join(HTML[name] for name in ("script", "img-onerror", "svg-onload")) + "\n"


def _class_with_a_hostile_copy():
    works, planted = class_with_copies(MODEL, honest=20, seed=3)
    hostile = []
    for work in works:
        if work.student_id.startswith("verbatim_"):  # the verbatim pair's shared comment carries markup
            cells = dict(work.cells)
            cells["answer_gradient_flow"] = cells["answer_gradient_flow"].replace("    tt =", f"    {PAYLOAD}    tt =")
            work = similarity.Work("<b>" + work.student_id + "</b>", cells)
        hostile.append(work)
    return similarity.rank(RELEASE, hostile, top=15)


def test_a_pair_page_shows_student_code_as_text_with_the_shared_parts_marked(tmp_path):
    ranking = _class_with_a_hostile_copy()
    csv_path = similarity_pages.write(ranking, tmp_path)
    rows = list(csv.DictReader(csv_path.open(encoding="utf-8")))
    assert [int(r["rank"]) for r in rows] == list(range(1, len(ranking.pairs) + 1))
    first = rows[0]
    assert {first["student_a"], first["student_b"]} == {"<b>verbatim_author</b>", "<b>verbatim_copier</b>"}
    page = (tmp_path / first["view"]).read_text(encoding="utf-8")
    assert live_payloads(page, "http://127.0.0.1:9") == [] and "<script" not in page.lower()
    assert page_policy(page) == PAGE_POLICY
    assert "&lt;script&gt;__hit(&#x27;script&#x27;)&lt;/script&gt;" in page or "&lt;script&gt;" in page
    assert "&lt;b&gt;verbatim_author&lt;/b&gt;" in page
    # the copied comment is marked in both columns, and the code both wrote and many others did is tinted
    assert page.count("<mark>") >= 6 and "rotation by angle t" in page
    marked = [chunk.split("</mark>")[0] for chunk in page.split("<mark>")[1:]]
    assert any("cos_tt" in chunk for chunk in marked)


def test_a_hostile_pair_page_and_the_report_section_run_nothing_in_chromium(browser, tmp_path):
    """The report of a class with planted copies (its section, then the first pair's page), in
    Chromium with every network request refused; screenshots for the README."""
    ranking = _class_with_a_hostile_copy()
    rows = [class_report.StudentRow(w, {name: (1.0, 7.0) for name in NOTEBOOKS}) for w in sorted(ranking.codes)]
    data = class_report.ClassData(ASSIGNMENT, rows, {}, Counter(), {}, similarity=ranking)
    report = class_report.write_report(data, tmp_path / "report")
    page = new_page(browser)
    seen: list[str] = []
    page.on("dialog", lambda dialog: answer_dialog(dialog, seen))
    requests: list[str] = []
    page.route(
        __import__("re").compile(r"^(?!file:).*"), lambda route: (requests.append(route.request.url), route.abort())
    )
    page.add_init_script("window.__hit = name => { window.__hits = (window.__hits || []).concat([name]); }")
    page.goto(report.as_uri())
    page.locator("h2", has_text="Similar work").scroll_into_view_if_needed()
    page.evaluate(
        "() => [...document.querySelectorAll('h2')].find(e => e.textContent === 'Similar work').scrollIntoView()"
    )
    screenshot(page, "similarity-1-report-section")
    page.locator("a", has_text="side by side").first.click()
    page.wait_for_load_state()
    assert "pair-001.html" in page.url
    assert page.locator("mark").count() >= 6
    assert page.evaluate("() => window.__hits || []") == [] and seen == [] and requests == []
    screenshot(page, "similarity-2-pair-side-by-side")


def test_the_class_report_ranks_a_copied_graded_submission_first(cycle, tmp_path):
    """A real graded class (the course cycle) plus a copy of eli's graded work under another id:
    the report's first pair is eli and the copy, with the same failed checks named; the honest
    students who wrote the model answer are no pair at all."""
    course = shutil.copytree(cycle.course, tmp_path / "course", symlinks=True)
    shutil.copytree(course / "autograded" / "eli", course / "autograded" / "eli_twin")
    ranking = similarity.rank_class(course, ASSIGNMENT)
    top = [(p.a, p.b, round(p.score, 2), p.same_failures) for p in ranking.pairs[:3]]
    assert {ranking.pairs[0].a, ranking.pairs[0].b} == {"eli", "eli_twin"}, top
    assert ranking.pairs[0].same_failures and ranking.pairs[0].score > 2 * ranking.pairs[1].score, top
    assert all({"ada", "cleo"} != {p.a, p.b} for p in ranking.pairs if p.score > 0)
    page = cycle.report.read_text(encoding="utf-8")
    assert "<h2>Similar work</h2>" in page and (cycle.report.parent / "similarity.csv").is_file()
    listed = list(csv.DictReader((cycle.report.parent / "similarity.csv").open(encoding="utf-8")))
    assert listed and all((cycle.report.parent / row["view"]).is_file() for row in listed)
