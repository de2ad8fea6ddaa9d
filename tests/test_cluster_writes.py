"""The client's writes (``gankit.cluster.writes``) on a real SQLite gradebook, without a cluster.

``tests/test_grade_class.py`` runs them end to end with Dask (slow); these check each rule of the
module directly: what a result replaces, in which order, and when a submission counts as graded.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from nbgrader.api import Gradebook, GradeCell, Notebook, SolutionCell

from gankit.cluster import writes
from gankit.cluster.rows import cell_names
from gankit.nbgrader_adapter.autograde import IN_PROGRESS
from gankit.nbgrader_adapter.intake import record_path

ASSIGNMENT = "ps1"
COURSE = "writes-test"
STAMP = "2026-11-30 09:15:00.000000 UTC"  # as nbgrader writes timestamp.txt
GRADED_AT = 2_000_000_000 * 10**9  # file times in ns, set explicitly: no tie depends on the clock
SECOND = 10**9


@pytest.fixture(scope="module")
def empty_gradebook(tmp_path_factory, blank_gradebook) -> Path:
    """A gradebook holding the assignment's two notebooks and their cells, made once."""
    path = tmp_path_factory.mktemp("gradebook") / "gradebook.db"
    shutil.copy(blank_gradebook, path)
    with Gradebook(f"sqlite:///{path}", COURSE) as gb:
        assignment = gb.update_or_create_assignment(ASSIGNMENT)
        for name in ("one", "two"):
            notebook = Notebook(name=name, assignment=assignment)
            GradeCell(name=f"{name}_code", max_score=2, cell_type="code", notebook=notebook)
            GradeCell(name=f"{name}_written", max_score=1, cell_type="markdown", notebook=notebook)
            SolutionCell(name=f"{name}_written", notebook=notebook)
            gb.db.add(notebook)
        gb.db.commit()
    return path


@pytest.fixture
def course(tmp_path, empty_gradebook) -> Path:
    """A course folder with its own copy of the gradebook."""
    root = tmp_path / "course"
    (root / "source" / ASSIGNMENT).mkdir(parents=True)
    (root / "source" / ASSIGNMENT / "one.ipynb").write_text("{}")
    (root / "nbgrader_config.py").write_text("c = get_config()\n")
    shutil.copy(empty_gradebook, root / "gradebook.db")
    return root


def _open(course: Path) -> Gradebook:
    return Gradebook(f"sqlite:///{course / 'gradebook.db'}", COURSE)


def _rows(scores: dict[str, list], comments: dict[str, str] | None = None, penalty: float = 0.0) -> dict:
    """Rows as the worker reads them (``rows.graded_rows``), for both notebooks."""
    return {
        "timestamp": "2026-11-30T09:15:00",
        "notebooks": {
            name: {
                "late_penalty": penalty,
                "grades": {cell: value for cell, value in scores.items() if cell.startswith(name)},
                "comments": {cell: text for cell, text in (comments or {}).items() if cell.startswith(name)},
            }
            for name in ("one", "two")
        },
    }


def _result(student: str = "ada", ok: bool = True, rows: dict | None = None, record: bytes | None = None) -> dict:
    return {
        "student_id": student,
        "ok": ok,
        "files": {"one.ipynb": (0o644, b'{"graded": 1}'), "two.ipynb": (0o600, b'{"graded": 2}')},
        "record": record,
        "rows": rows if rows is not None else _rows({"one_code": [1.5, False], "two_code": [2.0, False]}),
    }


def _scores(course: Path, student: str = "ada") -> dict[str, tuple]:
    with _open(course) as gb:
        submission = gb.find_submission(ASSIGNMENT, student)
        found = {
            grade.name: (grade.auto_score, bool(grade.needs_manual_grade))
            for notebook in submission.notebooks
            for grade in notebook.grades
        }
        found.update(
            {
                f"comment {comment.name}": comment.auto_comment
                for notebook in submission.notebooks
                for comment in notebook.comments
            }
        )
        found.update({f"penalty {n.name}": n.late_submission_penalty for n in submission.notebooks})
        return found


def _submit(course: Path, student: str = "ada", names=("one", "two"), stamp: str = STAMP) -> Path:
    folder = course / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / f"{name}.ipynb").write_text("{}")
    (folder / "timestamp.txt").write_text(stamp)
    return folder


def _age_everything(course: Path, ns: int) -> None:
    """Set every file's and folder's time (links' own) to ``ns``."""
    for path in [course, *course.rglob("*")]:
        os.utime(path, ns=(ns, ns), follow_symlinks=False)


