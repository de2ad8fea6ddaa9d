"""Where the CPU of grading one notebook goes: each phase measured alone, in a cpuacct cgroup.

``make benchmark`` times whole runs; this module takes one of them apart, per notebook:

* the sandbox's own machinery (the launcher, bubblewrap, setpriv and prlimit, around ``true``);
* a kernel's start to its first answer, its import of numpy and matplotlib (what every notebook
  of the course does first) and its kill, sandboxed as the kit runs it and plain as nbgrader does
  (the grader process's own share, its ZeroMQ side, counted apart);
* a whole notebook's execution, the kit's ``SandboxedExecute`` and nbgrader's ``Execute``: less
  the kernel's start, what the notebook's cells cost (numpy, matplotlib, its figures);
* what the same kernel would cost forked from a warm server that has Python, ipykernel, numpy and
  matplotlib loaded already, one server per student (three notebooks): a prototype, run without
  the sandbox, to show what a warm kernel could save and what it would leave.

The hidden checks and nbgrader's own work in the grading process are the rest of a serial run
(``gankit.benchmark`` prints both).

    python -m gankit.cpu_breakdown [--notebooks FOLDER] [--runs N]     (solutions/ by default)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from traitlets.config import Config

from gankit import ASSIGNMENT, NOTEBOOKS, ROOT, notebooks

CPUACCT = Path("/sys/fs/cgroup/cpuacct")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def counted_by() -> str:
    """How ``cpu_account`` counts here."""
    return "cpuacct cgroups" if CPUACCT.is_dir() and os.geteuid() == 0 else "waited-for processes only"


@contextlib.contextmanager
def cpu_account(name: str) -> Iterator[Callable[[], float]]:
    """Run the body in a cpuacct cgroup of its own; yield a function that reads the CPU seconds of
    everything that ran in it (this process included, while inside). Falls back to waited-for
    children where cgroups cannot be made."""
    group = CPUACCT / f"gankit-benchmark-{os.getpid()}-{name}"
    try:
        group.mkdir()
        (group / "cgroup.procs").write_text(str(os.getpid()))
    except OSError:
        start = _children_cpu() + time.process_time()
        yield lambda: _children_cpu() + time.process_time() - start
        return
    try:
        yield lambda: int((group / "cpuacct.usage").read_text()) / 1e9
    finally:
        (CPUACCT / "cgroup.procs").write_text(str(os.getpid()))
        for _ in range(100):  # until the last killed process has left
            try:
                group.rmdir()
                break
            except OSError:
                time.sleep(0.05)


@dataclass(frozen=True)
class Cost:
    """CPU seconds per item: of every process, and of the measuring (grader) process alone."""

    total: float
    grader: float

    @property
    def others(self) -> float:
        return self.total - self.grader


def _measure(name: str, count: int, body: Callable[[], None]) -> Cost:
    with cpu_account(name) as cpu:
        own = time.process_time()
        body()
        own = time.process_time() - own
        total = cpu()
    return Cost(total / count, own / count)


# -- the phases ---------------------------------------------------------------------------------


def sandbox_alone(runs: int) -> Cost:
    """The sandbox's machinery around a command that does nothing (``/bin/true``)."""
    from gankit.sandbox.command import SandboxedCommand
    from gankit.sandbox.limits import Limits

    def body() -> None:
        for _ in range(runs):
            box = SandboxedCommand(["/bin/true"], Limits(), quiet=True)
            try:
                subprocess.run(box.command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=True)
            finally:
                box.close()

    return _measure("sandbox", runs, body)


def _config(sandboxed: bool) -> Config:
    config = Config()
    config.Sandbox.allow_unsandboxed = not sandboxed
    return config


# What every notebook of the course runs first, and what a warm server would have loaded already.
IMPORTS = "import numpy, matplotlib, matplotlib.pyplot"


def _quiet(message: dict) -> None:
    """An output hook that keeps nothing."""


