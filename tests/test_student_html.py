"""Nothing a student wrote runs script or fetches anything in a page a grader opens.

The fast tests render a notebook carrying the payloads of ``xss_payloads`` (markdown, raw cells,
attachments, cell tags, outputs of every MIME type) with every renderer a grader meets: nbconvert's
lab and classic templates (nbgrader's feedback, any export), Formgrader's own template and the
kit's feedback exporter, and read each page with Python's HTML parser. The same pages made from
the notebook as submitted show that reading catches the payloads. The browser test
(``test_student_html_in_the_browser``) does it in Chromium on a graded course.
"""

from __future__ import annotations

import base64
import copy
import io
from pathlib import Path

import nbformat
import pytest
import xss_payloads
from nbconvert.exporters import HTMLExporter
from traitlets.config import Config

from gankit.nbgrader_adapter.feedback import FeedbackExporter
from gankit.nbgrader_adapter.untrusted_html import PAGE_POLICY, ShowSafely, clean, make_safe

BEACON = "http://127.0.0.1:9"  # never listened on: the fast tests only read the pages


def _png() -> str:
    """A real 2x2 PNG, drawn by matplotlib, as a figure output carries it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure = plt.figure(figsize=(0.02, 0.02), dpi=100)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def hostile_notebook() -> nbformat.NotebookNode:
    """A notebook with every payload where a student can put it, and outputs as a kernel sends them."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "python3\" onload=\"__hit('kernelspec')", "display_name": "P"}}
    nb.cells = [nbformat.v4.new_markdown_cell(text) for text in xss_payloads.markdown_cells(BEACON)]
    attached = nbformat.v4.new_markdown_cell(xss_payloads.ATTACHMENT_MARKDOWN)
    attached["attachments"] = xss_payloads.ATTACHMENTS
    nb.cells.append(attached)
    for mimetype, text in xss_payloads.RAW_CELLS.items():
        nb.cells.append(nbformat.v4.new_raw_cell(text, metadata={"raw_mimetype": mimetype} if mimetype else {}))
    code = nbformat.v4.new_code_cell("display(...)", metadata={"tags": xss_payloads.TAGS, "trusted": True})
    code.outputs = xss_payloads.raw_outputs(BEACON)
    nb.cells.append(code)
    return nb


def _renderers() -> dict:
    import nbgrader

    formgrade = Path(nbgrader.__file__).parent / "server_extensions" / "formgrader" / "templates"
    config = Config()
    config.HTMLExporter.extra_template_basedirs = [str(formgrade)]
    resources = {
        "base_url": "/",
        "notebook_path": "x.ipynb",
        "assignment_id": "a",
        "notebook_id": "n",
        "submission_id": "s",
        "index": 0,
        "total": 1,
        "student": "mallory",
        "first_name": None,
        "last_name": None,
    }
    feedback = {"nbgrader": {"notebook": "n", "score": 0, "max_score": 1, "late_penalty": 0}}
    return {
        "nbconvert lab": (HTMLExporter(template_name="lab"), {}),
        "nbconvert classic": (HTMLExporter(template_name="classic"), {}),
        "formgrader": (HTMLExporter(config=config, template_name="formgrade"), resources),
        "kit feedback": (_feedback_exporter(), feedback),
    }


def _feedback_exporter() -> FeedbackExporter:
    import nbgrader

    from gankit.nbgrader_adapter import feedback

    config = Config()
    feedback.configure(config)
    static = Path(nbgrader.__file__).parent / "server_extensions" / "formgrader" / "static"
    config.FeedbackExporter.extra_template_paths = [str(static / "node_modules" / "bootstrap" / "dist" / "css")]
    return FeedbackExporter(config=config)


def _pages(nb: nbformat.NotebookNode) -> dict[str, str]:
    pages = {}
    for name, (exporter, resources) in _renderers().items():
        body, _ = exporter.from_notebook_node(copy.deepcopy(nb), resources=copy.deepcopy(resources))
        pages[name] = body
    return pages