def _graded(course: Path, student: str = "ada", digest: str = "d1", ok: bool = True) -> None:
    """A submission written by the client, with every file older than the graded copies and the
    marker as new as the newest graded notebook."""
    _submit(course, student)
    with _open(course) as gb:
        writes.write_result(course, gb, ASSIGNMENT, _result(student, ok=ok), digest)
    _age_everything(course, GRADED_AT - 10 * SECOND)
    folder = course / "autograded" / student / ASSIGNMENT
    for path in [*folder.iterdir(), writes.marker_path(course, ASSIGNMENT, student)]:
        if path.exists():
            os.utime(path, ns=(GRADED_AT, GRADED_AT))


def _already(course: Path, digest: str = "d1", student: str = "ada") -> bool:
    with _open(course) as gb:
        return writes.already_graded(course, gb, ASSIGNMENT, student, digest)


# -- write_result -------------------------------------------------------------------------------


def test_a_result_replaces_the_graded_folder_whole_and_writes_rows_record_and_marker(course):
    """Old graded files go, new ones come with their modes, the rows and the marker follow."""
    folder = course / "autograded" / "ada" / ASSIGNMENT
    folder.mkdir(parents=True)
    (folder / "stale.ipynb").write_text("from an older grading")
    leftover = folder.with_name(f".{ASSIGNMENT}.incoming-{os.getpid()}")  # a killed run's, same pid
    leftover.mkdir()
    (leftover / "junk.txt").write_text("half written")
    rows = _rows(
        {"one_code": [1.5, False], "one_written": [None, True], "two_code": [0.0, False]},
        comments={"one_written": "Looks at the ratio.", "two_written": None},
        penalty=0.5,
    )
    result = _result(rows=rows, record=b'{"skipped": []}')
    result["files"]["data/probe.csv"] = (0o640, b"1,2\n")
    with _open(course) as gb:
        writes.write_result(course, gb, ASSIGNMENT, result, "digest-of-ada")

    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) == [
        "data",
        "data/probe.csv",
        "one.ipynb",
        "two.ipynb",
    ]
    assert (folder / "one.ipynb").read_bytes() == b'{"graded": 1}'
    assert (folder / "data" / "probe.csv").read_bytes() == b"1,2\n"
    assert {name: (folder / name).stat().st_mode & 0o777 for name in ("one.ipynb", "two.ipynb", "data/probe.csv")} == {
        "one.ipynb": 0o644,
        "two.ipynb": 0o600,
        "data/probe.csv": 0o640,
    }
    beside = {ASSIGNMENT, ASSIGNMENT + writes.MARKER_SUFFIX, record_path(folder).name}
    assert {p.name for p in folder.parent.iterdir()} == beside  # no half-written or old copy left
    assert record_path(folder).read_bytes() == b'{"skipped": []}'
    written = _scores(course)
    del written["two_written"]  # not in the rows: nbgrader's own default, untouched
    assert written == {
        "one_code": (1.5, False),
        "one_written": (None, True),
        "two_code": (0.0, False),
        "comment one_written": "Looks at the ratio.",
        "comment two_written": None,
        "penalty one": 0.5,
        "penalty two": 0.5,
    }
    marker = writes.marker_path(course, ASSIGNMENT, "ada")
    assert json.loads(marker.read_text()) == {"digest": "digest-of-ada"}


def test_a_second_result_replaces_the_first_without_duplicating_a_row(course):
    """A regrade changes the same rows (one submission, one grade per cell) and the files."""
    first = _result(rows=_rows({"one_code": [2.0, False], "two_code": [2.0, False]}))
    second = _result(rows=_rows({"one_code": [0.5, False]}))
    second["files"] = {"one.ipynb": (0o644, b'{"graded": "again"}')}
    with _open(course) as gb:
        writes.write_result(course, gb, ASSIGNMENT, first, "first")
        writes.write_result(course, gb, ASSIGNMENT, second, "second")
    folder = course / "autograded" / "ada" / ASSIGNMENT
    assert sorted(p.name for p in folder.iterdir()) == ["one.ipynb"]
    scores = _scores(course)
    assert (scores["one_code"], scores["two_code"]) == ((0.5, False), (2.0, False))
    with _open(course) as gb:
        assert [s.student.id for s in gb.find_assignment(ASSIGNMENT).submissions] == ["ada"]
        assert len(gb.find_submission(ASSIGNMENT, "ada").notebooks) == 2
    assert json.loads(writes.marker_path(course, ASSIGNMENT, "ada").read_text()) == {"digest": "second"}


def test_a_result_with_no_files_leaves_an_empty_graded_folder(course):
    """Nothing came back: the old graded files still go (they graded another submission)."""
    folder = course / "autograded" / "ada" / ASSIGNMENT
    folder.mkdir(parents=True)
    (folder / "one.ipynb").write_text("old")
    result = _result()
    result["files"] = {}
    with _open(course) as gb:
        writes.write_result(course, gb, ASSIGNMENT, result, "d")
    assert folder.is_dir() and list(folder.iterdir()) == []
    assert {p.name for p in folder.parent.iterdir()} == {ASSIGNMENT, ASSIGNMENT + writes.MARKER_SUFFIX}


