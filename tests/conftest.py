"""Test fixtures: where the repository's data lies (dog clips, reference motions)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str, timeout: float = 300, cwd: Path | None = REPO
            ) -> subprocess.CompletedProcess:
    """``quadmimic ARGS`` as a real process (text output captured)."""
    return subprocess.run([sys.executable, "-m", "quadmimic", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd)
DEFAULT_CLIPS = REPO / "data" / "mocap"
MOCAP_RAW = DEFAULT_CLIPS  # the fifteen raw dog clips (data/mocap/SOURCE.md)
REFERENCE_MOTIONS = REPO / "data" / "reference_motions"  # the paper code's Laikago motions


@pytest.fixture(scope="session")
def trot_clip_path() -> Path:
    return DEFAULT_CLIPS / "dog_trot_joint_pos.txt"


@pytest.fixture(scope="session")
def tiny_policy(tmp_path_factory) -> Path:
    """A latent policy trained for 256 samples on the shipped A1 trot: a real, tiny bundle."""
    from sim_training.config import PPOConfig, TrainConfig
    from sim_training.train import Trainer

    run = tmp_path_factory.mktemp("tiny_policy") / "run"
    cfg = TrainConfig(motion=str(REPO / "data" / "motions" / "a1_trot.txt"), timesteps=256,
                      num_envs=2, num_workers=0,
                      ppo=PPOConfig(n_steps=128, batch_size=128, n_epochs=1))
    trainer = Trainer.create(cfg, run)
    trainer.train()
    trainer.close()
    return run


TINY_ESTIMATOR = {"window": 5, "hidden": (16,), "iterations": 1, "episodes_per_iteration": 3,
                  "episode_seconds": 0.5, "validation_episodes": 1, "epochs": 2}
"""A tiny DAgger budget (4 episodes of 0.5 s): an estimator that runs, not one that is good."""


@pytest.fixture(scope="session")
def tiny_bundle_with_estimator(tiny_policy, tmp_path_factory) -> Path:
    """The tiny policy written as a bundle, carrying a tiny estimator trained for it."""
    from sim_training.bundle import PolicyBundle, write_bundle
    from sim_training.estimator import EstimatorConfig, save_estimator
    from sim_training.estimator_training import train_estimator

    out = write_bundle(tiny_policy, tmp_path_factory.mktemp("tiny_estimated") / "bundle")
    estimator = train_estimator(PolicyBundle.load(out), EstimatorConfig(**TINY_ESTIMATOR))
    save_estimator(estimator, out)
    return out


@pytest.fixture(scope="session")
def go2_steer(tmp_path_factory) -> Path:
    """A steerable run warm-started from the shipped Go2 trot with commands, not trained: the
    trot widened with zero weights on the command inputs (it acts as the trot)."""
    import dataclasses

    from sim_training.commands import CommandConfig
    from sim_training.config import PPOConfig, TrainConfig, training_env
    from sim_training.train import Trainer

    trot = REPO / "data" / "policies" / "go2_trot"
    cfg = TrainConfig(motion=str(trot / "motion.txt"), robot="go2", num_envs=2, num_workers=0,
                      groups_per_worker=1, init_from=str(trot), eval_episodes=0,
                      ppo=PPOConfig(n_steps=64, batch_size=128),
                      env=dataclasses.replace(training_env(),
                                              commands=CommandConfig(enabled=True)))
    run = tmp_path_factory.mktemp("go2_steer") / "run"
    trainer = Trainer.create(cfg, run)
    trainer.save_checkpoint()
    trainer.close()
    return run


REALTIME_MODULES = frozenset({
    "test_go2_dds.py", "test_go1_udp.py", "test_mujoco_wire.py", "test_cli_backends.py",
    "test_realtime.py", "test_controller.py", "test_steering.py"})
"""Test modules whose emulators and control loops run on the wall clock (500 Hz)."""


def pytest_collection_modifyitems(config, items):
    """Mark real-time tests ``realtime``: the Makefile runs them alone, after the rest.

    ``make test`` runs the rest of the suite on every core (``-n auto``); an emulator and its
    client beside a training test on two cores miss their 2 ms deadlines (stale state, late
    commands, a tilt), so the real-time modules run in a second, serial pass. Should they run
    under xdist anyway, they share one worker (``--dist loadgroup``).
    """
    xdist = config.pluginmanager.hasplugin("xdist")
    for item in items:
        if item.path.name in REALTIME_MODULES:
            item.add_marker(pytest.mark.realtime)
            if xdist:
                item.add_marker(pytest.mark.xdist_group("realtime"))