async def _start_and_kill(manager_class: type, cwd: str, config: Config) -> None:
    manager = manager_class(kernel_name="python3", config=config)
    quiet = {} if manager_class.__name__.startswith("Sandboxed") else {"stderr": subprocess.DEVNULL}
    await manager.start_kernel(cwd=cwd, **quiet)  # a plain kernel warns on stderr that TCP is not encrypted
    client = manager.client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=60)
        reply = await client.execute_interactive(IMPORTS, timeout=60, output_hook=_quiet)
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"the kernel could not import numpy and matplotlib: {reply['content']}")
    finally:
        client.stop_channels()
        await manager.shutdown_kernel(now=True)


def kernel_starts(runs: int, sandboxed: bool, cwd: str) -> Cost:
    """A kernel started, waited for until it answers, made to import numpy and matplotlib, and
    killed, as the kit (``sandboxed``) or plain nbgrader starts one."""
    from jupyter_client.manager import AsyncKernelManager

    from gankit.sandbox.kernel import SandboxedKernelManager

    manager_class = SandboxedKernelManager if sandboxed else AsyncKernelManager

    def body() -> None:
        for _ in range(runs):
            asyncio.run(_start_and_kill(manager_class, cwd, _config(sandboxed)))

    return _measure("kernel-sandboxed" if sandboxed else "kernel-plain", runs, body)


def executions(paths: list[Path], sandboxed: bool) -> Cost:
    """Each notebook executed whole, by the kit's ``SandboxedExecute`` or by nbgrader's ``Execute``."""
    from nbgrader.preprocessors import Execute

    from gankit.nbgrader_adapter.execute import SandboxedExecute

    read = [notebooks.read(path) for path in paths]

    def body() -> None:
        for path, nb in zip(paths, read, strict=True):
            if sandboxed:
                preprocessor = SandboxedExecute(config=_config(True))
            else:
                preprocessor = Execute(config=_config(False))
            preprocessor.preprocess(copy.deepcopy(nb), {"metadata": {"path": str(path.parent)}})

    return _measure("execute-sandboxed" if sandboxed else "execute-plain", len(paths), body)


# A warm server, for the prototype: Python, ipykernel (with the modules its kernel loads as it
# starts), numpy and matplotlib loaded once (the backend chosen as ipykernel chooses it, before
# matplotlib reads it) and frozen out of the collector's sight (a fork then copies fewer pages),
# then one kernel forked per line read, given the connection file the line names; the server
# waits for each kernel to end.
WARM_SERVER = r"""
import gc, os, sys
os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
import numpy, matplotlib, matplotlib.pyplot, sqlite3
from ipykernel import ipkernel, kernelapp, zmqshell
gc.freeze()
requests, replies = sys.stdin, sys.stdout
for line in requests:
    pid = os.fork()
    if pid == 0:
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        sys.argv = ["ipykernel_launcher", "-f", line.strip()]
        kernelapp.launch_new_instance()
        os._exit(0)
    replies.write(f"{pid}\n")
    replies.flush()
    os.waitpid(pid, 0)
"""


def _forked_kernel(server: subprocess.Popen, folder: str, index: int) -> None:
    from jupyter_client.blocking import BlockingKernelClient
    from jupyter_client.connect import write_connection_file

    path, _ = write_connection_file(
        os.path.join(folder, f"kernel-{index}.json"), transport="ipc", ip=f"{folder}/k{index}"
    )
    server.stdin.write(f"{path}\n")
    server.stdin.flush()
    pid = int(server.stdout.readline())
    client = BlockingKernelClient()
    client.load_connection_file(path)
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        reply = client.execute_interactive(IMPORTS, timeout=60, output_hook=_quiet)
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"the forked kernel could not import numpy and matplotlib: {reply['content']}")
    finally:
        client.stop_channels()
        os.kill(pid, signal.SIGKILL)


