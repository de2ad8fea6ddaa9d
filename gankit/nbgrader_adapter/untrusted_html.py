"""A graded notebook made safe to show to a grader: nothing a student wrote runs or fetches.

Formgrader, nbgrader's feedback pages, the kit's feedback pages and JupyterLab all render a
submission's markdown and outputs as HTML in the grader's origin, and each renders them its own
way (nbconvert's templates pass raw HTML in markdown, raw cells and ``text/html`` outputs through;
some put output metadata into attributes unescaped). So the kit does not rely on any renderer:
``ShowSafely``, the last step of autograde, rewrites the notebook nbgrader saves in ``autograded/``
(the file every one of those pages is made from) so that any renderer shows it safely:

* a markdown cell (the student's written answers, and any cell they added) is rendered here, its
  formulas to MathML, cleaned by ``clean`` and stored as one line of inert HTML, which every
  Markdown parser passes through as it is (an HTML block with no blank line), with no ``$`` or
  backslash left for MathJax to typeset;
* a raw cell becomes a markdown cell showing its text;
* an output keeps only what cannot carry script or fetch anything: plain text, streams, errors,
  PNG/JPEG/GIF images whose data is plain base64, HTML and Markdown cleaned by ``clean``, and SVG
  as an image (an ``<img>`` runs no script in an SVG and loads nothing it links to); any other kind
  (JavaScript, widget views, LaTeX, PDF, ...) is replaced by a line saying it was left out;
* metadata a renderer could put into the page (cell tags, output metadata, notebook metadata) is
  dropped, but for the few keys nbgrader and the renderers need, with their values checked.

``clean`` is ammonia (Rust, through ``nh3``) with an allowlist: text, lists, tables, code, MathML,
links to http(s) and mail addresses, and images only as ``data:`` URIs, so the grader's browser
fetches nothing (no ``src`` pointing anywhere, no ``style``, no ``<style>``, no class or id a page's
script could trip over). The same cleaner runs again where the kit renders (feedback pages,
Formgrader's exporter): a page made from a notebook graded before this step existed is clean too.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

import nbformat
import nh3
from nbconvert.filters.markdown_mistune import MarkdownWithMath
from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode
from nbgrader.api import Gradebook, MissingEntry
from pygments.token import STANDARD_TYPES
from traitlets import Bool

from gankit.nbgrader_adapter.mathml import ATTRIBUTES as MATHML_ATTRIBUTES
from gankit.nbgrader_adapter.mathml import TAGS as MATHML_TAGS
from gankit.nbgrader_adapter.mathml import MathMLRenderer
from gankit.nbgrader_adapter.repair import KIT_PREFIX

# The kit's own pages (feedback, class report) need no script and fetch nothing: their policy says
# so to the browser, as a second line of defence behind ``clean``.
PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
# A grader's JupyterLab (with Formgrader inside it) cannot do without inline script and eval
# (Formgrader's pages have inline scripts; JupyterLab compiles its settings' schemas with eval: both
# measured in Chromium), but it needs nothing from another origin: nothing a student's content
# points elsewhere is fetched, framed or posted to.
GRADERS_SERVER_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; media-src 'self' data: blob:; connect-src 'self' ws: wss:; "
    "frame-src 'self' blob:; worker-src 'self' blob:; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'self'"
)
POLICY_META = f'<meta http-equiv="Content-Security-Policy" content="{PAGE_POLICY}">'
MARKER = "student-content"  # the class of the one element a cleaned markdown cell holds
_WRAPPER_CLASSES = {MARKER, "tex2jax_ignore", "mathjax_ignore"}  # MathJax 2 and 3 leave it alone
# Pygments' token classes: code in a student's markdown keeps its colours (short names no page script uses).
_CODE_CLASSES = {name for name in STANDARD_TYPES.values() if name}
_WRAPPER = f'<div class="{" ".join(sorted(_WRAPPER_CLASSES))}">'

_TEXT_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "em", "strong", "b", "i", "u", "s", "del",
    "ins", "sub", "sup", "small", "mark", "blockquote", "code", "pre", "kbd", "samp", "var", "ul",
    "ol", "li", "dl", "dt", "dd", "a", "span", "div", "table", "thead", "tbody", "tfoot", "tr", "th",
    "td", "caption", "colgroup", "col", "img", "details", "summary", "abbr", "cite", "q", "figure",
    "figcaption",
}  # fmt: skip
TAGS = _TEXT_TAGS | MATHML_TAGS
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align"},
    "ol": {"start"},
    "abbr": {"title"},
    **{tag: set(MATHML_ATTRIBUTES) for tag in MATHML_TAGS},
}
_IMAGE = re.compile(r"data:image/(png|jpeg|gif|webp|svg\+xml);base64,[A-Za-z0-9+/]+={0,2}\Z")
_LINK = re.compile(r"(https?://|mailto:|#)\S*\Z", re.IGNORECASE)
_NUMBER = re.compile(r"\d{1,5}(\.\d{1,3})?%?\Z")
_GRADING_VALUE = re.compile(r"[\w .+-]{0,128}\Z")  # nbgrader's grade ids and checksums
_BASE64 = re.compile(r"[A-Za-z0-9+/\s]*={0,2}\s*\Z")
# Kept from a student's outputs: what every renderer shows as data, never as markup or script.
_IMAGES = ("image/png", "image/jpeg", "image/gif")


def _attribute(tag: str, name: str, value: str) -> str | None:
    """Keep an allowed attribute's value only if it can make the browser fetch or run nothing."""
    if name == "src":
        return value if _IMAGE.match(value.strip()) else None
    if name == "href":
        return value if _LINK.match(value.strip()) else None
    if name in {"width", "height", "colspan", "rowspan", "start"}:
        return value if _NUMBER.match(value.strip()) else None
    return value


