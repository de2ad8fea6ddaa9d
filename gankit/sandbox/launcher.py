"""The sandbox's supervisor: starts bubblewrap with a seccomp filter and watches it from outside.

It runs as ``python -I launcher.py '<json config>'``, as the grader, and must not import the kit.
Building the sandbox is bubblewrap's job (Debian's ``bwrap``, the tool Flatpak uses: namespaces,
``pivot_root`` with the old root unmounted, capabilities dropped, ``no_new_privs``); the command
line it runs is prepared by ``command.py``. This program only does what bubblewrap leaves to its
caller:

1. joins the sandbox's cgroups (when grading as root), so that memory and processes are limited
   for everything inside together;
2. compiles the seccomp filter (libseccomp) and hands it to bubblewrap on a pipe;
3. opens the file bubblewrap reports the sandbox's process id into;
4. stays outside as a supervisor: passes an interrupt on to the sandboxed command, ends the
   sandbox on SIGTERM or when the grader dies, and kills it when the memory of all its processes
   together passes the limit (the only whole-sandbox memory limit when there are no cgroups);
5. exits as the command did: its status, or 128 + the signal that ended it.

Any failure before the command starts is reported on stderr as ``sandbox: <what> failed: <why>``
with exit status 97, which the grader turns into a clear refusal.
"""

import ctypes
import errno
import json
import os
import signal
import subprocess
import sys

SANDBOX_FAILED = 97
PR_SET_PDEATHSIG = 1
libc = ctypes.CDLL(None, use_errno=True)

# System calls the student's code never needs and an escape would: namespaces, mounts, tracing,
# keyrings, kernel modules, BPF, io_uring (which bypasses seccomp), raw handles. They fail with
# EPERM; clone3 fails with ENOSYS so that the C library falls back to clone, whose namespace flags
# are checked. Everything else is allowed: the namespaces and the missing capabilities do the rest.
DENIED = (
    "mount umount2 pivot_root chroot unshare setns move_mount open_tree fsopen fsconfig fsmount fspick "
    "mount_setattr ptrace process_vm_readv process_vm_writev pidfd_getfd kcmp keyctl add_key request_key "
    "bpf perf_event_open userfaultfd io_uring_setup io_uring_enter io_uring_register kexec_load "
    "kexec_file_load init_module finit_module delete_module open_by_handle_at name_to_handle_at acct "
    "swapon swapoff reboot sethostname setdomainname settimeofday clock_settime clock_adjtime adjtimex "
    "quotactl syslog vhangup iopl ioperm uselib lookup_dcookie"
).split()
CLONE_NEW_FLAGS = 0x7E020000  # CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
TIOCSTI = 0x5412


def fail(what, detail):
    sys.stderr.write(f"sandbox: {what} failed: {detail}\n")
    sys.stderr.flush()
    os._exit(SANDBOX_FAILED)


def seccomp_pipe():
    """The compiled filter, readable from a pipe (bubblewrap reads it whole before it starts)."""
    import pyseccomp as sc

    rules = sc.SyscallFilter(sc.ALLOW)
    for name in DENIED:
        try:
            rules.add_rule(sc.ERRNO(errno.EPERM), name)
        except Exception:  # noqa: BLE001 - a call this kernel and libseccomp do not know
            pass
    rules.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    rules.add_rule(sc.ERRNO(errno.EPERM), "clone", sc.Arg(0, sc.MASKED_EQ, CLONE_NEW_FLAGS, CLONE_NEW_FLAGS))
    for flag in (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000):
        rules.add_rule(sc.ERRNO(errno.EPERM), "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    rules.add_rule(sc.ERRNO(errno.EPERM), "ioctl", sc.Arg(1, sc.MASKED_EQ, 0xFFFFFFFF, TIOCSTI))
    read, write = os.pipe()
    with os.fdopen(write, "wb") as out:
        rules.export_bpf(out)
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


def read_info(path):
    try:
        with open(path) as f:
            return json.loads(f.read() or "null")
    except (OSError, ValueError):
        return None


def supervise(bwrap, cfg):
    """Watch the sandbox until it ends; return the exit status to pass on."""
    state = {"pid": None}

    def interrupt(signum, frame):  # the kernel's interrupt: pass it to the command inside
        if state["pid"]:
            for pid in children(state["pid"])[:1]:
                try:
                    os.kill(pid, signal.SIGINT)
                except OSError:
                    pass

    def end(signum, frame):
        bwrap.kill()

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, end)
    signal.signal(signal.SIGHUP, end)
    limit = cfg["memory_bytes"]
    while True:
        try:
            status = bwrap.wait(timeout=0.2)
            break
        except subprocess.TimeoutExpired:
            pass
        if state["pid"] is None:
            info = read_info(cfg["info_path"])
            state["pid"] = info.get("child-pid") if isinstance(info, dict) else None
            continue
        if limit and memory_bytes([state["pid"], *children(state["pid"])]) > limit:
            bwrap.kill()
            bwrap.wait()
            sys.stderr.write(f"sandbox: the whole sandbox passed its memory limit of {limit >> 20} MiB\n")
            return 128 + signal.SIGKILL
    if state["pid"] is None and read_info(cfg["info_path"]) is None and status != 0:
        fail("starting bubblewrap", f"exit status {status}")
    return status if status >= 0 else 128 - status


def die_with(parent):
    """Be killed when ``parent`` dies; exit now if it already has. The parent-death signal is set
    only from here on, so a parent that died first (while this process was starting) would leave
    it running, and a sandbox built by an orphan is never ended."""
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(128 + signal.SIGKILL)


def main():
    cfg = json.loads(sys.argv[1])
    die_with(cfg["grader_pid"])  # a killed grader takes its sandboxes along
    if not cfg["sandbox"]:
        os.execve(cfg["argv"][0], cfg["argv"], cfg["env"])
    join_cgroups(cfg["cgroup_procs"])
    try:
        seccomp = seccomp_pipe()
    except Exception as error:  # noqa: BLE001 - no libseccomp: no sandbox
        fail("compiling the seccomp filter", error)
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
    if cfg.get("quiet"):  # a kernel's own banner; what the student prints is captured by the kernel
        null = os.open("/dev/null", os.O_WRONLY)
        os.dup2(null, 1)
        os.close(null)
    supervisor = os.getpid()
    try:
        bwrap = subprocess.Popen(
            argv,
            pass_fds=(seccomp, info),
            process_group=0,  # an interrupt for the kernel reaches this supervisor, which passes it on
            preexec_fn=lambda: die_with(supervisor),  # bubblewrap dies with this supervisor
        )
    except OSError as error:
        fail("starting " + argv[0], error)
    os.close(seccomp)
    os.close(info)
    os._exit(supervise(bwrap, cfg) % 256)


if __name__ == "__main__":
    main()
