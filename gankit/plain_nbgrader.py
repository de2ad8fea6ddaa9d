"""The same course graded by stock nbgrader (its own preprocessors and collect, the student's kernel
deciding every score): what the benchmark and the tests compare the kit with."""

from __future__ import annotations

import shutil
from pathlib import Path

# Appended to a copy of the course's config: nbgrader's own preprocessors, no hidden checks.
PLAIN_NBGRADER = """
from nbgrader.converters import Autograde
_stock = Autograde.class_traits()
c.Autograde.sanitize_preprocessors = _stock["sanitize_preprocessors"].default()
c.Autograde.autograde_preprocessors = _stock["autograde_preprocessors"].default()
from nbgrader.apps import api as _api, autogradeapp as _autogradeapp
_autogradeapp.Autograde = _api.Autograde = Autograde  # nbgrader's own converter, not the kit's
from nbgrader.exchange.default.collect import ExchangeCollect as _StockCollect
c.ExchangeFactory.collect = _StockCollect
"""


def plain_nbgrader_copy(course: Path, destination: Path, students: list[str] | None = None) -> Path:
    """A copy of ``course`` (gradebook and submissions included, optionally only some students')
    whose configuration grades with nbgrader's stock preprocessors: the student's kernel decides."""

    def skip(folder: str, names: list[str]) -> set[str]:
        ignored = {"autograded", "feedback"} & set(names)
        if students is not None and Path(folder).name == "submitted":
            ignored |= set(names) - set(students)
        return ignored

    shutil.copytree(course, destination, ignore=skip, symlinks=True)  # a student's links stay links
    with (destination / "nbgrader_config.py").open("a") as config:
        config.write(PLAIN_NBGRADER)
    return destination
