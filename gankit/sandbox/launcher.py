"""The sandbox launcher: a small program that builds the sandbox and then becomes the student's process.

It runs as ``python -I launcher.py '<json config>'``, as the grader, and must not import the kit
(nothing from the course directory is visible once it has done its work). With ``sandbox`` set it:

1. joins the sandbox's cgroups (if the grader made any), so that memory and process counts are
   limited for everything inside, together;
2. unshares mount, network, IPC, UTS and PID namespaces (and a user namespace when not root);
3. forks: the parent stays outside as a supervisor that passes on termination; the child is
   process 1 of the new PID namespace, so every process the student starts ends when it ends;
4. builds a root of its own: a tmpfs holding read-only binds of the Python runtime, read-write
   binds of the folders it is given, /dev/null, /dev/zero, /dev/urandom, a /proc of its own PID
   namespace and a scratch /tmp; then ``chroot`` into it;
5. sets resource limits, drops to a uid no other process uses (when root), forbids new privileges,
   asks to be killed if its supervisor dies, and ``execve``s the command with a minimal environment.

Any failure before ``execve`` is reported on stderr as ``sandbox: <what> failed: <why>`` with exit
status 97, which the grader turns into a clear refusal.
"""

import ctypes
import json
import os
import resource
import shutil
import signal
import sys

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
SANDBOX_FAILED = 97

libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p)


def fail(what, detail):
    sys.stderr.write(f"sandbox: {what} failed: {detail}\n")
    sys.stderr.flush()
    os._exit(SANDBOX_FAILED)


def ok(result, what):
    if result != 0:
        fail(what, os.strerror(ctypes.get_errno()))


def bind(path, target, read_only):
    os.makedirs(target, exist_ok=True)
    ok(libc.mount(path.encode(), target.encode(), None, MS_BIND | MS_REC, None), "binding " + path)
    flags = MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | (MS_RDONLY if read_only else 0)
    ok(libc.mount(None, target.encode(), None, flags, None), "remounting " + path)


def build_root(cfg):
    """Mount the sandbox's file system under cfg["root"] (in our private mount namespace)."""
    root = cfg["root"]
    ok(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "making mounts private")
    options = f"size={cfg['scratch_mb']}m,mode=755".encode()
    ok(libc.mount(b"tmpfs", root.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, options), "mounting the tmpfs root")
    for entry in cfg["read_only"]:  # a path, or [path, where it appears inside]
        path, inside = (entry, entry) if isinstance(entry, str) else entry
        bind(path, root + inside, read_only=True)
    for path in cfg["read_write"]:
        bind(path, root + path, read_only=False)
    os.makedirs(root + "/dev", exist_ok=True)
    for device in ("/dev/null", "/dev/zero", "/dev/urandom"):
        open(root + device, "w").close()
        ok(libc.mount(device.encode(), (root + device).encode(), None, MS_BIND, None), "binding " + device)
    os.makedirs(root + "/tmp", exist_ok=True)
    os.chmod(root + "/tmp", 0o1777)
    # A /proc of the new PID namespace: it shows the sandbox's own processes only (ipykernel
    # looks up its children there when it shuts down).
    os.makedirs(root + "/proc", exist_ok=True)
    ok(
        libc.mount(b"proc", (root + "/proc").encode(), b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None),
        "mounting /proc",
    )
    for source, dest in cfg["copies"]:
        os.makedirs(os.path.dirname(root + dest), exist_ok=True)
        try:
            shutil.copyfile(source, root + dest)
        except OSError:
            pass  # a cache we could not copy only costs time
    os.chroot(root)
    os.chdir(cfg["cwd"] or "/tmp")


def drop_privileges(cfg, uid):
    """Become a uid that owns nothing on the machine but the sandbox's writable folders."""
    writable = list(cfg["read_write"]) + sorted({os.path.dirname(dest) for _, dest in cfg["copies"]})
    for top in writable:
        os.lchown(top, uid, uid)
        for base, dirs, files in os.walk(top):
            for name in dirs + files:
                os.lchown(os.path.join(base, name), uid, uid)
    resource.setrlimit(resource.RLIMIT_NPROC, (cfg["max_processes"], cfg["max_processes"]))
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def supervise(child):
    """Stay outside as the process the grader sees: pass termination on, exit as the child did."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # an interrupt reaches the child through the group

    def end(signum, frame):
        os.kill(child, signal.SIGKILL)

    signal.signal(signal.SIGTERM, end)
    signal.signal(signal.SIGHUP, end)
    for stream in (0, 1):  # the child holds the pipes; the grader must see EOF when it dies
        os.close(stream)
    _, status = os.waitpid(child, 0)
    os._exit(os.waitstatus_to_exitcode(status) % 256)


def main():
    cfg = json.loads(sys.argv[1])
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # a killed grader takes its sandboxes along
    if cfg["sandbox"]:
        was_root = os.getuid() == 0
        uid = cfg["uid_base"] + os.getpid()  # unique while this supervisor lives
        for procs in cfg["cgroup_procs"]:
            try:
                with open(procs, "w") as f:
                    f.write(str(os.getpid()))
            except OSError as error:
                fail("joining cgroup " + procs, error)
        flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWPID
        if not was_root:
            flags |= CLONE_NEWUSER  # lets an ordinary user build the rest
        real_uid, real_gid = os.getuid(), os.getgid()
        ok(libc.unshare(flags), "unshare")
        if not was_root:
            for name, text in (
                ("setgroups", "deny"),
                ("uid_map", f"0 {real_uid} 1"),
                ("gid_map", f"0 {real_gid} 1"),
            ):
                with open("/proc/self/" + name, "w") as f:
                    f.write(text)
        child = os.fork()
        if child:
            supervise(child)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        build_root(cfg)
    for name, value in cfg["limits"].items():
        resource.setrlimit(getattr(resource, name), (value, value))
    if cfg["sandbox"] and was_root:
        try:
            drop_privileges(cfg, uid)
        except OSError as error:  # e.g. "root" inside a user namespace that cannot map other uids
            fail("changing to an unprivileged uid", error)
    if cfg.get("quiet"):  # a kernel's own banner; what the student prints is captured by the kernel
        null = os.open("/dev/null", os.O_WRONLY)
        os.dup2(null, 1)
        os.close(null)
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # again: changing uid clears it
    try:
        os.execve(cfg["argv"][0], cfg["argv"], cfg["env"])
    except OSError as error:
        fail("starting " + cfg["argv"][0], error)


if __name__ == "__main__":
    main()
