"""The deploy benchmark function (``quadmimic bench deploy``): keys, not timings."""

from __future__ import annotations

import contextlib

import pytest

from motion_retarget.errors import QuadmimicError
from robot_deploy.bench import bench_deploy
from tests.conftest import REPO

A1_TROT = REPO / "data" / "policies" / "a1_trot"


def test_unknown_backend_is_refused_before_loading():
    with pytest.raises(QuadmimicError, match="backend must be go1-udp or sim"):
        bench_deploy(REPO / "no_such_policy", backend="go2")


@pytest.mark.slow
def test_bench_deploy_on_the_sim_backend():
    said = []

    def status(what):
        said.append(what)
        return contextlib.nullcontext()

    out = bench_deploy(A1_TROT, seconds=1.0, backend="sim", rt_priorities=[0], status=status)
    assert set(out) == {"policy", "backend", "seconds_per_run", "inference_ms_p50",
                        "inference_ms_p99", "command_hz_target", "runs", "targets"}
    assert len(out["runs"]) == 1 and out["runs"][0]["commands"] > 0
    assert said == ["running the policy in real time on sim for 1 s (rt priority 0)"]
