"""The sandbox's supervisor: starts bubblewrap with a seccomp filter and watches it from outside.

It runs as ``python -I -S launcher.py <config>``, as the grader, and must not import the kit (nor
anything beyond the standard library's cheapest modules: it starts twice per graded notebook). The
configuration is a ``marshal``-ed dict in hex, ``SandboxedCommand.config``.
Building the sandbox is bubblewrap's job (Debian's ``bwrap``, the tool Flatpak uses: namespaces,
``pivot_root`` with the old root unmounted, capabilities dropped, ``no_new_privs``); the command
line it runs is prepared by ``command.py``. This program only does what bubblewrap leaves to its
caller:

1. joins the sandbox's cgroups (when grading as root), so that memory and processes are limited
   for everything inside together;
2. hands bubblewrap the seccomp filter on a pipe (compiled once by the grader, with libseccomp);
3. opens the file bubblewrap reports the sandbox's process id into;
4. stays outside as a supervisor: passes an interrupt on to the sandboxed command, ends the
   sandbox on SIGTERM or when the grader dies, and kills it when the memory of all its processes
   together, with the inodes of its tmpfs mounts, passes the limit (the only whole-sandbox memory
   limit when there are no cgroups; the seccomp filter refuses what would pin memory outside both:
   System V IPC and memfd);
5. ends whatever bubblewrap left behind: bubblewrap arms its own parent-death signal only some
   way into its start, so a bubblewrap killed early (its grader killed a moment after starting
   it) would orphan the sandbox's first process. This supervisor is their subreaper: orphans come
   to it, and it kills them before it exits;
6. gives the sandbox nothing of the grader's: its stdin and stdout are /dev/null (a kernel) or
   the pipes the grader made for it (the hidden checks' process), and its stderr is a pipe this
   supervisor drains and discards, a pipe's worth five times a second (so a flood of it costs the
   sandbox its own time, never the grader's log);
7. exits as the command did: its status, or 128 + the signal that ended it.

Any failure before the command starts is reported on stderr as ``sandbox: <what> failed: <why>``
with exit status 97, which the grader turns into a clear refusal.
"""

import ctypes
import marshal
import os
import signal
import sys

SANDBOX_FAILED = 97
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
libc = ctypes.CDLL(None, use_errno=True)


def fail(what, detail):
    sys.stderr.write(f"sandbox: {what} failed: {detail}\n")
    sys.stderr.flush()
    os._exit(SANDBOX_FAILED)


def seccomp_pipe(program):
    """The compiled filter (``gankit.sandbox.seccomp``, hex), readable from a pipe: bubblewrap
    reads it whole before it starts."""
    read, write = os.pipe()
    os.write(write, bytes.fromhex(program))  # a few hundred bytes: well within a pipe's buffer
    os.close(write)
    return read


def join_cgroups(files):
    for procs in files:
        try:
            with open(procs, "w") as f:
                f.write(str(os.getpid()))
        except OSError as error:
            fail("joining cgroup " + procs, error)


def children(pid):
    """Every process under ``pid`` (its threads' children, recursively)."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children") as f:
                    kids = [int(k) for k in f.read().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found


def memory_bytes(pids):
    """The memory the processes hold together: proportional set sizes, so that pages a fork
    shares are counted once."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except (OSError, IndexError, ValueError):
            pass
    return total


INODE_BYTES = 1024  # kernel memory one file or folder of a tmpfs holds (inode and dentry), at least


def scratch_bytes(pid, mounts):
    """The kernel memory the sandbox's tmpfs mounts hold in inodes (their data is bounded by their
    size): an empty folder costs no page, so millions of them show in no process's memory. Read
    from outside through the sandbox's root."""
    total = 0
    for mount in mounts:
        try:
            fs = os.statvfs(f"/proc/{pid}/root{mount}")
        except OSError:
            continue
        total += (fs.f_files - fs.f_ffree) * INODE_BYTES
    return total


