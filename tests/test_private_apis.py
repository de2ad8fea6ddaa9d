"""Every private API of nbgrader, nbclient, jupyter_client and distributed that the kit relies on, one test each.

An upgrade that renames or changes one of them fails its own named test here, instead of making
the kit grade wrongly. Where the kit uses each (keep this table in step with the code):

=================================================  =============================================
private API                                          used by
=================================================  =============================================
``BaseConverter._format_dest``                       nbgrader_adapter/autograde.py (the autograded folder)
``BaseConverter._format_source``                     nbgrader_adapter/autograde.py (empty submissions)
``Autograde._sanitizing`` + ``_init_preprocessors``  nbgrader_adapter/autograde.py (grading a stand-in)
``ExchangeCollect._sort_by_timestamp``               nbgrader_adapter/intake.py (a student's own first)
``ExchangeCollect.inbound_path``                     nbgrader_adapter/intake.py (where submissions are)
``NotebookClient.__init__(nb, km)``                  nbgrader_adapter/execute.py (reset per notebook)
``ExecutePreprocessor._check_assign_resources``      nbgrader_adapter/execute.py (nbconvert's)
``NotebookClient._async_handle_timeout``             nbgrader_adapter/execute.py (a timeout is a fault)
``KernelManager._launch_args``                       sandbox/kernel.py (the notebook's folder)
``AsyncKernelManager._async_pre_start_kernel``,      sandbox/kernel.py (the kernel in the sandbox)
``_async_post_start_kernel``, ``_async_cleanup_resources``
``AsyncKernelManager._async_wait``                   sandbox/kernel.py (a shutdown's quicker wait)
``KernelClient._handle_kernel_info_reply``           sandbox/kernel.py (a readiness without 0.2 s wait)
``AsyncKernelClient._context_default``               sandbox/kernel.py (the client's sockets' reconnects)
``ServerNode.start_http_server``                     cluster/local.py (no HTTP port; the dashboard's socket)
=================================================  =============================================
"""

from __future__ import annotations

import asyncio
import inspect
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import zmq
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.client import KernelClient
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbconvert.preprocessors import ExecutePreprocessor
from nbgrader.converters import Autograde
from nbgrader.converters.base import BaseConverter
from nbgrader.coursedir import CourseDirectory
from nbgrader.exchange.default.collect import ExchangeCollect


def _params(function) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_format_dest_and_format_source_name_a_students_folders(tmp_path):
    coursedir = CourseDirectory(root=str(tmp_path))
    converter = Autograde(coursedir=coursedir)
    assert _params(BaseConverter._format_dest)[:3] == ["self", "assignment_id", "student_id"]
    assert converter._format_dest("ps1", "foo") == str(tmp_path / "autograded" / "foo" / "ps1")
    assert converter._format_source("ps1", "foo") == str(tmp_path / "submitted" / "foo" / "ps1")


def test_sanitizing_switches_autograde_between_its_two_preprocessor_lists(tmp_path):
    converter = Autograde(coursedir=CourseDirectory(root=str(tmp_path)))
    converter.exporter = converter.exporter_class(parent=converter, config=converter.config)  # as start() does
    chosen = {}
    for sanitizing in (True, False):
        converter._sanitizing = sanitizing
        converter._init_preprocessors()
        chosen[sanitizing] = [type(p) for p in converter.exporter._preprocessors]
    assert chosen[True] == list(converter.sanitize_preprocessors)
    assert chosen[False] == list(converter.autograde_preprocessors)


def test_sort_by_timestamp_puts_the_newest_submission_first():
    older, newer = ({"timestamp": datetime(2026, 1, day)} for day in (1, 2))
    assert ExchangeCollect._sort_by_timestamp(ExchangeCollect.__new__(ExchangeCollect), [older, newer]) == [
        newer,
        older,
    ]
    assert "inbound_path" in inspect.getsource(ExchangeCollect.init_src)


