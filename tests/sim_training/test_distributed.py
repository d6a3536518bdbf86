"""Training through Ray: a local instance, and a 2-node cluster on 127.0.0.1."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from quadmimic.core.errors import BundleError, MotionFormatError
from sim_training.bundle import PolicyBundle
from sim_training.config import PPOConfig, TrainConfig
from sim_training.distributed import absolute_paths, train_on_ray
from tests.conftest import REPO

MOTION = str(REPO / "data" / "motions" / "a1_trot.txt")
RAY = str(Path(sys.executable).parent / "ray")


def _tiny(timesteps: int = 256) -> TrainConfig:
    return TrainConfig(motion=MOTION, timesteps=timesteps, num_envs=2, num_workers=0,
                       ppo=PPOConfig(n_steps=128, batch_size=128, n_epochs=1))


@pytest.fixture
def ray_tmp(monkeypatch):
    """A Ray temp dir of the test's own: what Ray writes stays in it, and a local instance
    never finds a cluster of the machine's (``ray_current_cluster`` is looked up in it).

    Short and under /tmp: Ray's Unix sockets live in it (107 bytes at most for a path).
    """
    path = Path(tempfile.mkdtemp(prefix="qmray", dir="/tmp"))
    monkeypatch.setenv("RAY_TMPDIR", str(path))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.slow
def test_local_ray_trials_train_and_resume(tmp_path, ray_tmp):
    import signal

    ctrl_c = signal.getsignal(signal.SIGINT)
    summary = train_on_ray(_tiny(), tmp_path, seeds=(0, 1))
    assert signal.getsignal(signal.SIGINT) is ctrl_c  # Ray Tune's handler is not left behind
    assert summary["address"] == "local" and len(summary["trials"]) == 2
    for trial in summary["trials"]:
        assert trial["error"] is None and trial["timesteps"] == 256
        assert PolicyBundle.load(trial["run_dir"]).manifest["samples"] == 256
    assert json.loads((tmp_path / "ray_summary.json").read_text())["trials"]
    # Re-running with a larger budget resumes both trials from their checkpoints.
    again = train_on_ray(_tiny(512), tmp_path, seeds=(0, 1))
    assert all(t["timesteps"] == 512 for t in again["trials"])


def test_paths_are_made_absolute_before_dispatch(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    config = absolute_paths(dataclasses.replace(_tiny(), motion="data/motions/a1_trot.txt",
                                                init_from="data/policies/a1_trot"))
    assert config.motion == MOTION
    assert config.init_from == str(REPO / "data" / "policies" / "a1_trot")
    monkeypatch.chdir(tmp_path)  # the same relative paths elsewhere name nothing: a clear error
    with pytest.raises(MotionFormatError, match="motion file not found"):
        absolute_paths(dataclasses.replace(_tiny(), motion="data/motions/a1_trot.txt"))
    with pytest.raises(BundleError, match="init-from"):
        absolute_paths(dataclasses.replace(_tiny(), init_from="data/policies/a1_trot"))


@pytest.mark.slow
def test_readme_ray_command_with_relative_paths_from_the_repo_root(tmp_path, ray_tmp):
    """The local Ray command of docs/cluster.md as a user types it in the repo root.

    Ray runs each trial in a working directory of its own: relative paths not made absolute
    would kill every trial with FileNotFoundError. ``--out`` is relative too (into this test's
    tmp_path).
    """
    out = tmp_path / "runs" / "sweep"
    env = dict(os.environ)  # RAY_TMPDIR: ray_tmp's; no RAY_ADDRESS
    proc = subprocess.run(
        [sys.executable, "-m", "quadmimic", "train", "data/motions/a1_trot.txt",
         "--out", os.path.relpath(out, REPO), "--ray", "--seeds", "0,1",
         "--timesteps", "256", "--num-envs", "2", "--num-workers", "0"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((out / "ray_summary.json").read_text())
    assert summary["address"] == "local" and len(summary["trials"]) == 2
    for trial in summary["trials"]:
        assert trial["error"] is None and trial["timesteps"] == 256
        run_dir = Path(trial["run_dir"])
        assert run_dir.is_absolute() and run_dir.parent == out
        assert json.loads((run_dir / "config.json").read_text())["motion"] == MOTION


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_node(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """``ray start --block ARGS``: a node of this test's own, stopped through its process.

    ``--block`` keeps ``ray start`` in the foreground as the node's parent: terminating it
    stops the node's processes (and a reaper kills them should it die). Returns once the node
    is up.
    """
    proc = subprocess.Popen([RAY, "start", "--block", *args], env=env, stdout=log.open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    while "Ray runtime started" not in log.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop_node(proc)
            pytest.fail(f"ray start {' '.join(args)} failed: {log.read_text()[-2000:]}")
        time.sleep(0.5)
    return proc


def _stop_node(proc: subprocess.Popen) -> None:
    """Stop a node started by :func:`_start_node`: its ``ray start``, then its own session."""
    if proc.poll() is None:
        proc.terminate()  # the node shuts its processes down
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # anything of its session left behind


@pytest.mark.slow
def test_two_node_cluster_on_loopback(tmp_path, ray_tmp):
    """A head and a worker node on 127.0.0.1 (`ray start`) and training through --ray-address.

    Every port the nodes listen on is a free one (none of Ray's defaults, which a cluster of
    the user's may hold), the nodes write into ``ray_tmp``, and only these two are stopped.
    """
    port = _free_port()
    # Token authentication on every node and the driver, with a token of this test's own
    # (a fresh machine has no ~/.ray/auth_token yet).
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    address = f"127.0.0.1:{port}"
    common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats",
              f"--temp-dir={ray_tmp}"]
    nodes = []
    try:
        nodes.append(_start_node(
            ["--head", f"--port={port}", "--include-dashboard=false",
             f"--ray-client-server-port={_free_port()}",
             f"--dashboard-agent-listen-port={_free_port()}", *common], env,
            tmp_path / "head.log"))
        nodes.append(_start_node(
            [f"--address={address}", f"--dashboard-agent-listen-port={_free_port()}",
             *common], env, tmp_path / "worker.log"))
        proc = subprocess.run(
            [sys.executable, "-m", "quadmimic", "train", MOTION, "--out", str(tmp_path / "r"),
             "--ray-address", address, "--timesteps", "256", "--num-envs", "2",
             "--num-workers", "0", "--seeds", "0,1"],
            env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
        summary = json.loads((tmp_path / "r" / "ray_summary.json").read_text())
        assert summary["nodes"] == 2 and summary["address"] == address
        assert all(t["error"] is None and t["timesteps"] >= 256 for t in summary["trials"])
    finally:
        for node in reversed(nodes):
            _stop_node(node)
    assert all(node.poll() is not None for node in nodes)
