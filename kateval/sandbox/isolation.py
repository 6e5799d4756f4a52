"""How a worker's fork server is started: the strongest isolation this machine allows.

Levels, strongest first:
  bwrap+uid  root: drop to a dedicated uid with setpriv, then bubblewrap (new user, pid, net, mount, ipc, uts
             namespaces; read-only /usr; a size-capped tmpfs scratch; no host files).
  bwrap      not root, unprivileged user namespaces: bubblewrap as the current user.
  uid        root without a working bwrap: a dedicated uid and rlimits only (network and world-readable files
             stay reachable).
  rlimits    nothing else: rlimits and a process group only.
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

SYSTEM_PYTHON = "/usr/bin/python3.11"
SERVER_SOURCE = Path(__file__).with_name("forkserver.py")
BOOTSTRAP = ("import os, sys\nwith os.fdopen(int(sys.argv[1]), 'rb') as source:\n"
             "    exec(compile(source.read(), 'kateval-forkserver', 'exec'))")
UID_BASE = 2_000_000_000          # far above any real account
UIDS_PER_PROCESS = 512
_uid_serial = itertools.count()


def fresh_uid() -> int:
    """A uid no other sandbox process uses: rlimits on processes count per uid, and a fork server's cleanup kills
    every process of its uid."""
    return UID_BASE + os.getpid() * UIDS_PER_PROCESS + next(_uid_serial) % UIDS_PER_PROCESS
SCRATCH_BYTES = 64 << 20
FILE_BYTES = 16 << 20
NPROC = 64
THREAD_ENV = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                     "NUMEXPR_NUM_THREADS")}
BASE_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0", **THREAD_ENV}


@dataclass(frozen=True)
class Isolation:
    level: str
    interpreter: str
    warning: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def own_uid(self) -> bool:
        return self.level in ("bwrap+uid", "uid")

    @property
    def pid_namespace(self) -> bool:
        return self.level.startswith("bwrap")

    def server_config(self) -> dict:
        return {"scratch": "/tmp" if self.pid_namespace else None, "file_bytes": FILE_BYTES, "pidns": self.pid_namespace,
                "nproc": NPROC if self.own_uid else None, "kill": "all" if self.own_uid or self.pid_namespace
                else "group"}

    def describe(self) -> dict:
        return {"isolation": self.level, "interpreter": self.interpreter, "warning": self.warning,
                "namespaces": "user, pid, net, mount, ipc, uts" if self.pid_namespace else None,
                "uid": "a fresh unprivileged uid per worker" if self.own_uid else "the caller's",
                "network": "none" if self.pid_namespace else "host",
                "host_files": "none; /usr and three /etc files read-only" if self.pid_namespace
                else "what the worker uid may read",
                "rlimits": {"file_bytes": FILE_BYTES, "open_files": 256, "processes": NPROC if self.own_uid else None,
                            "address_space": "memory_mb", "cpu_s": "timeout_total_s + 2"},
                "job_memory": "resident memory of all the job's processes, 2 x memory_mb" if self.pid_namespace
                else "per process only",
                "scratch_bytes": SCRATCH_BYTES if self.pid_namespace else None}


def bwrap_args(bwrap: str) -> list[str]:
    args = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--hostname", "sandbox",
            "--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/lib", "/lib64", "/lib32", "/sbin"):
        path = Path(top)
        if path.is_symlink():
            args += ["--symlink", os.readlink(top), top]
        elif path.is_dir():
            args += ["--ro-bind", top, top]
    for etc in ("/etc/alternatives", "/etc/ld.so.cache", "/etc/localtime"):
        args += ["--ro-bind-try", etc, etc]
    # The root and /dev are tmpfs mounts of bwrap's making: read-only, so that /tmp (size-capped, wiped after
    # every job) is the only place a program can write.
    args += ["--proc", "/proc", "--dev", "/dev", "--size", str(SCRATCH_BYTES), "--tmpfs", "/tmp",
             "--remount-ro", "/dev", "--remount-ro", "/", "--chdir", "/tmp", "--clearenv"]
    for name, value in BASE_ENV.items():
        args += ["--setenv", name, value]
    return args


def command(isolation: Isolation, worker_uid: int, scratch: str | None, source_fd: int) -> tuple[list[str], dict]:
    """The argv (and environment, for the non-bwrap levels) that starts one fork server reading its source
    from the inherited `source_fd`."""
    config = isolation.server_config()
    if scratch is not None:
        config["scratch"] = scratch
    server = [isolation.interpreter, "-I", "-c", BOOTSTRAP, str(source_fd), json.dumps(config)]
    drop = ["setpriv", f"--reuid={worker_uid}", f"--regid={worker_uid}", "--clear-groups", "--no-new-privs"]
    # bwrap's own init stays visible (and readable) as pid 1 inside: it must not carry the host's environment.
    env = {**BASE_ENV, "HOME": scratch or "/tmp"}
    if isolation.level == "bwrap+uid":
        return drop + bwrap_args(shutil.which("bwrap")) + server, env
    if isolation.level == "bwrap":
        return bwrap_args(shutil.which("bwrap")) + server, env
    return (drop + server if isolation.level == "uid" else server), env


def _works(argv: list[str]) -> bool:
    try:
        done = subprocess.run(argv + [SYSTEM_PYTHON if os.path.exists(SYSTEM_PYTHON) else sys.executable, "-I", "-c",
                                      "import os; print(os.getpid())"],
                              check=False, capture_output=True, text=True, timeout=30, cwd="/", env=BASE_ENV)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0 and done.stdout.strip() == "2"


def detect() -> Isolation:
    """Probe once which level works here; warn when it is a weak one."""
    interpreter = SYSTEM_PYTHON if os.path.exists(SYSTEM_PYTHON) else sys.executable
    notes = () if interpreter == SYSTEM_PYTHON else (f"{SYSTEM_PYTHON} missing; using {interpreter}",)
    root = os.geteuid() == 0
    bwrap = shutil.which("bwrap")
    has_setpriv = shutil.which("setpriv") is not None
    probe_uid = fresh_uid()
    if bwrap and root and has_setpriv and _works(
            ["setpriv", f"--reuid={probe_uid}", f"--regid={probe_uid}", "--clear-groups"] + bwrap_args(bwrap)):
        return Isolation("bwrap+uid", interpreter, None, notes)
    if bwrap and not root and _works(bwrap_args(bwrap)):
        return Isolation("bwrap", interpreter, None, notes)
    why = "bubblewrap is not installed" if not bwrap else "bubblewrap cannot create namespaces here"
    level = "uid" if root and has_setpriv else "rlimits"
    weak = "a dedicated uid and rlimits" if level == "uid" else "rlimits and a process group only"
    message = f"kateval sandbox: {why}; running untrusted code with {weak} (network and host files reachable)"
    warnings.warn(message, RuntimeWarning, stacklevel=2)
    print(message, file=sys.stderr)
    return Isolation(level, interpreter, message, notes)
