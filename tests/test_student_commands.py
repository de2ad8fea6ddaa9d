"""The README's student commands, run exactly as printed, by a real student account on one machine.

``deploy/setup.sh --no-hub`` installs what students need (their nbgrader, on every login shell's
PATH, with the course's exchange); an instructor releases, grades and returns feedback from a
checkout of the kit; the student runs each line of the README's "For students" block in a login
shell from their own home folder. Needs root (to create the account and install), as ``make
test`` on the course's machines has.
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import subprocess
import uuid
from pathlib import Path

import pytest
from unix_accounts import BIN, give, unix_accounts

from gankit import ASSIGNMENT, NOTEBOOKS, ROOT
from gankit.goldens import copy_course
from gankit.simulated_class import WRITTEN_ANSWERS, Student, model_answers

pytestmark = [pytest.mark.root, pytest.mark.slow]  # installs the students' setup system-wide

TAG = f"gk{uuid.uuid4().hex[:6]}"
STUDENT = f"{TAG}stu"
SETUP = ROOT / "deploy" / "setup.sh"


def readme_student_commands() -> list[str]:
    """The lines of the shell block in the README's "For students" section."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## For students") :]
    section = section[: section.index("\n## ", 1)]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "the README's student section has no ```sh block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def _student(line: str, cwd: str) -> subprocess.CompletedProcess:
    """``line`` in the student's login shell (so with what /etc/profile.d gives every login)."""
    return subprocess.run(
        ["su", "-", STUDENT, "-c", f"cd {shlex.quote(cwd)} && {line}"], capture_output=True, text=True, cwd="/"
    )


def _instructor(course: Path, exchange: Path, *args: str) -> None:
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "NBGRADER_EXCHANGE": str(exchange)}
    done = subprocess.run([str(BIN / "nbgrader"), *args], cwd=course, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"nbgrader {' '.join(args)}\n{done.stderr[-3000:]}"


@pytest.fixture(scope="module")
def machine(tmp_path_factory) -> dict:
    prefix, exchange = Path(f"/opt/{TAG}"), Path(f"/srv/{TAG}/exchange")
    options = ["--prefix", str(prefix), "--exchange", str(exchange), "--students-group", f"{TAG}-students"]
    with unix_accounts(STUDENT):
        try:
            done = subprocess.run(
                [str(SETUP), "--no-hub", *options, "--instructor", "root", "--student", STUDENT],
                capture_output=True,
                text=True,
                cwd="/",
            )
            assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
            yield {"prefix": prefix, "exchange": exchange, "said": done.stdout}
        finally:
            removed = subprocess.run(
                [str(SETUP), "--uninstall", "--purge", "--prefix", str(prefix)], capture_output=True, text=True
            )
            assert removed.returncode == 0, removed.stderr
    for path in (prefix, Path(f"/srv/{TAG}"), Path(f"/etc/profile.d/{TAG}.sh")):
        assert not path.exists(), path
    assert subprocess.run(["getent", "group", f"{TAG}-students"], capture_output=True).returncode == 2


def test_the_readme_student_commands_work_as_printed(machine, tmp_path):
    exchange = machine["exchange"]
    course = copy_course(tmp_path / "course")
    _instructor(course, exchange, "generate_assignment", ASSIGNMENT, "--force")
    _instructor(course, exchange, "release_assignment", ASSIGNMENT)
    home = Path(pwd.getpwnam(STUDENT).pw_dir)
    cwd, said = home, {}
    for line in readme_student_commands():
        if line.startswith("cd "):
            cwd = (cwd / line[3:].strip()).resolve()
            continue
        if "fetch_feedback" in line:  # the instructor grades and returns feedback first
            _instructor(course, exchange, "collect", ASSIGNMENT)
            _instructor(course, exchange, "autograde", ASSIGNMENT)
            _instructor(course, exchange, "generate_feedback", ASSIGNMENT)
            _instructor(course, exchange, "release_feedback", ASSIGNMENT)
        done = _student(line, str(cwd))
        assert done.returncode == 0, f"{line}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        said[line.split()[1]] = done.stdout + done.stderr
        if "fetch_assignment" in line:  # the student does the work, in their own copy
            folder = home / ASSIGNMENT
            Student(STUDENT, "").do_homework(folder, model_answers(ROOT / "source" / ASSIGNMENT), WRITTEN_ANSWERS)
            give(folder, STUDENT)
    # The student's nbgrader is the runtime's (on PATH for every login), with the course's exchange.
    which = _student("command -v nbgrader", str(home)).stdout.strip()
    assert which == f"{machine['prefix']}/runtime/bin/nbgrader"
    assert "Success! Your notebook passes all the tests." in said["validate"]
    assert (course / "submitted" / STUDENT / ASSIGNMENT / f"{NOTEBOOKS[0]}.ipynb").is_file()
    pages = list((home / ASSIGNMENT / "feedback").glob(f"*/{NOTEBOOKS[0]}.html"))
    assert len(pages) == 1 and pages[0].stat().st_uid == pwd.getpwnam(STUDENT).pw_uid
    assert "Score: not graded yet" in pages[0].read_text(encoding="utf-8")  # written answers await a grader


def test_nbgraders_default_exchange_is_the_one_the_readme_names():
    """Why students need the setup: without it their nbgrader looks in its own default exchange."""
    from nbgrader.exchange.default.exchange import Exchange

    default = Exchange.class_traits()["root"].default()
    assert f"nbgrader's own default, `{default}`" in (ROOT / "README.md").read_text(encoding="utf-8")
