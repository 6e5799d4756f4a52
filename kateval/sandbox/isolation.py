"""How a worker's two sandbox servers are started: the strongest isolation this machine allows.

Each worker has a runner (programs run there) and a judge (the data's own code runs there), each in a sandbox of
its own with a uid of its own, so a program can see, signal or trace nothing of the judge, of another worker, or
of the host.

Levels, strongest first:
  bwrap+uid  root: drop to a fresh unprivileged uid with setpriv, then bubblewrap (new user, pid, net, mount, ipc,
             uts namespaces; read-only /usr; no host files), the server as the sandbox's pid 1. The runner makes
             a user and pid namespace of its own (it owns them: only there has it capabilities) and gives every
             job fresh pid, mount, IPC and UTS namespaces; jobs drop every capability and run under the seccomp
             filter.
  bwrap      not root, unprivileged user namespaces: the same, as the current user.
  uid        root without a working bwrap: a fresh uid and rlimits only (network and world-readable files stay
             reachable; jobs share the worker's scratch directory, wiped between jobs).
  rlimits    nothing else: rlimits and a session only.
The two weak levels warn; describe() records the level in run.json.
"""
from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from kateval.sandbox import seccomp
from kateval.sandbox.harness import OPEN_FILES

SYSTEM_PYTHON = "/usr/bin/python3.11"
# the modules handed to a sandbox server, in import order
SOURCES = ("protocol", "harness", "judge", "plans", "pipes", "measure", "spaces", "server")
BOOTSTRAP = """import json, os, sys, types
with os.fdopen(int(sys.argv[1]), 'rb') as handle:
    config, sources = json.loads(handle.read())
for package in ('kateval', 'kateval.sandbox'):
    module = types.ModuleType(package)
    module.__path__ = []
    sys.modules[package] = module
for name, source in sources:
    module = types.ModuleType('kateval.sandbox.' + name)
    sys.modules[module.__name__] = module
    setattr(sys.modules['kateval.sandbox'], name, module)
    exec(compile(source, module.__name__, 'exec'), module.__dict__)
sys.modules['kateval.sandbox.server'].main(config)
"""
UID_BASE = 2_000_000_000          # far above any real account
UIDS_PER_PROCESS = 512
SCRATCH_BYTES = 64 << 20
FILE_BYTES = 16 << 20
NPROC = 64
THREAD_ENV = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                     "NUMEXPR_NUM_THREADS")}
BASE_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0", **THREAD_ENV}
_uid_serial = itertools.count()


def fresh_uid() -> int:
    """A uid no other sandbox process uses: rlimits on processes count per uid, and a server's cleanup kills
    every process of its uid."""
    return UID_BASE + os.getpid() * UIDS_PER_PROCESS + next(_uid_serial) % UIDS_PER_PROCESS


def server_payload(config: dict) -> bytes:
    """What a server reads from its inherited fd: its configuration and the sources of its modules."""
    here = Path(__file__).parent
    sources = [(name, (here / f"{name}.py").read_text(encoding="utf-8")) for name in SOURCES]
    return json.dumps([config, sources]).encode()


@dataclass(frozen=True)
class Isolation:
    level: str
    interpreter: str
    warning: str | None = None
    notes: tuple[str, ...] = field(default=())
    seccomp_filter: bytes | None = None

    @property
    def own_uid(self) -> bool:
        return self.level in ("bwrap+uid", "uid")

    @property
    def namespaces(self) -> bool:
        return self.level.startswith("bwrap")

    def server_config(self, role: str, scratch: str | None, control_fd: int) -> dict:
        runner = role == "runner"
        return {"role": role, "control_fd": control_fd, "namespaces": runner and self.namespaces,
                "pidns": self.namespaces, "scratch": scratch or "/tmp", "tmpfs_bytes": SCRATCH_BYTES,
                "file_bytes": FILE_BYTES, "nproc": NPROC if self.own_uid or self.namespaces else None,
                "seccomp": self.seccomp_filter.hex() if runner and self.seccomp_filter else None}

    def describe(self) -> dict:
        strong = self.namespaces
        return {"isolation": self.level, "interpreter": self.interpreter, "warning": self.warning,
                "sides": "programs run in a runner sandbox; the data's test code and reference solutions in a "
                         "separate judge sandbox that calls the program with plain data",
                "namespaces": "user, pid, net, mount, ipc, uts per server; fresh mount, ipc, uts and /tmp per job"
                              if strong else None,
                "seccomp": ("tracing, keyrings, namespaces, mounts, SysV/POSIX IPC, memfd, io_uring, bpf refused"
                            if self.seccomp_filter else "none: no syscall table for this architecture"),
                "uid": "a fresh unprivileged uid per server" if self.own_uid else "the caller's",
                "network": "none" if strong else "host",
                "host_files": "none; /usr and three /etc files read-only" if strong else "what the worker uid may read",
                "rlimits": {"file_bytes": FILE_BYTES, "open_files": OPEN_FILES,
                            "processes": NPROC if self.own_uid or strong else None,
                            "address_space": "memory_mb", "cpu_s": "job CPU limit + 2"},
                "job_memory": "resident memory of all the job's processes plus its /tmp, 2 x memory_mb" if strong
                else "per process only",
                "job_cpu": "CPU time of every process of the job" if strong
                else "CPU time of the job's session",
                "scratch_bytes": SCRATCH_BYTES if strong else None}