def test_the_notebook_as_submitted_carries_live_payloads_in_every_renderer():
    """The reading below can fail: unsafe pages are caught, in every renderer."""
    for name, page in _pages(hostile_notebook()).items():
        live = xss_payloads.live_payloads(page, BEACON)
        assert len(live) >= 10, (name, live)


def test_no_payload_survives_in_any_renderer_once_the_notebook_is_made_safe():
    """Every renderer shows the cleaned notebook without anything that runs or fetches."""
    for name, page in _pages(make_safe(hostile_notebook())).items():
        assert xss_payloads.live_payloads(page, BEACON) == [], name
        assert "__hit('" not in page.replace("__hit(&#x27;", "").replace("__hit(&#39;", "") or _only_as_text(page)


def _only_as_text(page: str) -> bool:
    """Every ``__hit`` left in the page is text (escaped), never markup."""
    from html.parser import HTMLParser

    seen: list[str] = []

    class Reader(HTMLParser):
        def handle_starttag(self, tag, attrs):
            seen.extend(value or "" for _, value in attrs)

    Reader().feed(page)
    return not any("__hit" in value for value in seen)


def test_making_safe_is_stable_and_keeps_no_trust_or_tags():
    """Cleaning twice changes nothing more; no cell keeps the student's tags or trust flag."""
    once = make_safe(hostile_notebook())
    twice = make_safe(copy.deepcopy(once))
    assert nbformat.writes(once) == nbformat.writes(twice)
    for cell in once.cells:
        assert "tags" not in cell.metadata and "trusted" not in cell.metadata
        assert cell.cell_type in {"markdown", "code"}
    assert once.metadata.get("kernelspec", {}).get("name") is None  # the forged name is dropped
    nbformat.validate(once)


def test_figures_math_tables_and_links_keep_rendering():
    """What a real answer shows survives: a figure, a formula, a table, a web link, code."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(
            "The ratio $\\frac{a}{a+b}$ holds.\n\n| x | y |\n|---|---|\n| 1 | 2 |\n\n"
            "See [the paper](https://arxiv.org/abs/1701.00160).\n\n```python\nprint(1 < 2)\n```"
        ),
        nbformat.v4.new_code_cell("plot()"),
    ]
    png = _png()
    nb.cells[1].outputs = [
        nbformat.v4.new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"}),
        nbformat.v4.new_output("execute_result", data={"text/html": "<table><tr><td>1</td></tr></table>"}),
    ]
    nb.cells[1].outputs[1]["execution_count"] = 1
    page = _pages(make_safe(nb))["nbconvert lab"]
    assert f'src="data:image/png;base64,{png}"' in page
    assert "<math" in page and "<mfrac>" in page and "$" not in page.split("<body")[1].split("<math")[0][-200:]
    assert page.count("<table") >= 2 and "<td>2</td>" in page
    assert 'href="https://arxiv.org/abs/1701.00160"' in page
    assert '<span class="nb">print</span>' in page and "&lt;" in page  # highlighted, escaped


@pytest.mark.parametrize("payload", sorted(xss_payloads.HTML))
def test_the_cleaner_leaves_no_payload(payload):
    """Each payload alone, through the allowlist: nothing live is left."""
    html = xss_payloads.HTML[payload].format(beacon=BEACON)
    assert xss_payloads.live_payloads(clean(html), BEACON) == []


def test_the_kit_pages_declare_a_policy_without_script_or_fetching():
    """The kit's feedback page carries a policy that forbids script and every fetch."""
    assert "script-src" not in PAGE_POLICY and "default-src 'none'" in PAGE_POLICY
    assert "img-src data:" in PAGE_POLICY and "http" not in PAGE_POLICY
    page = _pages(make_safe(hostile_notebook()))["kit feedback"]
    assert xss_payloads.page_policy(page) == PAGE_POLICY


