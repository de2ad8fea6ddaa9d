"""A hostile student's submission, graded by the kit, opened by a grader in Chromium.

Mallory answers every function correctly and fills her written answers, extra cells, raw cells and
outputs (made by her own code, in the real sandboxed kernel) with the payloads of ``xss_payloads``.
Eve's first notebook stands for one graded before the kit cleaned what it saves (Formgrader cleans
it as it renders). A grader then opens everything a grader opens: Formgrader's submission view of
each notebook (where they also hand-grade a written answer), the feedback pages, the class report,
and the graded and the submitted notebook in JupyterLab. No payload may run (every page and frame
has a ``__hit`` the payloads call, bound to this test), no dialog may open, nothing may be asked of
the payloads' listener on loopback, no terminal may be created and no file written in the course.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
import xss_payloads
from browsing import screenshot
from nbconvert.exporters import HTMLExporter
from nbgrader.api import Gradebook

from gankit import ASSIGNMENT, COURSE_ID, NOTEBOOKS, notebooks, scores
from gankit.class_report import main as class_report
from gankit.goldens import copy_course
from gankit.nbgrader_cli import run_nbgrader
from gankit.simulated_class import Student, place_submission

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
def beacon():
    server = xss_payloads.Beacon()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def graded(tmp_path_factory, beacon) -> Path:
    """A course where Mallory (payloads, right answers) and Ada (right answers) are graded, with
    feedback and the class report written."""
    course = copy_course(tmp_path_factory.mktemp("pages") / "course")
    run_nbgrader(["generate_assignment", ASSIGNMENT, "--force"], cwd=course)
    xss_payloads.arm(place_submission(course, Student("mallory", "everything right")), beacon.url)
    place_submission(course, Student("ada", "everything right"))
    xss_payloads.arm(place_submission(course, Student("eve", "everything right")), beacon.url)
    run_nbgrader(["autograde", ASSIGNMENT], cwd=course)
    # Eve's first notebook as an autograde without the cleaning step would have left it (graded by
    # an older kit or another tool): her payloads and their outputs, uncleaned.
    name = f"{NOTEBOOKS[0]}.ipynb"
    stale = notebooks.read(course / "submitted" / "eve" / ASSIGNMENT / name)
    stale.cells[-1].outputs = xss_payloads.raw_outputs(beacon.url)
    nbformat.write(stale, str(course / "autograded" / "eve" / ASSIGNMENT / name))
    run_nbgrader(["generate_feedback", ASSIGNMENT, "--force"], cwd=course)
    assert class_report(["--course", str(course), "--allow-ungraded"]) == 0
    return course


def test_the_payloads_cost_mallory_no_points_and_ada_gets_full_marks(graded):
    """Payloads around right answers change no score: both students get every automatic point."""
    for student in ("mallory", "ada", "eve"):
        cells = scores.cell_scores(graded, student)
        for name in NOTEBOOKS:
            got, best = scores.auto_total(cells, name)
            assert best > 0 and got == best, (student, name, got, best)


def test_the_graded_notebooks_hold_no_live_payload_in_any_template(graded, beacon):
    """Mallory's graded notebooks, as nbconvert's templates render them, hold nothing live."""
    for name in NOTEBOOKS:
        nb = notebooks.read(graded / "autograded" / "mallory" / ASSIGNMENT / f"{name}.ipynb")
        assert any(cell.cell_type == "code" and cell.outputs for cell in nb.cells)
        for template in ("lab", "classic"):
            page, _ = HTMLExporter(template_name=template).from_notebook_node(nb)
            assert xss_payloads.live_payloads(page, beacon.url) == [], (name, template)
    for name in NOTEBOOKS:
        page = (graded / "feedback" / "mallory" / ASSIGNMENT / f"{name}.html").read_text(encoding="utf-8")
        assert xss_payloads.live_payloads(page, beacon.url) == [], name
        assert "default-src 'none'" in (xss_payloads.page_policy(page) or "")
    report = (graded / "reports" / ASSIGNMENT / "report.html").read_text(encoding="utf-8")
    assert "default-src 'none'" in (xss_payloads.page_policy(report) or "")


def _files(course: Path) -> set[str]:
    skip = (".ipynb_checkpoints", ".virtual_documents", "__pycache__", ".jupyter")
    return {str(p.relative_to(course)) for p in course.rglob("*") if not any(part in skip for part in p.parts)} - {
        "gradebook.db-journal"
    }


def _api(lab, path: str) -> list:
    with urllib.request.urlopen(lab.at(path), timeout=10) as reply:
        return json.load(reply)


def test_a_grader_opens_every_page_of_a_hostile_submission_and_nothing_runs(graded, beacon, start_lab, browser):
    """Formgrader, feedback, report and JupyterLab show the submission; no payload runs or fetches."""
    lab = start_lab(graded, graded.parent / "exchange")
    hits: list[str] = []
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.expose_function("__hit", lambda name=None: hits.append(str(name)))
    # What the browser tried to ask of the payloads' listener, by the page it was on, and what
    # stopped it (None: it was asked).
    phase = ["lab"]
    tried: dict[str, str | None] = {}

    def watch(request, failure: str | None = None) -> None:
        if beacon.url in request.url:
            tried[f"{phase[0]} {request.url}"] = failure

    context.on("request", watch)
    context.on("requestfailed", lambda request: watch(request, request.failure))
    page = context.new_page()
    page.set_default_timeout(60_000)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: xss_payloads.answer_dialog(dialog, dialogs))
    files, terminals = _files(graded), _api(lab, "/api/terminals")
    page.goto(lab.at("/lab"))  # a grader's session starts in JupyterLab (its cookies: Formgrader's saves need them)
    page.locator(".jp-LauncherCard").first.wait_for()

    with Gradebook(scores.db_url(graded), COURSE_ID) as gradebook:
        ids = {name: gradebook.find_submission_notebook(name, ASSIGNMENT, "mallory").id for name in NOTEBOOKS}
        stale = gradebook.find_submission_notebook(NOTEBOOKS[0], ASSIGNMENT, "eve").id
    phase[0] = "formgrader"
    for name, submission in [*ids.items(), ("stale", stale)]:
        page.goto(lab.at(f"/formgrader/submissions/{submission}/"))
        page.wait_for_load_state("load")
        page.wait_for_timeout(1500)  # timers, animations, a refresh after 0 s
        screenshot(page, f"hostile-formgrader-{name}")
        assert "Submission" in page.title() or page.locator("#notebook").count(), name  # the page did render
    # Manual grading still works on the hostile notebook: the grader's score is saved.
    grade_id = next(
        notebooks.nbgrader_meta(cell)["grade_id"]
        for cell in notebooks.read(graded / "source" / ASSIGNMENT / f"{NOTEBOOKS[0]}.ipynb").cells
        if cell.cell_type == "markdown" and notebooks.nbgrader_meta(cell).get("solution")
    )
    page.goto(lab.at(f"/formgrader/submissions/{ids[NOTEBOOKS[0]]}/"))
    field = page.locator(f"#{grade_id}")
    manual, deadline = None, time.monotonic() + 30
    while manual is None and time.monotonic() < deadline:
        field.fill("1")  # Formgrader fills its fields once loaded: type again until saved
        field.press("Tab")
        page.wait_for_timeout(500)
        with Gradebook(scores.db_url(graded), COURSE_ID) as gradebook:
            manual = gradebook.find_grade(grade_id, NOTEBOOKS[0], ASSIGNMENT, "mallory").manual_score
    field.scroll_into_view_if_needed()
    screenshot(page, "hostile-formgrader-written-answer")  # the answer, its payloads shown as text

    phase[0] = "feedback"
    for name in NOTEBOOKS:
        page.goto((graded / "feedback" / "mallory" / ASSIGNMENT / f"{name}.html").as_uri())
        page.wait_for_timeout(1000)
    screenshot(page, "hostile-feedback")
    phase[0] = "report"
    page.goto((graded / "reports" / ASSIGNMENT / "report.html").as_uri())
    page.wait_for_timeout(1000)

    for folder in ("autograded", "submitted"):
        phase[0] = folder
        page.goto(lab.at(f"/lab/tree/{folder}/mallory/{ASSIGNMENT}/{NOTEBOOKS[0]}.ipynb?reset"))
        page.locator(".jp-MarkdownCell").first.wait_for()
        page.wait_for_timeout(3000)
        screenshot(page, f"hostile-jupyterlab-{folder}")
        model = _api(lab, f"/api/contents/{folder}/mallory/{ASSIGNMENT}/{NOTEBOOKS[0]}.ipynb")
        trusted = [cell["metadata"].get("trusted") for cell in model["content"]["cells"] if cell.get("outputs")]
        assert trusted and not any(trusted), f"{folder}: a cell with outputs is trusted"
    context.close()

    assert hits == [] and dialogs == [], (hits, dialogs)
    assert beacon.asked == [], beacon.asked  # nothing reached the listener
    # Every page made from the graded notebook holds nothing that even tries; the notebook as
    # submitted, shown by JupyterLab's own sanitizer, tries, and the server's policy blocks it.
    assert [request for request in tried if not request.startswith("submitted ")] == []
    assert all(failure in {"csp", "net::ERR_BLOCKED_BY_CSP"} for failure in tried.values()), tried
    assert _api(lab, "/api/terminals") == terminals
    assert manual == 1  # and the grader could still grade the written answer
    assert _files(graded) == files, _files(graded) ^ files
