"""The student's side of hidden grading: runs a submission's code and answers calls with plain data.

This file runs in the sandboxed student process, started as ``python -I -c <source>``, the source
being ``codec.py``'s and then this file's: the kit is not visible there, so nothing here imports it.
It reads one JSON request per line on stdin and writes one JSON reply per line on stdout:

    {"op": "setup", "modules": {name: source}, "cells": [source, ...], "skip": [index, ...]}
        -> {"op": "cell", "index": i, "error": null | "TypeName: message"}  (one per cell)
        -> {"op": "ready"}
    {"op": "call", "function": name, "args": [...], "kwargs": {...}}
        -> {"op": "result", "value": <encoded>}  or  {"op": "result", "error": {...}}

Values are encoded as tagged plain data (see ``codec.py``); the grading process decodes and judges
them. Whatever the student's code does to this process, only such data ever leaves it.

The process started in the sandbox does not run a notebook itself (``serve``): it loads Python and
numpy once, then forks a fresh process for each notebook the grader sends it, with two pipes the
grader hands over on the control socket (its stdin and stdout). The notebook's process never holds
that socket. When it ends, the server ends everything else in the sandbox and empties /tmp before
it tells the grader it is idle, so that the next notebook starts in a sandbox as a new one would be;
the grader uses one server for one student's notebooks only.
"""

import io
import json
import os
import signal
import socket
import stat
import sys
import time
import types
import warnings

# The codec (``codec.py``) comes first in the sandbox, where the kit cannot be imported; the import
# below serves readers, linters and tests that load this file in the grader.
if "encode_result" not in globals():
    from gankit.judging.codec import MAX_TEXT, decode_arg, encode_result

# Taken before any student code runs, so that patching json cannot change the protocol.
_dumps = json.dumps
_loads = json.loads
_str, _type = str, type


class _Anything:
    """Stands in for matplotlib and IPython: every attribute and call quietly does nothing."""

    def __getattr__(self, name):
        return self

    def __call__(self, *args, **kwargs):
        return self

    def __iter__(self):
        return iter((self, self))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _install_stand_ins():
    anything = _Anything()
    for name in (
        "matplotlib",
        "matplotlib.pyplot",
        "mpl_toolkits",
        "mpl_toolkits.mplot3d",
        "IPython",
        "IPython.display",
    ):
        module = types.ModuleType(name)
        module.__getattr__ = lambda attr, anything=anything: anything
        sys.modules[name] = module


def _python_only(source):
    """Drop IPython magics and shell escapes: they mean nothing outside a kernel."""
    if source.lstrip().startswith("%%"):
        return ""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.split("\n"))


def _describe(exc):
    return _type(exc).__name__ + ": " + _str(exc)[:MAX_TEXT]


def main():
    # Requests and replies keep private copies of stdin and stdout; the student's code gets
    # /dev/null for both, so its prints and input() cannot mix with the protocol.
    requests = os.fdopen(os.dup(0), "r")
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    sys.stdin = io.StringIO()
    sys.stdout = sys.stderr = io.StringIO()
    namespace = {"__name__": "__main__", "get_ipython": _Anything()}
    for line in requests:
        request = _loads(line)
        if request["op"] == "setup":
            _install_stand_ins()
            for name, source in request.get("modules", {}).items():
                module = types.ModuleType(name)
                exec(compile(source, name + ".py", "exec"), module.__dict__)
                sys.modules[name] = module
            for index, source in enumerate(request["cells"]):
                error = None
                if index in request.get("skip", ()):
                    error = "skipped: it did not finish in time before"
                else:
                    try:
                        exec(compile(_python_only(source), f"cell {index}", "exec"), namespace)
                    except BaseException as exc:  # a broken cell costs only what it defines
                        error = _describe(exc)
                replies.write(_dumps({"op": "cell", "index": index, "error": error}) + "\n")
                sys.stdout = sys.stderr = io.StringIO()
            replies.write(_dumps({"op": "ready"}) + "\n")
        elif request["op"] == "call":
            function = namespace.get(request["function"])
            try:
                if function is None:
                    raise NameError(f"name {request['function']!r} is not defined")
                args = [decode_arg(a) for a in request["args"]]
                kwargs = {k: decode_arg(v) for k, v in request.get("kwargs", {}).items()}
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    value = function(*args, **kwargs)
                reply = {"op": "result", "value": encode_result(value)}
                reply["warnings"] = [_type(w.message).__name__ + ": " + _str(w.message)[:MAX_TEXT] for w in caught[:5]]
            except BaseException as exc:
                reply = {
                    "op": "result",
                    "error": {"type": _type(exc).__name__, "message": _str(exc)[:MAX_TEXT]},
                }
            sys.stdout = sys.stderr = io.StringIO()
            try:
                text = _dumps(reply, allow_nan=False)
            except Exception as exc:
                text = _dumps(
                    {
                        "op": "result",
                        "error": {"type": "UnencodableResult", "message": _describe(exc)},
                    }
                )
            replies.write(text + "\n")


