"""Tighter permissions in nbgrader's shared exchange (standalone: deploy/setup.sh also copies this
file into the students' runtime, as ``gankit_exchange``, which holds nothing else of the kit).

nbgrader makes ``inbound/`` writable by everyone without the sticky bit, and each submission's
folder writable by everyone "so the instructor can delete it later": a student who learns another's
folder name could then rename, remove or change that submission. Here ``inbound/`` (and the
feedback folder) get the sticky bit when an assignment is released, and a submission's folder
stays its owner's (0755): the instructor's collect only reads it.
"""

from __future__ import annotations

import os
import stat

from nbgrader.exchange.default.release_assignment import ExchangeReleaseAssignment
from nbgrader.exchange.default.submit import ExchangeSubmit


class StickyRelease(ExchangeReleaseAssignment):
    """Release as nbgrader does, then make ``inbound/`` sticky: nobody removes another's submission."""

    def init_dest(self) -> None:
        super().init_dest()
        mode = os.stat(self.inbound_path).st_mode
        os.chmod(self.inbound_path, stat.S_IMODE(mode) | stat.S_ISVTX)


class PrivateSubmit(ExchangeSubmit):
    """Submit as nbgrader does, but leave the submission's folder writable by its owner only."""

    def copy_files(self) -> None:
        super().copy_files()
        os.chmod(os.path.join(self.inbound_path, self.assignment_filename), 0o755)
