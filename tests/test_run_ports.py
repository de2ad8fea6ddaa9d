"""No port of a grading run's cluster answers HTTP (issue 27, item 2).

Dask's scheduler and workers start an HTTP server even with ``dashboard_address=None`` (``/health``,
``/metrics``, ``/json/identity.json`` with the workers' addresses); on a shared machine every user
reaches loopback. Every TCP port the run's processes listen on is tried, in plain HTTP and in TLS
without the run's certificate: none may answer. The dashboard, when asked for, is a Unix socket
only the grader's account may open. A local cluster starts in about 3 s: ``seconds``.
"""

from __future__ import annotations

import os
import socket
import ssl
import stat
from pathlib import Path

import pytest
from processes import running

from gankit.grade_class import _connect

pytestmark = pytest.mark.seconds

REQUEST = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


def _listening_inodes() -> dict[int, int]:
    """Socket inode -> port, for every TCP socket of the machine in the LISTEN state."""
    found = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # TCP_LISTEN
                found[int(fields[9])] = int(fields[1].rsplit(":", 1)[1], 16)
    return found


def _ports_of(pids: set[int]) -> set[int]:
    """The TCP ports ``pids`` listen on (read from their file descriptors)."""
    listening = _listening_inodes()
    ports = set()
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue  # ended meanwhile
        for fd in fds:
            try:
                link = os.readlink(fd)
            except OSError:
                continue  # closed meanwhile (the listing's own descriptor among them)
            if link.startswith("socket:[") and int(link[8:-1]) in listening:
                ports.add(listening[int(link[8:-1])])
    return ports


def _this_process_tree() -> set[int]:
    processes = running()
    tree, grew = {os.getpid()}, True
    while grew:
        more = {pid for pid, p in processes.items() if p.ppid in tree} - tree
        tree |= more
        grew = bool(more)
    return tree


def _answer(port: int, tls: bool) -> bytes:
    """What the port says to an HTTP request (over TLS without a client certificate if ``tls``);
    b"" if it closes or refuses."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3) as raw:
            if tls:
                context = ssl.create_default_context()
                context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
                conn = context.wrap_socket(raw)
            else:
                conn = raw
            with conn:
                conn.sendall(REQUEST)
                return conn.recv(64)
    except (OSError, ssl.SSLError):
        return b""


def _http_answers(ports: set[int]) -> dict[tuple[int, str], bytes]:
    return {
        (port, "https" if tls else "http"): said
        for port in sorted(ports)
        for tls in (False, True)
        if (said := _answer(port, tls)).startswith(b"HTTP/")
    }


@pytest.fixture
def run_ports():
    """Start the grading run's local cluster (``dashboard``: as ``--dashboard`` does); yield the
    cluster and the TCP ports its processes listen on that were not listening before."""
    made = []

    def start(dashboard: bool):
        before = _ports_of(_this_process_tree())
        client, cluster = _connect(None, 2, None, dashboard)
        made.append((client, cluster))
        assert len(client.run(os.getpid)) == 2  # both workers are up, their ports open
        return cluster, _ports_of(_this_process_tree()) - before

    yield start
    for client, cluster in made:
        client.close()
        cluster.close()


def test_no_port_of_the_local_cluster_answers_http(run_ports):
    cluster, ports = run_ports(dashboard=False)
    assert len(ports) >= 5  # the Dask ports of the scheduler, each nanny and each worker: the search works
    assert _http_answers(ports) == {}
    assert not list(cluster.scratch.glob("*.sock"))


def test_the_dashboard_is_a_unix_socket_for_the_graders_account_only(run_ports):
    cluster, ports = run_ports(dashboard=True)
    assert _http_answers(ports) == {}
    path = Path(cluster.dashboard_socket)
    assert stat.S_ISSOCK(path.stat().st_mode) and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    with socket.socket(socket.AF_UNIX) as unix:
        unix.settimeout(5)
        unix.connect(str(path))
        unix.sendall(REQUEST)
        assert unix.recv(64).startswith(b"HTTP/1.1 200")  # Dask's routes, to this account


def test_the_runs_scratch_folder_is_removed_with_the_cluster():
    client, cluster = _connect(None, 1, None, False)
    try:
        assert (cluster.scratch / "dask-scratch-space").is_dir()
        assert str(client.run(lambda dask_worker: dask_worker.local_directory).popitem()[1]).startswith(
            str(cluster.scratch)
        )
    finally:
        client.close()
        cluster.close()
    assert not cluster.scratch.exists()
