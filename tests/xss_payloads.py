"""What a hostile student puts in a submission to run script or make a grader's browser fetch.

Drawn from the published filter-evasion catalogues (OWASP's XSS Filter Evasion Cheat Sheet,
PortSwigger's XSS cheat sheet, the mutation-XSS papers on MathML/SVG namespace confusion) and
from the ways a notebook carries HTML (markdown, raw cells, attachments, every MIME type of an
output, output metadata, cell tags). Every payload either calls ``__hit(name)`` (the test defines
it in every page and frame) or asks for ``{beacon}/name`` (a listener the test runs on loopback);
a payload that needs a click leaves a ``javascript:``/``data:`` link behind, which the test looks
for in the page itself.
"""

from __future__ import annotations

import base64
import http.server
import json
from pathlib import Path

import nbformat

from gankit import NOTEBOOKS, notebooks

# HTML a student writes in a markdown cell (and, below, shows as an output).
HTML = {
    "img-onerror": "<img src=x onerror=\"__hit('img-onerror')\">",
    "img-remote": '<img src="{beacon}/img-remote">',
    "img-srcset": '<img srcset="{beacon}/img-srcset 1x">',
    "picture-source": '<picture><source srcset="{beacon}/picture-source"><img alt=p></picture>',
    "script": "<script>__hit('script')</script>",
    "script-nested": "<<SCRIPT>__hit('script-nested');//<</SCRIPT>",
    "script-quotes": '<img """><script>__hit(\'script-quotes\')</script>">',
    "img-case-js": "<IMG SRC=JaVaScRiPt:__hit('img-case-js')>",
    "img-entities": "<img src=x onerror=&#95;&#95;hit&#40;&#39;img-entities&#39;&#41;>",
    "img-newline": "<img src=x\nonerror=\"__hit('img-newline')\">",
    "svg-onload": "<svg onload=\"__hit('svg-onload')\"></svg>",
    "svg-script": "<svg><script>__hit('svg-script')</script></svg>",
    "svg-animate": "<svg><animate onbegin=\"__hit('svg-animate')\" attributeName=x dur=1s></animate></svg>",
    "svg-image": '<svg><image href="{beacon}/svg-image"></image></svg>',
    "svg-use": '<svg><use href="{beacon}/svg-use#x"></use></svg>',
    "svg-link": "<svg><a xlink:href=\"javascript:__hit('svg-link')\"><text y=20>go</text></a></svg>",
    "mathml-mglyph": (
        "<math><mtext><table><mglyph><style><img src=x onerror=\"__hit('mathml-mglyph')\">"
        "</style></mglyph></table></mtext></math>"
    ),
    "mathml-href": "<math href=\"javascript:__hit('mathml-href')\"><mi>x</mi></math>",
    "noscript-title": "<noscript><p title=\"</noscript><img src=x onerror=__hit('noscript-title')>\"></noscript>",
    "iframe-src": '<iframe src="{beacon}/iframe-src"></iframe>',
    "iframe-srcdoc": "<iframe srcdoc=\"<script>parent.__hit('iframe-srcdoc')</script>\"></iframe>",
    "iframe-js": "<iframe src=\"javascript:parent.__hit('iframe-js')\"></iframe>",
    "object-data": "<object data=\"data:text/html,<script>parent.__hit('object-data')</script>\"></object>",
    "object-remote": '<object data="{beacon}/object-remote"></object>',
    "embed": '<embed src="{beacon}/embed">',
    "meta-refresh": '<meta http-equiv="refresh" content="0;url={beacon}/meta-refresh">',
    "base-href": '<base href="{beacon}/base-href/"><img src="relative.png">',
    "link-css": '<link rel="stylesheet" href="{beacon}/link-css">',
    "style-import": "<style>@import '{beacon}/style-import';</style>",
    "style-attr": '<div style="background-image:url({beacon}/style-attr)">styled</div>',
    "table-background": '<table background="{beacon}/table-background"><tr><td>t</td></tr></table>',
    "input-image": '<input type="image" src="{beacon}/input-image">',
    "input-autofocus": "<input autofocus onfocus=\"__hit('input-autofocus')\">",
    "form-action": '<form action="{beacon}/form-action"><button>send</button></form>',
    "details-ontoggle": "<details open ontoggle=\"__hit('details-ontoggle')\"><summary>s</summary></details>",
    "body-onload": "<body onload=\"__hit('body-onload')\">",
    "video-source": "<video><source onerror=\"__hit('video-source')\"></video>",
    "audio-onerror": "<audio src=x onerror=\"__hit('audio-onerror')\"></audio>",
    "marquee": "<marquee onstart=\"__hit('marquee')\">m</marquee>",
    "a-javascript": "<a href=\"javascript:__hit('a-javascript')\">click me</a>",
    "a-data": '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">click me</a>',
    "a-entity-js": "<a href=\"&#106;avascript:__hit('a-entity-js')\">click me</a>",
    "template-img": "<template><img src=x onerror=\"__hit('template-img')\"></template>",
    "dom-clobber": '<form id="formgrader"><input name="submission_id" value="1"></form><a id="base_url" href="x">',
    "comment-break": '<!--<img src="--><img src=x onerror="__hit(\'comment-break\')">-->',
}

