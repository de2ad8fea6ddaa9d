"""The sandbox's seccomp filter, compiled once per grading process with the system's libseccomp.

Every sandbox gets the same filter, so the grader compiles it once and hands the launcher the
compiled program (a few hundred bytes) in its configuration, rather than every launcher importing
libseccomp's bindings and compiling it again (about a third of a sandbox's start-up CPU).
"""

from __future__ import annotations

import errno
import functools
import tempfile

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
# Memory that no process's proportional set size shows, so that without a cgroup (grading as an
# ordinary user) the supervisor's whole-sandbox limit would miss it: System V segments, queues and
# semaphores (they outlive every process) and memfd files (held by a descriptor, never mapped).
# They fail with ENOSYS, as if absent, so that a library falls back to something else.
ABSENT = "shmget msgget semget memfd_create memfd_secret".split()
# clone's namespace flags: CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET; any one of them is refused.
CLONE_NEW_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000)
TIOCSTI = 0x5412


@functools.cache
def compiled() -> tuple[str, str]:
    """``(program, "")``: the filter as a BPF program in hex; or ``("", why)`` when libseccomp could
    not compile it, and the launcher then refuses to build the sandbox."""
    try:
        import pyseccomp as sc

        rules = sc.SyscallFilter(sc.ALLOW)
        for name in DENIED:
            try:
                rules.add_rule(sc.ERRNO(errno.EPERM), name)
            except Exception:  # noqa: BLE001 - a call this kernel and libseccomp do not know
                pass
        for name in ABSENT:
            try:
                rules.add_rule(sc.ERRNO(errno.ENOSYS), name)
            except Exception:  # noqa: BLE001 - a call this kernel and libseccomp do not know
                pass
        rules.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
        for flag in CLONE_NEW_FLAGS:
            rules.add_rule(sc.ERRNO(errno.EPERM), "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
        rules.add_rule(sc.ERRNO(errno.EPERM), "ioctl", sc.Arg(1, sc.MASKED_EQ, 0xFFFFFFFF, TIOCSTI))
        with tempfile.TemporaryFile() as out:  # libseccomp writes to a file descriptor
            rules.export_bpf(out)
            out.seek(0)
            program = out.read()
    except Exception as error:  # noqa: BLE001 - no libseccomp: no sandbox
        return "", str(error) or type(error).__name__
    if not program:
        return "", "libseccomp produced an empty filter"
    return program.hex(), ""
