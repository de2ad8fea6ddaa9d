"""The JupyterHub deployment, run for real: deploy/setup.sh on this machine, then a course cycle
through the hub in headless Chromium with real Unix accounts and passwords (PAM).

setup.sh runs twice (the second run must change nothing and be quick), the hub starts from what
it installed, and at the end ``--uninstall --purge`` must leave no trace. In between: a grader
generates and releases in Formgrader, two students fetch, edit and submit from the Assignments
list (one submits twice), the grader collects, autogrades into PostgreSQL (peer authentication,
no password anywhere), generates and releases feedback, and both students fetch it. Then, as a
student, every read the deployment must refuse is tried and asserted refused; a Dask grading run
as the service account serves no HTTP to another account and leaves nothing in /tmp; and
``--uninstall --purge`` ends only the deployment's processes and leaves /etc and /tmp as they were.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import re
import shlex
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import xss_payloads
from browsing import free_port, new_page, screenshot
from nbconvert.exporters import HTMLExporter
from playwright.sync_api import Page
from unix_accounts import unix_accounts

from gankit import ASSIGNMENT, COURSE_ID, NOTEBOOKS, ROOT, notebooks
from gankit.simulated_class import WRITTEN_ANSWERS, Student, model_answers

pytestmark = [pytest.mark.root, pytest.mark.slow]  # installs a hub system-wide

SUFFIX = uuid.uuid4().hex[:6]
TAG = f"gk{SUFFIX}"
GRADER, ADA, BEN = f"{TAG}ta", f"{TAG}ada", f"{TAG}ben"
OUTSIDER = f"{TAG}out"  # an account of the machine in neither of the course's groups
PASSWORD = uuid.uuid4().hex
SETUP = ROOT / "deploy" / "setup.sh"
RIGHT = Student("right", "everything right")


@dataclass(frozen=True)
class Deployment:
    url: str
    prefix: Path
    course: Path
    exchange: Path
    service_account: str
    database: str
    settings: dict
    timings: dict


def _setup(*args: str) -> tuple[float, str]:
    started = time.monotonic()
    done = subprocess.run([str(SETUP), *args], capture_output=True, text=True, cwd="/")
    assert done.returncode == 0, f"setup.sh {' '.join(args)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return time.monotonic() - started, done.stdout


# The account databases: other tests on this machine add and remove accounts meanwhile, so these
# are searched for the deployment's names (``_mentions``), not compared; shadow-utils' backups of
# them (``passwd-``...) hold whatever the last change replaced, and are left out, as are their locks.
ACCOUNTS = {"passwd", "shadow", "group", "gshadow", "subuid", "subgid", ".pwd"}  # and their .lock files


def _etc() -> dict[str, tuple]:
    """Every file, folder and link under /etc but the account databases: owner, mode and content
    digest (or link target)."""
    found = {}
    for folder, dirs, files in os.walk("/etc"):
        for name in dirs + files:
            path = os.path.join(folder, name)
            info = os.lstat(path)
            if os.path.islink(path):
                found[path] = ("link", os.readlink(path))
            elif folder == "/etc" and name.removesuffix(".lock").rstrip("-") in ACCOUNTS:
                continue
            elif os.path.isfile(path):
                with open(path, "rb") as f:
                    found[path] = (info.st_uid, info.st_gid, info.st_mode, hashlib.sha256(f.read()).hexdigest())
            elif os.path.isdir(path):
                found[path] = (info.st_uid, info.st_gid, info.st_mode)
    return found


def _mentions(tag: str) -> list[str]:
    """Files under /etc that name anything of this deployment or test (every name they made holds
    ``tag``), the account databases included, their backups not."""
    done = subprocess.run(["grep", "-rlIs", "--exclude=*-", "--", tag, "/etc"], capture_output=True, text=True)
    return done.stdout.split()


def _tmp() -> dict[str, int]:
    """What /tmp holds: name -> owner."""
    found = {}
    for entry in os.scandir("/tmp"):
        try:
            found[entry.name] = entry.stat(follow_symlinks=False).st_uid
        except OSError:
            pass
    return found


def _psql(database: str, query: str) -> str:
    done = subprocess.run(
        ["runuser", "-u", "postgres", "--", "psql", "-X", "-tA", "-d", database, "-c", query],
        capture_output=True,
        text=True,
        cwd="/",
    )
    return done.stdout.strip()


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    prefix = Path(f"/opt/{TAG}")
    options = [
        "--prefix", str(prefix),
        "--course-dir", f"/srv/{TAG}/course",
        "--state", f"/var/lib/{TAG}-hub",
        "--logs", f"/var/log/{TAG}-hub",
        "--exchange", f"/srv/{TAG}/exchange",
        "--graders-group", f"{TAG}-graders",
        "--students-group", f"{TAG}-students",
        "--service-account", f"{TAG}svc",
        "--database", TAG,
        "--port", str(free_port()),
        "--hub-port", str(free_port()),
        "--proxy-api-port", str(free_port()),
        "--service-port", str(free_port()),
        "--grader", GRADER,
        "--student", ADA,
        "--student", BEN,
    ]  # fmt: skip
    etc_before, tmp_before = _etc(), _tmp()
    uids = set()  # the accounts of this test and of the deployment: whatever they leave in /tmp is the kit's
    with unix_accounts(GRADER, ADA, BEN, OUTSIDER, password=PASSWORD):
        for user in (GRADER, ADA, BEN):  # Debian's default: homes others may enter and list
            Path(pwd.getpwnam(user).pw_dir).chmod(0o755)
        uids |= {pwd.getpwnam(user).pw_uid for user in (GRADER, ADA, BEN, OUTSIDER)}
        hub = decoy = None
        try:
            first, said = _setup(*options)
            print(said)
            again, said_again = _setup(*options)
            assert "installing" not in said_again and "copied" not in said_again and "created" not in said_again
            settings = json.loads((prefix / "etc" / "deployment.json").read_text())
            uids.add(pwd.getpwnam(settings["service_account"]).pw_uid)
            log = Path(settings["logs"]) / "jupyterhub.log"
            hub = subprocess.Popen([str(prefix / "bin" / "hub")], start_new_session=True)
            url = settings["bind_url"]
            deadline = time.monotonic() + 90
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/hub/api", timeout=2):
                        break
                except OSError:
                    assert hub.poll() is None and time.monotonic() < deadline, log.read_text()[-4000:]
                    time.sleep(0.5)
            yield Deployment(
                url=url,
                prefix=prefix,
                course=Path(settings["course_dir"]),
                exchange=Path(settings["exchange"]),
                service_account=settings["service_account"],
                database=settings["database"],
                settings=settings,
                timings={"setup": first, "setup again": again},
            )
            # Not the deployment's, though its command line names the kit's paths: uninstall leaves it.
            decoy = subprocess.Popen(["bash", "-c", 'exec -a "$0" sleep 600', f"{prefix}/runtime/bin/python"])
        finally:
            if hub is not None:
                print(Path(f"/var/log/{TAG}-hub/jupyterhub.log").read_text()[-3000:])
            removal, _ = _setup("--uninstall", "--purge", "--prefix", str(prefix))
            print(f"setup {first:.0f} s, again {again:.1f} s, uninstall {removal:.1f} s")
            if hub is not None:
                hub.wait(timeout=30)
            if decoy is not None:
                survived = decoy.poll() is None
                decoy.kill()
                decoy.wait()
                assert survived, "uninstall killed a process that was not the deployment's"
    # Nothing of the deployment is left (the accounts above were the test's own).
    for path in (prefix, f"/srv/{TAG}", f"/var/lib/{TAG}-hub", f"/var/log/{TAG}-hub", f"/etc/profile.d/{TAG}.sh"):
        assert not Path(path).exists(), path
    for group in (f"{TAG}-graders", f"{TAG}-students"):
        assert subprocess.run(["getent", "group", group], capture_output=True).returncode == 2, group
    assert subprocess.run(["getent", "passwd", f"{TAG}svc"], capture_output=True).returncode == 2
    assert not subprocess.run(["pgrep", "-f", f"{prefix}/"], capture_output=True).stdout
    # /etc is as it was (the lines setup changed put back), and names nothing of the deployment;
    # /tmp holds nothing the deployment's or the test's accounts left (others' work goes on there).
    etc_after = _etc()
    changed = {path for path in etc_before.keys() | etc_after.keys() if etc_before.get(path) != etc_after.get(path)}
    assert sorted(changed) == [] and _mentions(TAG) == []
    left = {name: uid for name, uid in _tmp().items() if name not in tmp_before and (uid in uids or TAG in name)}
    assert left == {}


def as_user(user: str, *args: str) -> subprocess.CompletedProcess:
    """Run a command as ``user`` in a login shell (what a JupyterLab terminal gives them)."""
    return subprocess.run(["runuser", "-l", user, "-c", " ".join(args)], capture_output=True, text=True, cwd="/")


def _log_in(page: Page, hub: str, user: str) -> None:
    page.goto(f"{hub}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", PASSWORD)
    page.click("#login_submit")
    page.wait_for_url(f"**/user/{user}/lab**", timeout=120_000)
    page.wait_for_selector(".lm-MenuBar-itemLabel", timeout=120_000)


def _succeeded(page: Page) -> None:
    """Wait for Formgrader's answer to a button (a success or an error window), assert success, close it."""
    modal = page.locator("#success-modal, #error-modal")
    modal.wait_for(timeout=300_000)
    text = modal.inner_text()
    assert page.locator("#success-modal").count(), text
    modal.locator(".modal-footer button").first.click()
    modal.wait_for(state="detached")


