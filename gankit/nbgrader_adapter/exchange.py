"""Tighter permissions in nbgrader's shared exchange (standalone: deploy/setup.sh also copies this
file into the students' runtime, as ``gankit_exchange``, which holds nothing else of the kit).

nbgrader makes ``inbound/`` writable by everyone without the sticky bit, and each submission's
folder writable by everyone "so the instructor can delete it later": a student who learns another's
folder name could then rename, remove or change that submission. Here ``inbound/`` (and the
feedback folder) get the sticky bit when an assignment is released, and a submission's folder
stays its owner's (0755): the instructor's collect only reads it.

nbgrader also wants the exchange's root writable by everyone (every command checks it, and
``release_assignment`` sets it to 0777): then any student may create the folder of a course not
yet released and own it. Here the root is only searched (``SharedRoot``): deploy/setup.sh makes it
root's, 0755, and each course's folder its instructor's. ``exchange_classes`` names, for
``ExchangeFactory``, the class of every exchange command.
"""

from __future__ import annotations

import os
import stat

from nbgrader.exchange.default.collect import ExchangeCollect
from nbgrader.exchange.default.fetch_assignment import ExchangeFetchAssignment
from nbgrader.exchange.default.fetch_feedback import ExchangeFetchFeedback
from nbgrader.exchange.default.list import ExchangeList
from nbgrader.exchange.default.release_assignment import ExchangeReleaseAssignment
from nbgrader.exchange.default.release_feedback import ExchangeReleaseFeedback
from nbgrader.exchange.default.submit import ExchangeSubmit


class SharedRoot:
    """Never ask for (or make) a root that others may write: search it, and make it (0755, the
    maker's) only when an instructor releases into an exchange that does not exist yet."""

    root: str

    def ensure_root(self) -> None:
        if not os.path.isdir(self.root):
            if not isinstance(self, ExchangeReleaseAssignment):
                self.fail(f"There is no exchange at {self.root}: ask your instructor")  # type: ignore[attr-defined]
            os.makedirs(self.root, mode=0o755)
            os.chmod(self.root, 0o755)  # whatever the umask
        elif not os.access(self.root, os.X_OK):
            self.fail(f"The exchange {self.root} is closed to you: ask your instructor")  # type: ignore[attr-defined]


class StickyRelease(SharedRoot, ExchangeReleaseAssignment):
    """Release as nbgrader does, then make ``inbound/`` sticky: nobody removes another's submission."""

    def init_dest(self) -> None:
        super().init_dest()
        mode = os.stat(self.inbound_path).st_mode
        os.chmod(self.inbound_path, stat.S_IMODE(mode) | stat.S_ISVTX)


class PrivateSubmit(SharedRoot, ExchangeSubmit):
    """Submit as nbgrader does, but leave the submission's folder writable by its owner only."""

    def copy_files(self) -> None:
        super().copy_files()
        os.chmod(os.path.join(self.inbound_path, self.assignment_filename), 0o755)


class Fetch(SharedRoot, ExchangeFetchAssignment):
    """nbgrader's ``fetch_assignment`` with ``SharedRoot``."""


class List(SharedRoot, ExchangeList):
    """nbgrader's ``list`` with ``SharedRoot``."""


class FetchFeedback(SharedRoot, ExchangeFetchFeedback):
    """nbgrader's ``fetch_feedback`` with ``SharedRoot``."""


class ReleaseFeedback(SharedRoot, ExchangeReleaseFeedback):
    """nbgrader's ``release_feedback`` with ``SharedRoot``."""


class Collect(SharedRoot, ExchangeCollect):
    """nbgrader's ``collect`` with ``SharedRoot`` (the kit's course uses ``intake.SafeCollect``)."""


def exchange_classes(module: str = __name__) -> dict[str, str]:
    """``ExchangeFactory`` setting -> class, for every command that touches the exchange's root
    (``module``: this file's name where it is imported, e.g. ``gankit_exchange`` in the runtime)."""
    names = {
        "fetch_assignment": Fetch,
        "submit": PrivateSubmit,
        "list": List,
        "fetch_feedback": FetchFeedback,
        "release_assignment": StickyRelease,
        "release_feedback": ReleaseFeedback,
        "collect": Collect,
    }
    return {setting: f"{module}.{cls.__name__}" for setting, cls in names.items()}
