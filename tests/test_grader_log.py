"""Who graded what: a grader's JupyterLab (the command ``make lab`` runs, with the configuration the
hub's graders' service loads too) logs one line per manual grade or comment saved through
Formgrader's API, naming the user the server says made the request.

The user expected is the one the server itself reports for the request's credentials
(``/api/me``, jupyter_server's identity API); on the hub that identity is the hub user (JupyterHub's
identity provider), here the server's own token user. The student, notebook and cell expected are
read from the gradebook with nbgrader's API.
"""

from __future__ import annotations

import http.cookiejar
import json
import urllib.error
import urllib.request

import pytest
from browsing import start_lab_server
from nbgrader.api import Gradebook

from gankit import ASSIGNMENT, COURSE_ID
from gankit.goldens import copy_course
from gankit.nbgrader_cli import run_nbgrader

pytestmark = pytest.mark.slow  # a JupyterLab server


class Session:
    """A grader's browser session: the token once (as the login link carries it), then the login
    cookie the server sets, and the XSRF cookie echoed in a header, as Formgrader's page sends it."""

    def __init__(self, lab):
        self.lab, self.jar = lab, http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def call(self, method: str, path: str, body: dict | None = None, token: bool = False) -> tuple[int, dict]:
        headers = {"Content-Type": "application/json"}
        headers.update({"Authorization": f"token {self.lab.token}"} if token else {})
        headers.update(("X-XSRFToken", c.value) for c in self.jar if c.name == "_xsrf")
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.lab.at(path), method=method, data=data, headers=headers)
        try:
            with self.opener.open(request, timeout=30) as reply:
                return reply.status, json.load(reply)
        except urllib.error.HTTPError as error:
            return error.code, {}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("graderlog")
    course = copy_course(tmp / "course")
    run_nbgrader(["generate_assignment", ASSIGNMENT, "--force"], cwd=course)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", COURSE_ID) as gb:
        gb.add_student("carol")
        gb.add_submission(ASSIGNMENT, "carol")  # the rows Formgrader grades, as autograde leaves them
    home = tmp / "home"
    home.mkdir()
    server = start_lab_server(course, tmp / "exchange", home)
    server.course, server.log = course, home / "lab.log"
    yield server
    server.process.terminate()
    server.process.wait(timeout=30)


def _written_answer(course):
    """A written answer's grade and comment ids, and where it is, from the gradebook."""
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", COURSE_ID) as gb:
        for notebook in gb.find_submission(ASSIGNMENT, "carol").notebooks:
            for grade in notebook.grades:
                if grade.cell_type == "markdown" and grade.max_score > 1:
                    comment = gb.find_comment(grade.name, notebook.name, ASSIGNMENT, "carol")
                    return grade.id, comment.id, notebook.name, grade.name, grade.max_score
    raise AssertionError("no written answer in the gradebook")


def _lines(lab) -> list[str]:
    return [line for line in lab.log.read_text(encoding="utf-8").splitlines() if "Manual grading by" in line]


def test_each_manual_grade_and_comment_is_logged_with_the_user_who_saved_it(lab):
    grader = Session(lab)
    status, me = grader.call("GET", "/api/me", token=True)
    assert status == 200 and me["identity"]["username"]
    user = me["identity"]["username"]
    grade_id, comment_id, notebook, cell, best = _written_answer(lab.course)
    assert grader.call("GET", f"/formgrader/api/grade/{grade_id}")[0] == 200  # a read: nothing saved
    assert grader.call("GET", "/api/me")[1]["identity"]["username"] == user  # the session's user, by cookie
    assert _lines(lab) == []

    status, saved = grader.call("PUT", f"/formgrader/api/grade/{grade_id}", {"manual_score": 2.5, "extra_credit": 0})
    assert status == 200 and saved["manual_score"] == 2.5
    status, _ = grader.call("PUT", f"/formgrader/api/comment/{comment_id}", {"manual_comment": "see step 2\nok"})
    assert status == 200
    assert grader.call("PUT", "/formgrader/api/grade/no-such-grade", {"manual_score": 1})[0] == 404

    with Gradebook(f"sqlite:///{lab.course / 'gradebook.db'}", COURSE_ID) as gb:  # the grade was stored
        assert gb.find_grade_by_id(grade_id).manual_score == 2.5
    lines = _lines(lab)
    assert len(lines) == 2, lines
    where = f"carol, {ASSIGNMENT}/{notebook}, cell {cell}"
    assert f"Manual grading by {user}: set 2.5 of {best:g} for {where} (grade id {grade_id})" in lines[0]
    assert (
        f"Manual grading by {user}: wrote a comment of 13 characters for {where} (comment id {comment_id})"
        in (lines[1])
    )