def _formgrader_action(page: Page, column: str) -> None:
    """Click one of the Manage Assignments buttons of the assignment and wait for it to succeed."""
    page.locator("tr", has_text=ASSIGNMENT).locator(f"td.{column} a").first.click()
    _succeeded(page)


def _assignment_list(page: Page) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").click()
    page.locator(".lm-Menu-itemLabel").get_by_text("Assignment List", exact=True).click()


def _button(page: Page, text: str):
    return page.get_by_role("button", name=text, exact=True)


def _do_homework(page: Page, hub: str, user: str, student: Student) -> None:
    """Change the fetched notebooks through the student's server, as JupyterLab saves them."""
    xsrf = next(c["value"] for c in page.context.cookies() if c["name"] == "_xsrf")
    api = f"{hub}/user/{user}/api/contents/{ASSIGNMENT}"
    with tempfile.TemporaryDirectory() as folder:
        for name in NOTEBOOKS:
            got = page.request.get(f"{api}/{name}.ipynb")
            assert got.ok, got.status
            Path(folder, f"{name}.ipynb").write_text(json.dumps(got.json()["content"]))
        student.do_homework(Path(folder), model_answers(ROOT / "source" / ASSIGNMENT), WRITTEN_ANSWERS)
        for name in NOTEBOOKS:
            content = json.loads(Path(folder, f"{name}.ipynb").read_text())
            put = page.request.put(
                f"{api}/{name}.ipynb",
                data=json.dumps({"type": "notebook", "format": "json", "content": content}),
                headers={"X-XSRFToken": xsrf, "Content-Type": "application/json"},
            )
            assert put.ok, put.status