# Markdown of its own that turns into fetching or clickable-script HTML.
MARKDOWN = {
    "md-image": "![tracker]({beacon}/md-image)",
    "md-link-js": "[click me](javascript:__hit('md-link-js'))",
    "md-ref-image": "![tracked][ref]\n\n[ref]: {beacon}/md-ref-image",
    "md-autolink-js": "<javascript:__hit('md-autolink-js')>",
    "math-href": "$\\href{{javascript:__hit('math-href')}}{{x}}$",
    "math-then-html": "$x$ <img src=x onerror=\"__hit('math-then-html')\"> $y$",
    "code-span-html": "`</code><img src=x onerror=\"__hit('code-span-html')\">`",
}

# The two halves of one payload, each harmless alone, in neighbouring cells.
SPLIT = ("<img src=x title='", "' onerror=\"__hit('split-cells')\">")


def markdown_cells(beacon: str) -> list[str]:
    """The markdown a hostile student adds, one cell per payload (and the split pair)."""
    cells = [text.format(beacon=beacon) for text in HTML.values()]
    cells += [text.format(beacon=beacon) for text in MARKDOWN.values()]
    return [*cells, *SPLIT]


def output_bundles(beacon: str) -> list[tuple[dict, dict]]:
    """Outputs (data, metadata) carrying payloads in every MIME type and in output metadata."""
    html = "".join(text.format(beacon=beacon) for text in HTML.values())
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" onload="__hit(\'svg-output\')">'
        f'<script>__hit("svg-output-script")</script><image href="{beacon}/svg-output-image"/></svg>'
    )
    png = base64.b64encode(bytes.fromhex("89504e470d0a1a0a")).decode()
    bundles = [
        {"text/html": html, "text/plain": "html"},
        {"application/javascript": "__hit('javascript-output')"},
        {"text/javascript": "__hit('text-javascript-output')"},
        {"image/svg+xml": svg},
        {"text/markdown": "".join(text.format(beacon=beacon) for text in MARKDOWN.values())},
        {"text/latex": "$\\href{javascript:__hit('latex-output')}{x}$"},
        {"application/vnd.jupyter.widget-view+json": {"model_id": "x", "version_major": 2, "version_minor": 0}},
        {"image/png": "x\" onerror=\"__hit('png-attribute')"},
        {"text/html": f"<iframe srcdoc=\"<img src='{beacon}/html-srcdoc'>\"></iframe>"},
        {"application/pdf": "JVBERi0="},
    ]
    # sizes that a renderer puts into the <img> tag it writes
    sized = ({"image/png": png}, {"image/png": {"width": "1\" onerror=\"__hit('png-width')", "height": 5}})
    return [(bundle, {}) for bundle in bundles] + [sized]


STREAM = "<img src=x onerror=__hit('stream')>"


def output_cell(beacon: str) -> str:
    """A student's code cell that shows every bundle of ``output_bundles`` and prints markup."""
    return "\n".join(
        [
            "import json",
            "from IPython.display import display",
            f"bundles = json.loads({json.dumps(output_bundles(beacon))!r})",
            "for data, metadata in bundles:",
            "    display(data, raw=True, metadata=metadata)",
            f"print({STREAM!r})",
        ]
    )


def raw_outputs(beacon: str) -> list:
    """The outputs ``output_cell`` makes, as a kernel sends them (for a notebook made without one)."""
    import nbformat

    outputs = [nbformat.v4.new_output("display_data", data=d, metadata=m) for d, m in output_bundles(beacon)]
    return [*outputs, nbformat.v4.new_output("stream", name="stdout", text=STREAM + "\n")]


RAW_CELLS = {  # a raw cell's format decides whether nbconvert pastes it into the page
    "text/html": "<img src=x onerror=\"__hit('raw-html')\">",
    "": "<script>__hit('raw-plain')</script>",
}
TAGS = ["x\" onmouseover=\"__hit('cell-tag')", "<img src=x onerror=__hit('cell-tag-img')>"]

