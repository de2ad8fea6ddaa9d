"""JupyterLab in a real browser (headless Chromium driven by Playwright), on servers the tests start.

A student works through each released notebook, the Validate button judges a stub and a finished
notebook, and an instructor uses Formgrader to see the scores and hand-grade a written answer.
Screenshots are kept in ``build/test-artifacts/browser/`` (the test prints each file name).
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest
from browsing import Lab, new_page, screenshot
from nbgrader.api import Gradebook
from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from gankit import ASSIGNMENT, COURSE_ID, NOTEBOOKS, ROOT, notebooks, scores
from gankit.goldens import copy_course
from gankit.nbgrader_cli import run_nbgrader
from gankit.simulated_class import (
    OPTIMAL_DISCRIMINATOR_RATIO,
    WRITTEN_ANSWERS,
    Student,
    model_answers,
    place_submission,
)

# Alone: on a busy machine JupyterLab's late dialogs covered a student's cell (seen twice beside
# another worker's test).
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.alone]

EX1 = NOTEBOOKS[0]
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook in the front tab


# -- a notebook in JupyterLab -------------------------------------------------------------------


def _open(page: Page, lab: Lab, path: str, cells: int) -> None:
    """Open a notebook and wait until all its ``cells`` are on the page and its kernel is idle."""
    page.goto(lab.at(f"/lab/tree/{path}?reset"))  # a fresh workspace: only this notebook open
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']")
    deadline = time.monotonic() + 60
    while _cells(page).count() != cells:
        assert time.monotonic() < deadline, f"{_cells(page).count()} of {cells} cells shown"
        time.sleep(0.2)


def _cells(page: Page):
    return page.locator(f"{PANEL} .jp-Notebook .jp-Cell")


def _prompts(page: Page) -> list[str]:
    return page.locator(f"{PANEL} .jp-CodeCell .jp-InputPrompt").all_inner_texts()


def _wait_until_every_code_cell_ran(page: Page, timeout: float = 180) -> None:
    """Every code cell shows an execution number (not [ ] and not [*])."""
    deadline = time.monotonic() + timeout
    while not all(re.fullmatch(r"\[\d+\]:", p.strip()) for p in _prompts(page)):
        assert time.monotonic() < deadline, f"cells still waiting or running: {_prompts(page)}"
        time.sleep(0.2)


def _menu(page: Page, menu: str, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=menu).click()
    page.locator(".lm-Menu-itemLabel").get_by_text(item, exact=True).click()


def _kernel_status(page: Page) -> str | None:
    indicator = page.locator(f"{PANEL} .jp-Notebook-ExecutionIndicator").first
    return indicator.get_attribute("data-status")


def _restart_and_clear(page: Page) -> None:
    _menu(page, "Kernel", "Restart Kernel and Clear Outputs of All Cells…")
    page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept").click()  # "Restart"
    page.locator(".jp-Dialog").wait_for(state="detached")
    deadline = time.monotonic() + 60
    while any(re.search(r"\d", p) for p in _prompts(page)) or _kernel_status(page) != "idle":
        if time.monotonic() > deadline:
            screenshot(page, "restart-failed")
            raise AssertionError(f"no fresh idle kernel: {_kernel_status(page)}, {_prompts(page)}")
        time.sleep(0.2)


def _run_every_cell(page: Page) -> None:
    """Run the code cells one by one from the top, each after the one before has finished (Run All,
    and Shift+Enter pressed ahead, stop at the first failing test; a student with stubs wants to
    see every one of them)."""
    for index in range(_cells(page).count()):
        if "jp-CodeCell" in (_cells(page).nth(index).get_attribute("class") or ""):
            _run_cell(page, index)
    _wait_until_every_code_cell_ran(page)


def _run_cell(page: Page, index: int) -> None:
    """Run one cell and wait for its new execution number. A press that JupyterLab never took (the
    prompt neither queued ``[*]`` nor numbered after 10 s) is made again, as a student would."""
    cell = _cells(page).nth(index)
    cell.scroll_into_view_if_needed()
    before = cell.locator(".jp-InputPrompt").inner_text().strip()
    deadline = time.monotonic() + 60
    while True:
        try:
            cell.locator(".jp-InputPrompt").click()
        except PlaywrightTimeout:  # seen once under two xdist workers: a dialog covered the cell
            dialogs = page.locator(".jp-Dialog").all_inner_texts()
            screenshot(page, f"cell-{index}-covered")
            raise AssertionError(f"cell {index} could not be clicked; dialogs: {dialogs}") from None
        page.keyboard.press("Control+Enter")
        retry = time.monotonic() + 10
        while True:
            now = cell.locator(".jp-InputPrompt").inner_text().strip()
            if now != before and re.fullmatch(r"\[\d+\]:", now):
                return
            if time.monotonic() > deadline:
                dialogs = page.locator(".jp-Dialog").all_inner_texts()
                screenshot(page, f"cell-{index}-did-not-run")
                raise AssertionError(f"cell {index} did not run: {now}; dialogs: {dialogs}")
            if now == before and time.monotonic() > retry:
                break  # not taken: press again
            time.sleep(0.2)


def _output(page: Page, index: int) -> str:
    return "\n".join(_cells(page).nth(index).locator(".jp-OutputArea-output").all_inner_texts())


def _type_into(page: Page, index: int, code: str) -> None:
    """Replace a code cell's text as a student would: click in, select all, type the new code."""
    cell = _cells(page).nth(index)
    cell.scroll_into_view_if_needed()
    cell.locator(".cm-content").click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(code)  # as typed, without the editor's auto-indent doubling it
    page.keyboard.press("Escape")
    assert " ".join(cell.locator(".cm-content").inner_text().split()) == " ".join(code.split())