def clean(html: str) -> str:
    """``html`` with everything but the allowlist removed (script, handlers, styles, remote URLs)."""
    return nh3.clean(
        html,
        tags=TAGS,
        clean_content_tags={"script", "style", "template", "noscript", "title", "textarea", "xmp"},
        attributes=_ATTRIBUTES,
        attribute_filter=_attribute,
        url_schemes={"http", "https", "mailto", "data"},
        link_rel="noopener noreferrer nofollow",
        allowed_classes={"div": _WRAPPER_CLASSES | {"highlight"}, "span": _CODE_CLASSES},
        strip_comments=True,
    )


def markdown_to_html(source: str, attachments: dict | None = None) -> str:
    """A student's markdown as clean HTML: formulas as MathML, attached images as ``data:`` URIs."""
    renderer = MathMLRenderer(escape=False, attachments=attachments or {}, embed_images=False)
    return clean(MarkdownWithMath(renderer=renderer).render(source))


def inert_block(html: str) -> str:
    """Clean HTML as markdown source that every Markdown parser passes through untouched.

    One line (an HTML block ends only at a blank line), in a ``<div>`` so it is a block, and with
    ``$`` and backslashes as character references, so no MathJax finds a formula in it.
    """
    body = html.strip()  # its callers clean it
    if body.startswith(_WRAPPER) and body.endswith("</div>"):  # already inert: cleaned again, not wrapped again
        body = body[len(_WRAPPER) : -len("</div>")]
    for character, reference in (("\r", ""), ("\n", "&#10;"), ("$", "&#36;"), ("\\", "&#92;")):
        body = body.replace(character, reference)
    return f"{_WRAPPER}{body}</div>"


def shown_markdown(source: str, attachments: dict | None = None) -> str:
    """What a markdown cell's source becomes in a graded notebook (so a reader can compare with it)."""
    return inert_block(markdown_to_html(source, attachments))


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _image(value: Any) -> str | None:
    text = _text(value)
    if len(text) > 16 * 2**20 or not _BASE64.match(text):
        return None
    try:
        base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    return "".join(text.split())


