"""The env benchmark (``quadmimic bench env``) in short rounds: real envs, real processes."""

from __future__ import annotations

import pytest

from sim_training.bench import _ceiling_steps, _env_steps, _rate, bench_env
from tests.conftest import REPO

MOTION = REPO / "data" / "motions" / "a1_trot.txt"


@pytest.mark.slow
def test_bench_env_with_one_env_per_process():
    """One env per process cannot split into two groups: the grouped figures are None."""
    figures = bench_env(MOTION, rounds=1, steps_per_round=10, vec_seconds=0.2,
                        envs_per_process=1, vec_rounds=1)
    assert figures["envs_per_process"] == 1
    assert figures["env_steps_per_s"] > 0 and figures["vec_env_2proc_steps_per_s"] > 0
    assert figures["vec_env_grouped_steps_per_s"] is None
    assert figures["pass"]["vec_env_grouped"] is None
    assert figures["inter_process_overhead"] is not None


def test_env_steps_against_the_raw_pybullet_ceiling():
    """The first measurement of ``bench env``, in this process: both rates are real."""
    ceiling = _ceiling_steps("a1", 4, 500.0)
    env = _env_steps(str(MOTION), "a1", 0)
    next(ceiling)
    next(env)
    assert _rate(ceiling, 5) > 0 and _rate(env, 5) > 0