PR_SET_DUMPABLE = 4
# In its own pid namespace bubblewrap is pid 1 and the command it starts (the server) pid 2.
SANDBOX_COMMAND_PID = 2


def _others_gone(wait=2.0):
    """Whether, within ``wait`` seconds, no process is left in the sandbox's pid namespace but its
    first (bubblewrap's) and this one: a process killed in the middle of a system call can still
    finish it, so the check waits for each to be gone, not only signalled."""
    me = os.getpid()
    ends = time.monotonic() + wait
    while True:
        left = []
        for name in os.listdir("/proc"):
            if name.isdigit() and int(name) not in (1, me):
                try:
                    with open(f"/proc/{name}/stat") as f:
                        if f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X"):
                            left.append(name)
                except (OSError, IndexError):
                    pass  # gone meanwhile
        if not left:
            return True
        if time.monotonic() > ends:
            return False
        time.sleep(0.002)


def _scratch(folder, device):
    """Everything under ``folder`` on the scratch filesystem ``device``, as sorted (path, mode)
    pairs; a folder bound in from outside (the Python runtime, when it lies under /tmp) is listed
    as a mount and never entered."""
    found = []
    for entry in os.scandir(folder):
        info = entry.stat(follow_symlinks=False)
        if info.st_dev != device:
            found.append((entry.path, -1))
            continue
        found.append((entry.path, info.st_mode))
        if stat.S_ISDIR(info.st_mode):
            found += _scratch(entry.path, device)
    return sorted(found)


def _empty(folder, device, keep):
    """Remove everything under ``folder`` but the paths in ``keep`` (what the sandbox was built
    with); links are removed, never followed, and nothing on another filesystem is touched."""
    for entry in os.scandir(folder):
        info = entry.stat(follow_symlinks=False)
        if info.st_dev != device:
            if entry.path not in keep:  # the student cannot mount: a sandbox unlike the one built
                raise OSError(f"unexpected mount {entry.path}")
            continue
        if stat.S_ISDIR(info.st_mode):
            if entry.path not in keep:
                os.chmod(entry.path, 0o700)  # a folder the student made unreadable is theirs to open again
            _empty(entry.path, device, keep)
            if entry.path not in keep:
                os.rmdir(entry.path)
        elif entry.path not in keep:
            os.unlink(entry.path)


def _fresh_again(built):
    """End everything the notebook's process left and empty /tmp back to ``built`` (``_scratch``
    when the server started); whether the sandbox is now as a new one would be (if not, the grader
    ends it and starts another)."""
    if os.getpid() != SANDBOX_COMMAND_PID:
        return False  # not the sandbox's command: signalling every process would reach the grader's
    try:
        os.kill(-1, signal.SIGKILL)  # every process this one may signal: the namespace's, but init and self
    except ProcessLookupError:
        pass  # none was left
    try:
        if not _others_gone():
            return False
        device = os.stat("/tmp").st_dev
        _empty("/tmp", device, {path for path, _ in built})
        for kind in ("shm", "msg", "sem"):  # System V objects outlive their processes
            with open(f"/proc/sysvipc/{kind}") as f:
                if len(f.read().splitlines()) > 1:
                    return False
        return _scratch("/tmp", device) == built
    except (OSError, RecursionError):
        return False


def serve(pooled):
    """Fork one process per notebook (see the module's docstring). ``pooled`` is set only in a
    sandbox, where the pid namespace holds nothing of the grader's: the server cleans up after each
    notebook and serves the next; otherwise it serves one and exits. numpy is loaded already: the
    codec, ahead of this file, imports it."""
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    # Not dumpable: a notebook's process, of the same uid, cannot open this one's memory through
    # /proc (ptrace and process_vm_writev are refused by the seccomp filter already).
    if prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        os._exit(1)
    control = socket.socket(fileno=os.dup(0))
    built = _scratch("/tmp", os.stat("/tmp").st_dev) if pooled else []  # before any student code
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, 16, 2)
        except OSError:
            os._exit(0)
        if message != b"fork\n" or len(fds) != 2:
            os._exit(0)  # the grader is gone, or this is not the grader speaking
        pid = os.fork()
        if pid == 0:
            control.close()  # before any student code: only the grader and this server hold it
            os.dup2(fds[0], 0)
            os.dup2(fds[1], 1)
            for fd in fds:
                os.close(fd)
            prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)  # an ordinary process again, as in a sandbox of its own
            if "numpy.random" in sys.modules:  # not the server's state, shared by every fork
                sys.modules["numpy.random"].seed()
            try:
                main()
            finally:
                os._exit(0)
        for fd in fds:
            os.close(fd)
        os.waitpid(pid, 0)
        if not pooled or not _fresh_again(built):
            os._exit(0)
        control.sendall(b"idle\n")


if __name__ == "__main__":
    serve(pooled="--pooled" in sys.argv[1:])
