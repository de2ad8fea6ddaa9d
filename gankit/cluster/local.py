"""The grading run's own cluster on this machine: a scheduler and worker processes on loopback that
serve nothing over HTTP, and leave nothing behind.

Dask's scheduler and workers always start an HTTP server (``/health``, ``/metrics``, ``/info``,
``/json``: worker addresses and state), whatever ``dashboard_address`` says (dask/distributed
issues 5634, 7207 and 8136); ``distributed.scheduler.http.routes`` only chooses what it serves,
a 404 still answers. On a shared machine loopback is everyone's, so here the scheduler and the
workers bind no HTTP port at all. Asked for the dashboard, the scheduler serves it (Dask's own
routes) on a Unix socket in a folder only the grader may enter (0700), never on a TCP port.

Everything Dask writes (each server's ``dask-scratch-space``) goes to one temporary folder of the
run, removed when the cluster closes.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dask
from distributed import Nanny, Scheduler, Security, SpecCluster, Worker
from distributed.http.routing import RoutingApplication
from distributed.worker_memory import parse_memory_limit
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_unix_socket

SOCKET_NAME = "dashboard.sock"


class _NoHTTPPort:
    """Bind no HTTP port. ``ServerNode.start_http_server`` is the one place Dask's scheduler and
    worker create their HTTP server (tests/test_private_apis.py holds it to that); a dashboard
    address that is a path is served on a Unix socket there, mode 0600."""

    def start_http_server(self, routes, dashboard_address, default_port=0, ssl_options=None):
        if isinstance(dashboard_address, str) and dashboard_address.startswith("/"):
            self.http_application = RoutingApplication(routes)
            self.http_server = HTTPServer(self.http_application, ssl_options=ssl_options)
            self.http_server.add_socket(bind_unix_socket(dashboard_address, mode=0o600))
        else:
            # What Dask's shutdown reads (its applications, to stop them); nothing listens.
            self.http_application = RoutingApplication([])


class LoopbackScheduler(_NoHTTPPort, Scheduler):
    """Dask's scheduler without an HTTP port (see the module's docstring)."""


class LoopbackWorker(_NoHTTPPort, Worker):
    """Dask's worker without an HTTP port (see the module's docstring)."""


class RunCluster(SpecCluster):
    """What ``LocalCluster(processes=True, threads_per_worker=1, host="127.0.0.1",
    protocol="tls://", security=Security.temporary())`` starts, with the classes above, every
    scratch folder in one temporary folder of the run's, and that folder removed on close.

    ``dashboard``: serve Dask's dashboard to this account only, on ``dashboard_socket``."""

    def __init__(self, n_workers: int, env: Mapping[str, str], dashboard: bool = False, **kwargs: Any):
        self.scratch = Path(tempfile.mkdtemp(prefix="gankit-dask-"))  # 0700: this account's only
        self.dashboard_socket = str(self.scratch / SOCKET_NAME) if dashboard else None
        security = Security.temporary()
        common = {"host": "127.0.0.1", "protocol": "tls://", "security": security}
        scheduler = {
            "cls": LoopbackScheduler,
            "options": {**common, "dashboard": dashboard, "dashboard_address": self.dashboard_socket},
        }
        worker = {
            "cls": Nanny,
            "options": {
                **common,
                "nthreads": 1,
                "silence_logs": logging.ERROR,
                "worker_class": LoopbackWorker,
                "env": dict(env),
                "local_directory": str(self.scratch),
                # LocalCluster's share: the machine's memory split between the workers.
                "memory_limit": parse_memory_limit("auto", 1, n_workers, logger=logging.getLogger(__name__)),
            },
        }
        try:
            with dask.config.set({"temporary-directory": str(self.scratch)}):  # the scheduler's scratch
                super().__init__(
                    scheduler=scheduler,
                    workers={i: worker for i in range(n_workers)},
                    worker=worker,
                    security=security,
                    silence_logs=logging.ERROR,
                    **kwargs,
                )
        except BaseException:
            shutil.rmtree(self.scratch, ignore_errors=True)
            raise

    def close(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().close(*args, **kwargs)
        finally:
            if os.path.isdir(self.scratch):
                shutil.rmtree(self.scratch, ignore_errors=True)
