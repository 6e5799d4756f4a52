"""How much a job has used, measured by the sandbox server: CPU time of every process of the job (live ones from
/proc, finished ones from their rusage), resident memory of all of them, what its /tmp holds and what its
sockets hold in kernel buffers. Standard library only (handed to the sandbox servers as source).

TRUSTED: the server measures; nothing here trusts what a job says about itself.
"""
import os
import socket
import struct
import time

SCAN_S = 0.05            # once a job has run this long, its processes are listed and measured this often
CLOCK_TICKS, PAGE_BYTES = os.sysconf("SC_CLK_TCK"), os.sysconf("SC_PAGE_SIZE")


def proc_stat(pid):
    """(CPU seconds incl. reaped children, session id), or None when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        return sum(int(value) for value in fields[11:15]) / CLOCK_TICKS, int(fields[3])
    except (OSError, ValueError, IndexError):
        return None


def resident_bytes(pid):
    try:
        with open(f"/proc/{pid}/statm", "rb") as handle:
            return int(handle.read().split()[1]) * PAGE_BYTES
    except (OSError, ValueError, IndexError):
        return 0


class Tracker:
    """CPU time and memory of every process of a job. Inside the sandbox's pid namespace every process but the
    server belongs to the job; at the weak levels, those of the job's session."""

    def __init__(self, config, root):
        self.config, self.root = config, root
        self.root_status, self.reaped, self.others, self.memory = None, 0.0, 0.0, 0
        self.next_scan = time.monotonic() + SCAN_S
        self.pidfd = None
        self.own, self.read_at = 0.0, -1.0   # the root's CPU at the last reading

    def members(self):
        me = os.getpid()
        pids = [int(name) for name in os.listdir("/proc") if name.isdigit() and int(name) not in (1, me)]
        if self.config["pidns"]:
            return pids
        return [pid for pid in pids if (proc_stat(pid) or (0, None))[1] == self.root]

    def cpu(self, max_age=0.0):
        """CPU seconds of the whole job so far; a reading at most `max_age` seconds old may be reused (CPU time
        cannot grow faster than the wall clock times the cores, and the limits leave margin for that)."""
        now = time.monotonic()
        if self.root_status is None and now - self.read_at > max_age:
            self.own, self.read_at = (proc_stat(self.root) or (self.own, 0))[0], now
        return (0.0 if self.root_status is not None else self.own) + self.others + self.reaped

    def reap(self):
        while True:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.reaped += usage.ru_utime + usage.ru_stime
            if pid == self.root:
                self.root_status = status

    def scan(self):
        """Reap what ended, then measure every live process: CPU of the others, memory of all, /tmp in use."""
        self.reap()
        members = self.members()
        self.others = sum((proc_stat(pid) or (0.0, 0))[0] for pid in members if pid != self.root)
        self.memory = sum(resident_bytes(pid) for pid in members) + self._scratch_bytes(members)
        if self.config["namespaces"]:   # the runner's network namespace holds only the job's sockets
            self.memory += socket_bytes()
        self.next_scan = time.monotonic() + SCAN_S

    def _scratch_bytes(self, members):
        if not self.config["namespaces"]:
            return 0
        for pid in members:
            try:
                stats = os.statvfs(f"/proc/{pid}/root/tmp")
            except OSError:
                continue
            return (stats.f_blocks - stats.f_bfree) * stats.f_frsize
        return 0


# ---------------------------------------------------------------- kernel buffers of sockets (sock_diag netlink)
NETLINK_SOCK_DIAG, SOCK_DIAG_BY_FAMILY, NLMSG_ERROR, NLMSG_DONE = 4, 20, 2, 3
NLM_F_REQUEST, NLM_F_DUMP = 1, 0x300
UDIAG_SHOW_MEMINFO, UNIX_DIAG_MEMINFO, INET_DIAG_SKMEMINFO = 0x20, 5, 7
# The kernel's sk_meminfo (u32s): what a socket holds, as opposed to its limits (RCVBUF 1, SNDBUF 3, DROPS 8):
# received, sent and not yet freed, forward-allocated, queued to send, options, backlog.
HELD = (0, 2, 4, 5, 6, 7)


def socket_bytes():
    """Bytes the kernel holds for every socket of this network namespace (receive and send buffers): data a job
    queues in sockets nobody reads counts against its memory like any other."""
    total = 0
    unix = struct.pack("=BBHIIIII", socket.AF_UNIX, 0, 0, 0xFFFFFFFF, 0, UDIAG_SHOW_MEMINFO, 0, 0)
    total += _meminfo_total(unix, 16, UNIX_DIAG_MEMINFO)
    for family in (socket.AF_INET, socket.AF_INET6):
        for protocol in (socket.IPPROTO_TCP, socket.IPPROTO_UDP):
            inet = struct.pack("=BBBBI", family, protocol, 1 << (INET_DIAG_SKMEMINFO - 1), 0, 0xFFFFFFFF) + bytes(48)
            total += _meminfo_total(inet, 72, INET_DIAG_SKMEMINFO)
    return total


def _meminfo_total(request, header_bytes, attribute):
    total = 0
    try:
        for message in _dump(request):
            for kind, value in _attributes(message, header_bytes):
                if kind == attribute:
                    fields = struct.unpack_from(f"={len(value) // 4}I", value)
                    total += sum(fields[i] for i in HELD if i < len(fields))
    except OSError:   # no such family here (no IPv6, say): nothing of it to count
        pass
    return total


def _dump(request):
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG) as diag:
        header = struct.pack("=IHHII", 16 + len(request), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, 1, 0)
        diag.send(header + request)
        while True:
            data, offset = diag.recv(1 << 16), 0
            while offset + 16 <= len(data):
                length, kind = struct.unpack_from("=IH", data, offset)
                if kind in (NLMSG_DONE, NLMSG_ERROR) or length < 16:
                    return
                yield data[offset + 16: offset + length]
                offset += (length + 3) & ~3
            if not data:
                return


def _attributes(body, offset):
    while offset + 4 <= len(body):
        length, kind = struct.unpack_from("=HH", body, offset)
        if length < 4:
            return
        yield kind, body[offset + 4: offset + length]
        offset += (length + 3) & ~3
