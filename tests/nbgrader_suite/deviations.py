"""Where the kit's grading pipeline deliberately differs from stock nbgrader, as a pytest plugin.

Loaded (``-p deviations``) when nbgrader's own test modules run under the kit's pipeline
(``tests/test_nbgrader_suite.py``): each test listed here becomes a strict expected failure, so it
fails if it ever passes (the deviation is gone, and this list and docs/nbgrader.md must say so). The
docs' "Differences from stock nbgrader" section lists the same tests, with the same reasons.
"""

from __future__ import annotations

import pytest

_REPAIRED = (
    "A notebook whose grade cells the gradebook does not know is graded, those cells as ordinary "
    "cells and the repair named in the grading summary, the feedback and the class report; nbgrader "
    "drops the student's whole submission and exits 1. (The kit exits 1 when a notebook cannot be "
    "graded at all, after grading every other.)"
)
_OWN_KERNEL = (
    "Every notebook runs in the course's own Python kernel inside the sandbox, whatever kernel its "
    "metadata names: a submission cannot choose the program that grades it (nbgrader starts the "
    "named kernel and fails on an unknown one)."
)
_FOREIGN = (
    "A submission owned by another account than the student it names is not collected (nbgrader "
    "collects it with a warning): otherwise anyone can submit in another's name and replace their work."
)

DEVIATIONS: dict[str, str] = {
    "test_nbgrader_autograde.py::TestNbGraderAutograde::test_no_execute": (
        "Outputs saved in a submitted notebook are dropped before nbgrader reads it (autograde runs "
        "every cell again; saved outputs are the student's unbounded data, which a grader's page would "
        "show), so `--no-execute` grades the notebook without them."
    ),
    "test_nbgrader_autograde.py::TestNbGraderAutograde::test_side_effects": (
        "Files a notebook writes while it is graded stay in the sandbox's memory and vanish with it: "
        "nothing a student's code writes reaches the grader's folders. Writing works, so a notebook "
        "that saves a figure or a CSV runs as it did for the student."
    ),
    "test_nbgrader_autograde.py::TestNbGraderAutograde::test_handle_failure": _REPAIRED,
    "test_nbgrader_autograde.py::TestNbGraderAutograde::test_handle_failure_single_notebook": _REPAIRED,
    "test_nbgrader_autograde.py::TestNbGraderAutograde::test_missing_source_kernelspec": _OWN_KERNEL,
    "test_nbgrader_autograde.py::TestNbGraderAutograde::test_incorrect_source_kernelspec": _OWN_KERNEL,
    "test_nbgrader_autograde.py::TestNbGraderAutograde::test_missing_files": (
        "A submission folder with no notebooks scores 0 on every notebook, and says so; nbgrader "
        "records nothing, so the student would be missing from the grades instead of having 0."
    ),
    "test_nbgrader_autograde.py::TestNbGraderAutograde::test_grade_empty_timestamp": (
        "A timestamp.txt nbgrader cannot read is left out of the grader's copy, named in the summary "
        "and the class report, and the submission graded; nbgrader stops grading with exit 1."
    ),
    "test_nbgrader_collect.py::TestNbGraderCollect::test_permissions[False]": _FOREIGN,
    "test_nbgrader_collect.py::TestNbGraderCollect::test_permissions[True]": _FOREIGN,
}


def _key(item: pytest.Item) -> str:
    """``test_module.py::Class::test`` whatever the rootdir (nbgrader's tests live in site-packages)."""
    return "::".join([item.path.name, *item.nodeid.split("::")[1:]])


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    modules = {_key(item).split("::")[0] for item in items}
    listed = {key for key in DEVIATIONS if key.split("::")[0] in modules}
    found = {_key(item) for item in items}
    stale = sorted(listed - found)
    if stale:  # a renamed or removed test of nbgrader's: the list must follow
        raise pytest.UsageError(f"deviations name tests nbgrader no longer has: {stale}")
    for item in items:
        reason = DEVIATIONS.get(_key(item))
        if reason:
            item.add_marker(pytest.mark.xfail(strict=True, reason=reason))
