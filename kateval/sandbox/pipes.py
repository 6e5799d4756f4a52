"""Reading what a job's processes write, in the sandbox server: without blocking, into buffers of bounded size.
Standard library only (handed to the sandbox servers as source).

TRUSTED side reading UNTRUSTED bytes: a program may announce a frame and stall, announce a huge one, or flood its
output; none of that can block the server or make it hold more than the caps.
"""
import os
import select

from kateval.sandbox import protocol

ERR_TAIL = 4096


class Limit(Exception):
    """The job hit a limit: status is timeout, memory or output_limit."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class FrameReader:
    """Frames from a pipe the program writes, assembled from non-blocking reads: a writer that announces a frame
    and stalls cannot block the server, and one that announces too much is cut off before it is read."""

    def __init__(self, fd, cap):
        self.fd, self.cap = fd, cap
        self.buffer, self.eof = bytearray(), False

    def feed(self):
        data = os.read(self.fd, 1 << 16)
        if not data:
            self.eof = True
        self.buffer += data
        self._check()

    def _check(self):
        if len(self.buffer) >= protocol.HEADER.size:
            size = protocol.HEADER.unpack_from(self.buffer)[0]
            if size > self.cap:
                raise Limit("output_limit", f"the program sent a value of {size} bytes, over {self.cap}")

    def pop(self):
        if len(self.buffer) < protocol.HEADER.size:
            return None
        size = protocol.HEADER.unpack_from(self.buffer)[0]
        end = protocol.HEADER.size + size
        if len(self.buffer) < end:
            return None
        frame = bytes(self.buffer[protocol.HEADER.size:end])
        del self.buffer[:end]
        self._check()
        return frame


class Output:
    """A job's stdout (kept up to the cap, or only counted) and the tail of its stderr."""

    def __init__(self, out_fd, err_fd, cap, keep):
        self.out_fd, self.err_fd, self.cap, self.keep = out_fd, err_fd, cap, keep
        self.stdout, self.size, self.err_tail = bytearray(), 0, b""
        self.open = {fd for fd in (out_fd, err_fd) if fd is not None}

    def feed(self, fd):
        data = os.read(fd, 1 << 16)
        if not data:
            self.open.discard(fd)
        elif fd == self.err_fd:
            self.err_tail = (self.err_tail + data)[-ERR_TAIL:]
        else:
            self.size += len(data)
            if self.keep:
                self.stdout += data[: max(0, self.cap - len(self.stdout))]
            if self.size > self.cap:
                raise Limit("output_limit", f"output over {self.cap} bytes")

    def drain(self):
        for fd in list(self.open):
            while fd in self.open and select.select([fd], [], [], 0)[0]:
                self.feed(fd)
