"""The JupyterHub deployment in deploy/, run for real: its configuration file, unchanged, on this machine.

Real Unix accounts log in through PAM in headless Chromium: a grader reaches the graders' shared
JupyterLab (a hub service running as the course's service account) and its Formgrader, which
reads the course's gradebook on PostgreSQL; a student gets a JupyterLab of their own and is refused
the graders' service. The hub's proxy is configurable-http-proxy (tools/hub_proxy.sh installs it).
"""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from browsing import free_port, new_page, screenshot
from unix_accounts import give, run_as, unix_accounts

from gankit import ASSIGNMENT, COURSE_ID, ROOT
from gankit.nbgrader_cli import nbgrader_env
from gankit.regenerate import copy_course

SERVER = os.environ.get("GANKIT_TEST_POSTGRES", "")
SUFFIX = uuid.uuid4().hex[:6]
GRADER, STUDENT = f"gk{SUFFIX}ta", f"gk{SUFFIX}stu"
SERVICE_ACCOUNT = f"grader-{COURSE_ID}"
PASSWORD = uuid.uuid4().hex


def _proxy() -> str:
    done = subprocess.run([str(ROOT / "tools" / "hub_proxy.sh")], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _admin(statement: str) -> None:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as connection:
        connection.execute(statement)


@pytest.fixture(scope="module")
def hub(tmp_path_factory) -> Iterator[str]:
    assert SERVER, "GANKIT_TEST_POSTGRES is not set: run the tests with `make test`, which starts PostgreSQL"
    database = f"gankit_hub_{SUFFIX}"
    _admin(f'CREATE DATABASE "{database}"')
    gradebook = f"{SERVER}/{database}"
    workdir = tmp_path_factory.mktemp("hub")
    port = free_port()
    try:
        with unix_accounts(SERVICE_ACCOUNT, GRADER, STUDENT, password=PASSWORD):
            course = copy_course(Path(pwd.getpwnam(SERVICE_ACCOUNT).pw_dir) / "course")
            give(course, SERVICE_ACCOUNT)
            nbgrader = str(Path(sys.executable).parent / "nbgrader")
            run_as(SERVICE_ACCOUNT, [nbgrader, "generate_assignment", ASSIGNMENT], course, GANKIT_DB_URL=gradebook)
            env = nbgrader_env(
                {
                    "GANKIT_HUB_URL": f"http://127.0.0.1:{port}",
                    "GANKIT_GRADERS_URL": f"http://127.0.0.1:{free_port()}",
                    "GANKIT_GRADERS": GRADER,
                    "GANKIT_STUDENTS": STUDENT,
                    "GANKIT_COURSE_DIR": str(course),
                    "GANKIT_DB_URL": gradebook,
                    "NBGRADER_EXCHANGE": str(workdir / "exchange"),
                }
            )
            command = [
                str(Path(sys.executable).parent / "jupyterhub"),
                "-f",
                str(ROOT / "deploy" / "jupyterhub_config.py"),
                f"--ConfigurableHTTPProxy.command={_proxy()}",
                f"--ConfigurableHTTPProxy.api_url=http://127.0.0.1:{free_port()}",
                f"--JupyterHub.hub_port={free_port()}",
            ]
            log = (workdir / "hub.log").open("w")
            process = subprocess.Popen(command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 90
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/hub/api", timeout=2):
                        break
                except OSError:
                    assert process.poll() is None and time.monotonic() < deadline, (workdir / "hub.log").read_text()[
                        -4000:
                    ]
                    time.sleep(0.5)
            try:
                yield url
            finally:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                print((workdir / "hub.log").read_text()[-3000:])
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _log_in(page, hub: str, user: str) -> None:
    page.goto(f"{hub}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", PASSWORD)
    page.click("#login_submit")


def test_a_grader_reaches_formgrader_on_the_shared_gradebook(hub, browser):
    page = new_page(browser)
    _log_in(page, hub, GRADER)
    page.wait_for_url("**/user/**", timeout=120_000)  # their own server started, as for anyone
    page.goto(f"{hub}/services/{COURSE_ID}/formgrader")
    page.get_by_text("Manage Assignments").first.wait_for(timeout=120_000)
    page.get_by_text(ASSIGNMENT).first.wait_for()  # read from the PostgreSQL gradebook
    screenshot(page, "jupyterhub-grader-formgrader")
    page.context.close()


def test_a_student_gets_their_own_lab_and_not_the_graders_service(hub, browser):
    page = new_page(browser)
    _log_in(page, hub, STUDENT)
    page.wait_for_url(f"**/user/{STUDENT}/lab**", timeout=120_000)
    page.wait_for_selector(".lm-MenuBar-itemLabel", timeout=120_000)
    owner = subprocess.run(["pgrep", "-u", STUDENT, "-f", "jupyterhub-singleuser"], capture_output=True, text=True)
    assert owner.stdout.strip(), "the student's server does not run as the student"
    screenshot(page, "jupyterhub-student-lab")
    response = page.goto(f"{hub}/services/{COURSE_ID}/formgrader")
    assert response is not None and response.status == 403
    page.context.close()


def _server_token(user: str) -> str:
    """The API token the hub gave ``user``'s server (root reads it from the server's environment)."""
    pids = subprocess.run(["pgrep", "-u", user, "-f", "jupyterhub-singleuser"], capture_output=True, text=True)
    assert pids.stdout.split(), f"{user}'s server is not running"
    environ = Path(f"/proc/{pids.stdout.split()[0]}/environ").read_bytes().split(b"\0")
    return next(v.split(b"=", 1)[1].decode() for v in environ if v.startswith(b"JUPYTERHUB_API_TOKEN="))


def _hub_api(hub: str, path: str, token: str) -> tuple[int, object]:
    request = urllib.request.Request(f"{hub}/hub/api{path}", headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, None


def _service_status(hub: str, token: str) -> int:
    """What the graders' service answers the request nbgrader's course list makes with a server's token."""
    request = urllib.request.Request(
        f"{hub}/services/{COURSE_ID}/api/status", headers={"Authorization": f"token {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_servers_hold_only_the_scopes_they_need(hub):
    """Not even the admin grader's server can list users or read another user; the grader's server
    may still reach the graders' service (as nbgrader's course list does), a student's may not."""
    for user in (GRADER, STUDENT):  # both servers were started by the tests above
        token = _server_token(user)
        assert _hub_api(hub, "/users", token)[0] == 403, user
        other = STUDENT if user == GRADER else GRADER
        assert _hub_api(hub, f"/users/{other}", token)[0] in (403, 404), user
        status, own = _hub_api(hub, f"/users/{user}", token)
        assert status == 200 and isinstance(own, dict)
    assert f"formgrade-{COURSE_ID}" in _hub_api(hub, f"/users/{GRADER}", _server_token(GRADER))[1]["groups"]
    assert _service_status(hub, _server_token(GRADER)) == 200
    assert _service_status(hub, _server_token(STUDENT)) == 403
