"""nbgrader configuration of the GAN tutorial course; the course directory is this folder."""

import os

from nbgrader.preprocessors import ClearMarkScheme, ClearOutput, IncludeHeaderFooter, LockCells

from gankit import COURSE_ID
from gankit.nbgrader_adapter import pipeline

c = get_config()  # noqa: F821  (provided by nbgrader when it loads this file)

here = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.course_id = COURSE_ID  # gankit/__init__.py: the one place it is written
c.CourseDirectory.root = here
c.CourseDirectory.solution_directory = "solutions"
# The exchange is shared with the students; override it per deployment, e.g. with
# NBGRADER_EXCHANGE=/path (nbgrader's own default is /usr/local/share/nbgrader/exchange; deploy/setup.sh
# gives every hub user this course's exchange).
c.Exchange.root = os.environ.get("NBGRADER_EXCHANGE", "/srv/nbgrader/exchange")
# The gradebook: this folder's SQLite file, or a server several graders share at once, e.g.
# GANKIT_DB_URL=postgresql://grader-gan_tutorial@/gan_tutorial?host=/var/run/postgresql (peer
# authentication over the local socket, as deploy/setup.sh sets it up: no password to keep).
if os.environ.get("GANKIT_DB_URL"):
    c.CourseDirectory.db_url = os.environ["GANKIT_DB_URL"]

# The stub every released function starts from.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Solutions are committed clean: nbgrader would otherwise execute them and keep the outputs.
c.GenerateSolution.preprocessors = [IncludeHeaderFooter, LockCells, ClearOutput, ClearMarkScheme]

# A student's endless loop costs one cell, not the whole run.
c.ExecutePreprocessor.timeout = 120
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True
# A notebook's kernel is killed as soon as its last cell has answered, rather than asked to stop
# and waited for: every output has arrived by then, and the sandbox ends whatever it started.
c.Execute.shutdown_kernel = "immediate"

# The kit's grading pipeline (gankit/nbgrader_adapter/pipeline.py; docs/nbgrader.md):
# - collect copies each submission as data (no link followed, no special file opened, sizes
#   bounded) and only a student's own; release and submit keep each submission its owner's;
# - autograde grades every notebook it can and names every one it cannot (a broken notebook costs
#   only itself, an empty submission scores 0, an interrupted run resumes); edited grade cells
#   are repaired and deleted ones restored; the notebook's kernel runs in the sandbox, a fault
#   costing one cell;
# - hidden checks decide every autograded test cell: they run the student's functions in a
#   sandboxed process on inputs drawn for that student and judge the results here (gankit/judging/);
# - feedback pages read offline (MathML), show each check's points and "not graded yet".
pipeline.apply(c)
c.HiddenChecks.call_seconds = 10.0
# Each failed check's worked answer (the formula) in the feedback: off by default, since the default
# feedback must give no answer away; generate_feedback refuses it before the assignment's due date.
c.HiddenChecks.worked_answers = False

# Late work (nbgrader's own default costs nothing): after 15 minutes' grace, 10% of a notebook's
# score per started day late, up to all of it (gankit/nbgrader_adapter/late.py; docs/configuration.md: Late work).
# The due date is the assignment's: nbgrader db assignment add gan_exercises --duedate="...".
c.AssignLatePenalties.plugin_class = "gankit.nbgrader_adapter.late.LatePenalty"
c.LatePenalty.grace_minutes = 15
c.LatePenalty.per_day = 0.1

# The class report (python -m gankit.class_report): who passed, and the grade bands, as shares of
# the assignment's maximum after late penalties; used by the report and its grades.csv.
c.ClassReport.pass_mark = 0.5
c.ClassReport.grade_bands = [[0.9, "A"], [0.8, "B"], [0.7, "C"], [0.6, "D"], [0.5, "E"], [0.0, "F"]]

# Students' code (kernel and hidden checks) runs in a sandbox built by bubblewrap: no capabilities,
# a seccomp filter, its own uid, no network, no course files, nothing of the host writable, limits
# below for the whole sandbox, and everything it started ends with the notebook (docs/security.md).
# Where the machine cannot build it, grading stops with the reason; to grade anyway (not advised):
# c.Sandbox.allow_unsandboxed = True
c.Sandbox.memory_mb = 1024  # the hidden checks' process
c.Sandbox.kernel_memory_mb = 2048  # the notebook's kernel (ipykernel, numpy and matplotlib)
c.Sandbox.cpu_seconds = 300
c.Sandbox.max_processes = 64
c.Sandbox.max_output_kb = 1024  # per cell
c.Sandbox.max_notebook_output_kb = 8192  # per notebook
c.Sandbox.notebook_seconds = 300  # wall time of one notebook: its kernel run and hidden checks together