def _as_html(kind: str, value: str) -> str:
    if kind == "text/markdown":
        return markdown_to_html(value)
    if kind == "image/svg+xml":  # as an image: an SVG shown by <img> runs no script and loads nothing
        svg = base64.b64encode(value.encode("utf-8", "replace")).decode("ascii")
        return f'<img src="data:image/svg+xml;base64,{svg}" alt="an SVG figure">'
    return clean(value)


def _bundle(data: dict) -> dict:
    """A MIME bundle reduced to kinds that are shown as data; anything else named as left out."""
    kept: dict[str, str] = {}
    used: set[str] = set()  # the kinds of ``data`` something kept was made from
    if "text/plain" in data:
        kept["text/plain"] = _text(data["text/plain"])
        used.add("text/plain")
    for kind in _IMAGES:
        if kind in data and (image := _image(data[kind])) is not None:
            kept[kind] = image
            used.add(kind)
    for kind in ("text/html", "text/markdown", "image/svg+xml"):  # the first present becomes the HTML
        if kind in data:
            kept["text/html"] = _as_html(kind, _text(data[kind]))
            used.add(kind)
            break
    left_out = sorted(str(kind) for kind in data if kind not in used)
    if left_out and "text/plain" not in kept:
        kept["text/plain"] = f"[output left out when graded: {', '.join(left_out)[:200]}]"
    return kept


def _image_size(metadata: Any) -> dict:
    """Output metadata renderers put into attributes: only whole-number sizes of images survive."""
    kept: dict = {}
    if not isinstance(metadata, dict):
        return kept
    for kind in _IMAGES:
        size = metadata.get(kind)
        if isinstance(size, dict):
            sizes = {k: v for k, v in size.items() if k in {"width", "height"} and type(v) is int and 0 < v < 10**5}
            if sizes:
                kept[kind] = sizes
    return kept


def safe_output(output: Any) -> NotebookNode:
    """One output as data a renderer shows without running or fetching anything."""
    kind = output.get("output_type") if isinstance(output, dict) else None
    if kind == "stream":
        name = output.get("name") if output.get("name") in {"stdout", "stderr"} else "stdout"
        return nbformat.v4.new_output("stream", name=name, text=_text(output.get("text", "")))
    if kind == "error":
        traceback = output.get("traceback", [])
        return nbformat.v4.new_output(
            "error",
            ename=_text(output.get("ename", "")),
            evalue=_text(output.get("evalue", "")),
            traceback=[_text(line) for line in traceback] if isinstance(traceback, list) else [],
        )
    if kind in {"display_data", "execute_result"} and isinstance(output.get("data"), dict):
        made = nbformat.v4.new_output(kind, data=_bundle(output["data"]), metadata=_image_size(output.get("metadata")))
        if kind == "execute_result":
            count = output.get("execution_count")
            made["execution_count"] = count if type(count) is int else None
        return made
    return nbformat.v4.new_output("stream", name="stdout", text="[output left out when graded: not an output]\n")


def _cell_metadata(metadata: Any) -> dict:
    """The cell metadata nbgrader and the renderers need, with values that cannot become markup."""
    kept: dict = {}
    if not isinstance(metadata, dict):
        return kept
    for key in ("deletable", "editable", "collapsed", "scrolled"):
        if type(metadata.get(key)) is bool:
            kept[key] = metadata[key]
    grading = metadata.get("nbgrader")
    if isinstance(grading, dict) and re.fullmatch(r"[A-Za-z0-9_\-]{1,100}", str(grading.get("grade_id", "x"))):
        kept["nbgrader"] = {
            key: value
            for key, value in grading.items()
            if type(value) in (bool, int, float) or (isinstance(value, str) and _GRADING_VALUE.match(value))
        }
    return kept


