"""--ray-address on a real Ray cluster: a head and one more node on 127.0.0.1 (CPU only), started by the test inside
its own network and pid namespaces (`unshare`), so it can clash with no other cluster on the machine and every
process it starts ends with the namespace.

The outer test re-runs this module's `inner_` tests inside the namespace with pytest; they start the cluster, run
two tiny-model replicas and remote sandbox workers, kill a replica mid-run, compare with a local single-engine run
and stop the cluster. The outer test then checks that nothing of the cluster is left.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
IN_NAMESPACE = "KATEVAL_TEST_RAY_NAMESPACE"   # set (to the cluster's temp dir) only inside the namespace
PORT = 6379
ADDRESS = f"127.0.0.1:{PORT}"
NODE_CPUS = 2   # per node: the two replicas and two sandbox workers fit however Ray places them


def _can_unshare() -> str | None:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "needs unshare and ip (util-linux, iproute2)"
    probe = subprocess.run(["unshare", "--net", "--pid", "--fork", "--mount-proc", "true"], capture_output=True,
                           check=False)
    return None if probe.returncode == 0 else f"cannot create namespaces here: {probe.stderr.decode().strip()}"


@pytest.mark.slow
def test_ray_cluster_run_in_its_own_namespace():
    pytest.importorskip("ray")
    pytest.importorskip("vllm")
    reason = _can_unshare()
    if reason:
        pytest.skip(reason)
    temp_dir = Path(f"/tmp/kr-{uuid.uuid4().hex[:8]}")   # short: Ray's socket paths must fit in 107 bytes
    env = {**os.environ, IN_NAMESPACE: str(temp_dir), "PYTHONPATH": str(REPO), "RAY_USAGE_STATS_ENABLED": "0"}
    try:
        inner = subprocess.run(
            ["unshare", "--net", "--pid", "--fork", "--mount-proc", "--kill-child",
             sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", f"{__file__}::inner_cluster_run",
             "-o", "python_functions=inner_*"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=1500, check=False)
        assert inner.returncode == 0, inner.stdout[-6000:] + inner.stderr[-3000:]
        assert "1 passed" in inner.stdout
        # The namespace is gone and took the cluster with it: no process of this cluster is left on the machine.
        assert _processes_naming(str(temp_dir)) == []
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)


# ---------------------------------------------------------------- inside the namespace
def _ray(*args: str) -> None:
    subprocess.run([str(Path(sys.executable).parent / "ray"), *args], check=True, capture_output=True,
                   timeout=180)


def _start_cluster(temp_dir: str) -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    common = ("--node-ip-address=127.0.0.1", f"--num-cpus={NODE_CPUS}", "--num-gpus=0", f"--temp-dir={temp_dir}",
              "--object-store-memory=100000000", "--disable-usage-stats")
    _ray("start", "--head", f"--port={PORT}", "--include-dashboard=false", *common)
    _ray("start", f"--address={ADDRESS}", *common)


def _run_cmd(out: Path, data_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "kateval", "run", "--model", str(REPO / ".cache/tiny-kat"), "--grammar",
            "autothink", "--tasks", "aime24,humaneval", "--limit", "6", "--n", "2", "--temperature", "1.0",
            "--max-tokens", "300", "--max-model-len", "2048", "--data-dir", str(data_dir), "--out", str(out),
            "--no-progress", *extra]


@pytest.mark.skipif(IN_NAMESPACE not in os.environ, reason="runs inside the namespace test_ray_cluster_run makes")
def inner_cluster_run(tmp_path, data_dir):
    from scale_helpers import comparable_records, wait_for_samples

    from kateval.store import read_run_meta
    from kateval.tinymodel import DEFAULT_DIR, ensure_tiny_model

    ensure_tiny_model(REPO / DEFAULT_DIR)
    temp_dir = os.environ[IN_NAMESPACE]
    _start_cluster(temp_dir)
    try:
        local = tmp_path / "local"
        subprocess.run(_run_cmd(local, data_dir), check=True, capture_output=True)

        on_ray = tmp_path / "ray"
        driver = subprocess.Popen(_run_cmd(on_ray, data_dir, "--ray-address", ADDRESS, "--data-parallel-size", "2",
                                           "--replica-capacity", "2", "--workers", "2", "--backend-option",
                                           "flush_s=0"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for_samples(on_ray, 2, driver, timeout_s=600)
        replica = read_run_meta(on_ray)["backend"]["replicas"][0]
        os.kill(replica["pid"], signal.SIGKILL)   # a replica process, mid-run
        assert driver.wait(timeout=600) == 0, driver.stderr.read().decode()[-3000:]

        assert comparable_records(on_ray) == comparable_records(local)   # same samples, same verdicts (code graded on the cluster)
        meta = read_run_meta(on_ray)
        backend, executor = meta["backend"], meta["executor"]
        assert backend["launcher"] == "ray" and len(backend["cluster"]["nodes"]) == 2
        assert backend["cluster"]["cpus"] == 2 * NODE_CPUS and backend["cluster"]["gpus"] == 0
        assert [r["alive"] for r in backend["replicas"]] == [False, True] and backend["requeued_samples"] > 0
        assert all(r["node_id"] and r["ip"] == "127.0.0.1" and r["bundles"] for r in backend["replicas"])
        assert executor["ray"]["actors"] == 2 and executor["workers"] == 2
        assert executor["isolation"] == read_run_meta(local)["executor"]["isolation"]

        # Programs that pass (reference solutions) get the local verdicts on the cluster's sandbox workers too.
        gold = ("--backend", "reference", "--tasks", "humaneval,mbpp_plus", "--limit", "8", "--n", "1",
                "--data-dir", str(data_dir), "--no-progress")
        subprocess.run([sys.executable, "-m", "kateval", "run", *gold, "--out", str(tmp_path / "gold-local")],
                       check=True, capture_output=True)
        subprocess.run([sys.executable, "-m", "kateval", "run", *gold, "--out", str(tmp_path / "gold-ray"),
                        "--ray-address", ADDRESS], check=True, capture_output=True)
        assert comparable_records(tmp_path / "gold-ray") == comparable_records(tmp_path / "gold-local")
        assert {json.loads(r)["status"] for r in comparable_records(tmp_path / "gold-ray").values()} == {"passed"}

        # A cluster without room says so at once, in one line.
        for too_many in (("--data-parallel-size", "9"), ("--workers", "9")):
            refused = subprocess.run([sys.executable, "-m", "kateval", "run", *gold, "--out", str(tmp_path / "x"),
                                      "--ray-address", ADDRESS, *too_many], check=False, capture_output=True,
                                     text=True)
            last = refused.stderr.strip().splitlines()[-1]   # Ray's own connection notes may come before it
            assert refused.returncode == 2 and last.startswith("kateval: error: "), refused.stderr
            assert "the Ray cluster has" in last and "Traceback" not in refused.stderr
    finally:
        _ray("stop", "--force")
    assert _processes_naming(temp_dir) == []


def _processes_naming(text: str) -> list[str]:
    """Command lines of the processes (in this pid namespace) that mention `text`; Ray's name their temp dir."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            command = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:   # ended meanwhile
            continue
        if text in command and str(os.getpid()) != cmdline.parent.name:
            found.append(command)
    return found
