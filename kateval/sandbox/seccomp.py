"""The seccomp filter every candidate process runs under, built here (trusted parent) as classic BPF bytes and
installed by the sandbox server in each job's first process before any program code runs; it is inherited by
every process the program starts and can never be removed.

What it refuses (EPERM) is what would let a job reach beyond itself, leave something behind or hold memory the
server cannot measure: tracing and reading other processes (ptrace, process_vm_*, pidfd_getfd, kcmp), kernel
keyrings, new namespaces and mounts (unshare, setns, clone with CLONE_NEW*, mount and the new mount API), System V
and POSIX IPC, memory that no process maps (memfd_create, memfd_secret), inotify queues, sockets other than unix
and IP ones, io_uring, BPF, perf events, userfaultfd, and administration calls. clone3 answers
ENOSYS so that the C library falls back to clone, whose flags the filter can see. Any other architecture than
the one the filter was built for (x32 calls included) is refused.

Changing the disposition of SIGCHLD is refused (EPERM): with SIG_IGN or SA_NOCLDWAIT the kernel discards exited
children without adding their CPU time to anyone, so the job's CPU could no longer be counted. Every process of a
job is thus either alive, a zombie, or in the CPU time of the process that reaped it (server.py's accounting).

A job's first process is pid 1 of its own pid namespace, and the kernel drops a SIGKILL or SIGSTOP that a
namespace's pid 1 is sent from inside it. So that a program that kills itself dies as it would anywhere else,
sending either of them to pid 0 or 1 kills the sender (harness.py does the same for the catchable signals).
"""
from __future__ import annotations

import platform
import struct

AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
X32_SYSCALL_BIT = 0x40000000
CLONE_NEW_FLAGS = 0x7E020000     # NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
EPERM, ENOSYS = 1, 38
RET_KILL_PROCESS, RET_ERRNO, RET_ALLOW = 0x80000000, 0x00050000, 0x7FFF0000
# classic BPF opcodes
LD_W_ABS, JEQ_K, JGE_K, JSET_K, RET_K = 0x20, 0x15, 0x35, 0x45, 0x06

REFUSED = (
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp", "process_madvise",
    "keyctl", "add_key", "request_key",
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "open_tree", "move_mount", "fsopen", "fsconfig",
    "fsmount", "fspick", "mount_setattr",
    "shmget", "shmat", "shmctl", "shmdt", "semget", "semop", "semctl", "semtimedop", "msgget", "msgsnd", "msgrcv",
    "msgctl", "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_notify", "mq_getsetattr",
    "memfd_create", "memfd_secret",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "bpf", "perf_event_open", "userfaultfd",
    "fanotify_init", "inotify_init", "inotify_init1", "name_to_handle_at", "open_by_handle_at", "lookup_dcookie",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot", "swapon", "swapoff",
    "acct", "quotactl", "quotactl_fd", "syslog", "vhangup", "iopl", "ioperm",
)

SYSCALLS = {
    "x86_64": {
        "rt_sigaction": 13, "kill": 62, "rt_sigqueueinfo": 129, "socket": 41, "socketpair": 53,
        "inotify_init": 253, "inotify_init1": 294, "tkill": 200, "tgkill": 234, "rt_tgsigqueueinfo": 297,
        "shmget": 29, "shmat": 30, "shmctl": 31, "clone": 56, "semget": 64, "semop": 65, "semctl": 66, "shmdt": 67,
        "msgget": 68, "msgsnd": 69, "msgrcv": 70, "msgctl": 71, "ptrace": 101, "syslog": 103, "vhangup": 153,
        "pivot_root": 155, "chroot": 161, "acct": 163, "mount": 165, "umount2": 166, "swapon": 167, "swapoff": 168,
        "reboot": 169, "iopl": 172, "ioperm": 173, "init_module": 175, "delete_module": 176, "quotactl": 179,
        "lookup_dcookie": 212, "semtimedop": 220, "mq_open": 240, "mq_unlink": 241, "mq_timedsend": 242,
        "mq_timedreceive": 243, "mq_notify": 244, "mq_getsetattr": 245, "kexec_load": 246, "add_key": 248,
        "request_key": 249, "keyctl": 250, "unshare": 272, "perf_event_open": 298, "fanotify_init": 300,
        "name_to_handle_at": 303, "open_by_handle_at": 304, "setns": 308, "process_vm_readv": 310,
        "process_vm_writev": 311, "kcmp": 312, "finit_module": 313, "memfd_create": 319, "kexec_file_load": 320,
        "bpf": 321, "userfaultfd": 323, "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
        "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
        "clone3": 435, "pidfd_getfd": 438, "process_madvise": 440, "mount_setattr": 442, "quotactl_fd": 443,
        "memfd_secret": 447,
    },
    "aarch64": {
        "rt_sigaction": 134, "socket": 198, "socketpair": 199, "inotify_init1": 26, "kill": 129, "tkill": 130, "tgkill": 131, "rt_sigqueueinfo": 138, "rt_tgsigqueueinfo": 240,
        "lookup_dcookie": 18, "umount2": 39, "mount": 40, "pivot_root": 41, "chroot": 51, "vhangup": 58,
        "quotactl": 60, "acct": 89, "unshare": 97, "kexec_load": 104, "init_module": 105, "delete_module": 106,
        "syslog": 116, "ptrace": 117, "reboot": 142, "mq_open": 180, "mq_unlink": 181, "mq_timedsend": 182,
        "mq_timedreceive": 183, "mq_notify": 184, "mq_getsetattr": 185, "msgget": 186, "msgctl": 187, "msgrcv": 188,
        "msgsnd": 189, "semget": 190, "semctl": 191, "semtimedop": 192, "semop": 193, "shmget": 194, "shmctl": 195,
        "shmat": 196, "shmdt": 197, "add_key": 217, "request_key": 218, "keyctl": 219, "clone": 220, "swapon": 224,
        "swapoff": 225, "perf_event_open": 241, "fanotify_init": 262, "name_to_handle_at": 264,
        "open_by_handle_at": 265, "setns": 268, "process_vm_readv": 270, "process_vm_writev": 271, "kcmp": 272,
        "finit_module": 273, "memfd_create": 279, "bpf": 280, "userfaultfd": 282, "kexec_file_load": 294,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428, "move_mount": 429,
        "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "clone3": 435, "pidfd_getfd": 438,
        "process_madvise": 440, "mount_setattr": 442, "quotactl_fd": 443, "memfd_secret": 447,
    },
}


