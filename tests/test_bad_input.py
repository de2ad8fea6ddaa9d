"""Every entry point of the kit, given bad input, ends with one line on stderr that names what is
wrong and what to do, exits with status 2, and changes nothing, in a real course copy with a real
nbgrader gradebook. Each Python entry point runs once as the instructor would run it (a subprocess,
``python -m``); its other cases call its ``main`` in this process, with the same working folder,
environment and arguments (``python -m`` exits with what ``main`` returns), which spares an
interpreter start of about 3 s of CPU, most of it imports, per case."""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from gankit import ASSIGNMENT, COURSE_ID, ROOT

PYTHON = sys.executable


STUDENTS = ("alice", "bob")


@pytest.fixture(scope="module")
def made_gradebook(tmp_path_factory, blank_gradebook) -> Path:
    """A gradebook (nbgrader's own API) of ``STUDENTS`` where only alice's submission is recorded,
    and an assignment ``week2`` that has none. Made once and copied into each course."""
    path = tmp_path_factory.mktemp("gradebook") / "gradebook.db"
    shutil.copy(blank_gradebook, path)
    with Gradebook(f"sqlite:///{path}", COURSE_ID) as gb:
        gb.add_assignment(ASSIGNMENT)
        gb.add_assignment("week2")
        for student in STUDENTS:
            gb.add_student(student)
        with gb.db.no_autoflush:  # nbgrader's add_submission warns otherwise (see KitAutograde)
            gb.add_submission(ASSIGNMENT, "alice")
    return path


def _course(folder: Path, gradebook: Path | None, *, submitted: tuple[str, ...] = STUDENTS) -> Path:
    """A course as the instructor has it: configuration, source, release and solutions; ``submitted``
    students' submissions (the released notebooks); a copy of ``gradebook`` (``made_gradebook``),
    if given."""
    folder.mkdir()
    shutil.copy2(ROOT / "nbgrader_config.py", folder)
    for part in ("source", "release", "solutions"):
        shutil.copytree(ROOT / part / ASSIGNMENT, folder / part / ASSIGNMENT)
    for student in submitted:
        shutil.copytree(ROOT / "release" / ASSIGNMENT, folder / "submitted" / student / ASSIGNMENT)
    if gradebook:
        shutil.copy2(gradebook, folder / "gradebook.db")
    return folder


