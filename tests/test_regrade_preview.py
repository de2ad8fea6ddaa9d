"""The regrade preview names exactly the students whose grades change once the change is applied,
and changes nothing of the course while it previews (a course of a few students from the simulated
class, graded with the kit as it is, then previewed and regraded with a changed copy of the kit)."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from browsing import new_page, screenshot
from xss_payloads import live_payloads, page_policy

from gankit import ASSIGNMENT, NOTEBOOKS, ROOT, scores
from gankit.goldens import copy_course
from gankit.nbgrader_adapter.untrusted_html import PAGE_POLICY
from gankit.nbgrader_cli import nbgrader_env, run_nbgrader
from gankit.simulated_class import by_id, place_submission

pytestmark = pytest.mark.slow

STUDENTS = ["ada", "dev", "eli", "lev", "fay"]

# The change: a tolerance tightened (every value check's default relative tolerance, 1e-9 -> 1e-15)
# and a check added to exercise 1's D* cell (D* where the model density is twice the data's).
TIGHTER = ("    rtol: float = 1e-9,\n", "    rtol: float = 1e-15,\n")
ADDED_CHECK = '''

@graded("correct_optimal_discriminator", weight=3, check_id="test_added_for_the_preview")
def test_model_twice_the_data(student, reference, probe):
    """D* where the model's density is twice the data's."""
    p = probe.uniform(0.1, 2.0, 5)
    same_values(
        student.optimal_discriminator(p, 2 * p),
        np.full(5, 1 / 3),
        tried="optimal_discriminator where p_model = 2 p_data",
        expected="one third everywhere",
        hint="D* is the data density's share of the total",
    )
'''


def _changed_kit(where: Path) -> Path:
    """A copy of the kit with the change made, to put first on PYTHONPATH (the kit in the
    repository stays as it is)."""
    kit = where / "kit"
    shutil.copytree(ROOT / "gankit", kit / "gankit", ignore=shutil.ignore_patterns("__pycache__"))
    checking = kit / "gankit" / "judging" / "checking.py"
    text = checking.read_text()
    assert text.count(TIGHTER[0]) == 1
    checking.write_text(text.replace(*TIGHTER))
    checks = kit / "gankit" / "checks" / f"test_{NOTEBOOKS[0]}.py"
    checks.write_text(checks.read_text() + ADDED_CHECK)
    return kit


def _grade(course: Path, kit: Path | None, *options: str) -> subprocess.CompletedProcess:
    """``grade_class`` with the kit in ``kit`` (None: the repository's), run from the folder above
    the course (``python -m`` puts its working folder first on the path: not the repository)."""
    command = [sys.executable, "-m", "gankit.grade_class", ASSIGNMENT, "--course", str(course), "--workers", "2"]
    return subprocess.run(
        [*command, *options],
        cwd=course.parent,
        env=nbgrader_env({"PYTHONPATH": str(kit)} if kit else {}),
        capture_output=True,
        text=True,
        timeout=900,
    )


def _digests(course: Path) -> dict[str, str]:
    """Every file of the course's gradebook and grading folders."""
    files = [course / "gradebook.db"]
    for folder in ("autograded", "feedback", "submitted"):
        files += [p for p in (course / folder).rglob("*") if p.is_file()]
    return {str(p.relative_to(course)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def _auto_cells(course: Path, student_id: str) -> dict[tuple[str, str], float]:
    cells = scores.cell_scores(course, student_id)
    return {(nb, g): c.auto_score or 0.0 for nb, found in cells.items() for g, c in found.items() if c.autograded}


@pytest.fixture(scope="module")
def previewed(tmp_path_factory):
    """A graded course, previewed with the change, then graded with it for real."""
    where = tmp_path_factory.mktemp("preview")
    course = copy_course(where / "course")
    run_nbgrader(["generate_assignment", ASSIGNMENT, "--force"], cwd=course)
    for student_id in STUDENTS:
        place_submission(course, by_id(student_id))
    first = _grade(course, None)
    assert first.returncode == 0, first.stderr[-3000:]
    kit = _changed_kit(where)
    digests = _digests(course)
    before = {s: _auto_cells(course, s) for s in STUDENTS}
    page = where / "preview.html"
    preview = _grade(course, kit, "--preview", "--preview-report", str(page))
    print(preview.stdout)  # for the record (pytest -s)
    untouched = _digests(course) == digests
    applied = _grade(course, kit, "--force")
    after = {s: _auto_cells(course, s) for s in STUDENTS}
    return preview, page, untouched, applied, before, after


def test_the_preview_names_exactly_the_students_whose_grades_then_change(previewed):
    preview, page, untouched, applied, before, after = previewed
    assert preview.returncode == 0, preview.stderr[-3000:]
    assert untouched  # nothing of the course's gradebook, autograded/ or feedback/ changed
    assert applied.returncode == 0, applied.stderr[-3000:]
    named = {m.group(1): (float(m.group(2)), float(m.group(3)))
             for m in re.finditer(r"^  (\S+): ([\d.]+) -> ([\d.]+) \(", preview.stdout, re.MULTILINE)}  # fmt: skip
    moved = {s for s in STUDENTS if before[s] != after[s]}
    assert moved and moved != set(STUDENTS), (before, after)  # the change moves some grades, not all
    assert set(named) == moved, preview.stdout
    for student_id in moved:  # by how much: what applying it then wrote
        assert named[student_id] == pytest.approx(
            (round(sum(before[student_id].values()), 2), round(sum(after[student_id].values()), 2)), abs=0.006
        )
    # on which check: the added one is named for every student it moved in exercise 1
    for student_id in moved:
        cells = {k for k in before[student_id] if before[student_id][k] != after[student_id][k]}
        block = re.search(rf"^  {student_id}: .*?(?=^  \S|^\S|\Z)", preview.stdout, re.MULTILINE | re.DOTALL)[0]
        for notebook, grade_id in cells:
            assert f"{notebook} {grade_id}:" in block
        if (NOTEBOOKS[0], "correct_optimal_discriminator") in cells:
            assert "check D* where the model's density is twice the data's: new" in block


def test_the_preview_page_is_inert_and_reads_in_chromium(previewed, browser):
    preview, page, *_ = previewed
    html = page.read_text(encoding="utf-8")
    assert page_policy(html) == PAGE_POLICY and live_payloads(html, "http://127.0.0.1:9") == []
    tab = new_page(browser)
    tab.goto(page.as_uri())
    assert tab.locator("tr").count() >= 2
    screenshot(tab, "regrade-preview")
