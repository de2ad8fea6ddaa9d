"""How ``nbgrader autograde`` runs a submitted notebook: in the sandbox, one fault costing one cell.

``SandboxedExecute`` replaces nbgrader's ``Execute`` (``gankit.nbgrader_adapter.pipeline``). It starts each
kernel through ``gankit.sandbox.kernel.SandboxedKernelManager`` and differs from nbgrader's only
where a submission misbehaves:

* a kernel that dies (a crash, ``os._exit``, the memory limit) or a cell that will not stop after
  its timeout marks that cell with an error saying so; the kernel is started again, the cells
  before it are replayed silently, and the notebook carries on (nbgrader would abandon every
  notebook of that student);
* output is capped per cell (``Sandbox.max_output_kb``) and per notebook
  (``Sandbox.max_notebook_output_kb``) on every path it can take into the notebook (streams,
  displays and their updates, results, errors); widget state is never kept;
* the notebook has a wall-time budget (``Sandbox.notebook_seconds``) shared with its hidden
  checks: a cell may run only as long as the budget has left, and once it is spent the remaining
  cells are not run and the remaining checks score 0, with a note saying so;
* each of these is recorded as a fault in the notebook's metadata (``gankit.nbgrader_adapter.faults``).

Scores never depend on this kernel: the hidden checks run the student's functions in their own
sandboxed process. The kernel's run is what students see in their feedback (figures, messages).
"""

from __future__ import annotations

import copy
import json
import math
import time
from typing import Any

from nbclient import NotebookClient
from nbclient.exceptions import CellControlSignal, DeadKernelError
from nbformat import NotebookNode
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute
from traitlets import Bool, Int

from gankit.nbgrader_adapter.faults import DEADLINE_KEY, FAULTS_KEY, UNREADABLE_KEY, cell_name, fault
from gankit.sandbox.availability import ensure_available
from gankit.sandbox.kernel import SandboxedKernelManager
from gankit.sandbox.settings import Sandbox


def _death(exit_code: int | None) -> str:
    """Why a kernel's process ended, in words (the sandbox exits as the kernel did: its status, or
    128 + the signal that killed it; past 128 + 64, the last signal, it can only be a status)."""
    if exit_code is None:
        return "it stopped answering"
    code = exit_code % 256
    if 128 < code <= 128 + 64:
        signal_number = code - 128
        names = {
            9: "SIGKILL, usually the memory limit",
            11: "SIGSEGV, a crash",
            6: "SIGABRT, a crash",
            24: "SIGXCPU, the CPU-time limit",
        }
        return f"it was killed by signal {signal_number} ({names.get(signal_number, 'a signal')})"
    return f"it exited with status {code} (os._exit or exit from inside a thread)"


_OUTPUT_MESSAGES = {"stream", "display_data", "update_display_data", "execute_result", "error", "clear_output"}


