"""Jupyter server configuration of a grader's JupyterLab (``make lab``, the hub's graders' service).

Loaded with ``--config``: every page the server sends carries a Content-Security-Policy that lets
the browser fetch nothing from another origin (no image, style, font, frame, media or connection
a student's content could point at, so no tracking and no cross-site request), load no plugin,
and submit no form elsewhere. It is the second line of defence: what a student wrote is already
cleaned before any page shows it (``gankit/nbgrader_adapter/untrusted_html.py``).

Every manual grade or comment saved in Formgrader is logged with the user who saved it (the hub
user, on the hub), since nbgrader records no grader (``gankit/nbgrader_adapter/grader_log.py``).
"""

from gankit.nbgrader_adapter.grader_log import log_request
from gankit.nbgrader_adapter.untrusted_html import GRADERS_SERVER_POLICY

c = get_config()  # noqa: F821  (provided by Jupyter when it loads this file)
c.ServerApp.tornado_settings = {
    "headers": {"Content-Security-Policy": GRADERS_SERVER_POLICY},
    "log_function": log_request,
}