ATTACHMENTS = {  # a markdown cell's attachments become data: URIs in the page
    "evil.svg": {
        "image/svg+xml": base64.b64encode(b"<svg xmlns='http://www.w3.org/2000/svg' onload='__hit(1)'/>").decode()
    },
    "evil.html": {"text/html": base64.b64encode(b"<script>parent.__hit('attachment-html')</script>").decode()},
}
ATTACHMENT_MARKDOWN = "![svg](attachment:evil.svg) ![html](attachment:evil.html)"

# Attributes whose value is fetched or navigated to by the browser.
_URL_ATTRIBUTES = {"src", "href", "xlink:href", "srcset", "data", "action", "formaction", "background", "poster"}


def live_payloads(page: str, beacon: str) -> list[str]:
    """Where ``page`` (HTML) still holds a payload that could run or fetch: an independent reading
    with Python's own HTML parser, not the kit's cleaner. Empty means inert."""
    from html.parser import HTMLParser

    found: list[str] = []

    class Reader(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.in_script = self.in_style = False

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            self.in_script, self.in_style = tag == "script", tag == "style"
            for name, value in attrs:
                value = (value or "").strip()
                lowered = "".join(value.split()).lower()
                if name.startswith("on") and "__hit" in value:
                    found.append(f"<{tag} {name}>")
                if beacon in value and not (tag == "a" and name == "href"):  # a link is followed only if clicked
                    found.append(f"<{tag} {name}> fetches {value[:60]}")
                if name in _URL_ATTRIBUTES and lowered.startswith(("javascript:", "data:text", "vbscript:")):
                    found.append(f"<{tag} {name}> {value[:40]}")
                if name == "srcdoc" or (tag == "meta" and (value.lower() == "refresh")):
                    found.append(f"<{tag} {name}={value[:40]}>")
            if tag in {"iframe", "object", "embed", "base", "frame", "frameset"}:  # no page template has one
                found.append(f"<{tag}>")

        def handle_endtag(self, tag: str) -> None:
            self.in_script = self.in_style = False

        def handle_data(self, data: str) -> None:
            if self.in_script and "__hit" in data:
                found.append(f"<script> {data.strip()[:40]}")
            if self.in_style and beacon in data:
                found.append(f"<style> {data.strip()[:40]}")

    Reader().feed(page)
    return found


def page_policy(page: str) -> str | None:
    """The Content-Security-Policy a page declares in its <meta> (None if it declares none)."""
    from html.parser import HTMLParser

    found: list[str] = []

    class Reader(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            values = dict(attrs)
            if tag == "meta" and (values.get("http-equiv") or "").lower() == "content-security-policy":
                found.append(values.get("content") or "")

    Reader().feed(page)
    return found[0] if found else None


class Beacon(http.server.ThreadingHTTPServer):
    """The payloads' listener: records every path asked of it."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        beacon = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                beacon.asked.append(self.path)
                self.send_response(204)
                self.end_headers()

            do_POST = do_GET  # noqa: N815

            def log_message(self, *args) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


def arm(folder: Path, url: str, names: tuple[str, ...] = NOTEBOOKS) -> None:
    """Put every payload into Mallory's notebooks: written answers, new cells, raw cells, outputs."""
    for name in names:
        path = folder / f"{name}.ipynb"
        nb = notebooks.read(path)
        for cell in nb.cells:
            meta = notebooks.nbgrader_meta(cell)
            if cell.cell_type == "markdown" and meta.get("solution"):  # a written answer, graded by hand
                cell.source += "\n\n" + "\n\n".join(markdown_cells(url)[:12])
        nb.cells += [nbformat.v4.new_markdown_cell(text) for text in markdown_cells(url)]
        attached = nbformat.v4.new_markdown_cell(ATTACHMENT_MARKDOWN)
        attached["attachments"] = ATTACHMENTS
        nb.cells.append(attached)
        for mimetype, text in RAW_CELLS.items():
            nb.cells.append(nbformat.v4.new_raw_cell(text, metadata={"raw_mimetype": mimetype} if mimetype else {}))
        # Saved with its outputs, and claiming JupyterLab's trust for them.
        code = nbformat.v4.new_code_cell(output_cell(url), metadata={"tags": TAGS, "trusted": True})
        code.outputs = raw_outputs(url)
        nb.cells.append(code)
        nbformat.write(nb, str(path))


def answer_dialog(dialog, seen: list[str]) -> None:
    """JupyterLab's own "leave the page?" is answered; any other dialog is a payload's, recorded."""
    if dialog.type == "beforeunload":
        dialog.accept()
    else:
        seen.append(f"dialog: {dialog.message}")
        dialog.dismiss()
