"""How autograde runs a notebook (``SandboxedExecute``), on small notebooks in real sandboxed kernels.

The adversarial suite grades whole hostile notebooks through ``nbgrader autograde`` (slow); these
check each rule of the module directly: a dead kernel costs its cell, output is capped per cell and
per notebook, the time budget stops the rest, and a kernel that keeps failing is given up.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
from documented_limits import documented_limits
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from traitlets.config import Config

from gankit.nbgrader_adapter.execute import SandboxedExecute
from gankit.nbgrader_adapter.faults import DEADLINE_KEY, FAULTS_KEY, UNREADABLE_KEY
from gankit.sandbox.command import SandboxedCommand
from gankit.sandbox.kernel import SandboxedKernelManager
from gankit.sandbox.limits import Limits


def _execute(folder, cells, config: Config | None = None, resources: dict | None = None) -> tuple:
    """Run a Python 3 notebook of ``cells`` in ``folder`` as autograde would: (notebook, resources)."""
    nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}})
    resources = {"metadata": {"path": str(folder)}, **(resources or {})}
    return SandboxedExecute(config=config or Config()).preprocess(nb, resources)


def _run(tmp_path, *sources: str, **settings) -> nbformat.NotebookNode:
    """Run a notebook of ``sources`` (code cells; a source starting with '#md' is markdown) in
    ``tmp_path`` as autograde would, with these ``Sandbox`` settings."""
    cells = [new_markdown_cell(s[3:]) if s.startswith("#md") else new_code_cell(s) for s in sources]
    graded, _ = _execute(tmp_path, cells, Config({"Sandbox": settings}))
    return graded


def _text(cell) -> str:
    return "".join(output.get("text", "") for output in cell.get("outputs", []) if output.output_type == "stream")


def _errors(cell) -> list[tuple[str, str]]:
    return [(output.ename, output.evalue) for output in cell.get("outputs", []) if output.output_type == "error"]


AFTER = "The cells after it ran in a fresh kernel."


@pytest.mark.seconds  # three kernels: 4 to 5 s
def test_a_kernel_that_dies_costs_only_its_cell(tmp_path):
    """A kernel that exits or is killed marks that cell with why; the cells after it run in a
    fresh kernel that the cells before it brought back to their state (silently)."""
    nb = _run(
        tmp_path,
        "x = 41\nprint('once')",
        "import os\nos._exit(3)",
        "print(x + 1)",
        "#md a written answer",
        "y = 2",  # after a markdown cell and a faulted one: replayed too
        "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)",
        "print(x + y)",
    )
    cells = nb.cells
    assert _text(cells[0]) == "once\n" and _text(cells[2]) == "42\n" and _text(cells[6]) == "43\n"
    exited = "it exited with status 3 (os._exit or exit from inside a thread)"
    crashed = "it was killed by signal 11 (SIGSEGV, a crash)"
    assert _errors(cells[1]) == [
        (
            "KernelDied",
            f"The kernel running your notebook died during this cell: {exited}. {AFTER}",
        )
    ]
    assert _errors(cells[5]) == [
        (
            "KernelDied",
            f"The kernel running your notebook died during this cell: {crashed}. {AFTER}",
        )
    ]
    assert nb.metadata[FAULTS_KEY] == [
        {"where": "cell 2", "kind": "kernel died", "message": f"the kernel died while running this cell: {exited}"},
        {"where": "cell 6", "kind": "kernel died", "message": f"the kernel died while running this cell: {crashed}"},
    ]


@pytest.mark.slow  # four kernels started, one after another
def test_a_kernel_that_keeps_dying_is_given_up_after_its_restarts(tmp_path):
    """Past ``max_restarts`` restarts the remaining code cells are not run, and the fault says how
    many; an exit status that is no signal's is named as a status."""
    config = Config({"SandboxedExecute": {"max_restarts": 2}})
    cells = [new_code_cell(f"import os\nos._exit({status})") for status in (128, 193, 255, 1)]
    cells += [new_markdown_cell("notes"), new_code_cell("print('never')")]
    for index, grade_id in ((3, "fourth"), (5, "last")):  # a fault names a cell by its grade id
        cells[index].metadata["nbgrader"] = {"grade_id": grade_id, "solution": True, "grade": False}
    graded, _ = _execute(tmp_path, cells, config)
    assert [len(_errors(cell)) for cell in graded.cells] == [1, 1, 1, 0, 0, 0]
    exited = "the kernel died while running this cell: it exited with status {} (os._exit or exit from inside a thread)"
    assert [f["message"] for f in graded.metadata[FAULTS_KEY]] == [
        *(exited.format(status) for status in (128, 193, 255)),  # 193 = 128 + 65: no signal has that number
        "the kernel failed 3 times; 2 later code cells were not run",
    ]
    assert graded.metadata[FAULTS_KEY][-1]["where"] == "fourth"


