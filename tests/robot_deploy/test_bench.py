"""The deploy benchmark function (``quadmimic bench deploy``): keys, not timings."""

from __future__ import annotations

import contextlib

import pytest

from quadmimic.core.errors import QuadmimicError
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


def test_the_rule_picks_most_runs_passed_then_mean_distance():
    from robot_deploy.bench import pick

    rows = [{"policy": "a", "passed": 6, "mean_distance_m": 9.0},
            {"policy": "b", "passed": 7, "mean_distance_m": 5.0},
            {"policy": "c", "passed": 7, "mean_distance_m": 6.0},
            {"policy": "d", "passed": 7, "mean_distance_m": 6.0}]
    assert pick(rows)["policy"] == "c"  # more passed beats farther; equal: the first given
    with pytest.raises(ValueError):
        pick([])


def test_robustness_config_rejects_impossible_tests():
    from robot_deploy.bench import RobustnessConfig

    with pytest.raises(ValueError, match="runs"):
        RobustnessConfig(runs=0)
    with pytest.raises(ValueError, match="shove_speed"):
        RobustnessConfig(shove_speed=float("nan"))


@pytest.mark.slow
def test_start_and_shove_runs_are_seeded_and_counted():
    """Real PyBullet runs through the deploy controller: the same seeds give the same figures,
    a shove that knocks the robot over is a trip, and a run counts only without one."""
    from robot_deploy.bench import RobustnessConfig, bench_robustness

    config = RobustnessConfig(runs=2, seconds=1.5, shove_at=0.5, min_distance=0.0)
    first = bench_robustness([A1_TROT], config)
    again = bench_robustness([A1_TROT], config)
    assert first["policies"] == again["policies"] and first["pick"] == str(A1_TROT)
    rows = first["policies"][0]["runs"]
    assert [r["seed"] for r in rows] == [100, 101]
    assert all(r["trip"] is None and r["distance_m"] > 0.2 for r in rows)  # the trot walks
    assert first["policies"][0]["passed"] == 2
    hard = RobustnessConfig(runs=1, seconds=1.5, shove_at=0.5, shove_speed=6.0)
    knocked = bench_robustness([A1_TROT], hard)["policies"][0]
    assert knocked["runs"][0]["trip"] is not None and knocked["passed"] == 0


@pytest.mark.slow
def test_a_signal_stops_the_whole_benchmark_not_just_one_run():
    """SIGTERM during a run: the controller damps the robot and the benchmark stops there
    (a real signal to this process; before, the next run started)."""
    import os
    import signal
    import threading

    from robot_deploy.bench import RobustnessConfig, bench_robustness

    done: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda *_: None)  # outside a run: harmless
    stop = threading.Event()

    def terminate() -> None:  # every 0.2 s, so one lands inside the first run's seconds
        while not stop.wait(0.2):
            os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=terminate, daemon=True)
    try:
        thread.start()
        with pytest.raises(KeyboardInterrupt):
            bench_robustness([A1_TROT], RobustnessConfig(runs=3, seconds=6.0),
                             progress=lambda d, total, what: done.append(d))
    finally:
        stop.set()
        thread.join()
        signal.signal(signal.SIGTERM, previous)
    assert done == []  # the first run was cut and nothing after it ran
