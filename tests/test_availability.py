"""Whether grading may start: the availability probe builds one real sandbox, and a machine that
cannot build it is refused with the reason and what to do (never graded unconfined by accident)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gankit.sandbox import availability
from gankit.sandbox.availability import SandboxUnavailable, allowed_unsandboxed, ensure_available
from gankit.sandbox.command import SandboxedCommand


@pytest.fixture(autouse=True)
def fresh_probe():
    """The probe's answer is kept for the life of the process; each test asks afresh."""
    availability._probe.cache_clear()
    yield
    availability._probe.cache_clear()


def test_this_machine_builds_a_sandbox_and_asks_only_once(monkeypatch):
    """The tests' machine has bubblewrap and namespaces: grading may start, and a second question
    costs no second sandbox."""
    built = []

    class Counted(SandboxedCommand):
        def __init__(self, *args, **kwargs):
            built.append(args[0])
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(availability, "SandboxedCommand", Counted)
    ensure_available()
    ensure_available()
    assert len(built) == 1


def test_without_bubblewrap_grading_is_refused_saying_what_to_install(monkeypatch):
    monkeypatch.setattr(availability, "bwrap_path", lambda: "")
    with pytest.raises(SandboxUnavailable) as refused:
        ensure_available()
    assert "apt-get install bubblewrap" in str(refused.value)
    assert "allow_unsandboxed" in str(refused.value)  # and how to grade anyway, knowingly


def test_a_sandbox_that_cannot_start_is_refused_with_the_end_of_its_own_words(monkeypatch):
    """What the failed sandbox said reaches the refusal, cut to its last 1000 characters (a
    bubblewrap message is short; a long one must not flood the grader's screen)."""
    said = "w" * 3000 + "THE-REASON"

    def failing(argv, limits, **kwargs):
        code = f"import sys; sys.stderr.write({said!r}); sys.exit(3)"
        return SandboxedCommand([sys.executable, "-I", "-c", code], limits, **kwargs)

    monkeypatch.setattr(availability, "SandboxedCommand", failing)
    with pytest.raises(SandboxUnavailable) as refused:
        ensure_available()
    complaint, refusal = str(refused.value).split("\n", 1)
    assert complaint == said[-1000:]
    assert refusal == availability.REFUSAL


def test_grading_unconfined_needs_the_graders_explicit_word(monkeypatch):
    """``c.Sandbox.allow_unsandboxed = True`` or ``GANKIT_ALLOW_UNSANDBOXED=1``, and nothing else."""
    monkeypatch.delenv("GANKIT_ALLOW_UNSANDBOXED", raising=False)
    assert (allowed_unsandboxed(), allowed_unsandboxed(True)) == (False, True)
    for value, allowed in (("1", True), ("0", False), ("yes", False), ("", False)):
        monkeypatch.setenv("GANKIT_ALLOW_UNSANDBOXED", value)
        assert allowed_unsandboxed() is allowed, value


def test_a_probe_ended_by_a_signal_is_a_refusal(monkeypatch):
    """Only a probe that ran to a clean exit counts: one killed by a signal, saying nothing, is refused."""
    monkeypatch.setattr(
        availability.subprocess, "run", lambda command, **_: subprocess.CompletedProcess(command, -9, b"", b"")
    )
    with pytest.raises(SandboxUnavailable, match="exit status -9"):
        ensure_available()


def test_without_libseccomp_no_sandbox_is_built(monkeypatch):
    """The filter is part of the sandbox: if it cannot be compiled, grading is refused, saying so."""
    from gankit.sandbox import seccomp

    monkeypatch.setitem(sys.modules, "pyseccomp", None)  # an import that fails, as without the library
    seccomp.compiled.cache_clear()
    try:
        with pytest.raises(SandboxUnavailable, match="seccomp"):
            ensure_available()
    finally:
        seccomp.compiled.cache_clear()
