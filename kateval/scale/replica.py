"""One replica: a backend (one engine, `--tensor-parallel-size` wide) serving a driver's work in its own process
or Ray actor. It runs kateval's own code and the model, never model-written programs, so it trusts the driver and
the driver trusts it; the process boundary is for GPUs and fault isolation, not for safety.

Messages to a replica (its inbox), in the order the driver sent them:
    ("work", round, requests, sampling)   add requests to the running engine
    ("cancel", round)                     drop everything unfinished (the driver stopped that round early)
    ("describe",)                         report the backend's facts
    ("stop",)
Events from it:
    ("ready", facts)                      the backend loaded: describe(), decoder, capacity, pid, host
    ("done", round, completions)          samples that finished, tagged with the latest round it was given
    ("described", facts)
    ("failed", message)                   the backend raised; the replica then stops

Started locally as `python -m kateval.scale.replica FD` (FD: a socket to the driver; the first message on it is
the BackendConfig). The process exits as soon as that socket closes, so a killed driver leaves no replica behind.
"""
from __future__ import annotations

import os
import queue
import socket
import sys
import threading
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from kateval.backends import make_backend
from kateval.backends.base import Backend, BackendConfig
from kateval.quiet import configure_library_output, library_info_wanted
from kateval.types import KatevalError

Emit = Callable[[tuple], None]


def serve(config: BackendConfig, inbox: queue.Queue, emit: Emit) -> None:
    """Load the backend, then take work between engine steps until told to stop."""
    try:
        backend = make_backend(config)
    except BaseException as exc:  # noqa: BLE001 - whatever stops the load is reported, not lost in a log
        emit(("failed", _message(exc)))
        return
    try:
        emit(("ready", ready_facts(backend)))
        _loop(backend, inbox, emit)
    except BaseException as exc:  # noqa: BLE001
        emit(("failed", _message(exc)))
    finally:
        backend.close()


def ready_facts(backend: Backend) -> dict[str, Any]:
    return {"describe": backend.describe(), "decoder": backend.decoder(), "capacity": backend.capacity(),
            "pid": os.getpid(), "host": socket.gethostname()}


def _loop(backend: Backend, inbox: queue.Queue, emit: Emit) -> None:
    current_round = 0
    while True:
        # Idle: wait for the driver. Busy: take whatever arrived, then step the engine.
        messages = [inbox.get()] if backend.pending() == 0 else []
        while True:
            try:
                messages.append(inbox.get_nowait())
            except queue.Empty:
                break
        for message in messages:
            kind = message[0]
            if kind == "work":
                current_round = max(current_round, message[1])
                backend.submit(message[2], message[3])
            elif kind == "cancel":
                backend.cancel()
            elif kind == "describe":
                emit(("described", backend.describe()))
            elif kind == "stop":
                return
        finished = backend.poll()
        if finished:
            emit(("done", current_round, finished))


def _message(exc: BaseException) -> str:
    """One line for the driver; the traceback goes to this replica's stderr (the terminal, or a Ray node's log)."""
    if isinstance(exc, KatevalError):
        return str(exc)
    traceback.print_exc(file=sys.stderr)
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


def main(fd: int) -> None:
    # The driver's choice of library output (quiet, or --verbose), which reaches this process only as the
    # environment it set: logger levels and warning filters are per process.
    configure_library_output(verbose=library_info_wanted())
    connection = Connection(fd)
    try:
        config = connection.recv()
    except (EOFError, OSError):
        return   # the driver was gone before it said what to load
    inbox: queue.Queue = queue.Queue()
    threading.Thread(target=_read, args=(connection, inbox), daemon=True, name="kateval-replica-inbox").start()
    lock = threading.Lock()

    def emit(event: tuple) -> None:
        with lock:
            connection.send(event)

    serve(config, inbox, emit)


def _read(connection: Connection, inbox: queue.Queue) -> None:
    try:
        while True:
            inbox.put(connection.recv())
    except (EOFError, OSError):
        os._exit(0)   # the driver is gone (even killed): nobody will read what this replica makes


if __name__ == "__main__":
    main(int(sys.argv[1]))
