"""The kit's grading pipeline, applied to an nbgrader configuration in one call.

    from gankit.nbgrader_adapter import pipeline
    pipeline.apply(c)                        # this course: with its hidden checks
    pipeline.apply(c, hidden_checks=False)   # any nbgrader course: everything but the hidden checks

What it changes in nbgrader, all through nbgrader's own extension points (configuration of
converters, preprocessors and exchange classes, and the ``Autograde`` converter class):

* ``collect`` copies each submission as data and only a student's own (``intake.SafeCollect``);
  ``release_assignment`` makes ``inbound/`` sticky and ``submit`` keeps a submission its owner's
  (``gankit.nbgrader_adapter.exchange``);
* ``autograde`` grades every notebook it can (``autograde.KitAutograde``): grade cells a student
  edited so that nbgrader would reject them become ordinary cells first (``repair``), the kernel
  runs in the sandbox with a fault costing one cell (``execute.SandboxedExecute``), deleted grade
  cells come back (``repair.RestoreGradeCells``, where nbgrader's own can fail); with
  ``hidden_checks`` the hidden checks decide every autograded test cell
  (loaded while sanitizing, before any student kernel runs; verdicts written just before
  nbgrader saves the grades);
* the notebook autograde saves shows nothing a student wrote as live markup (``untrusted_html``:
  markdown and outputs cleaned by an allowlist, for every page a grader opens);
* ``generate_feedback`` writes the kit's pages (``feedback``);
* nbgrader's metadata check compiles its schema once per process (``metadata_check``: the same
  verdicts at a tenth of the cost).

Every way the result differs from stock nbgrader is listed, with the reason, in
``tests/nbgrader_suite/deviations.py`` and ``docs/nbgrader.md``.
"""

from __future__ import annotations

from typing import Any


def apply(c: Any, hidden_checks: bool = True) -> None:
    """Configure nbgrader (``c``: the config object of an ``nbgrader_config.py``) to grade with the kit."""
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import CheckCellMetadata, Execute, OverwriteCells, SaveAutoGrades

    from gankit.nbgrader_adapter import autograde, exchange, feedback
    from gankit.nbgrader_adapter.execute import SandboxedExecute
    from gankit.nbgrader_adapter.metadata_check import CheckCellMetadataOnce
    from gankit.nbgrader_adapter.repair import RepairGradeCells, RestoreGradeCells
    from gankit.nbgrader_adapter.untrusted_html import ShowSafely

    for setting, name in exchange.exchange_classes().items():
        setattr(c.ExchangeFactory, setting, name)
    c.ExchangeFactory.collect = "gankit.nbgrader_adapter.intake.SafeCollect"
    c.OverwriteCells.add_missing_cells = True
    autograde.install()
    defaults = Autograde.class_traits()
    sanitize = [RepairGradeCells, *defaults["sanitize_preprocessors"].default()]
    sanitize[sanitize.index(OverwriteCells)] = RestoreGradeCells
    grading = list(defaults["autograde_preprocessors"].default())
    grading[grading.index(Execute)] = SandboxedExecute
    for preprocessors in (sanitize, grading):
        preprocessors[preprocessors.index(CheckCellMetadata)] = CheckCellMetadataOnce
    if hidden_checks:
        from gankit.nbgrader_adapter.hidden_checks import HiddenChecks, LoadHiddenChecks

        sanitize.append(LoadHiddenChecks)
        grading.insert(grading.index(SaveAutoGrades), HiddenChecks)
    # Last: the notebook nbgrader saves in autograded/ (what Formgrader, the feedback pages and a
    # grader's JupyterLab show) holds no markup or output that could run or fetch anything.
    grading.append(ShowSafely)
    c.Autograde.sanitize_preprocessors = sanitize
    c.Autograde.autograde_preprocessors = grading
    # Formgrader renders autograded/ with a plain HTMLExporter: cleaned again as it renders, so a
    # notebook graded before this step existed (or by another tool) is shown safely too.
    c.HTMLExporter.preprocessors = [ShowSafely]
    feedback.configure(c)