def _submissions(deployment: Deployment, user: str) -> list[str]:
    """The names of ``user``'s submissions in the exchange (root may list inbound/, students may not)."""
    return sorted(
        p.name for p in (deployment.exchange / COURSE_ID / "inbound").iterdir() if p.name.startswith(f"{user}+")
    )


def _submit(page: Page, deployment: Deployment, user: str) -> None:
    before = len(_submissions(deployment, user))
    _button(page, "Submit").first.click()
    deadline = time.monotonic() + 120
    while len(_submissions(deployment, user)) == before:
        assert time.monotonic() < deadline, f"{user}'s submission did not arrive"
        time.sleep(0.5)


def _as_service(deployment: Deployment, command: str) -> subprocess.CompletedProcess:
    """Run a command in the graders' JupyterLab's terminal, as it would: the service account, in the course."""
    settings = deployment.settings
    return subprocess.run(
        ["runuser", "-u", deployment.service_account, "--", "env", f"GANKIT_DB_URL={settings['db_url']}",
         f"NBGRADER_EXCHANGE={settings['exchange']}", "bash", "-lc", command],
        capture_output=True, text=True, cwd=deployment.course,
    )  # fmt: skip


def _memory_mb(user: str) -> float:
    """The proportional set size of all of ``user``'s processes (their server and kernels), in MB."""
    total = 0
    for pid in subprocess.run(["pgrep", "-u", user], capture_output=True, text=True).stdout.split():
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        total += int(re.search(r"^Pss:\s+(\d+) kB", rollup, re.M).group(1))
    return total / 1024


