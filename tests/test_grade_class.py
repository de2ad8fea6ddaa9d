"""Grading a class on Dask distributed writes exactly what serial `nbgrader autograde` writes, on
a LocalCluster and on a scheduler and workers started as separate processes; it survives a worker
killed mid-run, grades nothing twice, and refuses workers that differ from the client."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from distributed import Client
from gradebooks import every_field as _gradebook
from nbgrader.api import Gradebook, MissingEntry
from processes import of_this_run, running

from gankit import ASSIGNMENT, COURSE_ID, NOTEBOOKS, notebooks, scores
from gankit.grade_class import grade_class
from gankit.nbgrader_cli import nbgrader_env, run_nbgrader

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent


def _verdicts(course: Path, student_id: str) -> dict:
    """What the autograded test cells say, per notebook."""
    found = {}
    for name in NOTEBOOKS:
        path = course / "autograded" / student_id / ASSIGNMENT / f"{name}.ipynb"
        if path.exists():
            cells = notebooks.cells_by_grade_id(notebooks.read(path))
            found[name] = {
                gid: [dict(o) for o in c.get("outputs", [])] for gid, c in cells.items() if gid.startswith("correct_")
            }
    return found


def _ungraded_copy(cycle, destination: Path, students: list[str] | None = None) -> Path:
    """The cycle's course as it was after collect: submissions (of ``students`` only, if given),
    students on the roster, nothing graded (no autograded folder, no submission in the gradebook)."""

    def skip(folder: str, names: list[str]) -> set[str]:
        ignored = {"autograded", "feedback"} & set(names)
        if students is not None and Path(folder).name == "submitted":
            ignored |= set(names) - set(students)
        return ignored

    shutil.copytree(cycle.course, destination, ignore=skip)
    with Gradebook(scores.db_url(destination), COURSE_ID) as gb:
        for student in list(gb.students):
            if students is not None and student.id not in students:
                gb.remove_student(student.id)
            else:
                try:
                    gb.remove_submission(ASSIGNMENT, student.id)
                except MissingEntry:
                    pass
    return destination


def test_serial_nbgrader_autograde_gives_the_same_gradebook_as_the_dask_run(cycle, tmp_path):
    """The course cycle grades on a LocalCluster; grading the same submissions serially with
    nbgrader's own command writes the same rows and the same autograded notebooks."""
    serial = _ungraded_copy(cycle, tmp_path / "serial")
    run_nbgrader(["autograde", ASSIGNMENT, "--force"], cwd=serial, check=False)
    assert _gradebook(serial) == _gradebook(cycle.course)
    assert len(_gradebook(serial)) == len(cycle.students)
    for student_id in scores.students(serial):
        assert _verdicts(serial, student_id) == _verdicts(cycle.course, student_id), student_id


def test_a_broken_submission_is_named_without_stopping_the_others(cycle, tmp_path):
    course = _ungraded_copy(cycle, tmp_path / "course")
    broken = course / "submitted" / "ada" / ASSIGNMENT / f"{NOTEBOOKS[0]}.ipynb"
    broken.write_text("{ this is not a notebook")
    summary = grade_class(course, ASSIGNMENT, workers=2, students=["ada", "ben", "dev"])
    assert [r.student_id for r in summary.results] == ["ada", "ben", "dev"]
    assert [r.student_id for r in summary.failed] == ["ada"]
    assert "could not be graded" in summary.failed[0].error
    assert _gradebook(course)["dev"] == _gradebook(cycle.course)["dev"]
    # ada's other notebooks are graded; the broken one scores 0 and says why
    assert scores.auto_total(scores.cell_scores(course, "ada"), NOTEBOOKS[1]) == scores.auto_total(
        scores.cell_scores(cycle.course, "ada"), NOTEBOOKS[1]
    )
    assert scores.auto_total(scores.cell_scores(course, "ada"), NOTEBOOKS[0])[0] == 0


def test_a_second_run_grades_nothing_new_and_a_changed_submission_again(cycle, tmp_path):
    students = ["ada", "dev", "gus"]
    course = _ungraded_copy(cycle, tmp_path / "course", students)
    first = grade_class(course, ASSIGNMENT, workers=2)
    assert not first.failed and not first.skipped
    rows = _gradebook(course)
    assert rows == {s: _gradebook(cycle.course)[s] for s in students}

    with sqlite3.connect(course / "gradebook.db") as db:  # the lookups writing a class needs are indexed
        indexes = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"gankit_ix_grade_notebook", "gankit_ix_submitted_notebook_assignment"} <= indexes

    again = grade_class(course, ASSIGNMENT, workers=2)
    assert sorted(r.student_id for r in again.skipped) == students
    assert _gradebook(course) == rows

    # dev fixes exercise 1 (the model answer, as ada wrote it): only dev is graded again
    fixed = (course / "submitted" / "ada" / ASSIGNMENT / f"{NOTEBOOKS[0]}.ipynb").read_bytes()
    (course / "submitted" / "dev" / ASSIGNMENT / f"{NOTEBOOKS[0]}.ipynb").write_bytes(fixed)
    third = grade_class(course, ASSIGNMENT, workers=2)
    assert sorted(r.student_id for r in third.skipped) == ["ada", "gus"]
    assert scores.auto_total(scores.cell_scores(course, "dev"), NOTEBOOKS[0]) == scores.auto_total(
        scores.cell_scores(cycle.course, "ada"), NOTEBOOKS[0]
    )
    forced = grade_class(course, ASSIGNMENT, workers=2, force=True)
    assert not forced.skipped and not forced.failed
    with Gradebook(scores.db_url(course), COURSE_ID) as gb:
        assert sorted(s.student.id for s in gb.find_assignment(ASSIGNMENT).submissions) == students  # one each