def test_a_result_without_rows_writes_its_files_and_unmarks_the_student(course):
    """No rows (the student's grading failed before nbgrader recorded anything): the gradebook
    keeps what it had, the old record goes, and the student is no longer counted as graded."""
    with _open(course) as gb:
        writes.write_result(course, gb, ASSIGNMENT, _result(record=b"old record"), "d1")
    before = _scores(course)
    failed = _result(record=None)
    failed.update(ok=False, rows=None)
    with _open(course) as gb:
        writes.write_result(course, gb, ASSIGNMENT, failed, "d2")
    folder = course / "autograded" / "ada" / ASSIGNMENT
    assert not writes.marker_path(course, ASSIGNMENT, "ada").exists()
    assert not record_path(folder).exists()
    assert (folder / "two.ipynb").read_bytes() == b'{"graded": 2}'
    assert _scores(course) == before


def test_a_result_that_is_not_ok_writes_its_rows_but_no_marker(course):
    """A grading that went wrong part-way records what it graded and is graded again next run."""
    result = _result(ok=False, rows=_rows({"one_code": [0.0, False]}))
    with _open(course) as gb:
        writes.write_result(course, gb, ASSIGNMENT, result, "d1")
    assert _scores(course)["one_code"] == (0.0, False)
    assert not writes.marker_path(course, ASSIGNMENT, "ada").exists()


def test_rows_naming_a_cell_by_its_grade_id_use_the_names_given(course):
    """``names`` read once per run stands for the gradebook's own cell ids."""
    with _open(course) as gb:
        names = {cell_id: name.replace("one_code", "renamed") for cell_id, name in cell_names(gb, ASSIGNMENT).items()}
        writes.write_result(course, gb, ASSIGNMENT, _result(rows=_rows({"one_code": [1.0, False]})), "d", names)
    scores = _scores(course)
    assert scores["one_code"] == scores["two_code"]  # both untouched: no row named them
    assert scores["one_code"][0] is None


# -- already_graded and graded_since_submitted ----------------------------------------------------


def test_the_markers_digest_decides_when_the_clients_grading_was_the_last(course):
    """The same submission is graded; any other digest, or an unfinished grading, is not."""
    _graded(course, digest="d1")
    assert _already(course, "d1") is True
    assert _already(course, "d2") is False
    (course / "autograded" / "ada" / ASSIGNMENT / IN_PROGRESS).write_text("")
    assert _already(course, "d1") is False


def test_a_marker_exactly_as_new_as_the_newest_notebook_still_counts(course):
    """Equal times (a coarse file system) are the client's own grading."""
    _graded(course, digest="d1")
    os.utime(course / "submitted" / "ada" / ASSIGNMENT / "one.ipynb", ns=(GRADED_AT + SECOND,) * 2)
    assert _already(course, "d1") is True  # the marker decides, not what changed since
    assert _already(course, "other") is False


def test_without_a_submission_in_the_gradebook_nothing_is_graded(course):
    """Files and a marker alone, with no submission row, are never taken for a grading."""
    _graded(course, student="ada")
    folder = course / "autograded" / "bob" / ASSIGNMENT
    shutil.copytree(course / "autograded" / "ada" / ASSIGNMENT, folder)
    shutil.copy(writes.marker_path(course, ASSIGNMENT, "ada"), writes.marker_path(course, ASSIGNMENT, "bob"))
    _submit(course, "bob")
    assert _already(course, "d1", student="bob") is False


def test_a_graded_folder_without_notebooks_is_not_a_grading(course):
    """The marker says graded, but no notebook is there."""
    _graded(course, digest="d1")
    for path in (course / "autograded" / "ada" / ASSIGNMENT).glob("*.ipynb"):
        path.unlink()
    assert _already(course, "d1") is False


@pytest.mark.parametrize("marker", ["missing", "not json", "[1, 2]", "older"])
def test_when_the_marker_cannot_decide_what_the_grading_left_decides(course, marker):
    """No marker, an unreadable one, or one older than a notebook (``nbgrader autograde`` or
    Formgrader graded since): the graded copies against the submission and the course decide."""
    _graded(course, digest="d1")
    path = writes.marker_path(course, ASSIGNMENT, "ada")
    if marker == "missing":
        path.unlink()
    elif marker == "older":
        os.utime(path, ns=(GRADED_AT - SECOND,) * 2)
    else:
        path.write_text(marker)
        os.utime(path, ns=(GRADED_AT,) * 2)
    assert _already(course, "another digest") is True  # graded since submitted, whatever the digest
    os.utime(course / "nbgrader_config.py", ns=(GRADED_AT + SECOND,) * 2)
    assert _already(course, "d1") is False  # the course changed after that grading


