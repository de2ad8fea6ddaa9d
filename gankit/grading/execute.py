"""How ``nbgrader autograde`` runs a submitted notebook: in the sandbox, one fault costing one cell.

``SandboxedExecute`` replaces nbgrader's ``Execute`` in ``nbgrader_config.py``. It starts each
kernel through ``gankit.sandbox.kernel.SandboxedKernelManager`` and differs from nbgrader's only
where a submission misbehaves:

* a kernel that dies (a crash, ``os._exit``, the memory limit) or a cell that will not stop after
  its timeout marks that cell with an error saying so; the kernel is started again, the cells
  before it are replayed silently, and the notebook carries on (nbgrader would abandon every
  notebook of that student);
* a cell's output is capped (``Sandbox.max_output_kb``), so a print loop cannot fill the
  grader's memory or the gradebook;
* each of these is recorded as a fault in the notebook's metadata (``gankit.grading.faults``).

Scores never depend on this kernel: the hidden checks run the student's functions in their own
sandboxed process. The kernel's run is what students see in their feedback (figures, messages).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from nbclient import NotebookClient
from nbclient.exceptions import CellControlSignal, DeadKernelError
from nbformat import NotebookNode
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute
from traitlets import Int

from gankit.grading.faults import FAULTS_KEY, UNREADABLE_KEY, cell_name, fault
from gankit.sandbox.kernel import SandboxedKernelManager
from gankit.sandbox.policy import ensure_available
from gankit.sandbox.settings import Sandbox


def _death(exit_code: int | None) -> str:
    """Why a kernel's process ended, in words (the supervisor exits as the kernel did)."""
    if exit_code is None:
        return "it stopped answering"
    code = exit_code % 256
    if code > 128:
        signal_number = 256 - code  # the supervisor exits with the kernel's -signal, modulo 256
        names = {
            9: "SIGKILL, usually the memory limit",
            11: "SIGSEGV, a crash",
            6: "SIGABRT, a crash",
            24: "SIGXCPU, the CPU-time limit",
        }
        return f"it was killed by signal {signal_number} ({names.get(signal_number, 'a signal')})"
    return f"it exited with status {code} (os._exit or exit from inside a thread)"


class SandboxedExecute(Execute):
    """nbgrader's ``Execute`` with the kernel in the sandbox and faults isolated to their cell."""

    max_restarts = Int(3, help="Kernel restarts allowed per notebook before its remaining cells are skipped.").tag(
        config=True
    )

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(*args, **kwargs)

    def preprocess(self, nb: NotebookNode, resources: Any = None, km: Any = None) -> tuple[NotebookNode, Any]:
        settings = Sandbox(parent=self)
        if settings.enabled:
            ensure_available()  # raises SandboxUnavailable, which stops the whole run with the reason
        if nb.metadata.get(UNREADABLE_KEY):
            return nb, resources  # a stand-in for a notebook that could not be read: nothing to run
        self._output_limit = settings.max_output_kb * 1024
        NotebookClient.__init__(self, nb, km)  # as nbconvert does: the client is reset per notebook
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        self._faults: list[dict[str, str]] = []
        self._faulted: set[int] = set()
        self._output_sizes: dict[int, int] = {}
        cells = self.nb.cells
        index, restarts = 0, 0
        shutdown = self.shutdown_kernel  # as configured; "immediate" after a fault
        while index < len(cells):
            if restarts > self.max_restarts:
                self._skip_rest(index)
                break
            with self.setup_kernel():
                info = self.wait_for_reply(self.kc.kernel_info())
                self.nb.metadata["language_info"] = info["content"]["language_info"]
                if restarts and not self._replay(index):
                    self._skip_rest(index)
                    break
                while index < len(cells):
                    failed = self._run_cell(cells[index], resources, index)
                    index += 1
                    if failed:
                        restarts += 1
                        self.shutdown_kernel = "immediate"  # a stuck kernel would not answer a polite request
                        break
            self.shutdown_kernel = shutdown
        self.set_widgets_metadata()
        if self._faults:
            self.nb.metadata[FAULTS_KEY] = self.nb.metadata.get(FAULTS_KEY, []) + self._faults
            for item in self._faults:
                self.log.warning("%s: %s: %s", item["where"], item["kind"], item["message"])
        return self.nb, self.resources

    # -- one cell ----------------------------------------------------------------------------

    def _run_cell(self, cell: NotebookNode, resources: Any, index: int) -> bool:
        """Run one cell; return True if the kernel must be replaced before the next one."""
        self._timed_out = False
        try:
            self.preprocess_cell(cell, resources, index)
        except DeadKernelError:
            reason = _death(self._exit_code())
            self._record(cell, index, "kernel died", f"the kernel died while running this cell: {reason}")
            cell.outputs.append(
                new_output(
                    "error",
                    ename="KernelDied",
                    evalue=f"The kernel running your notebook died during this cell: {reason}. "
                    "The cells after it ran in a fresh kernel.",
                    traceback=[],
                )
            )
            return True
        except CellControlSignal as error:  # e.g. output still pouring in after the interrupt
            if not self._timed_out:
                self._record(cell, index, "stuck", f"the kernel stopped responding: {error}")
                return True
        if self._timed_out:
            self._record(cell, index, "timeout", f"the cell did not finish within {self.timeout} seconds")
            return True
        return False

    async def _async_handle_timeout(self, timeout: int, cell: NotebookNode | None = None) -> Any:
        self._timed_out = True
        return await super()._async_handle_timeout(timeout, cell)

    def _exit_code(self) -> int | None:
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        return process.poll() if process is not None else None

    def _record(self, cell: NotebookNode, index: int, kind: str, message: str) -> None:
        self._faulted.add(index)
        self._faults.append(fault(cell_name(cell, index), kind, message))

    def _replay(self, upto: int) -> bool:
        """Bring a fresh kernel to the state before cell ``upto``, keeping the recorded outputs."""
        for index in range(upto):
            cell = self.nb.cells[index]
            if cell.cell_type != "code" or index in self._faulted:
                continue
            self._timed_out = False
            try:
                self.execute_cell(copy.deepcopy(cell), index, store_history=False)
            except (DeadKernelError, CellControlSignal):
                return False
            if self._timed_out:
                return False
        return True

    def _skip_rest(self, index: int) -> None:
        rest = [i for i in range(index, len(self.nb.cells)) if self.nb.cells[i].cell_type == "code"]
        if rest:
            self._faults.append(
                fault(
                    cell_name(self.nb.cells[rest[0]], rest[0]),
                    "not run",
                    f"the kernel failed {self.max_restarts + 1} times; {len(rest)} later code cells were not run",
                )
            )

    # -- output ------------------------------------------------------------------------------

    def output(self, outs: list, msg: dict, display_id: str | None, cell_index: int) -> NotebookNode | None:
        size = len(json.dumps(msg.get("content", {}), default=str))
        used = self._output_sizes.get(cell_index, 0)
        self._output_sizes[cell_index] = used + size
        if used + size <= self._output_limit:
            return super().output(outs, msg, display_id, cell_index)
        if used <= self._output_limit:  # the first message over the limit: say so, once
            cell = self.nb.cells[cell_index]
            limit_kb = self._output_limit // 1024
            self._faults.append(
                fault(
                    cell_name(cell, cell_index),
                    "output limit",
                    f"more than {limit_kb} KiB of output; the rest was dropped",
                )
            )
            outs.append(
                new_output(
                    "stream",
                    name="stdout",
                    text=f"\n[Output stopped here: this cell printed more than {limit_kb} KiB.]\n",
                )
            )
        return None
