"""The deploy benchmarks: inference and command-loop jitter, and the start-and-shove test.

:func:`bench_deploy` (``quadmimic bench deploy``) times the exported policy's inference on
2000 observations drawn from its normalisation statistics, then runs the policy in real time
on a backend once per scheduling mode and measures the 500 Hz command loop's period jitter.

:func:`bench_robustness` (``quadmimic bench robustness``) runs each policy through the deploy
controller on PyBullet from standing, under dynamics drawn from its training ranges and a
shove, and picks the one that travels without a trip most often: how the shipped bundles'
checkpoints are chosen without looking at the judges (MuJoCo, the held-out robots).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from quadmimic.core.errors import QuadmimicError
from robot_deploy.controller import PolicyController
from robot_deploy.shove import ShovedRobot
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
    result.raise_if_interrupted()
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


@dataclass(frozen=True)
class RobustnessConfig:
    """The start-and-shove test of :func:`bench_robustness` (the PyBullet checkpoint rule)."""

    runs: int = 8
    """Runs per policy; run k draws its dynamics and shove direction from ``seed + k``."""
    seconds: float = 10.0
    """Policy time per run (s), after the ramp from standing."""
    physics_hz: float = 1000.0
    """PyBullet physics rate (Hz)."""
    seed: int = 100
    """Seed of the first run."""
    shove_speed: float = 0.3
    """Horizontal base velocity (m/s) added once, in a seeded direction."""
    shove_at: float = 3.0
    """Time (s) of the shove on the robot's clock, counted from the end of the ramp."""
    min_distance: float = 3.0
    """A run counts when it ends without a safety trip this far (m) from its start."""
    ramp_seconds: float = 1.0
    """The controller's ramp from the standing pose to the default pose (s)."""

    def __post_init__(self) -> None:
        """Counts positive; times, speeds and distances finite and non-negative."""
        if self.runs < 1:
            raise ValueError(f"RobustnessConfig.runs must be >= 1, got {self.runs}")
        for name in ("seconds", "physics_hz", "shove_speed", "shove_at", "min_distance",
                     "ramp_seconds"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"RobustnessConfig.{name} must be finite and >= 0, got {value}")


def robustness_runs(policy: Path, config: RobustnessConfig,
                    progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """The start-and-shove runs of one policy on PyBullet, through the deploy controller.

    Each run: a PyBullet robot standing in its default pose with dynamics drawn uniformly from
    the policy's own training ranges (and its torque–speed curve where the training env had
    it), the controller's ramp, then ``seconds`` of policy with
    one shove of ``shove_speed`` m/s at ``shove_at`` s of the robot's clock after the ramp
    (:class:`~robot_deploy.shove.ShovedRobot`).

    Args:
        policy: Policy bundle or run (a run: its newest checkpoint).
        config: The test.
        progress: Called with the number of runs done after each run.

    Returns:
        ``policy``, ``passed`` (runs without a trip that ended ≥ ``min_distance`` m from their
        start), ``mean_distance_m`` and ``runs`` (each: seed, trip or None, distance m,
        seconds run).
    """
    from quadmimic.core.robots.actuator import actuator_config
    from robot_deploy.backends.sim import SimBackend
    from sim_training.randomization import sample_dynamics

    bundle = PolicyBundle.load(policy)
    curve = actuator_config(bundle.robot) if bundle.config.env.torque_speed_curve else None
    rows = []
    for k in range(config.runs):
        rng = np.random.default_rng(config.seed + k)
        dynamics = sample_dynamics(bundle.config.env.ranges, rng)
        angle = rng.uniform(-np.pi, np.pi)
        shove = config.shove_speed * np.array([np.cos(angle), np.sin(angle), 0.0])
        robot = SimBackend(bundle.robot, dynamics, physics_hz=config.physics_hz,
                           torque_speed=curve)
        robot.connect()
        try:
            start = robot.base_pose()[0].copy()
            shoved = ShovedRobot(robot)
            shoved.plan(robot.now() + config.ramp_seconds + config.shove_at, shove)
            result = PolicyController(bundle, shoved).run(config.seconds,
                                                          ramp_seconds=config.ramp_seconds)
            result.raise_if_interrupted()
            distance = float(np.hypot(*(robot.base_pose()[0] - start)[:2]))
        finally:
            robot.close()
        rows.append({"seed": config.seed + k, "trip": result.trip, "distance_m": distance,
                     "seconds": result.seconds})
        if progress is not None:
            progress(k + 1)
    passed = sum(1 for r in rows if r["trip"] is None and r["distance_m"] >= config.min_distance)
    return {"policy": str(policy), "passed": passed,
            "mean_distance_m": float(np.mean([r["distance_m"] for r in rows])), "runs": rows}


def pick(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The rule's choice: most runs passed, ties by mean distance, then the first given."""
    if not results:
        raise ValueError("pick needs at least one result")
    return max(results, key=lambda r: (r["passed"], r["mean_distance_m"]))


def bench_robustness(policies: Sequence[Path], config: RobustnessConfig | None = None,
                     progress: Callable[[int, int, str], None] | None = None) -> dict[str, Any]:
    """Start-and-shove runs on PyBullet for each policy, and the one the rule picks.

    The checkpoint rule of the shipped bundles (``data/policies/README.md``): it chooses
    among a run's checkpoints without looking at MuJoCo or the held-out robots, which stay
    judges.

    Args:
        policies: Bundles, runs or copies of a run's checkpoints.
        config: The test (default :class:`RobustnessConfig`).
        progress: Called with (runs done, runs in all, policy being run).

    Returns:
        The JSON-ready figures: ``config``, one :func:`robustness_runs` entry per policy in
        ``policies`` and the ``pick``'s path.
    """
    config = config or RobustnessConfig()
    total = config.runs * len(policies)
    out = []
    for i, path in enumerate(policies):
        def step(done: int, i: int = i, path: Path = path) -> None:
            if progress is not None:
                progress(i * config.runs + done, total, str(path))

        out.append(robustness_runs(path, config, step))
    return {"config": asdict(config), "policies": out, "pick": pick(out)["policy"]}
