"""Who graded what: one line in the graders' server log for every manual grade or comment saved.

nbgrader stores no grader with a grade, and on the hub every grader works as the one service
account. Each request to the graders' JupyterLab still carries the person who made it: on the hub,
the hub user its OAuth login admitted (JupyterHub's identity provider); under ``make lab``, the
server's own user. After Formgrader's API has saved a manual grade (``PUT
/formgrader/api/grade/<id>``) or comment (``PUT /formgrader/api/comment/<id>``), this names that
user, the student, the notebook, the cell and the new score in the server's log (on the hub:
``/var/log/gankit-hub/jupyterhub.log`` or ``journalctl -u gankit-hub``, which graders cannot edit).

Installed as the server's request log function (``gankit/graders_server_config.py``); every other
request is logged as before.
"""

from __future__ import annotations

import os
import re

API = re.compile(r"/formgrader/api/(grade|comment)/([^/]+)$")


def _plain(value: object) -> str:
    """A value on one line: no control character (a student's id or a cell's name cannot start a forged line)."""
    return "".join(ch if ch.isprintable() else "?" for ch in str(value))


def manual_grade_line(handler) -> str | None:
    """The line for a request that saved a manual grade or comment; None for any other request."""
    found = API.search(handler.request.path)
    if handler.request.method != "PUT" or handler.get_status() != 200 or not found:
        return None
    kind, item = found.groups()
    user = handler.current_user
    who = getattr(user, "username", None) or "an unknown user"
    gradebook = handler.gradebook  # nbgrader's formgrader handler: the gradebook the PUT wrote to
    if kind == "grade":
        grade = gradebook.find_grade_by_id(item).to_dict()
        extra = f", extra credit {grade['extra_credit']:g}" if grade["extra_credit"] else ""
        score = "no score (back to needing a grade)" if grade["manual_score"] is None else f"{grade['manual_score']:g}"
        what = f"set {score} of {grade['max_score']:g}{extra}"
    else:
        grade = gradebook.find_comment_by_id(item).to_dict()
        what = f"wrote a comment of {len(grade['manual_comment'] or '')} characters"
    return _plain(
        f"Manual grading by {who}: {what} for {grade['student']}, {grade['assignment']}/{grade['notebook']},"
        f" cell {grade['name']} ({kind} id {item})"
    )


def log_request(handler) -> None:
    """The server's usual request log, then the manual-grading line if the request saved one."""
    if os.environ.get("JUPYTERHUB_API_TOKEN"):  # what JupyterHub's server extension would have installed
        from jupyterhub.log import log_request as usual
    else:
        from jupyter_server.log import log_request as usual
    usual(handler)
    try:
        line = manual_grade_line(handler)
    except Exception as error:  # the grade is saved already: a failed log line must not fail the request
        line = f"Manual grading by someone: not recorded ({type(error).__name__}: {_plain(error)})"
    if line:
        handler.log.info(line)
