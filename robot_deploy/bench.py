"""The deploy benchmark (``quadmimic bench deploy``): policy inference and command-loop jitter.

:func:`bench_deploy` times the exported policy's inference on 2000 observations drawn from
its normalisation statistics, then runs the policy in real time on a backend once per
scheduling mode and measures the 500 Hz command loop's period jitter.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from motion_retarget.errors import QuadmimicError
from robot_deploy.controller import PolicyController
from sim_training.bundle import PolicyBundle
from sim_training.export import OnnxActor

BACKENDS = ("go1-udp", "sim")
"""Backends of the benchmark: the emulator over the SDK's UDP, or the in-process simulator."""


def _run_once(bundle: PolicyBundle, actor: OnnxActor, backend: str, seconds: float,
              priority: int) -> dict[str, Any]:
    """Run the policy in real time for ``seconds`` with one scheduling mode; its figures."""
    counters: dict[str, float] = {}
    if backend == "sim":
        from robot_deploy.backends.sim import SimBackend

        robot: Any = SimBackend(bundle.robot, realtime=True)
        try:
            result = PolicyController(bundle, robot, realtime=True, actor=actor,
                                      rt_priority=priority).run(seconds, ramp_seconds=0.5)
        finally:
            robot.close()
    else:
        from robot_deploy.backends.go1_udp import Go1UdpBackend
        from robot_deploy.emulator.process import EmulatorProcess, free_udp_port

        with EmulatorProcess(bundle.robot) as emulator:
            robot = Go1UdpBackend(bundle.robot, robot_port=emulator.port,
                                  local_port=free_udp_port())
            try:
                result = PolicyController(bundle, robot, realtime=True, actor=actor,
                                          rt_priority=priority).run(seconds, ramp_seconds=0.5)
            finally:
                robot.close()
            counters = emulator.counters()
    periods = np.asarray(result.command_periods_ms)
    jitter = np.abs(periods - 2.0)
    return {"scheduler": result.scheduler, "commands": result.commands,
            "loop_inference_ms_p99": float(np.percentile(result.inference_ms, 99)),
            "command_period_ms_mean": float(periods.mean()),
            "jitter_ms_p50": float(np.percentile(jitter, 50)),
            "jitter_ms_p99": float(np.percentile(jitter, 99)),
            "jitter_ms_max": float(jitter.max()),
            "stopped_by": result.stopped_by, "trip": result.trip,
            "emulator_counters": counters,
            "pass_jitter": bool(np.percentile(jitter, 99) < 1.0 and not result.trip)}


def bench_deploy(
    policy: Path,
    seconds: float = 10.0,
    backend: str = "go1-udp",
    rt_priorities: Sequence[int] = (0, 49),
    status: Callable[[str], contextlib.AbstractContextManager[Any]] | None = None,
) -> dict[str, Any]:
    """Policy inference p50/p99 and the 500 Hz command loop's period jitter p50/p99.

    Args:
        policy: Policy bundle or run.
        seconds: Real-time run length (s) per scheduling mode.
        backend: ``go1-udp``: the emulator in its own process over the SDK's UDP (as on
            hardware); ``sim``: physics thread in this process.
        rt_priorities: Command-loop scheduling modes to run one after the other: SCHED_FIFO
            priorities, 0 = normal scheduling.
        status: Called with a description of each real-time run; the run happens inside the
            context it returns (e.g. ``rich.console.Console.status``).

    Returns:
        The JSON-ready figures: inference percentiles, and one entry per scheduling mode in
        ``runs``.

    Raises:
        QuadmimicError: An unknown backend.
    """
    if backend not in BACKENDS:
        raise QuadmimicError(f"bench deploy: backend must be go1-udp or sim, got {backend!r}")
    bundle = PolicyBundle.load(policy)
    actor = OnnxActor(bundle)
    rng = np.random.default_rng(0)
    obs = bundle.obs_mean + rng.standard_normal((2000, bundle.obs_mean.size)) * np.sqrt(
        bundle.obs_var)
    times = []
    for o in obs:
        t0 = time.perf_counter()
        actor(o)
        times.append((time.perf_counter() - t0) * 1000.0)
    runs = []
    for priority in rt_priorities:
        what = (f"running the policy in real time on {backend} for {seconds:g} s "
                f"(rt priority {priority})")
        with status(what) if status is not None else contextlib.nullcontext():
            runs.append(_run_once(bundle, actor, backend, seconds, priority))
    return {"policy": str(bundle.path), "backend": backend, "seconds_per_run": seconds,
            "inference_ms_p50": float(np.percentile(times, 50)),
            "inference_ms_p99": float(np.percentile(times, 99)),
            "command_hz_target": 500.0, "runs": runs,
            "targets": {"inference_ms_p99": 0.5, "jitter_ms_p99": 1.0}}