def read_info(path):
    """The sandbox's first process id from bubblewrap's report (``{"child-pid": N, ...}``), or None.
    Read without the json module, whose import would cost more than the rest of this program."""
    try:
        with open(path) as f:
            text = f.read()
        after = text.split('"child-pid"', 1)[1].lstrip()
        digits = after[1:].lstrip() if after.startswith(":") else ""
        end = len(digits) - len(digits.lstrip("0123456789"))
        return int(digits[:end]) if end else None
    except (OSError, IndexError, ValueError):
        return None


def start(argv, keep, supervisor, stdio):
    """Start bubblewrap in a process group of its own, dying with this supervisor, with the file
    descriptors ``keep`` open and ``stdio`` (fd -> fd) as its stdin, stdout and stderr; return its
    pid. Forked by hand (the ``subprocess`` module's import alone would be a quarter of this
    program's start-up). An ``exec`` that fails is reported back on a close-on-exec pipe, as
    ``subprocess`` does."""
    errors_read, errors_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(errors_read)
            os.setpgid(0, 0)  # an interrupt for the kernel reaches this supervisor, which passes it on
            die_with(supervisor)
            for target, fd in stdio.items():
                os.dup2(fd, target)  # inheritable; the originals are close-on-exec
            for fd in keep:
                os.set_inheritable(fd, True)
            os.execv(argv[0], argv)
        except BaseException as error:  # noqa: BLE001 - whatever it is, the parent reports it
            os.write(errors_write, str(error).encode("utf-8", "replace")[:1000])
        os._exit(127)
    os.close(errors_write)
    with os.fdopen(errors_read, "rb") as errors:
        error = errors.read()
    if error:
        os.waitpid(pid, 0)
        fail("starting " + argv[0], error.decode("utf-8", "replace"))
    return pid


