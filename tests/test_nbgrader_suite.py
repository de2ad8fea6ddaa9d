"""nbgrader's own tests of the commands the kit changes, run under the kit's grading pipeline.

Each module of ``nbgrader/tests/apps/`` runs in its own pytest process, with a global nbgrader
configuration (``tests/nbgrader_suite/nbgrader_config.py``) that applies ``pipeline.apply(c,
hidden_checks=False)`` to every course nbgrader's tests create. Everything passes except the
deviations listed, with their reasons, in ``tests/nbgrader_suite/deviations.py``; those are strict
expected failures, so a deviation that disappears fails here too.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gankit import ROOT

SUITE = Path(__file__).with_name("nbgrader_suite")
sys.path.insert(0, str(SUITE))
from deviations import DEVIATIONS  # noqa: E402

pytestmark = pytest.mark.slow  # nbgrader's own suite, about 5 minutes

# The commands whose converter, preprocessors or exchange class the kit replaces.
MODULES = ("autograde", "collect", "submit", "fetch_assignment", "releaseassignment", "generate_feedback")


@pytest.mark.parametrize("module", MODULES)
def test_nbgraders_own_tests_pass_under_the_kit_but_for_the_listed_deviations(module, tmp_path):
    env = {
        **os.environ,
        "JUPYTER_CONFIG_PATH": str(SUITE),
        "PYTHONPATH": str(SUITE),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:warnings", "-p", "deviations",
         "-rfEX", "--pyargs", f"nbgrader.tests.apps.test_nbgrader_{module}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1500,
    )  # fmt: skip
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    print(f"nbgrader's test_nbgrader_{module}.py under the kit: {summary}")
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    expected = sum(key.startswith(f"test_nbgrader_{module}.py::") for key in DEVIATIONS)
    assert (f"{expected} xfailed" in summary) if expected else ("xfailed" not in summary), summary


def test_the_docs_list_every_deviation_with_its_reason():
    """docs/nbgrader.md (linked from the README) names every deviation with its reason."""
    page = (ROOT / "docs" / "nbgrader.md").read_text(encoding="utf-8")
    section = page[page.index("# Differences from stock nbgrader") :]
    section = section[: section.index("\n## nbgrader facts", 1)]
    for key, reason in DEVIATIONS.items():
        name = key.split("::")[-1]
        assert f"`{name}`" in section, name
        assert re.sub(r"\s+", " ", reason)[:60] in re.sub(r"\s+", " ", section), name
