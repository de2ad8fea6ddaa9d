"""nbgrader configuration of the GAN tutorial course; the course directory is this folder."""

import os

from nbgrader.converters import Autograde
from nbgrader.preprocessors import (
    ClearMarkScheme,
    ClearOutput,
    IncludeHeaderFooter,
    LockCells,
    SaveAutoGrades,
)

from gankit.hidden.nbgrader_plugin import HiddenChecks, LoadHiddenChecks

c = get_config()  # noqa: F821  (provided by nbgrader when it loads this file)

here = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.course_id = "gan_tutorial"
c.CourseDirectory.root = here
c.CourseDirectory.solution_directory = "solutions"
# The exchange is shared with the students; override it per deployment, e.g. with
# NBGRADER_EXCHANGE=/srv/nbgrader/exchange (nbgrader's default) on a JupyterHub.
c.Exchange.root = os.environ.get("NBGRADER_EXCHANGE", "/srv/nbgrader/exchange")

# The stub every released function starts from.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Solutions are committed clean: nbgrader would otherwise execute them and keep the outputs.
c.GenerateSolution.preprocessors = [IncludeHeaderFooter, LockCells, ClearOutput, ClearMarkScheme]

# A student's endless loop costs one cell, not the whole run.
c.ExecutePreprocessor.timeout = 120
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True

# Grade cells that a student deletes come back from the source version.
c.OverwriteCells.add_missing_cells = True

# Hidden checks decide every autograded test cell: they run the student's functions in a sandboxed
# process on inputs drawn for that student and judge the results here (see gankit/hidden/).
# Checks and reference solutions load while sanitizing, before any student kernel runs; the
# verdicts are written just before nbgrader saves the grades.
_defaults = Autograde.class_traits()
c.Autograde.sanitize_preprocessors = [*_defaults["sanitize_preprocessors"].default(), LoadHiddenChecks]
_autograde = list(_defaults["autograde_preprocessors"].default())
_autograde.insert(_autograde.index(SaveAutoGrades), HiddenChecks)
c.Autograde.autograde_preprocessors = _autograde
# Where the machine cannot build the sandbox, grading stops with a message; to grade anyway:
# c.HiddenChecks.allow_unsandboxed = True
c.HiddenChecks.call_timeout = 10.0
c.HiddenChecks.memory_mb = 1024
