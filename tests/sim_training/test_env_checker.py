"""gymnasium's own env checker on ``quadmimic/Imitation-v0``: spaces, dtypes, seeding, API."""

from __future__ import annotations

import warnings

import gymnasium
import pytest
from gymnasium.utils.env_checker import check_env

import sim_training
from sim_training.config import TrainConfig
from tests.conftest import REPO

MOTION = str(REPO / "data" / "motions" / "a1_trot.txt")
# The observation Box is unbounded on purpose (normalised by running statistics in training);
# every other warning of the checker (an observation outside its space, a wrong dtype, a
# non-float reward, seeding not honoured...) fails the test.
ALLOWED = ("A Box observation space minimum value is -infinity",
           "A Box observation space maximum value is infinity")


@pytest.mark.parametrize(("config", "render_mode"), [
    (None, None),                  # the env's defaults (evaluation, deployment checks)
    ("train", None),               # the config training runs with
    (None, "rgb_array"),           # render checked too
], ids=["default", "train-config", "rgb_array"])
def test_gymnasium_check_env_passes(config, render_mode):
    kwargs = {} if config is None else {"config": TrainConfig(motion=MOTION).env}
    env = gymnasium.make(sim_training.ENV_ID, motion=MOTION, robot="a1", randomize=True,
                         seed=1, render_mode=render_mode, **kwargs)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            check_env(env.unwrapped)
    finally:
        env.close()
    unexpected = [str(w.message) for w in caught
                  if not any(a in str(w.message) for a in ALLOWED)]
    assert not unexpected, unexpected