# -- a scheduler and workers as separate processes ----------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Cluster:
    """``dask scheduler`` and ``dask worker`` processes on loopback. Each worker runs in a mount
    namespace of its own where the course's folder is an empty tmpfs: it cannot see the course."""

    def __init__(self, hidden: Path, scratch: Path, env: dict[str, str] | None = None):
        self.port = _free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.hidden, self.scratch = hidden, scratch
        # The scheduler gives a task up after it has killed 3 workers (Dask's setting, here explicit).
        self.env = nbgrader_env({"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "2", **(env or {})})
        self.logs = scratch / "logs"
        self.logs.mkdir(parents=True)
        self.processes: list[subprocess.Popen] = []
        self._start(
            "scheduler",
            [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(self.port), "--no-dashboard"],
        )

    def _start(self, name: str, command: list[str]) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("w")
        process = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append(process)
        return process

    def add_worker(self, name: str, extra_env: dict[str, str] | None = None) -> None:
        local = self.scratch / name
        local.mkdir()
        worker = [
            str(BIN / "dask"),
            "worker",
            self.address,
            "--nthreads",
            "1",
            "--nworkers",
            "1",
            "--host",
            "127.0.0.1",
            "--no-dashboard",
            "--local-directory",
            str(local),
            "--name",
            name,
        ]
        hide = f'mount -t tmpfs -o size=1m,mode=0700 none {self.hidden} && exec "$@"'
        env_prefix = ["env", *(f"{k}={v}" for k, v in (extra_env or {}).items())]
        self._start(
            name, ["unshare", "--mount", "--propagation", "private", "sh", "-c", hide, "sh", *env_prefix, *worker]
        )

    def close(self) -> None:
        for process in reversed(self.processes):
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _sandboxes_left(wait: float = 5.0) -> list[str]:
    """This run's sandboxes (supervisors, bubblewrap, what runs inside) still alive after ``wait``
    seconds: none should outlive the worker that started it, killed or not."""
    deadline = time.monotonic() + wait
    while True:
        processes = running()
        left = [
            processes[pid].cmdline[:120]
            for pid in of_this_run(processes)
            if "launcher.py" in processes[pid].cmdline or "bwrap" in processes[pid].cmdline
        ]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


@pytest.fixture
def cluster(cycle, tmp_path):
    made = _Cluster(hidden=cycle.course.parent, scratch=tmp_path / "cluster")
    yield made
    made.close()


@pytest.mark.root  # a mount namespace of its own; no account: beside the others, with the cycle's readers
@pytest.mark.shares_nothing
def test_a_scheduler_and_two_workers_without_the_course_grade_the_class_through_a_killed_worker(
    cycle, cluster, tmp_path
):
    """Workers in their own scratch folders, unable to see the course, grade the whole class; one
    is killed (SIGKILL) in the middle and the run still writes exactly one row per student, the
    same rows serial nbgrader writes."""
    course = _ungraded_copy(cycle, cycle.course.parent / "dask-course")
    try:
        cluster.add_worker("w1")
        cluster.add_worker("w2")
        with Client(cluster.address, timeout="60s") as observer:
            observer.wait_for_workers(2, timeout=120)
            seen = observer.run(lambda: os.path.exists(str(course / "gradebook.db")))
            assert seen and not any(seen.values())  # neither worker can see the course folder
            pids = observer.run(os.getpid)

            killed: list[str] = []

            def kill_one_mid_run() -> None:
                deadline = time.monotonic() + 300
                while time.monotonic() < deadline:
                    processing = observer.processing()
                    done = len(list((course / "autograded").glob(f"*/{ASSIGNMENT}.graded.json")))
                    busy = [address for address, keys in processing.items() if keys]
                    if done >= 4 and busy:
                        os.kill(pids[busy[0]], signal.SIGKILL)
                        killed.append(busy[0])
                        return
                    time.sleep(0.2)

            killer = threading.Thread(target=kill_one_mid_run)
            killer.start()
            summary = grade_class(course, ASSIGNMENT, scheduler=cluster.address)
            killer.join()
        assert killed, "no worker was killed: the run ended first"
        assert not summary.failed, summary.failed
        assert len(summary.results) == len(cycle.students)
        assert _gradebook(course) == _gradebook(cycle.course)
        with Gradebook(scores.db_url(course), COURSE_ID) as gb:
            submitted = [s.student.id for s in gb.find_assignment(ASSIGNMENT).submissions]
        assert sorted(submitted) == sorted(cycle.students)  # one row per student, none twice
        assert _sandboxes_left() == []  # the killed worker's sandbox went with it
    finally:
        shutil.rmtree(course, ignore_errors=True)


@pytest.mark.root  # a mount namespace of its own; no account: beside the others, with the cycle's readers
@pytest.mark.shares_nothing
def test_a_submission_that_kills_its_workers_is_named_and_not_retried_forever(cycle, cluster, tmp_path):
    """Each time a worker takes dev's task, it dies (SIGKILL): dev is named, the others graded."""
    course = _ungraded_copy(cycle, cycle.course.parent / "dask-killer", ["ada", "dev", "gus"])
    try:
        cluster.add_worker("w1")
        cluster.add_worker("w2")
        stop = threading.Event()
        kills: list[str] = []

        def kill_whoever_grades_dev() -> None:
            with Client(cluster.address, timeout="60s") as observer:
                while not stop.is_set():
                    for address, keys in observer.processing().items():
                        if any("-dev-" in str(key) for key in keys):
                            try:
                                pid = observer.run(os.getpid, workers=[address])[address]
                                os.kill(pid, signal.SIGKILL)
                                kills.append(address)
                            except Exception:  # noqa: BLE001 - the worker went meanwhile
                                pass
                    time.sleep(0.1)

        with Client(cluster.address, timeout="60s") as waiting:
            waiting.wait_for_workers(2, timeout=120)
        killer = threading.Thread(target=kill_whoever_grades_dev)
        killer.start()
        try:
            summary = grade_class(course, ASSIGNMENT, scheduler=cluster.address)
        finally:
            stop.set()
            killer.join()
        assert [r.student_id for r in summary.failed] == ["dev"]
        assert "killed 3 workers" in summary.failed[0].error
        assert len(kills) >= 3
        graded = _gradebook(course)
        assert {s: graded[s] for s in ("ada", "gus")} == {s: _gradebook(cycle.course)[s] for s in ("ada", "gus")}
        assert "dev" not in graded  # nothing half written
        assert _sandboxes_left() == []
    finally:
        shutil.rmtree(course, ignore_errors=True)


@pytest.mark.root  # a mount namespace of its own; no account: beside the others, with the cycle's readers
@pytest.mark.shares_nothing
def test_a_worker_with_other_package_versions_is_refused_by_name(cycle, cluster, tmp_path):
    """A worker whose numpy is another version (its metadata first on its path) grades nothing."""
    fake = tmp_path / "other-numpy"
    info = fake / "numpy-1.0.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: numpy\nVersion: 1.0.0\n")
    course = _ungraded_copy(cycle, cycle.course.parent / "dask-versions", ["ada"])
    try:
        cluster.add_worker("odd", {"PYTHONPATH": str(fake)})
        with Client(cluster.address, timeout="60s") as waiting:
            waiting.wait_for_workers(1, timeout=120)
        done = subprocess.run(
            [sys.executable, "-m", "gankit.grade_class", "--scheduler", cluster.address, "--course", str(course)],
            env=nbgrader_env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 1
        assert "numpy" in done.stderr and "1.0.0" in done.stderr, done.stderr[-2000:]
        assert not (course / "autograded" / "ada").exists()
        assert "ada" not in _gradebook(course)
    finally:
        shutil.rmtree(course, ignore_errors=True)


def test_the_local_cluster_listens_on_loopback_and_refuses_a_connection_without_its_certificate():
    """Another user of the machine can reach 127.0.0.1; without this run's certificate they cannot
    talk to the scheduler or a worker (who could, could run code on the workers)."""
    import ssl

    from gankit.grade_class import _connect

    client, cluster = _connect(None, 1, None, False)
    try:
        address = cluster.scheduler_address
        workers = list(client.scheduler_info(n_workers=-1)["workers"])
        assert address.startswith("tls://127.0.0.1:") and workers
        assert all(worker.startswith("tls://127.0.0.1:") for worker in workers)
        for target in (address, workers[0]):
            host, port = target.removeprefix("tls://").rsplit(":", 1)
            # plain TCP Dask: refused (the server expects a TLS handshake)
            with pytest.raises(OSError):
                Client(f"tcp://{host}:{port}", timeout="5s").close()
            # TLS without a certificate the server's authority signed: the handshake fails
            context = ssl.create_default_context()
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            with socket.create_connection((host, int(port)), timeout=5) as raw:
                with pytest.raises((ssl.SSLError, OSError)):
                    with context.wrap_socket(raw) as tls:
                        tls.sendall(b"x" * 64)
                        if not tls.recv(1):
                            raise ConnectionResetError("closed without a certificate")
        assert sum(client.run(lambda: 1).values()) == 1  # the run's own client still works
    finally:
        client.close()
        cluster.close()
