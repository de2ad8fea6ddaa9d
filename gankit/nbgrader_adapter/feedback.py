"""The students' feedback pages: nbgrader's feedback HTML, readable offline and honest about scores.

``FeedbackExporter`` (set as ``GenerateFeedback.exporter_class`` by ``configure``, with
``MarkUngraded`` after nbgrader's ``GetGrades``)
renders with the kit's template (``feedback_template/gankit_feedback``: "not graded yet" for a
written answer awaiting its grader, scores to two decimals, no bare partial-credit number under a
test cell) and turns every formula into MathML while converting, so the page needs no MathJax,
no network and no script: it reads the same in a browser offline and in JupyterLab's HTML viewer
(which runs no scripts).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import nbgrader
from jinja2 import pass_context
from nbconvert.exporters import HTMLExporter
from nbconvert.filters.markdown_mistune import MarkdownWithMath
from nbformat import NotebookNode
from nbgrader.api import Gradebook
from nbgrader.preprocessors import GetGrades, NbGraderPreprocessor
from traitlets import List

from gankit import points
from gankit.nbgrader_adapter.mathml import MathMLRenderer
from gankit.nbgrader_adapter.untrusted_html import PAGE_POLICY, ShowSafely, clean

TEMPLATES = Path(__file__).with_name("feedback_template")


class WorkedAnswersBeforeDueDate(RuntimeError):
    """Feedback holding worked answers was asked for while students may still resubmit."""


def refuse_early_worked_answers(nb: NotebookNode, duedate: datetime | None, now: datetime | None = None) -> None:
    """Raise if ``nb`` (an autograded notebook) states worked answers and its due date has not
    passed (or it has none): a student reading them could resubmit the stated results."""
    from gankit.nbgrader_adapter.hidden_checks import WORKED_KEY

    if not nb.metadata.get(WORKED_KEY):
        return
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)  # nbgrader keeps due dates in naive UTC
    if duedate is None or now < duedate:
        raise WorkedAnswersBeforeDueDate(
            "REFUSED: this feedback holds worked answers (HiddenChecks.worked_answers = True) and the "
            f"assignment's due date {'is not set' if duedate is None else f'({duedate} UTC) has not passed'}. "
            "Students who read it could resubmit the stated results. Regrade without worked answers, "
            "or generate this feedback after the due date."
        )


class MarkUngraded(NbGraderPreprocessor):
    """Mark each grade cell still waiting for its grader (nbgrader's feedback shows it as 0), and
    refuse feedback that states worked answers before the due date."""

    # as nbgrader's GetGrades declares it: the HTML exporter configures it for every preprocessor
    display_data_priority = List(GetGrades.class_traits()["display_data_priority"].default()).tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gradebook:
            refuse_early_worked_answers(nb, gradebook.find_assignment(info["assignment"]).duedate)
            for cell in nb.cells:
                meta = cell.get("metadata", {}).get("nbgrader", {})
                if meta.get("grade") and meta.get("grade_id"):
                    grade = gradebook.find_grade(
                        meta["grade_id"], info["notebook"], info["assignment"], info["student"]
                    )
                    meta["ungraded"] = bool(grade.needs_manual_grade and grade.manual_score is None)
        return nb, resources


class FeedbackExporter(HTMLExporter):
    """The HTML exporter of ``nbgrader generate_feedback`` with the kit's template and MathML."""

    @pass_context
    def markdown2html(self, context: Any, source: str) -> str:
        """``HTMLExporter.markdown2html`` with the kit's renderer (nbconvert offers no setting for it)."""
        cell = context.get("cell", {})
        renderer = MathMLRenderer(
            escape=False,
            attachments=cell.get("attachments", {}),
            embed_images=self.embed_images,
            path=context.get("resources", {}).get("metadata", {}).get("path", ""),
            anchor_link_text=self.anchor_link_text,
            exclude_anchor_links=self.exclude_anchor_links,
            **self.lexer_options,
        )
        return clean(MarkdownWithMath(renderer=renderer).render(source))

    def from_notebook_node(self, nb: NotebookNode, resources: dict | None = None, **kw: Any) -> tuple[str, dict]:
        """The page, with the policy that lets it run no script and fetch nothing (its template's <meta>)."""
        resources = {**(resources or {}), "gankit_page_policy": PAGE_POLICY}
        return super().from_notebook_node(nb, resources, **kw)

    def default_filters(self):  # type: ignore[no-untyped-def]
        yield from super().default_filters()
        yield ("points", lambda value: points(float(value or 0.0)))


def configure(c: Any) -> None:
    """Make ``nbgrader generate_feedback`` write the kit's pages (``c``: an nbgrader config)."""
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor

    c.GenerateFeedback.exporter_class = FeedbackExporter
    # ShowSafely first: a notebook graded before autograde cleaned its output is cleaned here too.
    c.GenerateFeedback.preprocessors = [ShowSafely, GetGrades, MarkUngraded, CSSHTMLHeaderPreprocessor]
    # Set for the subclass, which wins over the HTMLExporter settings nbgrader makes for its own.
    c.FeedbackExporter.template_name = "gankit_feedback"
    formgrader = Path(nbgrader.__file__).parent / "server_extensions" / "formgrader" / "templates"
    c.FeedbackExporter.extra_template_basedirs = [str(TEMPLATES), str(formgrader)]