class SandboxedExecute(Execute):
    """nbgrader's ``Execute`` with the kernel in the sandbox and faults isolated to their cell."""

    max_restarts = Int(3, help="Kernel restarts allowed per notebook before its remaining cells are skipped.").tag(
        config=True
    )

    store_widget_state = Bool(False)  # widgets are not graded, and their state has no output cap

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
        self._notebook_output_limit = settings.max_notebook_output_kb * 1024
        self._notebook_output = 0
        # The notebook's budget starts now; HiddenChecks finds the deadline in the resources.
        self._budget = settings.notebook_seconds
        self._deadline = resources.setdefault(DEADLINE_KEY, time.monotonic() + self._budget)
        self._cell_timeout = self.timeout or self._budget
        NotebookClient.__init__(self, nb, km)  # as nbconvert does: the client is reset per notebook
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        self._faults: list[dict[str, str]] = []
        self._faulted: set[int] = set()
        self._output_sizes: dict[int, int] = {}
        self._capped: set[int] = set()
        self._expired = False
        cells = self.nb.cells
        index, restarts = 0, 0
        configured = self.shutdown_kernel
        # A sandboxed kernel is killed once its notebook has run: its sandbox is thrown away whole,
        # and a polite shutdown would only have Python tear itself down (~0.15 s of CPU a notebook).
        shutdown = "immediate" if settings.enabled else configured
        while index < len(cells):
            self.shutdown_kernel = shutdown  # "immediate" after a fault
            if restarts > self.max_restarts:
                self._skip_rest(index)
                break
            if self._out_of_time(index):
                break
            with self.setup_kernel():
                info = self.wait_for_reply(self.kc.kernel_info())
                self.nb.metadata["language_info"] = info["content"]["language_info"]
                if restarts and not self._replay(index):
                    if not self._out_of_time(index):
                        self._skip_rest(index)
                    break
                while index < len(cells):
                    if self._out_of_time(index):
                        break
                    self.timeout = self._cell_time()
                    failed = self._run_cell(cells[index], resources, index)
                    index += 1
                    if failed:
                        restarts += 1
                        self.shutdown_kernel = "immediate"  # a stuck kernel would not answer a polite request
                        break
        self.shutdown_kernel = configured
        self.timeout = self._cell_timeout
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
            if time.monotonic() >= self._deadline:
                return False
            self.timeout = self._cell_time()
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

    def process_message(self, msg: dict, cell: NotebookNode, cell_index: int) -> NotebookNode | None:
        msg_type = msg["msg_type"]
        if msg_type.startswith("comm"):
            return None  # widget traffic: not graded, and it would be stored in metadata uncapped
        if msg_type not in _OUTPUT_MESSAGES:
            return super().process_message(msg, cell, cell_index)
        size = len(json.dumps(msg.get("content", {}), default=str))
        used = self._output_sizes.get(cell_index, 0)
        self._output_sizes[cell_index] = used + size
        self._notebook_output += size
        if used + size <= self._output_limit and self._notebook_output <= self._notebook_output_limit:
            return super().process_message(msg, cell, cell_index)
        if cell_index not in self._capped:  # the first message over a limit: say so, once per cell
            self._capped.add(cell_index)
            whole = used + size <= self._output_limit
            limit_kb = (self._notebook_output_limit if whole else self._output_limit) // 1024
            where = "the notebook's cells together produced" if whole else "this cell produced"
            self._faults.append(
                fault(
                    cell_name(cell, cell_index),
                    "output limit",
                    f"{where} more than {limit_kb} KiB of output; the rest was dropped",
                )
            )
            cell.outputs.append(
                new_output(
                    "stream",
                    name="stdout",
                    text=f"\n[Output stopped here: {where} more than {limit_kb} KiB.]\n",
                )
            )
        return None

    # -- the time budget -----------------------------------------------------------------------

    def _cell_time(self) -> int:
        """The next cell's timeout: the configured one, or what is left of the budget (a cell may run
        past the budget's end by less than a second, never longer)."""
        return max(1, min(self._cell_timeout, math.ceil(self._deadline - time.monotonic())))

    def _out_of_time(self, index: int) -> bool:
        """Whether the budget is spent; the first time, record that the cells from ``index`` on were not run."""
        if self._expired or time.monotonic() < self._deadline:
            return self._expired
        self._expired = True
        rest = [i for i in range(index, len(self.nb.cells)) if self.nb.cells[i].cell_type == "code"]
        if rest:
            cell = self.nb.cells[rest[0]]
            self._faults.append(
                fault(
                    cell_name(cell, rest[0]),
                    "time budget",
                    f"the notebook's time budget of {self._budget} seconds ran out; "
                    f"{len(rest)} code cells were not run",
                )
            )
            cell.outputs.append(
                new_output(
                    "error",
                    ename="TimeBudget",
                    evalue=f"Grading stopped here: this notebook's time budget of {self._budget} seconds ran out.",
                    traceback=[],
                )
            )
        return True