def _full_marks() -> float:
    """What an all-correct submission earns automatically: the points of every autograded test cell."""
    release = ROOT / "release" / ASSIGNMENT
    return float(
        sum(sum(notebooks.graded_test_points(notebooks.read(release / f"{n}.ipynb")).values()) for n in NOTEBOOKS)
    )


def _gradebook_scores(deployment: Deployment) -> dict[str, tuple[float, str]]:
    """Each student's total score and submission time, as the service account reads them."""
    code = (
        "import json, sys; from nbgrader.api import Gradebook\n"
        "with Gradebook(sys.argv[1]) as gb:\n"
        f"    a = gb.find_assignment({ASSIGNMENT!r})\n"
        "    print(json.dumps({s.student.id: [s.score, str(s.timestamp)] for s in a.submissions}))"
    )
    python = Path(deployment.settings["course_env"]) / "bin" / "python"
    done = subprocess.run(
        ["runuser", "-u", deployment.service_account, "--", str(python), "-c", code, deployment.settings["db_url"]],
        capture_output=True,
        text=True,
        cwd="/",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return {k: tuple(v) for k, v in json.loads(done.stdout).items()}


def test_a_course_cycle_through_the_hub(deployment: Deployment, browser):
    """Release, fetch, submit (and resubmit), collect, autograde, feedback: all from the browser."""
    hub, timings = deployment.url, deployment.timings
    started = time.monotonic()
    grader = new_page(browser)
    _log_in(grader, hub, GRADER)
    grader.goto(f"{hub}/services/{COURSE_ID}/formgrader")
    grader.locator("tr", has_text=ASSIGNMENT).wait_for(timeout=120_000)
    _formgrader_action(grader, "assign")
    _formgrader_action(grader, "release")
    screenshot(grader, "hub-1-released")
    timings["grader releases"] = time.monotonic() - started

    students = {}
    for user in (ADA, BEN):
        page = new_page(browser)
        _log_in(page, hub, user)
        _assignment_list(page)
        _button(page, "Fetch").first.click()
        _button(page, "Submit").first.wait_for(timeout=120_000)
        students[user] = page
    timings["students fetch"] = time.monotonic() - started
    _do_homework(students[ADA], hub, ADA, RIGHT)
    _submit(students[ADA], deployment, ADA)
    _submit(students[BEN], deployment, BEN)  # Ben first submits the release untouched...
    time.sleep(1.1)  # ...then, a second later (nbgrader's timestamps), his finished work
    _do_homework(students[BEN], hub, BEN, RIGHT)
    _submit(students[BEN], deployment, BEN)
    screenshot(students[BEN], "hub-2-student-resubmitted")
    assert len(_submissions(deployment, BEN)) == 2
    timings["students submit"] = time.monotonic() - started

    timings["memory of a student's server, MB"] = _memory_mb(ADA)
    roster = deployment.course / "roster.csv"
    roster.write_text(f"id,first_name,last_name,email\n{ADA},Ada,Lovelace,\n{BEN},Ben,Franklin,\n")
    imported = _as_service(deployment, f"nbgrader db student import {roster.name}")
    assert imported.returncode == 0, imported.stderr[-2000:]
    grader.reload()
    grader.locator("tr", has_text=ASSIGNMENT).wait_for()
    _formgrader_action(grader, "collect")  # Formgrader collects with --update: Ben's second counts
    grader.goto(f"{hub}/services/{COURSE_ID}/formgrader/manage_submissions/{ASSIGNMENT}")
    for user, surname in ((ADA, "Lovelace"), (BEN, "Franklin")):
        row = grader.locator("tr", has_text=user)
        assert surname in row.inner_text()  # the roster's names, not "None, None"
        row.locator("td.autograde a").click()
        _succeeded(grader)
    timings["grader autogrades"] = time.monotonic() - started
    scores = _gradebook_scores(deployment)
    assert scores[ADA][0] == pytest.approx(_full_marks())
    assert scores[BEN][0] == pytest.approx(_full_marks())  # the resubmission, not the untouched release
    grader.goto(f"{hub}/services/{COURSE_ID}/formgrader")
    grader.locator("tr", has_text=ASSIGNMENT).wait_for()
    _formgrader_action(grader, "generate-feedback")
    _formgrader_action(grader, "release-feedback")
    screenshot(grader, "hub-3-feedback-released")

    for user, page in students.items():
        page.reload()
        page.wait_for_selector(".lm-MenuBar-itemLabel", timeout=120_000)
        _assignment_list(page)
        _button(page, "Fetch Feedback").first.click()
        home = Path(pwd.getpwnam(user).pw_dir)
        deadline = time.monotonic() + 60
        while not list(home.glob(f"{ASSIGNMENT}/feedback/*/{NOTEBOOKS[0]}.html")):
            assert time.monotonic() < deadline, f"{user} got no feedback"
            time.sleep(0.5)
        feedback = next(home.glob(f"{ASSIGNMENT}/feedback/*/{NOTEBOOKS[0]}.html")).read_text()
        assert "Score" in feedback
    timings["students fetch feedback"] = time.monotonic() - started
    print("timings (s, cumulative):", {k: round(v, 1) for k, v in timings.items()})
    for page in (grader, *students.values()):
        page.context.close()


def _refused(done: subprocess.CompletedProcess) -> bool:
    return (
        done.returncode != 0 and re.search(r"denied|not permitted|authentication failed", done.stderr, re.I) is not None
    )


def test_a_student_cannot_read_or_change_what_is_not_theirs(deployment: Deployment):
    """Every read (and write) the deployment must refuse a student, tried as the student."""
    course, inbound = deployment.course, deployment.exchange / COURSE_ID / "inbound"
    ada_home = pwd.getpwnam(ADA).pw_dir
    attempts = {
        "list the course": f"ls {course}",
        "read a model answer": f"cat {course}/solutions/{ASSIGNMENT}/{NOTEBOOKS[0]}.ipynb",
        "read the source": f"cat {course}/source/{ASSIGNMENT}/{NOTEBOOKS[0]}.ipynb",
        "read the hidden checks": f"cat {course}/gankit/judging/checking.py",
        "read the kit's environment": f"ls {course}/.venv/bin",
        "list another's home": f"ls {ada_home}",
        "read another's notebook": f"cat {ada_home}/{ASSIGNMENT}/{NOTEBOOKS[0]}.ipynb",
        "read another's submission secret": f"find {ada_home} -name submission_secret.txt -exec cat {{}} +",
        "list the submissions": f"ls {inbound}",
        "rename the course's exchange folder": f"mv {deployment.exchange / COURSE_ID} {deployment.exchange}/x",
        "plant an assignment": f"mkdir {deployment.exchange / COURSE_ID / 'outbound' / 'planted'}",
        "make a future course's exchange folder": f"mkdir -p {deployment.exchange / 'next_course' / 'inbound'}",
        "log in to the gradebook": f"psql 'host=/var/run/postgresql dbname={deployment.database} "
        f"user={deployment.service_account}' -c 'select 1'",
    }
    if not any(p.name.startswith(f"{ADA}+") for p in inbound.iterdir()):  # run without the course cycle
        done = as_user(ADA, f"cd && nbgrader fetch_assignment {ASSIGNMENT} && nbgrader submit {ASSIGNMENT}")
        assert done.returncode == 0, done.stderr[-2000:]
    ada_submission = next(p for p in inbound.iterdir() if p.name.startswith(f"{ADA}+"))
    theirs = shlex.quote(str(ada_submission))  # the name holds a space and a '+'
    attempts["remove another's submission (name known)"] = f"rm -rf {theirs}"
    attempts["rename another's submission"] = f"mv {theirs} {inbound}/{BEN}+x"
    attempts["write into another's submission"] = f"touch {theirs}/{NOTEBOOKS[0]}.ipynb"
    allowed = {what: as_user(BEN, command) for what, command in attempts.items()}
    wrongly = {
        what: (done.returncode, done.stdout[-200:], done.stderr[-200:])
        for what, done in allowed.items()
        if not _refused(done)
    }
    assert not wrongly
    for user in (GRADER, ADA, BEN):
        assert (Path(pwd.getpwnam(user).pw_dir).stat().st_mode & 0o777) == 0o700, user
    assert all(path.exists() for path in inbound.iterdir())  # nothing was removed after all
    assert sorted(p.name for p in deployment.exchange.iterdir()) == [COURSE_ID]
    root = deployment.exchange.stat()
    assert (root.st_uid, root.st_mode & 0o7777) == (0, 0o755)


def test_students_run_a_runtime_with_no_course_material(deployment: Deployment):
    """A terminal finds nbgrader, from the runtime; the runtime holds nothing of the course."""
    runtime = deployment.settings["runtime"]
    assert as_user(BEN, "command -v nbgrader").stdout.strip() == f"{runtime}/bin/nbgrader"
    assert as_user(BEN, "nbgrader list").returncode == 0  # the course's exchange, from the runtime's config
    imported = as_user(BEN, f"{runtime}/bin/python -c 'import gankit'")
    assert "ModuleNotFoundError" in imported.stderr
    course_files = {f"{name}.ipynb" for name in NOTEBOOKS} | {ASSIGNMENT, "gankit"}
    found = [str(p) for p in deployment.prefix.rglob("*") if p.name in course_files]
    assert found == []
    # Nor any model answer, under any name: the longest line of code of each is searched for.
    answers = model_answers(ROOT / "source" / ASSIGNMENT).values()
    code = [[line.strip() for line in answer.splitlines() if line.strip() and '"""' not in line] for answer in answers]
    for line in {max(lines, key=len) for lines in code if lines}:
        grep = subprocess.run(["grep", "-rlF", "--", line, str(deployment.prefix)], capture_output=True, text=True)
        assert grep.returncode == 1, (line, grep.stdout[:500])
    listening = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True).stdout
    port = deployment.url.rsplit(":", 1)[1]
    addresses = {
        line.split()[3].rsplit(":", 1)[0] for line in listening.splitlines() if line.split()[3].endswith(f":{port}")
    }
    assert addresses == {"127.0.0.1"}