def bwrap_args(bwrap: str, role: str) -> list[str]:
    args = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--as-pid-1", "--hostname", "sandbox",
            "--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/lib", "/lib64", "/lib32", "/sbin"):
        path = Path(top)
        if path.is_symlink():
            args += ["--symlink", os.readlink(top), top]
        elif path.is_dir():
            args += ["--ro-bind", top, top]
    for etc in ("/etc/alternatives", "/etc/ld.so.cache", "/etc/localtime"):
        args += ["--ro-bind-try", etc, etc]
    # The root and /dev are tmpfs mounts of bwrap's making, read-only. The runner's /tmp is only a mount point:
    # each job mounts a fresh size-capped tmpfs there in a mount namespace of its own.
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += ["--dir", "/tmp"] if role == "runner" else ["--size", str(SCRATCH_BYTES), "--tmpfs", "/tmp"]
    args += ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", "/", "--clearenv"]
    for name, value in BASE_ENV.items():
        args += ["--setenv", name, value]
    return args


def command(isolation: Isolation, uid: int, scratch: str | None, source_fd: int, role: str) -> tuple[list[str], dict]:
    """The argv and environment that start one server reading its configuration and sources (server_payload)
    from the inherited `source_fd`."""
    server = [isolation.interpreter, "-I", "-c", BOOTSTRAP, str(source_fd)]
    drop = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs"]
    env = {**BASE_ENV, "HOME": scratch or "/tmp"}
    if isolation.level == "bwrap+uid":
        return drop + bwrap_args(shutil.which("bwrap"), role) + server, env
    if isolation.level == "bwrap":
        return bwrap_args(shutil.which("bwrap"), role) + server, env
    return (drop + server if isolation.level == "uid" else server), env


def _works(argv: list[str]) -> bool:
    try:
        done = subprocess.run(argv + [SYSTEM_PYTHON if os.path.exists(SYSTEM_PYTHON) else sys.executable, "-I", "-c",
                                      "import os; print(os.getpid())"],
                              check=False, capture_output=True, text=True, timeout=30, cwd="/", env=BASE_ENV)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0 and done.stdout.strip() == "1"


def detect() -> Isolation:
    """Probe once which level works here; warn when it is a weak one."""
    interpreter = SYSTEM_PYTHON if os.path.exists(SYSTEM_PYTHON) else sys.executable
    notes = () if interpreter == SYSTEM_PYTHON else (f"{SYSTEM_PYTHON} missing; using {interpreter}",)
    flt = seccomp.build()
    root = os.geteuid() == 0
    bwrap = shutil.which("bwrap")
    has_setpriv = shutil.which("setpriv") is not None
    probe_uid = fresh_uid()
    if bwrap and root and has_setpriv and _works(
            ["setpriv", f"--reuid={probe_uid}", f"--regid={probe_uid}", "--clear-groups"]
            + bwrap_args(bwrap, "runner")):
        return Isolation("bwrap+uid", interpreter, None, notes, flt)
    if bwrap and not root and _works(bwrap_args(bwrap, "runner")):
        return Isolation("bwrap", interpreter, None, notes, flt)
    why = "bubblewrap is not installed" if not bwrap else "bubblewrap cannot create namespaces here"
    level = "uid" if root and has_setpriv else "rlimits"
    weak = "a dedicated uid and rlimits" if level == "uid" else "rlimits and a session only"
    message = f"kateval sandbox: {why}; running untrusted code with {weak} (network and host files reachable)"
    warnings.warn(message, RuntimeWarning, stacklevel=2)
    print(message, file=sys.stderr)
    return Isolation(level, interpreter, message, notes, flt)
