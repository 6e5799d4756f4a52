"""Where a job lives, set up by the sandbox server: namespaces of its own (strong levels) or a scratch directory
wiped after it (weak levels). Standard library only (handed to the sandbox servers as source).
"""
import fcntl
import os
import socket
import struct

from kateval.sandbox import harness

CLONE_NEWPID, CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWNET = 0x20000000, 0x10000000, 0x00020000, 0x40000000
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
# TCP state the kernel keeps after every process of a connection is gone: TIME_WAIT (60 s) is not kept at all,
# an orphaned FIN_WAIT2 for 1 s. Per network namespace; the server owns its own.
NET_SYSCTLS = (("net/ipv4/tcp_max_tw_buckets", "0"), ("net/ipv4/tcp_fin_timeout", "1"))
OWN_PID_NAMESPACE = []


def own_namespaces():
    """Give the server user, pid, mount and network namespaces of its own (it owns them: there it may give each
    job a pid namespace and point its children back at its own afterwards, and set how long the kernel keeps a
    closed connection) and a /proc of its pid namespace. The process bubblewrap started stays behind, waiting;
    the server carries on in its child, pid 1 of the new namespace."""
    libc, uid, gid = harness.load_libc(), os.getuid(), os.getgid()
    harness.ensure(libc.unshare(CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET),
                   "unshare(user, pid, mount, net)")
    for name, text in (("uid_map", f"{uid} {uid} 1\n"), ("setgroups", "deny"), ("gid_map", f"{gid} {gid} 1\n")):
        with open(f"/proc/self/{name}", "w") as handle:
            handle.write(text)
    server = os.fork()
    if server:
        os._exit(os.waitstatus_to_exitcode(os.waitpid(server, 0)[1]) & 0xFF)
    harness.mount_proc(libc.mount)
    OWN_PID_NAMESPACE.append(os.open("/proc/self/ns/pid", os.O_RDONLY))
    own_network()


def own_network():
    """The loopback interface up (a program may talk to itself) and no TCP state outliving a job (a connection
    closed in one job must not be seen, nor hold a port, in the next)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as handle:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(handle, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(handle, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))
    for name, value in NET_SYSCTLS:
        try:
            with open(f"/proc/sys/{name}", "w") as handle:
                handle.write(value)
        except OSError:   # a kernel without these per namespace: the connection lingers as it would anywhere
            pass


def fork_into_own_pid_namespace():
    """fork(), the child being pid 1 of a pid namespace of its own: the job can address (signal, trace, prlimit,
    renice...) no process but its own, and when its first process dies the kernel kills the rest. The server
    then points its children's namespace back at its own, so that the next job can get a fresh one too."""
    libc = harness.load_libc()
    harness.ensure(libc.unshare(CLONE_NEWPID), "unshare(CLONE_NEWPID)")
    pid = -1
    try:
        pid = os.fork()
    finally:
        if pid != 0:   # the server (whether the fork worked or not), never the child
            harness.ensure(libc.setns(OWN_PID_NAMESPACE[0], CLONE_NEWPID), "setns back to the server's pid namespace")
    return pid


def wipe(scratch):
    """Empty the scratch directory (the weak levels, which have no /tmp of the job's own). Iterative and relative
    to directory fds, so neither depth nor path length can stop it; every directory made accessible first, so a
    chmod cannot keep an entry; symbolic links are removed, never followed."""
    try:
        stack = [(os.open(scratch, os.O_RDONLY | os.O_DIRECTORY), set(), None)]
    except OSError:
        return
    while stack:
        fd, failed, _ = stack[-1]
        subdir = _empty_but_one_directory(fd, failed)
        if subdir is not None:
            try:
                os.chmod(subdir, 0o700, dir_fd=fd, follow_symlinks=False)
                child = os.open(subdir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except OSError:
                failed.add(subdir)
                continue
            stack.append((child, set(), subdir))
            continue
        _, _, name = stack.pop()
        os.close(fd)
        if stack:
            parent, parent_failed, _ = stack[-1]
            try:
                os.rmdir(name, dir_fd=parent)
            except OSError:
                parent_failed.add(name)


def _empty_but_one_directory(fd, skip):
    """Unlink every non-directory in the directory `fd`; return a subdirectory not in `skip`, if any is left."""
    try:
        os.fchmod(fd, 0o700)
        entries = list(os.scandir(fd))
    except OSError:
        return None
    found = None
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            if entry.name not in skip:
                found = found or entry.name
            continue
        try:
            os.unlink(entry.name, dir_fd=fd)
        except OSError:
            pass
    return found