# (syscall, argument holding the target pid, argument holding the signal, target pids meaning "me")
SELF_SIGNALS = (("kill", 0, 1, (0, 1)), ("rt_sigqueueinfo", 0, 1, (0, 1)), ("tkill", 0, 1, (1,)),
                ("tgkill", 0, 2, (1,)), ("rt_tgsigqueueinfo", 0, 2, (1,)))
UNCATCHABLE = (9, 19)   # SIGKILL, SIGSTOP
SIGCHLD = 17
SOCKET_FAMILIES = (1, 2, 10)   # AF_UNIX, AF_INET, AF_INET6: the families whose buffers the server can measure


def _op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def _only_families(number: int) -> list[bytes]:
    """socket() and socketpair() only for SOCKET_FAMILIES (netlink and the rest hold kernel buffers the server
    cannot see). Assumes the syscall number is in the accumulator; ends in a return when it is `number`."""
    checks = [_op(JEQ_K, family, len(SOCKET_FAMILIES) - i, 0) for i, family in enumerate(SOCKET_FAMILIES)]
    body = [_op(LD_W_ABS, 16), *checks, _op(RET_K, RET_ERRNO | EPERM), _op(RET_K, RET_ALLOW)]
    return [_op(JEQ_K, number, 0, len(body))] + body


def _sigchld_disposition(number: int) -> list[bytes]:
    """rt_sigaction(SIGCHLD, act != NULL, ...) is refused; reading the disposition (act NULL) is not. Assumes the
    syscall number is in the accumulator; ends in a return when it is rt_sigaction."""
    body = [_op(LD_W_ABS, 16), _op(JEQ_K, SIGCHLD, 1, 0), _op(RET_K, RET_ALLOW),
            _op(LD_W_ABS, 24), _op(JEQ_K, 0, 1, 0), _op(RET_K, RET_ERRNO | EPERM),    # act, low word
            _op(LD_W_ABS, 28), _op(JEQ_K, 0, 0, 1), _op(RET_K, RET_ALLOW), _op(RET_K, RET_ERRNO | EPERM)]
    return [_op(JEQ_K, number, 0, len(body))] + body


def _self_signal(number: int, pid_arg: int, sig_arg: int, pids: tuple[int, ...]) -> list[bytes]:
    """The syscall `number` sending SIGKILL or SIGSTOP to one of `pids` kills the caller; else it is allowed.
    Assumes the syscall number is in the accumulator; ends in a return either way."""
    sig_check = [_op(LD_W_ABS, 16 + 8 * sig_arg)] + [_op(JEQ_K, sig, len(UNCATCHABLE) - i, 0)
                                                     for i, sig in enumerate(UNCATCHABLE)]
    sig_check += [_op(RET_K, RET_ALLOW), _op(RET_K, RET_KILL_PROCESS)]
    pid_check = [_op(LD_W_ABS, 16 + 8 * pid_arg)]
    pid_check += [_op(JEQ_K, pid, len(pids) - i, 0) for i, pid in enumerate(pids)]
    pid_check.append(_op(RET_K, RET_ALLOW))
    body = pid_check + sig_check
    return [_op(JEQ_K, number, 0, len(body))] + body


def build(machine: str | None = None) -> bytes | None:
    """The filter for this machine's architecture (struct sock_filter[]), or None where kateval has no syscall
    table for it (the executor then records that no filter is in place)."""
    machine = machine or platform.machine()
    if machine not in SYSCALLS:
        return None
    table = SYSCALLS[machine]
    refused = sorted({table[name] for name in REFUSED if name in table})
    deny, allow = _op(RET_K, RET_ERRNO | EPERM), _op(RET_K, RET_ALLOW)
    body = [_op(LD_W_ABS, 4), _op(JEQ_K, AUDIT_ARCH[machine], 1, 0), _op(RET_K, RET_KILL_PROCESS),
            _op(LD_W_ABS, 0)]
    if machine == "x86_64":
        body.append(_op(JGE_K, X32_SYSCALL_BIT, 0, 1))
        body.append(deny)
    for number in refused:
        body += [_op(JEQ_K, number, 0, 1), deny]
    body += [_op(JEQ_K, table["clone3"], 0, 1), _op(RET_K, RET_ERRNO | ENOSYS)]
    body += _sigchld_disposition(table["rt_sigaction"])
    body += _only_families(table["socket"]) + _only_families(table["socketpair"])
    for name, pid_arg, sig_arg, pids in SELF_SIGNALS:
        body += _self_signal(table[name], pid_arg, sig_arg, pids)
    # clone: refused when its flags (first argument, low 32 bits) ask for a new namespace.
    body += [_op(JEQ_K, table["clone"], 0, 3), _op(LD_W_ABS, 16), _op(JSET_K, CLONE_NEW_FLAGS, 0, 1), deny]
    body.append(allow)
    return b"".join(body)
