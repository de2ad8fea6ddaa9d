"""Formulas as MathML: pages that need no MathJax, no network and no script.

Used by the feedback pages and by ``untrusted_html``, which renders a student's markdown with it so
that nothing a student wrote depends on a page's MathJax to read.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from latex2mathml.converter import convert
from nbconvert.filters.markdown_mistune import IPythonRenderer

MATHML = "http://www.w3.org/1998/Math/MathML"
# Presentation MathML only: anything else (a student's \text{<script>} among them) is shown as text.
TAGS = {
    "math", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "msub", "msup", "msubsup", "mfrac",
    "msqrt", "mroot", "mstyle", "mpadded", "mphantom", "munder", "mover", "munderover", "mtable",
    "mtr", "mtd", "menclose", "merror", "semantics", "annotation",
}  # fmt: skip
ATTRIBUTES = {
    "display", "xmlns", "stretchy", "fence", "form", "separator", "lspace", "rspace", "mathvariant",
    "columnalign", "columnspacing", "rowspacing", "rowlines", "columnlines", "frame", "linethickness",
    "width", "height", "depth", "accent", "accentunder", "movablelimits", "largeop", "symmetric",
    "minsize", "maxsize", "displaystyle", "scriptlevel", "notation", "encoding",
}  # fmt: skip
ET.register_namespace("", MATHML)  # serialise MathML with its namespace as the default one


def mathml(latex: str, display: bool = False) -> str | None:
    """``latex`` as a MathML element (None if it cannot be converted into plain presentation MathML)."""
    try:
        root = ET.fromstring(convert(latex, display="block" if display else "inline"))
    except Exception:  # noqa: BLE001 - any formula the converter cannot handle stays as its source text
        return None
    for element in root.iter():
        tag = element.tag.removeprefix(f"{{{MATHML}}}")
        if tag not in TAGS or any(name not in ATTRIBUTES for name in element.attrib):
            return None
    # Re-serialised from the parsed tree: every text is escaped, whatever the formula held.
    return ET.tostring(root, encoding="unicode", method="html")


class MathMLRenderer(IPythonRenderer):
    """nbconvert's Markdown renderer with formulas as MathML instead of MathJax's delimiters."""

    def _math(self, latex: str, display: bool, fallback: str) -> str:
        rendered = mathml(latex.strip(), display)
        if rendered is None:
            return self.escape_html(fallback)
        return f'<div class="math-display">{rendered}</div>' if display else rendered

    def inline_math(self, body: str) -> str:
        return self._math(body, False, f"${body}$")

    def block_math(self, body: str) -> str:
        return self._math(body, True, f"$${body}$$")

    def latex_environment(self, name: str, body: str) -> str:
        return self._math(f"\\begin{{{name}}}{body}\\end{{{name}}}", True, f"\\begin{{{name}}}{body}\\end{{{name}}}")