def test_students_see_no_instructor_tools(deployment: Deployment, browser):
    """No Formgrader or Create Assignment in a student's JupyterLab, and the graders' service refuses them."""
    page = new_page(browser)
    _log_in(page, deployment.url, ADA)
    page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").click()
    items = page.locator(".lm-Menu-itemLabel").all_inner_texts()
    assert "Assignment List" in items and "Formgrader" not in items and "Course List" not in items, items
    page.keyboard.press("Escape")
    assert page.locator(".jp-Toolbar").get_by_text("Create Assignment").count() == 0
    screenshot(page, "hub-student-lab")
    assert page.goto(f"{deployment.url}/user/{ADA}/formgrader").status == 404
    assert page.goto(f"{deployment.url}/services/{COURSE_ID}/formgrader").status == 403
    page.context.close()


def _server_token(user: str) -> str:
    """The API token the hub gave ``user``'s server (root reads it from the server's environment)."""
    pids = subprocess.run(["pgrep", "-u", user, "-f", "jupyterhub-singleuser"], capture_output=True, text=True)
    assert pids.stdout.split(), f"{user}'s server is not running"
    environ = Path(f"/proc/{pids.stdout.split()[0]}/environ").read_bytes().split(b"\0")
    return next(v.split(b"=", 1)[1].decode() for v in environ if v.startswith(b"JUPYTERHUB_API_TOKEN="))