def test_a_cells_output_is_capped_where_it_passes_max_output_kb(tmp_path):
    """A cell past ``max_output_kb`` keeps what came before the cap and a note; the next cell's
    output is its own."""
    nb = _run(
        tmp_path,
        "for i in range(30):\n    print('x' * 99, flush=True)",  # 3 KB in 100-byte messages: past 2 KiB
        "print('y' * 1500)",
        max_output_kb=2,
    )
    # Output is counted as the JSON of each message's content, as the kernel sends it.
    size = len(json.dumps({"name": "stdout", "text": "x" * 99 + "\n"}))
    kept = ("x" * 99 + "\n") * (2048 // size)
    assert _text(nb.cells[0]) == kept + "\n[Output stopped here: this cell produced more than 2 KiB.]\n"
    assert _text(nb.cells[1]) == "y" * 1500 + "\n"
    assert [(f["where"], f["kind"]) for f in nb.metadata[FAULTS_KEY]] == [("cell 1", "output limit")]


@pytest.mark.parametrize("past", [0, 1])
def test_a_cells_output_exactly_at_max_output_kb_is_kept(tmp_path, past):
    """The cap counts the JSON of each message's content and includes the bound itself."""
    text = "x" * (2048 - len(json.dumps({"name": "stdout", "text": "\n"})) + past)
    nb = _run(tmp_path, f"print({text!r})", max_output_kb=2)
    if past:
        assert _text(nb.cells[0]) == "\n[Output stopped here: this cell produced more than 2 KiB.]\n"
    else:
        assert _text(nb.cells[0]) == text + "\n" and FAULTS_KEY not in nb.metadata


@pytest.mark.parametrize("past", [0, 1])
def test_a_notebooks_output_is_capped_where_its_cells_together_pass_max_notebook_output_kb(tmp_path, past):
    """Cells each within their own cap, together exactly at the notebook's (5 KiB, counted as the
    JSON of each message's content) keep all of it; one byte more, and the cell whose output passes
    it keeps none of it, and says so."""
    sizes = [1500, 1500, 1500]
    used = sum(len(json.dumps({"name": "stdout", "text": "y" * n + "\n"})) for n in sizes)
    last = 5 * 1024 - used - len(json.dumps({"name": "stdout", "text": "\n"})) + past
    sources = [f"print('y' * {n})" for n in [*sizes, last]]
    nb = _run(tmp_path, *sources, max_output_kb=2, max_notebook_output_kb=5)
    assert [_text(cell) for cell in nb.cells[:3]] == ["y" * 1500 + "\n"] * 3
    if past:
        assert (
            _text(nb.cells[3]) == "\n[Output stopped here: the notebook's cells together produced more than 5 KiB.]\n"
        )
        assert [(f["where"], f["kind"]) for f in nb.metadata[FAULTS_KEY]] == [("cell 4", "output limit")]
    else:
        assert _text(nb.cells[3]) == "y" * last + "\n" and FAULTS_KEY not in nb.metadata


@pytest.mark.slow  # 4 s of waiting for the budget's last second
def test_a_cell_started_in_the_budgets_last_second_may_run_one_second(tmp_path):
    """The budget's end is not rounded up by more than a second: a cell that starts with half a
    second left is given one second."""
    deadline = time.monotonic() + 3.5
    wake = time.time() + 3  # the first cell ends with half a second of the budget left
    cells = [new_code_cell(f"import time\ntime.sleep({wake!r} - time.time())"), new_code_cell("time.sleep(30)")]
    config = Config({"Sandbox": {"notebook_seconds": 4}})
    graded, _ = _execute(tmp_path, cells, config, {DEADLINE_KEY: deadline})  # as the hidden checks share it
    assert [(f["where"], f["kind"], f["message"]) for f in graded.metadata[FAULTS_KEY]] == [
        ("cell 2", "timeout", "the cell did not finish within 1 seconds")
    ]


@pytest.mark.slow  # 3.5 s of waiting for the budget to run out
def test_the_time_budget_stops_the_notebook_and_says_where(tmp_path):
    """A cell may run only as long as the notebook's budget has left; the code cells after it are
    not run, the first of them says so, and the deadline is left for the hidden checks."""
    cells = [new_code_cell("print('started')"), new_code_cell("import time\ntime.sleep(30)")]
    cells += [new_markdown_cell("notes"), new_code_cell("print('late')"), new_code_cell("print('later')")]
    graded, resources = _execute(tmp_path, cells, Config({"Sandbox": {"notebook_seconds": 3}}))
    assert DEADLINE_KEY in resources
    assert _text(graded.cells[0]) == "started\n"
    assert _errors(graded.cells[3]) == [
        ("TimeBudget", "Grading stopped here: this notebook's time budget of 3 seconds ran out.")
    ]
    assert _text(graded.cells[4]) == "" and _errors(graded.cells[4]) == []
    kinds = [(f["where"], f["kind"], f["message"]) for f in graded.metadata[FAULTS_KEY]]
    assert kinds == [
        ("cell 2", "timeout", "the cell did not finish within 3 seconds"),
        ("cell 4", "time budget", "the notebook's time budget of 3 seconds ran out; 2 code cells were not run"),
    ]


def test_a_stand_in_for_an_unreadable_notebook_is_not_run(tmp_path):
    """The intake's stand-in for a notebook it could not read has nothing to run."""
    nb = new_notebook(cells=[new_code_cell("print('never')")], metadata={UNREADABLE_KEY: "why"})
    graded, _ = SandboxedExecute().preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    assert graded.cells[0].outputs == [] and FAULTS_KEY not in graded.metadata


KERNEL_LIMITS = """
import resource
names = ("AS", "CPU", "NOFILE", "FSIZE", "CORE", "NPROC")
print([list(resource.getrlimit(getattr(resource, "RLIMIT_" + name))) for name in names])
"""


def test_a_kernel_runs_under_the_kernels_limits_docs_security_states(tmp_path):
    """A notebook's kernel has the kernel's memory and open files (more than the hidden checks'
    process), the rest as every sandboxed process; the values as it sees them."""
    promised, mib = documented_limits(), 1 << 20
    nb = _run(tmp_path, KERNEL_LIMITS)
    expected = [
        promised.kernel_memory_mb * mib,
        promised.cpu_seconds,
        promised.kernel_open_files,
        promised.file_mb * mib,
        0,
        promised.max_processes,
    ]
    assert _text(nb.cells[0]) == f"{[[value, value] for value in expected]}\n"


FILES_BESIDE = """
import os
print(sorted(os.listdir(".")), open("data.csv").read(), open("more/inner.txt").read())
open("figure.txt", "w").write("drawn")
print(open("figure.txt").read())
try:
    open("data.csv", "w")
except OSError as error:
    print(type(error).__name__)
"""


def test_a_kernel_sees_its_notebooks_folder_read_only_and_keeps_what_it_writes_to_itself(tmp_path):
    """The notebook's files and folders are its working folder, read-only; what it writes beside
    them stays in its sandbox and never reaches the grader's folder; a link is not followed."""
    (tmp_path / "data.csv").write_text("1,2")
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "inner.txt").write_text("inner")
    (tmp_path / "elsewhere.txt").symlink_to("/etc/hostname")
    before = sorted(p.name for p in tmp_path.iterdir())
    nb = _run(tmp_path, FILES_BESIDE)
    assert _text(nb.cells[0]) == "['data.csv', 'more'] 1,2 inner\ndrawn\nOSError\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert (tmp_path / "data.csv").read_text() == "1,2"


