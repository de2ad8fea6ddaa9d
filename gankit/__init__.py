"""gankit: an nbgrader course kit for the three exercises of Goodfellow's NIPS 2016 GAN tutorial.

Where things happen:
- ``judging/``: where a student's answer is run (``runner``, in ``student_process``) and judged
  (``grader``, with the checks in ``checks/``); no nbgrader there;
- ``nbgrader_adapter/``: everything that plugs into nbgrader, and ``hidden_checks``, where the
  score is written; ``pipeline.apply(c)`` configures a course;
- ``sandbox/``: the unprivileged, offline, bounded place every piece of student code runs in;
- ``notebooks``: reading, cleaning and editing notebooks (cells found by nbgrader grade id);
- ``nbgrader_cli``: every nbgrader command the kit runs, in one place;
- ``goldens``: ``release/`` and ``solutions/`` rebuilt from ``source/`` (``make goldens``);
- ``simulated_class``: the students of the simulated class and the mistakes they make;
- ``course_cycle``: the main job, the whole course cycle on the simulated class;
- ``scores``: reading scores back from the gradebook.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COURSE_ID = "gan_tutorial"
ASSIGNMENT = "gan_exercises"
NOTEBOOKS = ("ex1_optimal_discriminator", "ex2_xy_game", "ex3_maximum_likelihood")


def points(value: float) -> str:
    """A score as every output of the kit shows it (terminal, report, Canvas CSV, feedback):
    two decimals at most."""
    return f"{round(value, 2):g}"
