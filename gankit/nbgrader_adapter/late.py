"""The course's late-submission policy, as an nbgrader ``LateSubmissionPlugin``.

nbgrader's own plugin knows two methods, "none" (its default: lateness is logged and costs nothing)
and "zero". This course's default (``nbgrader_config.py``):

* a grace period (``grace_minutes``, 15): clocks differ and uploads take time, so a submission a
  few minutes after the due date costs nothing;
* after it, ``per_day`` (10 %) of the notebook's score for every started day (24 h) late, counted
  from the due date (not from the end of the grace), up to the whole score.

nbgrader applies the plugin per notebook when it autogrades (``AssignLatePenalties``), on the
score the notebook has then; nbgrader caps a penalty at that score. The due date is the
assignment's (``nbgrader db assignment add ... --duedate``, or Formgrader's Manage Assignments),
with any extension given to the student.
"""

from __future__ import annotations

import math

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Float


class LatePenalty(LateSubmissionPlugin):
    """A share of the notebook's score per started day late, after a grace period."""

    grace_minutes = Float(15.0, help="Minutes after the due date that cost nothing.").tag(config=True)
    per_day = Float(0.1, help="Share of the notebook's score taken per started day late (0 to 1).").tag(config=True)

    def late_submission_penalty(self, student_id: str, score: float, total_seconds_late: float) -> float | None:
        """The points ``score`` loses for being ``total_seconds_late`` (None when nothing is taken)."""
        if total_seconds_late <= self.grace_minutes * 60 or self.per_day <= 0:
            return None
        days = math.ceil(total_seconds_late / 86400)
        penalty = round(min(score, score * self.per_day * days), 6)  # 0.1 * 3 is not 0.3 in floats
        self.log.warning(
            "%s: %.1f hours late, %d started days: late penalty %.2f of %.2f points",
            student_id,
            total_seconds_late / 3600,
            days,
            penalty,
            score,
        )
        return penalty