def end_orphans():
    """Kill and reap the processes left to this subreaper (a sandbox whose bubblewrap died before
    it could take them along); return once it has no child left."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid:
            continue
        for orphan in children(os.getpid()):  # a pid namespace's first process takes the rest along
            try:
                os.kill(orphan, signal.SIGKILL)
            except OSError:
                pass
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


DRAIN_CHUNKS = 16  # 64 KiB reads per look, five looks a second
SAID = 2000  # bytes of the sandbox's stderr kept, for bubblewrap's own complaint (see supervise)


def drain(state):
    """Read what the sandbox wrote to its stderr pipe since the last look, keeping only its start;
    close the pipe once every writer is gone."""
    fd = state["drain"]
    for _ in range(DRAIN_CHUNKS):
        if fd is None:
            return
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            os.close(fd)
            state["drain"] = fd = None
        elif len(state["said"]) < SAID:
            state["said"] += chunk[: SAID - len(state["said"])]


def kill_bwrap(state):
    """Kill bubblewrap, if it is running (the sandbox inside goes with it)."""
    if state["bwrap"]:
        try:
            os.kill(state["bwrap"], signal.SIGKILL)
        except OSError:
            pass


def supervise(state, cfg):
    """Watch the sandbox until it ends; return the exit status to pass on.

    This process sleeps in ``waitpid`` (it wakes the moment bubblewrap exits: a kernel's shutdown
    waits for it); a timer looks at the sandbox five times a second meanwhile."""

    def interrupt(signum, frame):  # the kernel's interrupt: pass it to the command inside
        if state["pid"]:
            for pid in children(state["pid"])[:1]:
                try:
                    os.kill(pid, signal.SIGINT)
                except OSError:
                    pass

    def look(signum, frame):
        drain(state)
        if state["pid"] is None:
            state["pid"] = read_info(cfg["info_path"])
        elif (
            not state["over"]
            and limit
            and memory_bytes([state["pid"], *children(state["pid"])]) + scratch_bytes(state["pid"], cfg["scratch"])
            > limit
        ):
            state["over"] = True
            kill_bwrap(state)

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGALRM, look)
    limit = cfg["memory_bytes"]
    signal.setitimer(signal.ITIMER_REAL, 0.2, 0.2)
    if state["ending"]:  # asked to end while bubblewrap was being started
        kill_bwrap(state)
    _, status = os.waitpid(state["bwrap"], 0)  # retried after each handler (PEP 475)
    signal.setitimer(signal.ITIMER_REAL, 0)
    state["bwrap"] = None  # reaped: its pid may be reused, never signal it again
    end_orphans()
    drain(state)  # bubblewrap and everything under it are gone: what is left, then the pipe's end
    if state["drain"] is not None:
        os.close(state["drain"])
        state["drain"] = None
    status = os.waitstatus_to_exitcode(status)
    if state["over"]:
        sys.stderr.write(f"sandbox: the whole sandbox passed its memory limit of {limit >> 20} MiB\n")
        return 128 + signal.SIGKILL
    if state["pid"] is None and read_info(cfg["info_path"]) is None and status != 0:
        # bubblewrap never made the sandbox's process, so no code of the student's ran: what the
        # pipe holds is bubblewrap's own complaint, safe to pass on.
        said = state["said"].decode("utf-8", "replace").strip()[-1000:]
        fail("starting bubblewrap", said or f"exit status {status}")
    return status if status >= 0 else 128 - status


def die_with(parent, signum=signal.SIGKILL):
    """Get ``signum`` when ``parent`` dies; exit now if it already has. The parent-death signal is
    set only from here on, so a parent that died first (while this process was starting) would
    leave it running, and a sandbox built by an orphan is never ended."""
    libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(128 + signal.SIGKILL)


def main():
    cfg = marshal.loads(bytes.fromhex(sys.argv[1]))
    if not cfg["sandbox"]:
        die_with(cfg["grader_pid"])  # a killed grader takes the command along
        os.execve(cfg["argv"][0], cfg["argv"], cfg["env"])
    # SIGTERM, SIGHUP, or the grader's death (SIGHUP, below): the sandbox ends, then this process.
    state = {"bwrap": None, "ending": False, "pid": None, "over": False, "drain": None, "said": b""}

    def end(signum, frame):
        state["ending"] = True
        kill_bwrap(state)

    signal.signal(signal.SIGTERM, end)
    signal.signal(signal.SIGHUP, end)
    die_with(cfg["grader_pid"], signal.SIGHUP)  # caught: what bubblewrap left is ended too
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    join_cgroups(cfg["cgroup_procs"])
    if not cfg["seccomp"]:  # the grader's libseccomp could not compile it: no sandbox
        fail("compiling the seccomp filter", cfg["seccomp_error"])
    seccomp = seccomp_pipe(cfg["seccomp"])
    try:
        info = os.open(cfg["info_path"], os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except OSError as error:
        fail("creating " + cfg["info_path"], error)
    uid = str(cfg["uid"] + os.getpid())  # no file or process on the machine has it
    fill = {"@SECCOMP@": str(seccomp), "@INFO@": str(info), "@UID@": uid}
    argv = []
    for arg in cfg["bwrap"]:
        for key, value in fill.items():
            arg = arg.replace(key, value)
        argv.append(arg)
    # Nothing of the grader's goes in: a kernel talks over its own sockets (stdin and stdout are
    # /dev/null), the hidden checks' process over the pipes the grader made for it alone; stderr
    # is drained here. Only the grader's probe, which runs no student code, keeps the grader's.
    null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
    stdio = {0: null, 1: null} if cfg["quiet"] else {}
    if not cfg["grader_stderr"]:
        state["drain"], stdio[2] = os.pipe()
        os.set_blocking(state["drain"], False)
    if state["ending"]:
        os._exit(128 + signal.SIGKILL)
    state["bwrap"] = start(argv, (seccomp, info), os.getpid(), stdio)  # bubblewrap dies with this supervisor
    for fd in {seccomp, info, null, stdio.get(2, null)}:
        os.close(fd)
    os._exit(supervise(state, cfg) % 256)


if __name__ == "__main__":
    main()