def _request(url: str, token: str) -> tuple[int, object]:
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            body = response.read()
            return response.status, json.loads(body) if body.startswith((b"{", b"[")) else None
    except urllib.error.HTTPError as error:
        return error.code, None


def test_servers_hold_only_the_scopes_they_need(deployment: Deployment, browser):
    """A server's token cannot list users or read another user; the grader's may reach the
    graders' service (as nbgrader's course list does), a student's may not."""
    hub = deployment.url
    for user in (GRADER, ADA):  # make sure both servers run
        if not subprocess.run(["pgrep", "-u", user, "-f", "jupyterhub-singleuser"], capture_output=True).stdout:
            page = new_page(browser)
            _log_in(page, hub, user)
            page.context.close()
    for user, other in ((GRADER, ADA), (ADA, GRADER)):
        token = _server_token(user)
        assert _request(f"{hub}/hub/api/users", token)[0] == 403, user
        assert _request(f"{hub}/hub/api/users/{other}", token)[0] in (403, 404), user
        status, own = _request(f"{hub}/hub/api/users/{user}", token)
        assert status == 200 and isinstance(own, dict)
    assert f"formgrade-{COURSE_ID}" in _request(f"{hub}/hub/api/users/{GRADER}", _server_token(GRADER))[1]["groups"]
    assert _request(f"{hub}/services/{COURSE_ID}/api/status", _server_token(GRADER))[0] == 200
    assert _request(f"{hub}/services/{COURSE_ID}/api/status", _server_token(ADA))[0] == 403


