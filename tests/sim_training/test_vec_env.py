"""The multi-env-per-process vector env against the in-process one."""

from __future__ import annotations

import numpy as np
from stable_baselines3.common.monitor import Monitor

from sim_training.vec_env import make_vec_env
from tests.conftest import REPO

MOTION = str(REPO / "data" / "motions" / "a1_trot.txt")


def test_multiprocess_matches_in_process_and_auto_resets():
    procs = make_vec_env(MOTION, num_envs=4, seed=11, num_workers=2)
    local = make_vec_env(MOTION, num_envs=4, seed=11, num_workers=0)
    try:
        assert procs.num_envs == 4 and procs.observation_space == local.observation_space
        a, b = procs.reset(), local.reset()
        assert a["obs"].shape == (4, 156) and a["dynamics"].shape == (4, 11)
        np.testing.assert_array_equal(a["obs"], b["obs"])
        rng = np.random.default_rng(0)
        saw_done = False
        for _ in range(60):
            act = rng.uniform(-1, 1, (4, 12)).astype(np.float32)
            oa, ra, da, ia = procs.step(act)
            ob, rb, db, _ib = local.step(act)
            np.testing.assert_array_equal(oa["obs"], ob["obs"])
            np.testing.assert_array_equal(ra, rb)
            np.testing.assert_array_equal(da, db)
            for done, info in zip(da, ia, strict=True):
                if done:
                    saw_done = True
                    assert "terminal_observation" in info
        assert saw_done  # random actions make it fall: episodes ended and reset
        fractions = procs.get_attr("config")
        assert len(fractions) == 4
        procs.env_method("set_randomization_fraction", 0.0, indices=[1, 2])
        assert [c.randomization_fraction for c in procs.get_attr("config")] == [1, 0, 0, 1]
        assert procs.env_is_wrapped(Monitor) == [True] * 4
    finally:
        procs.close()
        local.close()
