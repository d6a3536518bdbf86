"""Training through Ray: a local instance, and a 2-node cluster on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from motion_retarget.errors import BundleError, MotionFormatError
from sim_training.bundle import PolicyBundle
from sim_training.config import PPOConfig, TrainConfig
from sim_training.distributed import absolute_paths, train_on_ray
from tests.conftest import REPO

MOTION = str(REPO / "data" / "motions" / "a1_trot.txt")
RAY = str(Path(sys.executable).parent / "ray")


def _tiny(timesteps: int = 256) -> TrainConfig:
    return TrainConfig(motion=MOTION, timesteps=timesteps, num_envs=2, num_workers=0,
                       ppo=PPOConfig(n_steps=128, batch_size=128, n_epochs=1))


@pytest.mark.slow
def test_local_ray_trials_train_and_resume(tmp_path):
    summary = train_on_ray(_tiny(), tmp_path, seeds=(0, 1))
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
def test_readme_ray_command_with_relative_paths_from_the_repo_root(tmp_path):
    """The README's local Ray command as a user types it in the repo root (issue 15).

    Ray runs each trial in a working directory of its own: relative paths used to kill every
    trial with FileNotFoundError. ``--out`` is relative too (into this test's tmp_path).
    """
    out = tmp_path / "runs" / "sweep"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # a local instance
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


@pytest.mark.slow
def test_two_node_cluster_on_loopback(tmp_path):
    """`ray start` a head and a worker node on 127.0.0.1 and train through --ray-address."""
    port = _free_port()
    # Token authentication on every node and the driver, with a token of this test's own
    # (a fresh machine has no ~/.ray/auth_token yet).
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    address = f"127.0.0.1:{port}"
    common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats"]
    try:
        subprocess.run([RAY, "start", "--head", f"--port={port}", "--include-dashboard=false",
                        *common], env=env, check=True, capture_output=True, timeout=120)
        subprocess.run([RAY, "start", f"--address={address}", *common], env=env, check=True,
                       capture_output=True, timeout=120)
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
        subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True, timeout=120)