# What renderers read of the notebook's metadata; names go into class attributes, so no spaces
# (a space would let a kernel add a class such as "hidden" to every code cell of the page).
_KERNEL_KEYS = {"kernelspec": ("name", "display_name", "language"), "language_info": ("name", "version")}
_WORD = re.compile(r"[\w.+-]{1,64}\Z")
_DISPLAY_NAME = re.compile(r"[\w .+()-]{1,64}\Z")  # shown as text: "Python 3 (ipykernel)"


def _allowed_name(field: str, value: Any) -> bool:
    return isinstance(value, str) and bool((_DISPLAY_NAME if field == "display_name" else _WORD).match(value))


def _notebook_metadata(metadata: Any) -> dict:
    """What the renderers read (names, checked) and the records the kit's grading wrote (data no
    page renders as markup: the class report escapes them)."""
    kept: dict = {}
    if not isinstance(metadata, dict):
        return kept
    for key, value in metadata.items():  # repair removed every such key a student sent
        if isinstance(key, str) and key.startswith(KIT_PREFIX):
            kept[key] = value
    for key, fields in _KERNEL_KEYS.items():
        value = metadata.get(key)
        if isinstance(value, dict):
            checked = {field: value[field] for field in fields if _allowed_name(field, value.get(field))}
            if "name" in checked and (key != "kernelspec" or "display_name" in checked):  # nbformat's required keys
                kept[key] = checked
    return kept


def make_safe(nb: NotebookNode, course_text: frozenset[str] = frozenset()) -> NotebookNode:
    """``nb`` rewritten in place so that any notebook renderer shows it safely (see the module).

    A markdown cell whose text is exactly one of ``course_text`` (the course's own) is left as the
    course wrote it, so that JupyterLab still typesets its formulas.
    """
    for index, cell in enumerate(nb.cells):
        metadata = _cell_metadata(cell.get("metadata"))
        if cell.get("cell_type") == "code":
            outputs = cell.get("outputs", [])
            cell["outputs"] = [safe_output(output) for output in outputs] if isinstance(outputs, list) else []
            cell["metadata"] = metadata
            # Formgrader prints the prompt number unescaped: only a number, or none.
            cell["execution_count"] = cell.get("execution_count") if type(cell.get("execution_count")) is int else None
            continue
        if cell.get("cell_type") == "markdown" and _text(cell.get("source", "")) in course_text:
            cell["metadata"] = metadata
            continue
        if cell.get("cell_type") == "markdown":
            shown = shown_markdown(_text(cell.get("source", "")), cell.get("attachments"))
        else:  # a raw cell (nbconvert puts one with no format, or format text/html, into the page as it is)
            shown = inert_block(clean("<pre>" + nh3.clean_text(_text(cell.get("source", ""))) + "</pre>"))
        made = nbformat.v4.new_markdown_cell(shown, metadata=metadata)
        made.pop("id")  # the cell keeps its own id, or none (nbformat before 4.5 allows none)
        if isinstance(cell.get("id"), str):
            made["id"] = cell["id"]
        nb.cells[index] = made
    nb["metadata"] = _notebook_metadata(nb.get("metadata"))
    return nb


class ShowSafely(Preprocessor):
    """Make a graded notebook safe to render for a grader (the last step of autograde; module doc)."""

    enabled = Bool(True).tag(config=True)  # nbconvert's preprocessors start disabled

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        return make_safe(nb, course_text(resources)), resources


def course_text(resources: dict) -> frozenset[str]:
    """The course's own markdown in this notebook: its locked cells, as the gradebook holds them
    (what nbgrader restored them to). Empty where nbgrader names no notebook (Formgrader's view)."""
    info = resources.get("nbgrader") or {}
    if not all(isinstance(info.get(key), str) for key in ("db_url", "notebook", "assignment")):
        return frozenset()
    with Gradebook(info["db_url"]) as gradebook:
        try:
            notebook = gradebook.find_notebook(info["notebook"], info["assignment"])
        except MissingEntry:
            return frozenset()
        return frozenset(cell.source for cell in notebook.source_cells if cell.cell_type == "markdown" and cell.locked)