def _save(page: Page) -> None:
    page.keyboard.press("Control+s")
    deadline = time.monotonic() + 30
    while page.locator(".lm-TabBar-tab.jp-mod-dirty").count():  # the tab shows unsaved changes
        if time.monotonic() > deadline:
            screenshot(page, "save-failed")
            raise AssertionError("the notebook was not saved")
        time.sleep(0.2)


def _layout(name: str) -> dict[str, list[int]]:
    """Positions of the answer, test and figure cells of a released notebook."""
    nb = notebooks.read(ROOT / "release" / ASSIGNMENT / f"{name}.ipynb")
    layout: dict[str, list[int]] = {"answer": [], "test": [], "figure": []}
    for index, cell in enumerate(nb.cells):
        meta = notebooks.nbgrader_meta(cell)
        grade_id = meta.get("grade_id", "")
        if cell.cell_type != "code":
            continue
        if meta.get("solution"):
            layout["answer"].append(index)
        elif meta.get("grade"):
            layout["test"].append(index)
        elif grade_id.startswith("figure_"):
            layout["figure"].append(index)
    return layout


def _cell_count(name: str) -> int:
    return len(notebooks.read(ROOT / "release" / ASSIGNMENT / f"{name}.ipynb").cells)


def _grade_id(name: str, index: int) -> str:
    nb = notebooks.read(ROOT / "release" / ASSIGNMENT / f"{name}.ipynb")
    return notebooks.nbgrader_meta(nb.cells[index])["grade_id"]


# -- students -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def student_lab(start_lab, tmp_path_factory) -> tuple[Lab, Path]:
    """A student's JupyterLab on a folder holding the released assignment."""
    home = tmp_path_factory.mktemp("student")
    shutil.copytree(ROOT / "release" / ASSIGNMENT, home / ASSIGNMENT)
    return start_lab(home, tmp_path_factory.mktemp("exchange")), home


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_a_student_sees_the_stubs_fail_then_types_answers_that_pass_with_figures(student_lab, browser, name):
    lab, home = student_lab
    page = new_page(browser)
    layout = _layout(name)
    _open(page, lab, f"{ASSIGNMENT}/{name}.ipynb", _cell_count(name))
    _run_every_cell(page)
    for index in layout["test"]:
        assert "NotImplementedError" in _output(page, index), _grade_id(name, index)
    for index in layout["figure"]:
        assert "appears once the functions above are implemented" in _output(page, index)
    assert page.locator(".jp-RenderedImage img").count() == 0
    screenshot(page, f"student-{name}-1-stubs")

    answers = model_answers(ROOT / "source" / ASSIGNMENT)
    if name == EX1:  # a classic mistake first: the kit's message names it and hints at the fix
        first = layout["answer"][0]
        _type_into(page, first, OPTIMAL_DISCRIMINATOR_RATIO)
        _run_cell(page, first)
        _run_cell(page, first + 1)
        message = _output(page, first + 1)
        assert "Check failed" in message and "expected:" in message and "hint:" in message, message
        assert "likely cause: a value above 1: a ratio of the two densities" in message, message
        _cells(page).nth(first + 1).scroll_into_view_if_needed()
        screenshot(page, f"student-{name}-2-a-mistake")

    for index in layout["answer"]:
        _type_into(page, index, answers[_grade_id(name, index)])
    _save(page)
    _restart_and_clear(page)
    _run_every_cell(page)
    for index in layout["test"]:
        text = _output(page, index)
        assert "passes the visible checks" in text and "Error" not in text, (_grade_id(name, index), text)
    assert page.locator(".jp-RenderedImage img").count() >= len(layout["figure"])
    page.locator(".jp-RenderedImage img").first.scroll_into_view_if_needed()
    screenshot(page, f"student-{name}-3-solved")
    page.context.close()

    saved = notebooks.read(home / ASSIGNMENT / f"{name}.ipynb")
    assert all("NotImplementedError" not in saved.cells[i].source for i in layout["answer"])