def test_a_grading_counts_only_for_the_submission_time_it_recorded(course):
    """Resubmitted (a new timestamp.txt) or unreadable: graded again."""
    _graded(course)
    with _open(course) as gb:
        recorded = gb.find_submission(ASSIGNMENT, "ada").timestamp
    assert writes.graded_since_submitted(course, ASSIGNMENT, "ada", recorded) is True
    stamp = course / "submitted" / "ada" / ASSIGNMENT / "timestamp.txt"
    stamp.write_text("2026-11-30 09:16:00.000000 UTC")
    _age_everything(course / "submitted", GRADED_AT - SECOND)
    assert writes.graded_since_submitted(course, ASSIGNMENT, "ada", recorded) is False
    stamp.write_text("not a time")
    assert writes.graded_since_submitted(course, ASSIGNMENT, "ada", recorded) is False
    stamp.unlink()
    assert writes.graded_since_submitted(course, ASSIGNMENT, "ada", recorded) is False


@pytest.mark.parametrize(
    "changed",
    [
        "nbgrader_config.py",
        f"source/{ASSIGNMENT}/one.ipynb",
        f"source/{ASSIGNMENT}",
        f"submitted/ada/{ASSIGNMENT}/extra/deep.txt",
    ],
)
def test_a_change_after_the_oldest_graded_copy_grades_again(course, changed):
    """The configuration, the assignment's source, or anything submitted, newer than the oldest
    graded notebook (even newer than only that one) means the grading is out of date."""
    _graded(course)
    graded = course / "autograded" / "ada" / ASSIGNMENT
    os.utime(graded / "two.ipynb", ns=(GRADED_AT + 5 * SECOND,) * 2)  # the newest graded copy
    with _open(course) as gb:
        recorded = gb.find_submission(ASSIGNMENT, "ada").timestamp
    assert writes.graded_since_submitted(course, ASSIGNMENT, "ada", recorded) is True
    path = course / changed
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text("new")
    os.utime(path, ns=(GRADED_AT + SECOND,) * 2)
    assert writes.graded_since_submitted(course, ASSIGNMENT, "ada", recorded) is False
    os.utime(path, ns=(GRADED_AT,) * 2)  # exactly as old as the oldest graded copy: still graded
    assert writes.graded_since_submitted(course, ASSIGNMENT, "ada", recorded) is True


def test_a_submitted_notebook_without_its_graded_copy_grades_again(course):
    """Every submitted notebook needs its graded copy."""
    _graded(course)
    with _open(course) as gb:
        recorded = gb.find_submission(ASSIGNMENT, "ada").timestamp
    (course / "submitted" / "ada" / ASSIGNMENT / "three.ipynb").write_text("{}")
    _age_everything(course / "submitted", GRADED_AT - SECOND)
    assert writes.graded_since_submitted(course, ASSIGNMENT, "ada", recorded) is False


def test_a_linked_folder_in_the_sources_is_not_followed(course, tmp_path):
    """Files are data: a source folder that is a link counts by the link's own time, not by what
    it points at (which could be anywhere, or a loop)."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "new.txt").write_text("newer than the grading")
    shutil.rmtree(course / "source" / ASSIGNMENT)
    (course / "source" / ASSIGNMENT).symlink_to(elsewhere)
    _graded(course)
    os.utime(elsewhere / "new.txt", ns=(GRADED_AT + SECOND,) * 2)
    with _open(course) as gb:
        recorded = gb.find_submission(ASSIGNMENT, "ada").timestamp
    assert writes.graded_since_submitted(course, ASSIGNMENT, "ada", recorded) is True


def test_with_no_submitted_notebook_the_graded_folders_own_time_counts(course):
    """A submission of no notebook: the graded folder's time stands for its copies'."""
    _graded(course)
    for path in (course / "submitted" / "ada" / ASSIGNMENT).glob("*.ipynb"):
        path.unlink()
    graded = course / "autograded" / "ada" / ASSIGNMENT
    _age_everything(course / "submitted", GRADED_AT - 10 * SECOND)
    with _open(course) as gb:
        recorded = gb.find_submission(ASSIGNMENT, "ada").timestamp
    os.utime(graded, ns=(GRADED_AT - 20 * SECOND,) * 2)
    assert writes.graded_since_submitted(course, ASSIGNMENT, "ada", recorded) is False
    os.utime(graded, ns=(GRADED_AT,) * 2)
    assert writes.graded_since_submitted(course, ASSIGNMENT, "ada", recorded) is True
