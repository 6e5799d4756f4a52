"""Plain data across the sandbox boundary: length-prefixed frames and the tagged-JSON value codec.

Standard library only and Python 3.10+: the trusted parent imports this module, and its source is also handed to
the sandbox servers (which import nothing from kateval).

Which side may do what:
  encode()  runs wherever a value is produced. In a candidate's process it is only a convenience: the candidate
            controls that process and may write any bytes at all, so nothing here is trusted there.
  decode()  runs on the receiving, trusted side (the kateval parent, a judge process) and is the boundary: it
            accepts exact built-in types only (no subclasses, no objects of the program's making), bounded depth,
            input already bounded in size by the frame reader, never runs code, and raises ValueError on anything
            else. A value the trusted side compares is therefore one whose `==` is Python's own.

Encoding (JSON): None, bool, str, list and small ints as themselves; finite floats as JSON numbers; other values
as a one-key object: I big int (hex), F nan/inf, C complex, B bytes (hex), T tuple, S set, Z frozenset, D dict
(pairs), N numpy scalar (dtype, value), A numpy array (dtype, shape, items), H a handle (an object that stays in
the program's process; only a judge may receive one), R a builtin (by name; only sent to a program).
"""
import json
import math
import os
import socket
import struct

HEADER = struct.Struct(">I")
ERROR_CHARS = 500   # an error text (an exception's message, a reason) as either side reports it
MAX_DEPTH = 100
SAFE_INT = 1 << 53
NUMPY_DTYPES = frozenset(("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                          "float16", "float32", "float64", "complex64", "complex128"))
_CONTAINERS = {"T": tuple, "S": set, "Z": frozenset}


class Unencodable(Exception):
    """A value that is not plain data (a subclass, an object of the program's making, a cycle)."""


# ---------------------------------------------------------------- frames
def send_frame(fd, *parts):
    """Each part as one frame, all in as few writes as the fd takes."""
    view = memoryview(b"".join(HEADER.pack(len(data)) + data for data in parts))
    while view:
        view = view[os.write(fd, view):]


def read_exact(fd, size):
    chunks, left = [], size
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def recv_frame(fd, max_size):
    """One frame, or None at end of file; ValueError when the announced size is over `max_size` (nothing more
    is read, so a hostile writer cannot make the reader hold more than max_size)."""
    header = read_exact(fd, HEADER.size)
    if header is None:
        return None
    size = HEADER.unpack(header)[0]
    if size > max_size:
        raise ValueError(f"a frame of {size} bytes is over the limit of {max_size}")
    data = read_exact(fd, size)
    if data is None:
        return None
    return data


def send_with_fds(sock, data, fds):
    """A frame whose first bytes carry `fds` (SCM_RIGHTS) over a unix stream socket."""
    packet = HEADER.pack(len(data)) + data
    sent = socket.send_fds(sock, [packet[:HEADER.size]], list(fds)) if fds else 0
    sock.sendall(packet[sent:])


def recv_with_fds(sock, max_size, max_fds=4):
    """(frame, fds) from send_with_fds, or (None, []) at end of file."""
    header, fds, _, _ = socket.recv_fds(sock, HEADER.size, max_fds)
    if not header:
        return None, fds
    while len(header) < HEADER.size:
        more = sock.recv(HEADER.size - len(header))
        if not more:
            return None, fds
        header += more
    size = HEADER.unpack(header)[0]
    if size > max_size:
        raise ValueError(f"a frame of {size} bytes is over the limit of {max_size}")
    data = read_exact(sock.fileno(), size)
    return data, fds


def dumps(message):
    """JSON bytes, ASCII only: lone surrogates and any other character are escaped, never an encoding error."""
    return json.dumps(message, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


def loads(data):
    """A JSON message; ValueError for anything unreadable (bad bytes, nesting too deep, bad JSON)."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError, TypeError) as exc:
        raise ValueError(f"unreadable message ({type(exc).__name__})") from None


# ---------------------------------------------------------------- values: producing side
def encode(value, depth=0, other=None):
    """Plain data to its JSON-able form. `other`, where given, encodes what is not plain data (a handle to an
    object that stays in this process, a builtin by name) or raises Unencodable."""
    if depth > MAX_DEPTH:
        raise Unencodable(f"value nested deeper than {MAX_DEPTH} levels")
    kind = type(value)
    if value is None or kind is bool or kind is str:
        return value
    if kind is int:
        return value if -SAFE_INT < value < SAFE_INT else {"I": format(value, "x")}
    if kind is float:
        return value if math.isfinite(value) else {"F": repr(value)}
    if kind is list:
        return [encode(item, depth + 1, other) for item in value]
    if kind is tuple or kind is set or kind is frozenset:
        tag = "T" if kind is tuple else "S" if kind is set else "Z"
        return {tag: [encode(item, depth + 1, other) for item in value]}
    if kind is dict:
        return {"D": [[encode(k, depth + 1, other), encode(v, depth + 1, other)] for k, v in dict.items(value)]}
    if kind is complex:
        return {"C": [encode(value.real, depth + 1), encode(value.imag, depth + 1)]}
    if kind is bytes:
        return {"B": value.hex()}
    plain = _standard_variant(value, kind)
    if plain is not None:
        return encode(plain, depth, other)
    numpy_value = _numpy(value, kind, depth)
    if numpy_value is not None:
        return numpy_value
    if other is not None:
        return other(value)
    raise Unencodable(f"returned a {getattr(kind, '__module__', '?')}.{getattr(kind, '__qualname__', '?')}, "
                      "not plain data")


def _standard_variant(value, kind):
    """The standard library's dict and deque variants as the plain dict or list they hold (`==` treats them so);
    None for anything else. A class the program changed (or subclassed) is not one of them."""
    module = getattr(kind, "__module__", None)
    if module != "collections" or kind.__qualname__ not in ("Counter", "OrderedDict", "defaultdict", "deque"):
        return None
    import collections
    if getattr(collections, kind.__qualname__, None) is not kind:
        return None
    return list(value) if kind.__qualname__ == "deque" else dict(value)


def _numpy(value, kind, depth):
    if getattr(kind, "__module__", None) != "numpy":
        return None
    dtype = str(getattr(value, "dtype", ""))
    if dtype not in NUMPY_DTYPES:
        return None
    if kind.__name__ == "ndarray":
        if value.size > 1 << 22:
            raise Unencodable("numpy array too large")
        items = [encode(item, depth + 1) for item in value.ravel().tolist()]
        return {"A": [dtype, list(value.shape), items]}
    return {"N": [dtype, encode(value.item(), depth + 1)]}


# ---------------------------------------------------------------- values: receiving side
class Decoder:
    """decode() with what this receiver accepts beyond plain data: numpy values (when numpy can be imported),
    handles (`handle(id)` builds the receiver's stand-in), builtin references (`builtin(name)`)."""

    def __init__(self, numpy=True, handle=None, builtin=None):
        self.numpy, self.handle, self.builtin = numpy, handle, builtin

    def __call__(self, data, depth=0):
        if depth > MAX_DEPTH:
            raise ValueError("value nested too deep")
        kind = type(data)
        if data is None or kind is bool or kind is str:
            return data
        if kind is int:
            return data
        if kind is float:
            return data
        if kind is list:
            return [self(item, depth + 1) for item in data]
        if kind is not dict or len(data) != 1:
            raise ValueError("malformed value")
        (tag, body), = data.items()
        if tag in _CONTAINERS and type(body) is list:
            try:
                return _CONTAINERS[tag](self(item, depth + 1) for item in body)
            except TypeError as exc:   # an unhashable member
                raise ValueError(str(exc)[:200]) from None
        if tag == "D" and type(body) is list:
            return self._dict(body, depth)
        return self._scalar(tag, body, depth)

    def _scalar(self, tag, body, depth):
        if tag == "I" and type(body) is str and 0 < len(body) and body.lstrip("-").isalnum():
            try:
                return int(body, 16)
            except ValueError:
                raise ValueError("malformed big int") from None
        if tag == "F" and body in ("nan", "inf", "-inf"):
            return float(body)
        if tag == "C" and type(body) is list and len(body) == 2:
            real, imag = (self(part, depth + 1) for part in body)
            if type(real) is not float or type(imag) is not float:
                raise ValueError("complex parts must be floats")
            return complex(real, imag)
        if tag == "B" and type(body) is str:
            try:
                return bytes.fromhex(body)
            except ValueError:
                raise ValueError("malformed bytes") from None
        if tag in ("N", "A") and self.numpy:
            return self._numpy(tag, body, depth)
        if tag == "H" and self.handle is not None and type(body) is int:
            return self.handle(body)
        if tag == "R" and self.builtin is not None and type(body) is str:
            return self.builtin(body)
        raise ValueError(f"malformed value tag {str(tag)[:20]!r}")

    def _dict(self, pairs, depth):
        result = {}
        for pair in pairs:
            if type(pair) is not list or len(pair) != 2:
                raise ValueError("malformed dict entry")
            key = self(pair[0], depth + 1)
            try:
                result[key] = self(pair[1], depth + 1)
            except TypeError as exc:   # an unhashable key
                raise ValueError(str(exc)[:200]) from None
        return result

    def _numpy(self, tag, body, depth):
        try:
            import numpy
        except ImportError:
            raise ValueError("numpy value, but numpy is not installed here") from None
        if type(body) is not list or len(body) != (2 if tag == "N" else 3) or body[0] not in NUMPY_DTYPES:
            raise ValueError("malformed numpy value")
        dtype = numpy.dtype(body[0])
        if tag == "N":
            item = self(body[1], depth + 1)
            if type(item) not in (bool, int, float, complex):
                raise ValueError("malformed numpy scalar")
            try:
                return dtype.type(item)
            except (OverflowError, ValueError, TypeError):
                raise ValueError("numpy scalar out of range") from None
        shape, items = body[1], body[2]
        if type(shape) is not list or not all(type(n) is int and 0 <= n for n in shape) or type(items) is not list:
            raise ValueError("malformed numpy array")
        values = [self(item, depth + 1) for item in items]
        if any(type(item) not in (bool, int, float, complex) for item in values) or math.prod(shape) != len(values):
            raise ValueError("malformed numpy array")
        try:
            return numpy.array(values, dtype=dtype).reshape(shape)
        except (OverflowError, ValueError, TypeError):
            raise ValueError("numpy array out of range") from None


decode = Decoder()