def _state(folder: Path) -> dict[str, str]:
    """Every entry below ``folder``: a file's digest, or that it is a folder (so that a new empty
    folder, a new file or a changed byte all show)."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "folder"
        for path in sorted(folder.rglob("*"))
    }


# Left out of every command's environment: a gradebook or server of the machine's must not answer.
DROPPED = ("GANKIT_DB_URL", "GANKIT_BENCHMARK_POSTGRES")


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in DROPPED}
    env["PATH"] = f"{Path(PYTHON).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def in_process(monkeypatch, capfd) -> Callable[[list[str], Path], subprocess.CompletedProcess[str]]:
    """Runs ``[PYTHON, "-m", module, *args]`` as ``python -m`` would, but in this process: ``main``
    of the module, in ``cwd``, without ``DROPPED``; stdout and stderr are read at the descriptors."""

    def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
        assert command[:2] == [PYTHON, "-m"], command
        main = importlib.import_module(command[2]).main
        capfd.readouterr()
        with monkeypatch.context() as patch:
            patch.chdir(cwd)
            for name in DROPPED:
                patch.delenv(name, raising=False)
            try:
                status = main(command[3:])
            except SystemExit as exit:  # argparse's own refusals
                status = exit.code
        out, err = capfd.readouterr()
        if status is not None and not isinstance(status, int):  # as the interpreter exits on SystemExit("...")
            status, err = 1, f"{err}{status}\n"
        return subprocess.CompletedProcess(command, status or 0, out, err)

    return run


def _refused(
    command: list[str],
    cwd: Path,
    watched: Path,
    *said: str,
    run: Callable[[list[str], Path], subprocess.CompletedProcess[str]] = _run,
) -> str:
    """Run ``command`` (with ``run``: a subprocess unless told); assert exit status 2, nothing on
    stdout, one line on stderr holding each of ``said``, and ``watched`` exactly as before. Return
    the line."""
    before = _state(watched)
    done = run(command, cwd)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert done.stdout == "" and len(lines) == 1, (done.stdout, done.stderr)
    for text in said:
        assert text in lines[0], (text, lines[0])
    assert _state(watched) == before
    return lines[0]


def _grade_class(*args: str) -> list[str]:
    return [PYTHON, "-m", "gankit.grade_class", *args]


def _class_report(*args: str) -> list[str]:
    return [PYTHON, "-m", "gankit.class_report", *args]


@pytest.mark.seconds  # a python -m start: 4 s
def test_grade_class_refuses_a_mistyped_assignment_and_lists_the_known_ones(tmp_path, made_gradebook):
    course = _course(tmp_path / "course", made_gradebook)
    _refused(
        _grade_class("gan_exercize"),
        course,
        tmp_path,
        "grade_class: unknown assignment 'gan_exercize'",
        f"the course has {ASSIGNMENT}",
    )


def test_grade_class_refuses_a_missing_course_directory_and_a_folder_that_is_not_a_course(
    tmp_path, made_gradebook, in_process
):
    course = _course(tmp_path / "course", made_gradebook)
    _refused(
        _grade_class("--course", str(tmp_path / "no-such-folder")),
        course,
        tmp_path,
        f"no course directory at {tmp_path / 'no-such-folder'}",
        "--course DIR",
        run=in_process,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    _refused(
        _grade_class(ASSIGNMENT),
        elsewhere,
        tmp_path,
        "is not a course directory (no nbgrader_config.py",
        run=in_process,
    )


def test_grade_class_refuses_a_course_with_no_submissions_yet(tmp_path, in_process):
    course = _course(tmp_path / "course", None, submitted=())
    _refused(
        _grade_class(ASSIGNMENT),
        course,
        tmp_path,
        f"no submissions of {ASSIGNMENT}",
        "nbgrader collect",
        run=in_process,
    )


def test_grade_class_names_a_student_with_no_submission_and_those_who_have_one(tmp_path, made_gradebook, in_process):
    course = _course(tmp_path / "course", made_gradebook)
    line = _refused(
        _grade_class(ASSIGNMENT, "--student", "alice", "--student", "carol"),
        course,
        tmp_path,
        "no submission of gan_exercises from carol",
        "does not exist",
        "students with one: alice, bob",
        run=in_process,
    )
    assert "link" not in line
    (course / "submitted" / "mallory").mkdir()
    (course / "submitted" / "mallory" / ASSIGNMENT).symlink_to(course / "solutions" / ASSIGNMENT)
    _refused(_grade_class("--student", "mallory"), course, tmp_path, "from mallory", "is a link", run=in_process)


def test_grade_class_refuses_an_option_it_does_not_know_and_a_worker_count_below_one(
    tmp_path, made_gradebook, in_process
):
    course = _course(tmp_path / "course", made_gradebook)
    _refused(
        _grade_class("--studnet", "carol"), course, tmp_path, "unknown option or argument '--studnet'", run=in_process
    )
    _refused(_grade_class("--workers", "0"), course, tmp_path, "--workers 0: it must be at least 1", run=in_process)


def test_grade_class_refuses_a_preview_page_without_a_preview_a_folder_for_it_and_a_preview_without_grades(
    tmp_path, made_gradebook, in_process
):
    course = _course(tmp_path / "course", made_gradebook)
    page = str(tmp_path / "preview.html")
    _refused(
        _grade_class("--preview-report", page), course, tmp_path, "--preview-report", "add --preview", run=in_process
    )
    _refused(
        _grade_class("--preview", "--preview-report", str(course)),
        course,
        tmp_path,
        "is a folder",
        "HTML file",
        run=in_process,
    )
    bare = _course(tmp_path / "bare", None)
    _refused(_grade_class("--preview"), bare, tmp_path, f"no gradebook in {bare}", run=in_process)


@pytest.mark.seconds  # a python -m start: 4 s
def test_class_report_refuses_a_course_with_no_gradebook(tmp_path):
    course = _course(tmp_path / "course", None)
    _refused(_class_report(), course, tmp_path, f"no gradebook in {course}", "grade first")
    assert not (course / "gradebook.db").exists()


def test_class_report_refuses_an_unknown_assignment_and_one_not_graded_yet(tmp_path, made_gradebook, in_process):
    course = _course(tmp_path / "course", made_gradebook)
    line = _refused(
        _class_report("--assignment", "nope"),
        course,
        tmp_path,
        "class_report: unknown assignment 'nope'",
        f"has {ASSIGNMENT}, week2",
        run=in_process,
    )
    assert "MissingEntry" not in line
    _refused(
        _class_report("--assignment", "week2"),
        course,
        tmp_path,
        "no grades for week2",
        "grade it first",
        run=in_process,
    )


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (None, "Is a directory"),
        (b"\xff\xfe\x00binary", "cannot read the roster"),
        (b"name,grade\nalice,3\n", "is not a Canvas gradebook export"),
        ("absent", "No such file"),
    ],
    ids=["a folder", "not text", "not Canvas", "absent"],
)
def test_class_report_refuses_an_unreadable_roster(tmp_path, made_gradebook, content, said, in_process):
    course = _course(tmp_path / "course", made_gradebook)
    roster = tmp_path / "roster.csv"
    if content is None:
        roster.mkdir()
    elif content != "absent":
        roster.write_bytes(content)
    _refused(
        _class_report("--roster", str(roster)),
        course,
        tmp_path,
        "cannot read the roster",
        said,
        "Canvas",
        run=in_process,
    )


@pytest.mark.seconds  # a python -m start: 4 s
def test_course_cycle_never_wipes_a_folder_it_did_not_make(tmp_path, in_process):
    work = tmp_path / "mine"
    work.mkdir()
    (work / "thesis.tex").write_text("years of work")
    command = [PYTHON, "-m", "gankit.course_cycle", "--workdir", str(work)]
    _refused(command, tmp_path, tmp_path, f"--workdir {work} holds files that no course cycle made")
    _refused([*command[:-1], str(work / "thesis.tex")], tmp_path, tmp_path, "is a file", run=in_process)
    _refused([*command[:-1], str(ROOT)], tmp_path, tmp_path, "holds the kit itself", run=in_process)


@pytest.mark.seconds  # a python -m start: 4 s
def test_benchmark_refuses_an_empty_class_and_a_database_it_cannot_use(tmp_path, in_process):
    command = [PYTHON, "-m", "gankit.benchmark"]
    _refused([*command, "--students", "0"], tmp_path, tmp_path, "--students 0: it must be at least 1")
    _refused([*command, "--repeats", "0"], tmp_path, tmp_path, "--repeats 0: it must be at least 1", run=in_process)
    _refused(
        [*command, "--breakdown-notebooks", "0"],
        tmp_path,
        tmp_path,
        "--breakdown-notebooks 0: it must be at least 1",
        run=in_process,
    )
    _refused(
        [*command, "--db-url", "mysql://db"], tmp_path, tmp_path, "is not a PostgreSQL server's URL", run=in_process
    )
    # Port 1 on loopback: nothing listens there, so the refusal comes at once.
    _refused(
        [*command, "--db-url", "postgresql://nobody@127.0.0.1:1"],
        tmp_path,
        tmp_path,
        "cannot reach PostgreSQL at postgresql://nobody@127.0.0.1:1",
        run=in_process,
    )


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--port"], "--port needs a value"),
        (["--port", "http"], "--port http is not a port number"),
        (["--hub-port", "70000"], "--hub-port 70000 is not a port number"),
        (["--grader", "--student", "bob"], "--grader needs a value"),
        (["--cull-after", "soon"], "--cull-after soon must be whole seconds"),
        (["--prefix", "opt/gankit"], "opt/gankit is not an absolute path"),
        (["--purge"], "--purge goes with --uninstall"),
        (["--uninstall", "--student", "bob"], "--uninstall takes no --grader"),
        (["--frobnicate"], "unknown option --frobnicate"),
    ],
)
def test_setup_refuses_bad_arguments_before_doing_anything(tmp_path, args, said):
    """Every case here is refused while the arguments are read, before the root check: run as root
    (CI), a case that got further would change the machine, so each one must stay invalid."""
    line = _refused(["bash", str(ROOT / "deploy" / "setup.sh"), *args], tmp_path, tmp_path, said, "see --help")
    assert line.startswith("setup.sh: ")


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="past the root check only as root")
def test_setup_refuses_an_account_that_does_not_exist_before_creating_anything(tmp_path):
    tag = f"gkbad{os.getpid()}"
    command = ["bash", str(ROOT / "deploy" / "setup.sh"), "--no-packages", "--no-hub"]
    command += ["--prefix", str(tmp_path / "opt"), "--exchange", str(tmp_path / "exchange")]
    command += ["--students-group", f"{tag}-students", "--student", f"{tag}nobody"]
    done = _run(command, tmp_path)
    assert done.returncode == 1 and done.stdout == "", (done.stdout, done.stderr)
    assert (
        done.stderr.strip()
        == f"setup: no account {tag}nobody: create it first (adduser {tag}nobody), then run me again"
    )
    assert subprocess.run(["getent", "group", f"{tag}-students"], capture_output=True).returncode == 2
    assert list(tmp_path.iterdir()) == []