def test_only_the_course_groups_may_log_in(deployment: Deployment, browser):
    """An account of the machine in neither group is refused at the hub's login, whatever its password."""
    page = new_page(browser)
    page.goto(f"{deployment.url}/hub/login")
    page.fill("#username_input", OUTSIDER)
    page.fill("#password_input", PASSWORD)
    page.click("#login_submit")
    page.get_by_text("Invalid username or password").wait_for()
    assert "/hub/login" in page.url
    assert not subprocess.run(["pgrep", "-u", OUTSIDER], capture_output=True).stdout  # no server started
    page.context.close()


def test_the_idle_culler_runs_with_its_own_role(deployment: Deployment):
    """The culler runs from the runtime, and the hub answers its requests (its role's scopes suffice)."""
    culler = subprocess.run(["pgrep", "-f", f"{deployment.settings['runtime']}/bin/python -m jupyterhub_idle_culler"],
                            capture_output=True, text=True)  # fmt: skip
    assert culler.stdout.strip()
    log = (Path(deployment.settings["logs"]) / "jupyterhub.log").read_text()
    assert re.search(r"200 GET /hub/api/users\S* \(idle-culler@", log)
    assert not re.search(r"40[13] \w+ /hub/api\S* \(idle-culler@", log)


REQUEST = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
# Run as another account: what each port says to HTTP, plain and over TLS without a certificate.
PROBE = f"""
import json, socket, ssl, sys
said = {{}}
for port in map(int, sys.argv[1:]):
    for tls in (False, True):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=3) as raw:
                context = ssl.create_default_context()
                context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
                conn = context.wrap_socket(raw) if tls else raw
                conn.sendall({REQUEST!r})
                answer = conn.recv(64)
        except (OSError, ssl.SSLError):
            answer = b""
        if answer.startswith(b"HTTP/"):
            said[f"{{port}}/{{'https' if tls else 'http'}}"] = answer.decode(errors="replace")
print(json.dumps(said))
"""


