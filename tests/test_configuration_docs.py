"""The settings docs/configuration.md documents are the kit's: each is configurable in
``nbgrader_config.py`` and has the documented default (a changed default or a setting no longer
read from the configuration fails here)."""

from __future__ import annotations

import re

import pytest
from traitlets.config import Config

from gankit import ROOT
from gankit.class_report import ClassReport
from gankit.nbgrader_adapter.execute import SandboxedExecute
from gankit.nbgrader_adapter.hidden_checks import HiddenChecks
from gankit.nbgrader_adapter.intake import SafeCollect
from gankit.nbgrader_adapter.late import LatePenalty
from gankit.sandbox.settings import Sandbox

CLASSES = {
    cls.__name__: cls for cls in (Sandbox, HiddenChecks, SandboxedExecute, SafeCollect, LatePenalty, ClassReport)
}


def _documented() -> list[tuple[str, str, str]]:
    """(class, setting, default) for every plain number or boolean of the table."""
    rows = []
    for line in (ROOT / "docs" / "configuration.md").read_text().splitlines():
        match = re.match(r"\| `c\.(\w+)\.(\w+)`((?:, `\w+`)*) \| ([^|]+) \|", line)
        if not match or match[1] not in CLASSES:
            continue
        names = [match[2], *re.findall(r"`(\w+)`", match[3])]
        defaults = [value.strip() for value in match[4].split(",")]
        if len(names) == len(defaults) and all(re.fullmatch(r"[\d.]+|True|False", v) for v in defaults):
            rows += [(match[1], name, value) for name, value in zip(names, defaults, strict=True)]
    return rows


DOCUMENTED = _documented()


def test_the_table_names_the_settings_of_the_sandbox_and_the_hidden_checks():
    named = {f"{cls}.{name}" for cls, name, _ in DOCUMENTED}
    assert {"Sandbox.memory_mb", "Sandbox.notebook_seconds", "HiddenChecks.call_seconds"} <= named
    assert {"HiddenChecks.setup_seconds", "SafeCollect.timestamp_slack", "SandboxedExecute.max_restarts"} <= named


@pytest.mark.parametrize(("cls", "name", "default"), DOCUMENTED, ids=[f"{c}.{n}" for c, n, _ in DOCUMENTED])
def test_a_documented_setting_has_its_default_and_is_read_from_the_configuration(cls, name, default):
    trait = CLASSES[cls].class_traits()[name]
    assert trait.metadata.get("config") is True
    value = trait.default()
    assert value == ({"True": True, "False": False}[default] if default in ("True", "False") else float(default))
    assert type(value) is not bool or default in ("True", "False")


def test_the_hidden_checks_limits_come_from_the_configuration_whatever_the_working_folder(tmp_path, monkeypatch):
    """``c.HiddenChecks.*`` and ``c.Sandbox.*`` reach the grader; the course is the configured root."""
    monkeypatch.chdir(tmp_path)
    config = Config(
        {
            "CourseDirectory": {"root": str(ROOT)},
            "HiddenChecks": {"call_seconds": 3.5, "setup_seconds": 7.0},
            "Sandbox": {"memory_mb": 700, "cpu_seconds": 45},
        }
    )
    grader = HiddenChecks(config=config).grader("gan_exercises")
    assert grader.course == ROOT
    limits = grader.limits
    assert (limits.call_seconds, limits.setup_seconds, limits.memory_mb, limits.cpu_seconds) == (3.5, 7.0, 700, 45)


def test_the_sandboxs_limits_are_the_ones_docs_security_states():
    """Each sandbox's limits, with the course's defaults, are the numbers docs/security.md promises;
    a sandbox built without settings (the availability probe, a grader given no limits) gets the same."""
    from documented_limits import documented_limits

    from gankit.sandbox.limits import Limits

    promised = documented_limits()
    checks, kernel = Sandbox().limits(), Sandbox().limits(kernel=True)
    assert (checks.memory_mb, kernel.memory_mb) == (promised.checks_memory_mb, promised.kernel_memory_mb)
    assert (checks.max_open_files, kernel.max_open_files) == (promised.open_files, promised.kernel_open_files)
    for limits in (checks, kernel):
        assert (limits.cpu_seconds, limits.max_processes) == (promised.cpu_seconds, promised.max_processes)
        assert (limits.scratch_mb, limits.max_file_mb) == (promised.scratch_mb, promised.file_mb)
    assert Limits() == checks


def test_the_sandbox_is_on_unless_the_grader_turns_it_off(monkeypatch):
    """``c.Sandbox.allow_unsandboxed`` or ``GANKIT_ALLOW_UNSANDBOXED=1`` turns it off; nothing else does."""
    monkeypatch.delenv("GANKIT_ALLOW_UNSANDBOXED", raising=False)
    assert Sandbox().enabled is True
    assert Sandbox(config=Config({"Sandbox": {"allow_unsandboxed": True}})).enabled is False
    for value, enabled in (("1", False), ("0", True), ("true", True), ("", True)):
        monkeypatch.setenv("GANKIT_ALLOW_UNSANDBOXED", value)
        assert Sandbox().enabled is enabled, value
