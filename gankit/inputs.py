"""The checks every entry point of the kit runs on its inputs before it does anything.

A mistyped assignment, a wrong ``--course`` or a student with no submission must not look like
success ("Graded 0 students") nor end in a traceback: each check raises ``BadInput`` with one line
that names what is wrong and what to do, and ``run`` turns it into that line on stderr and exit
status 2 (argparse's own for a bad command line). Nothing is read or written before the checks pass.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry

from gankit import COURSE_ID

EXIT_BAD_INPUT = 2


class BadInput(Exception):
    """An input an entry point cannot work with; the message is one line: what is wrong, what to do."""


def run(name: str, main: Callable[[], int | None]) -> int:
    """Call ``main``; a ``BadInput`` (or nbgrader's ``MissingEntry``, which only bad input reaches)
    becomes one line on stderr, ``name: message``, and exit status 2."""
    try:
        return main() or 0
    except BadInput as error:
        print(f"{name}: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except MissingEntry as error:
        print(f"{name}: not in the gradebook: {error} (was it graded in this course?)", file=sys.stderr)
        return EXIT_BAD_INPUT


def _listing(names: Iterable[str], limit: int = 10) -> str:
    names = sorted(names)
    shown = ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")
    return shown or "none"


def course(path: Path) -> Path:
    """``path`` resolved, if it is a course directory (a folder with an ``nbgrader_config.py``)."""
    path = path.expanduser().resolve()
    if not path.is_dir():
        raise BadInput(f"no course directory at {path}: pass --course DIR (the folder with nbgrader_config.py)")
    if not (path / "nbgrader_config.py").is_file():
        raise BadInput(
            f"{path} is not a course directory (no nbgrader_config.py in it): run this in the course folder "
            "or pass --course DIR"
        )
    return path


def known_assignments(course: Path, url: str | None = None) -> list[str]:
    """The course's assignments: the folders of ``source/``, and those the gradebook knows (if ``url``)."""
    folder = course / "source"
    names = (
        {p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")} if folder.is_dir() else set()
    )
    if url:
        with Gradebook(url, COURSE_ID) as gb:
            names |= {a.name for a in gb.assignments}
    return sorted(names)


def assignment(course: Path, name: str, url: str | None = None) -> str:
    """``name``, if the course has that assignment (in ``source/`` or, with ``url``, its gradebook)."""
    known = known_assignments(course, url)
    if name not in known:
        raise BadInput(
            f"unknown assignment {name!r} in {course}: the course has {_listing(known)} (check the spelling)"
        )
    return name


def gradebook(course: Path) -> str:
    """The URL of the course's gradebook, if it exists (a SQLite file is never created by looking)."""
    from gankit import scores  # imported here: scores reads nbgrader's configuration classes

    try:
        return scores.db_url(course)
    except FileNotFoundError:
        raise BadInput(
            f"no gradebook in {course}: nothing has been graded there yet (grade first: python -m gankit.grade_class;"
            " or set GANKIT_DB_URL as when grading)"
        ) from None


def graded(url: str, course: Path, name: str) -> None:
    """Refuse an assignment the gradebook holds no grades of."""
    with Gradebook(url, COURSE_ID) as gb:
        known = {a.name: len(a.submissions) for a in gb.assignments}
    if name not in known:
        raise BadInput(
            f"unknown assignment {name!r}: the gradebook of {course} has {_listing(known)} (check the spelling)"
        )
    if not known[name]:
        raise BadInput(
            f"no grades for {name} in {course} yet: collect and grade it first "
            f"(nbgrader collect {name}; python -m gankit.grade_class {name})"
        )


def submitted(course: Path, name: str) -> list[str]:
    """The students with something at ``submitted/<student>/<name>``: there must be some. A link
    there is listed too, so that grading names it as not graded rather than passing it over."""
    folder = course / "submitted"
    found = sorted(p.parent.name for p in folder.glob(f"*/{name}") if p.is_dir() or p.is_symlink())
    if not found:
        raise BadInput(f"no submissions of {name} in {folder} yet: collect them first (nbgrader collect {name})")
    return found


def students(course: Path, name: str, wanted: Sequence[str]) -> list[str]:
    """``wanted``, if each has a submission of ``name`` (a folder, not a link) in ``submitted/``."""
    found = [s for s in submitted(course, name) if not (course / "submitted" / s / name).is_symlink()]
    unknown = [s for s in wanted if s not in found]
    if unknown:
        folder = course / "submitted" / unknown[0] / name
        why = "is a link, which is never graded" if folder.is_symlink() else "does not exist"
        raise BadInput(
            f"no submission of {name} from {', '.join(unknown)} ({folder} {why}): students with one: {_listing(found)}"
        )
    return list(dict.fromkeys(wanted))


def positive(value: int | None, option: str, minimum: int = 1) -> None:
    """Refuse a count below ``minimum``."""
    if value is not None and value < minimum:
        raise BadInput(f"{option} {value}: it must be at least {minimum}")