def forked_kernels(students: int, per_student: int = len(NOTEBOOKS)) -> Cost:
    """Prototype, without the sandbox: per student, one warm server (its imports once), then a kernel
    forked for each of ``per_student`` notebooks, waited for until it answers, made to import numpy
    and matplotlib (loaded already), and killed."""
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")

    def body() -> None:
        for _ in range(students):
            with tempfile.TemporaryDirectory(prefix="gankit-warm-") as folder:
                server = subprocess.Popen(
                    [sys.executable, "-c", WARM_SERVER],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    env={**env, "MPLCONFIGDIR": os.path.join(folder, "mpl"), "IPYTHONDIR": os.path.join(folder, "ip")},
                    cwd=folder,
                    text=True,
                )
                try:
                    for index in range(per_student):
                        _forked_kernel(server, folder, index)
                finally:
                    server.stdin.close()
                    server.wait(timeout=60)

    return _measure("kernel-forked", students * per_student, body)


# -- the table ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Breakdown:
    """Per notebook, each phase's CPU (see the module's docstring)."""

    sandbox: Cost
    kernel_kit: Cost
    kernel_plain: Cost
    kernel_forked: Cost
    execute_kit: Cost
    execute_plain: Cost

    @property
    def warm_kit_kernel(self) -> float:
        """A warm kernel in the kit, estimated: the sandbox built once per student, a forked kernel
        per notebook (its server's imports shared by the student's notebooks, as measured)."""
        return self.sandbox.total / len(NOTEBOOKS) + self.kernel_forked.total

    @property
    def saving(self) -> float:
        """What a warm kernel would save per notebook, estimated."""
        return self.kernel_kit.total - self.warm_kit_kernel

    def lines(self) -> list[str]:
        started = "kernel to ready, numpy and matplotlib imported, killed"
        rows = [
            ("sandbox machinery alone (launcher, bwrap, setpriv, prlimit)", self.sandbox),
            (f"{started}: kit", self.kernel_kit),
            (f"{started}: plain", self.kernel_plain),
            (f"  the same forked from a warm server, {len(NOTEBOOKS)} per server (prototype)", self.kernel_forked),
            ("whole notebook executed: kit (SandboxedExecute)", self.execute_kit),
            ("whole notebook executed: plain nbgrader (Execute)", self.execute_plain),
        ]
        out = [f"{'CPU s per notebook':76}{'all':>8}{'grader':>8}{'others':>8}"]
        out += [f"{label:76}{c.total:8.3f}{c.grader:8.3f}{c.others:8.3f}" for label, c in rows]
        for name, execute, kernel in (
            ("kit", self.execute_kit, self.kernel_kit),
            ("plain", self.execute_plain, self.kernel_plain),
        ):
            label = f"  the rest of the notebook (executed less the kernel line): {name}"
            out.append(f"{label:76}{execute.total - kernel.total:8.3f}")
        out.append(
            f"{'a warm kernel in the kit, estimated (sandbox / ' + str(len(NOTEBOOKS)) + ' + the forked kernel)':76}"
            f"{self.warm_kit_kernel:8.3f}   saving {self.saving:.3f}"
        )
        return out


def measure(paths: list[Path], runs: int) -> Breakdown:
    """Every phase: ``runs`` times for the kernel's and the sandbox's, once per notebook of ``paths``."""
    cwd = str(paths[0].parent)
    students = max(1, runs // len(NOTEBOOKS))
    return Breakdown(
        sandbox=sandbox_alone(runs),
        kernel_kit=kernel_starts(runs, True, cwd),
        kernel_plain=kernel_starts(runs, False, cwd),
        kernel_forked=forked_kernels(students),
        execute_kit=executions(paths, True),
        execute_plain=executions(paths, False),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notebooks", type=Path, default=ROOT / "solutions" / ASSIGNMENT)
    parser.add_argument("--runs", type=int, default=9, help="kernel starts per kind")
    args = parser.parse_args(argv)
    paths = sorted(args.notebooks.glob("*.ipynb"))
    print(f"CPU counted by {counted_by()}")
    print("\n".join(measure(paths, args.runs).lines()))


if __name__ == "__main__":
    main()