def test_autograde_and_formgrader_clean_with_the_same_step():
    """The course's configuration runs the step last in autograde, first in feedback, in Formgrader."""
    from nbgrader.apps import NbGrader

    from gankit import ROOT

    app = NbGrader()
    app.config_dir = str(ROOT)
    app.load_config_file()
    config = app.config
    assert config.Autograde.autograde_preprocessors[-1] is ShowSafely
    assert config.GenerateFeedback.preprocessors[0] is ShowSafely
    assert config.HTMLExporter.preprocessors == [ShowSafely]


def test_formgraders_exporter_cleans_as_it_renders():
    """An HTML exporter configured as the course configures Formgrader's cleans what it renders."""
    from gankit.nbgrader_adapter import pipeline

    config = Config()
    pipeline.apply(config)
    page, _ = HTMLExporter(config=config, template_name="lab").from_notebook_node(hostile_notebook())
    assert xss_payloads.live_payloads(page, BEACON) == []


def test_the_courses_own_text_is_kept_and_a_lookalike_is_cleaned():
    """Only markdown that is exactly the course's own keeps its TeX; one character more is cleaned."""
    course = "The cost $J(D)$ is **minimised**."
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(course), nbformat.v4.new_markdown_cell(course + "<img src=x>")]
    make_safe(nb, frozenset({course}))
    assert nb.cells[0].source == course
    assert nb.cells[1].source.startswith("<div") and "<math" in nb.cells[1].source and "$" not in nb.cells[1].source


def test_cells_keep_their_ids_and_old_notebooks_get_none():
    """A cleaned cell keeps its id; a notebook from before cell ids stays valid without them."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("<b>x</b>"), nbformat.v4.new_raw_cell("y")]
    ids = [cell.id for cell in nb.cells]
    assert [cell.id for cell in make_safe(nb).cells] == ids
    old = nbformat.v4.new_notebook()
    old.nbformat_minor = 4
    old.cells = [nbformat.v4.new_markdown_cell("<b>x</b>"), nbformat.v4.new_raw_cell("y")]
    for cell in old.cells:
        del cell["id"]
    nbformat.validate(make_safe(old))


def test_prompt_numbers_and_kernel_names_cannot_carry_markup_or_classes():
    """A string prompt number is dropped; a lexer or language name with a space is dropped."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
        "language_info": {"name": "python hidden", "pygments_lexer": "ipython3 hidden", "version": "3.11.2"},
    }
    cell = nbformat.v4.new_code_cell("1")
    cell["execution_count"] = "<img src=x onerror=__hit(1)>"
    nb.cells = [cell]
    make_safe(nb)
    assert nb.cells[0].execution_count is None
    assert nb.metadata.kernelspec == {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    assert "language_info" not in nb.metadata  # its name had a space: nothing of it is kept


def test_the_kits_own_records_survive_and_a_students_other_metadata_does_not():
    """The grader's gankit_* records (verdicts, faults, worked answers) stay; anything else goes."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"gankit_worked_answers": True, "gankit_faults": [{"where": "x"}], "widgets": {"a": 1}}
    make_safe(nb)
    assert nb.metadata == {"gankit_worked_answers": True, "gankit_faults": [{"where": "x"}]}


def test_a_notebook_left_as_released_still_reads_as_not_attempted_once_made_safe():
    """The class report tells an untouched notebook by its answers: cleaning must not look like an attempt."""
    from gankit import ASSIGNMENT, NOTEBOOKS, ROOT, notebooks
    from gankit.class_report import attempted

    released = notebooks.read(ROOT / "release" / ASSIGNMENT / f"{NOTEBOOKS[0]}.ipynb")
    graded = make_safe(copy.deepcopy(released))
    assert not attempted(graded, released)
    answer = next(
        cell for cell in graded.cells if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution")
    )
    answer.source = "def optimal_discriminator(p_data, p_model):\n    return 0.5\n"
    assert attempted(graded, released)
