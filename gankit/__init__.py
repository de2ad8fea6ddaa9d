"""gankit: an nbgrader course kit for the three exercises of Goodfellow's NIPS 2016 GAN tutorial.

Where things happen:
- ``notebooks``: reading, cleaning and editing notebooks (cells found by nbgrader grade id);
- ``nbgrader_cli``: every nbgrader command the kit runs, in one place;
- ``regenerate``: ``release/`` and ``solutions/`` rebuilt from ``source/``;
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