def _validate(page: Page) -> str:
    page.locator(PANEL).get_by_text("Validate", exact=True).click()
    dialog = page.locator(".jp-Dialog")
    dialog.locator(".validation-failed, .validation-success").wait_for(timeout=120_000)
    return dialog.inner_text()


def _close_dialog(page: Page) -> None:
    page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept").click()
    page.locator(".jp-Dialog").wait_for(state="detached")


def test_the_validate_button_fails_a_stub_and_passes_a_finished_notebook(start_lab, browser, tmp_path):
    stub = tmp_path / "stub"
    shutil.copytree(ROOT / "release" / ASSIGNMENT, stub)
    finished = tmp_path / "finished"
    shutil.copytree(ROOT / "release" / ASSIGNMENT, finished)
    Student("ada", "everything right").do_homework(
        finished, model_answers(ROOT / "source" / ASSIGNMENT), WRITTEN_ANSWERS
    )
    lab = start_lab(tmp_path, tmp_path / "exchange")
    page = new_page(browser)
    for name in NOTEBOOKS:
        _open(page, lab, f"stub/{name}.ipynb", _cell_count(name))
        text = _validate(page)
        assert "The following cell failed" in text or "cells failed" in text, text
        assert "NotImplementedError" in text, text
        screenshot(page, f"validate-{name}-stub")
        _close_dialog(page)

        _open(page, lab, f"finished/{name}.ipynb", _cell_count(name))
        text = _validate(page)
        assert "Success! Your notebook passes all the tests." in text, text
        screenshot(page, f"validate-{name}-finished")
        _close_dialog(page)


# -- instructors --------------------------------------------------------------------------------


def test_an_instructor_sees_the_scores_in_formgrader_and_grades_a_written_answer(start_lab, browser, tmp_path):
    course = copy_course(tmp_path / "course")
    run_nbgrader(["generate_assignment", ASSIGNMENT, "--force"], cwd=course)
    ada = Student("ada", "everything right")
    dev = Student(
        "dev", "D* = p_data / p_model", overrides={"answer_optimal_discriminator": OPTIMAL_DISCRIMINATOR_RATIO}
    )
    for student in (ada, dev):
        place_submission(course, student)
    run_nbgrader(["autograde", ASSIGNMENT], cwd=course)
    expected = {s.student_id: scores.auto_total(scores.cell_scores(course, s.student_id), EX1) for s in (ada, dev)}

    lab = start_lab(course, tmp_path / "exchange")
    page = new_page(browser)
    page.goto(lab.at("/lab"))
    page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").click()
    page.locator(".lm-Menu-itemLabel").get_by_text("Formgrader", exact=True).click()
    frame = page.frame_locator("#formgrader iframe")
    assignments = frame.locator("table").first
    assignments.get_by_text(ASSIGNMENT).wait_for()
    assert "2" in assignments.locator("tr", has_text=ASSIGNMENT).inner_text()  # two submissions
    screenshot(page, "formgrader-1-assignments")

    frame.get_by_text("Manual Grading").first.click()
    frame.get_by_role("link", name=ASSIGNMENT).click()
    frame.get_by_role("link", name=EX1).click()
    rows = frame.locator("tbody tr")
    rows.filter(has_text="Submission #2").wait_for()  # the table is filled in by a script
    frame.get_by_text("Show All Names").click()
    frame.locator("a.name-shown", has_text="ada").wait_for()
    for student_id, (got, best) in expected.items():
        row = rows.filter(has=frame.locator("a.name-shown", has_text=student_id)).inner_text()
        assert f"{round(got, 2):g} / {best:g}" in row, row  # the code score in the gradebook, as shown
    screenshot(page, "formgrader-2-submissions")

    frame.locator("a.name-shown", has_text="ada").click()
    score = frame.locator("#written_optimal_discriminator")
    deadline = time.monotonic() + 30
    manual = None
    while manual is None and time.monotonic() < deadline:
        # Formgrader fills its fields in from the server once the page has loaded: a score typed
        # before that is overwritten, so type it again (as a grader would) until it is saved.
        score.fill("2.5")
        score.press("Tab")
        for _ in range(10):
            page.wait_for_timeout(300)
            with Gradebook(scores.db_url(course), COURSE_ID) as gb:
                manual = gb.find_grade("written_optimal_discriminator", EX1, ASSIGNMENT, "ada").manual_score
            if manual is not None:
                break
    screenshot(page, "formgrader-3-written-answer-graded")
    assert manual == 2.5
    page.context.close()