def _kernelspec(tmp_path, monkeypatch, name: str, start: str) -> None:
    """A kernelspec ``name`` whose kernel is ``python -c start``, found through JUPYTER_PATH."""
    spec = tmp_path / "jupyter" / "kernels" / name
    spec.mkdir(parents=True)
    argv = [sys.executable, "-c", start, "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": name, "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))


async def _wait_for_ready(name: str, timeout: float) -> tuple[str, float]:
    """Start kernel ``name`` in its sandbox and wait for it as autograde does: what the wait raised
    ("" if nothing) and how long it took (bounded here, so that a wait that never ends fails)."""
    manager = SandboxedKernelManager(kernel_name=name)
    await manager.start_kernel()
    client = manager.client()
    client.start_channels()
    start = time.monotonic()
    try:
        await asyncio.wait_for(client.wait_for_ready(timeout=timeout), timeout + 20)
        raised = ""
    except RuntimeError as error:
        raised = str(error)
    finally:
        seconds = time.monotonic() - start
        client.stop_channels()
        await manager.shutdown_kernel(now=True)
    return raised, seconds


def _in_a_fresh_loop(coroutine):
    """Run ``coroutine`` in a thread of its own: an earlier test may have left this thread's loop running."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@pytest.mark.seconds  # the start-up timeout waited for: 5 s
def test_a_kernel_that_never_answers_is_given_up_at_the_start_up_timeout(tmp_path, monkeypatch):
    """A kernel that starts but never answers is given up once the start-up timeout has passed,
    not before and not much after; one that exits at once is named dead without waiting."""
    _kernelspec(tmp_path, monkeypatch, "silent", "import time; time.sleep(120)")
    _kernelspec(tmp_path, monkeypatch, "gone", "pass")
    raised, seconds = _in_a_fresh_loop(_wait_for_ready("silent", timeout=2))  # 2, not 1: x ** 1 is x
    assert raised == "Kernel didn't respond in 2 seconds" and 2 <= seconds < 8
    raised, seconds = _in_a_fresh_loop(_wait_for_ready("gone", timeout=30))
    assert raised == "Kernel died before replying to kernel_info" and seconds < 10


def test_a_sandbox_that_never_reports_its_process_is_named_after_the_wait(tmp_path):
    """The kernel's sockets are reached through the sandbox's first process, which bubblewrap
    reports once the sandbox is built: a report that never comes is an error after the wait."""
    manager = SandboxedKernelManager()
    manager._command = SandboxedCommand(["/bin/true"], Limits())  # built, never started: no report
    start = time.monotonic()
    try:
        with pytest.raises(RuntimeError, match="the kernel's sandbox did not start"):
            manager._sandbox_pid(wait=0.5)
    finally:
        manager._command.close()
    assert 0.5 <= time.monotonic() - start < 3


@pytest.mark.seconds  # a kernel 1.5 s late waited for
def test_a_kernel_that_answers_after_a_second_is_waited_for(tmp_path, monkeypatch):
    """The grader asks a starting kernel again each second until the start-up timeout: a kernel
    slower than one try (here a kernelspec that sleeps before it starts) still runs the notebook."""
    start = "import time; time.sleep(1.5); from ipykernel.kernelapp import launch_new_instance; launch_new_instance()"
    _kernelspec(tmp_path, monkeypatch, "slow-python", start)
    work = tmp_path / "work"
    work.mkdir()
    nb = new_notebook(
        cells=[new_code_cell("print('ran')")], metadata={"kernelspec": {"name": "slow-python", "display_name": "Slow"}}
    )
    graded, _ = SandboxedExecute().preprocess(nb, {"metadata": {"path": str(work)}})
    assert _text(graded.cells[0]) == "ran\n" and FAULTS_KEY not in graded.metadata


class _FlagBeforeReplay(SandboxedExecute):
    """Autograde's executor, which writes "again" into the notebook folder's ``replaying`` file
    (bound into the sandbox read-only, so the kernel sees the change) just before a replay: a
    cell can behave differently the second time without racing a clock."""

    def _replay(self, upto: int) -> bool:
        (Path(self.resources["metadata"]["path"]) / "replaying").write_text("again")
        return super()._replay(upto)


AGAIN = "import os, time\nif open('replaying').read() == 'again':\n"


def _execute_twice(folder, sources: list[str], config: Config | None = None):
    """Run ``sources`` as autograde would, a cell seeing ``replaying`` say "again" once replayed."""
    (folder / "replaying").write_text("first")
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    graded, _ = _FlagBeforeReplay(config=config or Config()).preprocess(nb, {"metadata": {"path": str(folder)}})
    return graded


@pytest.mark.slow  # 3 s: two kernels and a replay
def test_a_replay_that_fails_leaves_the_rest_of_the_notebook_unrun(tmp_path):
    """After a kernel dies, the cells before it are run again in the new kernel; if one of them
    fails there (here: it behaves differently the second time), the rest is not run, and the
    fault says so, rather than running cells in a kernel without their state."""
    nb = _execute_twice(tmp_path, [AGAIN + "    os._exit(1)\nx = 1", "import os\nos._exit(2)", "print(x)"])
    assert _text(nb.cells[0]) == "" and _errors(nb.cells[0]) == []  # the first run's outputs are kept
    assert _text(nb.cells[2]) == "" and _errors(nb.cells[2]) == []
    assert [(f["where"], f["kind"]) for f in nb.metadata[FAULTS_KEY]] == [
        ("cell 2", "kernel died"),
        ("cell 3", "not run"),
    ]


@pytest.mark.slow  # 4 s: two kernels and a replayed cell's 2 s timeout
def test_a_replay_whose_cell_times_out_leaves_the_rest_of_the_notebook_unrun(tmp_path):
    """A cell that times out when replayed leaves the kernel without its state (interrupted
    part-way): the rest is not run, as after any failed replay."""
    sources = [AGAIN + "    time.sleep(60)\nx = 1", "import os\nos._exit(2)", "print(x)"]
    graded = _execute_twice(tmp_path, sources, Config({"SandboxedExecute": {"timeout": 2}}))
    assert _text(graded.cells[2]) == "" and _errors(graded.cells[2]) == []
    assert [(f["where"], f["kind"]) for f in graded.metadata[FAULTS_KEY]] == [
        ("cell 2", "kernel died"),
        ("cell 3", "not run"),
    ]


@pytest.mark.slow  # 9 s of waiting: a replay that reaches the budget's end
def test_a_replay_stops_at_the_budgets_end(tmp_path):
    """The replay after a dead kernel is part of the notebook's time: once the budget is spent,
    no further cell is replayed (each would be given its last second again), and the cells not
    run are named."""
    slow_again = "import time\nif time.time() > {later!r}:\n    time.sleep(0.8)"
    later = time.time() + 5  # the first run's ten cells, however slow the kernel's start, come before
    deadline = time.monotonic() + 5 + 2.5  # about a second into the replay of ten 0.8 s cells
    cells = [new_code_cell(slow_again.format(later=later)) for _ in range(10)]
    cells += [new_code_cell(f"import os\ntime.sleep(max(0, {later!r} - time.time()))\nos._exit(2)"), new_code_cell("1")]
    config = Config({"Sandbox": {"notebook_seconds": 5}})
    graded, _ = _execute(tmp_path, cells, config, {DEADLINE_KEY: deadline})
    overrun = time.monotonic() - deadline
    assert [(f["where"], f["kind"]) for f in graded.metadata[FAULTS_KEY]] == [
        ("cell 11", "kernel died"),
        ("cell 12", "time budget"),
    ]
    assert overrun < 4  # the cell replayed when the budget ran out, and the kernel's end (the rest: 6 s more)


def test_a_machine_without_a_sandbox_is_refused_before_any_kernel_starts(tmp_path, monkeypatch):
    """Autograde's first notebook asks whether a sandbox can be built here; on a machine that
    cannot, grading stops with the reason, and no kernel is started unconfined."""
    from gankit.sandbox import availability
    from gankit.sandbox.availability import SandboxUnavailable

    monkeypatch.setattr(availability, "bwrap_path", lambda: "")
    availability._probe.cache_clear()
    started = []
    monkeypatch.setattr(SandboxedExecute, "setup_kernel", lambda self, **kw: started.append(self))
    try:
        with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
            _run(tmp_path, "print('never')")
    finally:
        availability._probe.cache_clear()
    assert started == []


@pytest.mark.slow  # five kernels
def test_each_named_signal_is_named_in_the_cell_it_ended(tmp_path):
    """A kernel ended by the memory limit's SIGKILL, an abort or the CPU limit's SIGXCPU is named
    by that cause in the cell it ended; any other signal by its number, down to the first."""
    signals = [("SIGKILL", "SIGKILL, usually the memory limit"), ("SIGABRT", "SIGABRT, a crash")]
    signals += [("SIGXCPU", "SIGXCPU, the CPU-time limit"), ("SIGHUP", "a signal")]  # SIGHUP: the first signal
    sources = [f"import os, signal\nos.kill(os.getpid(), signal.{name})" for name, _ in signals]
    cells = [new_code_cell(source) for source in ["x = 1", *sources, "print(x)"]]
    nb, _ = _execute(tmp_path, cells, Config({"SandboxedExecute": {"max_restarts": len(signals)}}))
    assert [f["message"] for f in nb.metadata[FAULTS_KEY]] == [
        f"the kernel died while running this cell: it was killed by signal {int(getattr(signal, name))} ({words})"
        for name, words in signals
    ]
    assert _text(nb.cells[-1]) == "1\n"
