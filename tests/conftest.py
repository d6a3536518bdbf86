"""Test fixtures: where the repository's data lies (dog clips, reference motions)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
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


REALTIME_MODULES = frozenset({
    "test_go2_dds.py", "test_go1_udp.py", "test_mujoco_wire.py", "test_cli_backends.py",
    "test_realtime.py", "test_controller.py"})
"""Test modules whose emulators and control loops run on the wall clock (500 Hz)."""


def pytest_collection_modifyitems(config, items):
    """Real-time tests run one after another on one xdist worker, never two at once.

    ``make test`` runs the suite on every core (``-n auto --dist loadgroup``): two emulators
    and their clients at once would starve each other on two cores. Their module-scoped
    emulators start once, on that worker, too.
    """
    for item in items:
        if item.path.name in REALTIME_MODULES:
            item.add_marker(pytest.mark.xdist_group("realtime"))