def test_notebook_client_can_be_reset_per_notebook_and_the_preprocessor_checks_its_resources():
    assert _params(NotebookClient.__init__)[:3] == ["self", "nb", "km"]
    preprocessor = ExecutePreprocessor()
    preprocessor._check_assign_resources({"metadata": {"path": "/x"}})
    assert preprocessor.resources == {"metadata": {"path": "/x"}}


def test_notebook_client_handles_a_timeout_in_an_overridable_coroutine():
    assert inspect.iscoroutinefunction(NotebookClient._async_handle_timeout)
    assert _params(NotebookClient._async_handle_timeout) == ["self", "timeout", "cell"]


def test_kernel_manager_keeps_its_launch_arguments_with_the_working_folder(tmp_path):
    manager = AsyncKernelManager(kernel_name="python3", connection_file=str(tmp_path / "kernel.json"))

    async def prepare_and_clean_up() -> dict:
        try:
            await manager._async_pre_start_kernel(cwd=str(tmp_path))  # prepares, starts nothing
            return dict(manager._launch_args)
        finally:
            await manager._async_cleanup_resources()

    # In a thread of its own: the browser tests keep an event loop running in this one for the
    # whole session.
    with ThreadPoolExecutor(1) as pool:
        launch_args = pool.submit(asyncio.run, prepare_and_clean_up()).result()
    assert launch_args["cwd"] == str(tmp_path)


def test_async_kernel_manager_starts_and_cleans_up_in_overridable_coroutines():
    for name in ("_async_pre_start_kernel", "_async_post_start_kernel", "_async_cleanup_resources"):
        assert inspect.iscoroutinefunction(getattr(AsyncKernelManager, name)), name
    assert "restart" in _params(AsyncKernelManager._async_cleanup_resources)
    assert asyncio.iscoroutinefunction(AsyncKernelManager._async_post_start_kernel)


def test_kernel_manager_waits_for_a_kernel_to_end_in_an_overridable_coroutine():
    assert inspect.iscoroutinefunction(AsyncKernelManager._async_wait)
    assert _params(AsyncKernelManager._async_wait) == ["self", "pollinterval"]
    for caller in (AsyncKernelManager._async_kill_kernel, AsyncKernelManager._async_finish_shutdown):
        assert "self._async_wait(" in inspect.getsource(caller), caller


def test_kernel_client_adapts_to_the_kernels_protocol_from_its_info_reply():
    client = AsyncKernelClient()
    assert _params(KernelClient._handle_kernel_info_reply) == ["self", "msg"]
    client._handle_kernel_info_reply({"content": {"protocol_version": "4.0"}})
    assert client.session.adapt_version == 4  # an older kernel: messages are adapted to it
    assert "_handle_kernel_info_reply" in inspect.getsource(KernelClient._async_wait_for_ready)


def test_an_async_kernel_client_makes_its_own_context_in_an_overridable_default():
    class Marked(AsyncKernelClient):
        def _context_default(self):
            context = super()._context_default()
            context.setsockopt(zmq.LINGER, 7)
            return context

    manager = AsyncKernelManager(client_factory=Marked)
    client = manager.client()
    assert client.context is not manager.context  # the manager's own is not passed on
    assert client.context.getsockopt(zmq.LINGER) == 7
    client.context.term()


def test_start_http_server_is_where_the_scheduler_and_worker_open_their_http_port():
    """``cluster/local.py`` overrides it to bind no port: Dask must still call it, and only it."""
    from distributed.node import ServerNode
    from distributed.scheduler import Scheduler
    from distributed.worker import Worker

    assert _params(ServerNode.start_http_server) == [
        "self", "routes", "dashboard_address", "default_port", "ssl_options"
    ]  # fmt: skip
    for method in (Scheduler.__init__, Worker.start_unsafe):
        source = inspect.getsource(method)
        assert "self.start_http_server(" in source and "HTTPServer(" not in source, method
