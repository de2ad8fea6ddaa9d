"""What deploy/setup.sh writes into the students' runtime, read back by the code that reads it on the
hub (no hub is started): JupyterLab's settings overrides turn off the "Jupyter news" question."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import jsonschema
from jupyterlab_server.settings_utils import get_settings

from gankit import ROOT

SCHEMAS = Path(sys.prefix) / "share" / "jupyter" / "lab" / "schemas"  # this JupyterLab's, the runtime's version
NOTIFICATION = "@jupyterlab/apputils-extension:notification"


def _installed_at() -> str:
    """Where setup.sh installs deploy/overrides.json, relative to the runtime."""
    script = (ROOT / "deploy" / "setup.sh").read_text(encoding="utf-8")
    found = re.search(r'install -D -m 0644 "\$kit/deploy/overrides\.json" "\$runtime/([^"]+)"', script)
    assert found, "setup.sh no longer installs deploy/overrides.json into the runtime"
    return found.group(1)


def _defaults(runtime: Path) -> dict:
    """The notification settings every user of ``runtime`` starts from, as JupyterLab's server
    computes them (schema defaults with the runtime's overrides applied)."""
    settings, _ = get_settings(
        str(runtime / "share" / "jupyter" / "lab" / "settings"),
        str(SCHEMAS),
        str(runtime / "user-settings"),
        schema_name=NOTIFICATION,
    )
    return {name: prop.get("default") for name, prop in settings["schema"]["properties"].items()}


def test_the_runtime_never_asks_students_about_jupyter_news(tmp_path):
    bare = tmp_path / "bare"
    assert _defaults(bare)["fetchNews"] == "none"  # JupyterLab's own default: ask every student
    runtime = tmp_path / "runtime"
    target = runtime / _installed_at()
    assert target.relative_to(runtime).parts[:4] == ("share", "jupyter", "lab", "settings")
    target.parent.mkdir(parents=True)
    shutil.copy2(ROOT / "deploy" / "overrides.json", target)
    defaults = _defaults(runtime)
    assert defaults["fetchNews"] == "false" and defaults["checkForUpdates"] is False


def test_every_override_is_a_valid_setting_of_this_jupyterlab():
    overrides = json.loads((ROOT / "deploy" / "overrides.json").read_text(encoding="utf-8"))
    for plugin, values in overrides.items():
        package, name = plugin.split(":")
        schema = json.loads((SCHEMAS / package / f"{name}.json").read_text(encoding="utf-8"))
        jsonschema.validate(values, schema)  # additionalProperties is false: a misspelt key fails