def _listening_ports(uid: int) -> set[int]:
    """The TCP ports that processes of ``uid`` listen on (root reads their descriptors)."""
    inodes = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # LISTEN
                inodes[f"socket:[{fields[9]}]"] = int(fields[1].rsplit(":", 1)[1], 16)
    ports = set()
    for proc in Path("/proc").iterdir():
        try:
            if not proc.name.isdigit() or proc.stat().st_uid != uid:
                continue
            fds = list((proc / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                ports.add(inodes[os.readlink(fd)])
            except (OSError, KeyError):
                pass
    return ports


def _sandboxes(user: str) -> list[str]:
    listed = subprocess.run(["pgrep", "-a", "-u", user, "-f", "bwrap|launcher.py"], capture_output=True, text=True)
    return listed.stdout.splitlines()


def test_a_grading_run_answers_no_http_and_leaves_nothing_behind(deployment: Deployment):
    """Formgrader's autograde (the course cycle above) left no hidden-checks sandbox running in the
    graders' service; then the class is graded again on Dask as the service account, in a grader's
    terminal: while it runs, a student tries every port its processes listen on, and none answers
    HTTP; once done, nothing of it runs and /tmp holds nothing of it."""
    account = deployment.service_account
    uid = pwd.getpwnam(account).pw_uid
    assert list((deployment.course / "submitted").glob(f"*/{ASSIGNMENT}")), "the course cycle collected nothing"
    deadline = time.monotonic() + 10
    while _sandboxes(account) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _sandboxes(account) == []
    service_ports, tmp_before = _listening_ports(uid), _tmp()
    settings = deployment.settings
    run = subprocess.Popen(
        ["runuser", "-u", account, "--", "env", f"GANKIT_DB_URL={settings['db_url']}",
         f"NBGRADER_EXCHANGE={settings['exchange']}", "bash", "-lc",
         f"python -m gankit.grade_class {ASSIGNMENT} --force --workers 2"],
        cwd=deployment.course, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    probed: set[int] = set()
    answers = {}
    while run.poll() is None:
        new = _listening_ports(uid) - service_ports - probed
        if new:
            said = as_user(BEN, "/usr/bin/python3", "-c", shlex.quote(PROBE), *map(str, sorted(new)))
            assert said.returncode == 0, said.stderr[-2000:]
            answers.update(json.loads(said.stdout))
            probed |= new
        time.sleep(0.2)
    out, err = run.communicate()
    assert run.returncode == 0, out[-2000:] + err[-3000:]
    assert len(probed) >= 5, probed  # the scheduler's, each nanny's and each worker's: the search works
    assert answers == {}
    deadline = time.monotonic() + 15  # the workers' processes end (and are reaped) just after the client
    while _sandboxes(account) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _sandboxes(account) == []
    assert _listening_ports(uid) == service_ports
    left = {name: owner for name, owner in _tmp().items() if name not in tmp_before and owner == uid}
    assert left == {}


def test_a_hostile_answer_runs_nothing_in_the_graders_pages_on_the_hub(deployment: Deployment, browser):
    """Ada's graded notebook refilled with every payload, graded by the service, opened by a grader."""
    beacon = xss_payloads.Beacon()
    threading.Thread(target=beacon.serve_forever, daemon=True).start()
    name = f"{NOTEBOOKS[0]}.ipynb"
    try:
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch)
            folder.chmod(0o755)
            (folder / name).write_bytes((deployment.course / "submitted" / ADA / ASSIGNMENT / name).read_bytes())
            xss_payloads.arm(folder, beacon.url, names=(NOTEBOOKS[0],))
            (folder / name).chmod(0o644)
            target = f"submitted/{ADA}/{ASSIGNMENT}/{name}"
            done = _as_service(deployment, f"cp {shlex.quote(str(folder / name))} {target}")
            assert done.returncode == 0, done.stderr
        graded = _as_service(deployment, f"nbgrader autograde {ASSIGNMENT} --student {ADA} --force")
        assert graded.returncode == 0, graded.stderr[-3000:]
        code = (
            "import sys; from nbgrader.api import Gradebook\n"
            "with Gradebook(sys.argv[1]) as gb:\n"
            f"    print(gb.find_submission_notebook({NOTEBOOKS[0]!r}, {ASSIGNMENT!r}, {ADA!r}).id)"
        )
        python = Path(deployment.settings["course_env"]) / "bin" / "python"
        found = _as_service(deployment, shlex.join([str(python), "-c", code, deployment.settings["db_url"]]))
        submission = found.stdout.strip().splitlines()[-1]

        hits: list[str] = []
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.expose_function("__hit", lambda what=None: hits.append(str(what)))
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.on("dialog", lambda dialog: xss_payloads.answer_dialog(dialog, hits))
        _log_in(page, deployment.url, GRADER)
        shown = page.goto(f"{deployment.url}/services/{COURSE_ID}/formgrader/submissions/{submission}/")
        assert shown.ok, shown.status
        policy = shown.headers.get("content-security-policy", "")
        assert "default-src 'self'" in policy and "object-src 'none'" in policy, policy
        page.wait_for_timeout(2000)
        screenshot(page, "hub-hostile-formgrader")
        page.goto(f"{deployment.url}/services/{COURSE_ID}/lab/tree/autograded/{ADA}/{ASSIGNMENT}/{name}")
        page.locator(".jp-MarkdownCell").first.wait_for(timeout=120_000)
        page.wait_for_timeout(3000)
        screenshot(page, "hub-hostile-jupyterlab")
        context.close()
        assert hits == [] and beacon.asked == [], (hits, beacon.asked)
        rendered, _ = HTMLExporter(template_name="lab").from_filename(
            str(deployment.course / "autograded" / ADA / ASSIGNMENT / name)
        )
        assert xss_payloads.live_payloads(rendered, beacon.url) == []
    finally:
        beacon.shutdown()
        beacon.server_close()
