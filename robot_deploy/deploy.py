"""Running a policy on a robot: what ``quadmimic deploy`` does, as a function and its result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from quadmimic.core.records import JsonRecord
from robot_deploy.backends import Connection, backend_robot, make_backend
from robot_deploy.robot import JointCommand, RobotWrapper


@dataclass(frozen=True)
class DeployResult(JsonRecord):
    """What a deployment did (the summary ``quadmimic deploy`` prints as JSON)."""

    robot: str
    """The robot the backend drove."""
    seconds: float
    """Policy time run (s, the robot's clock)."""
    policy_steps: int
    """Policy decisions."""
    commands: int
    """Commands sent."""
    stopped_by: str
    """"time", "safety", "signal", "error" or "no_start"."""
    trip: str | None
    """The safety trip's kind ("estop" for the remote's e-stop), or None."""
    scheduler: str
    """How the command loop was scheduled ("SCHED_FIFO 49", or normal and why)."""
    start_wait_s: float | None
    """Seconds the robot stood waiting for Start (None: it did not wait)."""
    safety_events: list[dict[str, Any]]
    """Every safety event: ``time`` (s), ``kind``, ``detail``."""
    inference_ms_p50: float | None
    """Median policy inference time (ms); None without a decision."""


class DryRun(RobotWrapper):
    """A robot whose every command becomes damping (the policy runs, motors stay limp).

    Args:
        inner: The robot to wrap.
    """

    def command(self, cmd: JointCommand) -> None:
        """Send damping instead."""
        self.inner.damp()


def default_wait_start(backend: str, interface: str = Connection.interface,
                       robot_ip: str = Connection.robot_ip) -> bool:
    """Whether a deployment waits for Start unless told: on a robot yes, on an emulator no.

    A robot is reached over a network (go2-dds on an interface other than ``lo``, go1-udp
    at an address other than loopback); the sim has no remote.
    """
    from robot_deploy.network import is_loopback

    if backend == "go2-dds":
        return not is_loopback(interface)
    if backend == "go1-udp":
        return not is_loopback(interface, robot_ip)
    return False


def run_policy(policy: Path, backend: str | Connection = "sim", *,
               dynamics: Path | None = None, max_seconds: float = 10.0, dry_run: bool = False,
               log: Path | None = None, realtime: bool = False, z: np.ndarray | None = None,
               rt_priority: int = 0, wait_start: bool = False, start_timeout: float = 120.0,
               ramp_seconds: float = 1.0, on_start: Callable[[], None] | None = None,
               **connection: Any) -> DeployResult:
    """Run a policy on a robot through the safety layer; it ends in damping.

    Args:
        policy: Policy bundle or training run.
        backend: A :class:`~robot_deploy.backends.Connection`, or a backend name whose other
            connection fields come as keywords (``robot``, ``interface``, ``robot_ip``,
            ``port``, ``local_port``, ``domain``; the rest default). The robot it drives
            (None: :func:`~robot_deploy.backends.backend_robot`'s default) must be the
            bundle's, checked before anything connects.
        dynamics: Dynamics JSON of a simulated backend.
        max_seconds: Policy time (s).
        dry_run: Run the policy, send only damping.
        log: JSON-lines log of the run.
        realtime: Real-time pacing (always on a robot on a network).
        z: Latent (default: the bundle's).
        rt_priority: SCHED_FIFO priority of a real-time loop (0: normal scheduling).
        wait_start: Hold the default pose after the ramp until Start on the remote
            (``start_timeout`` s at most).
        start_timeout: Seconds to wait for Start.
        ramp_seconds: Start-up ramp to the default pose (s).
        on_start: Called right before the controller takes over (and its signal handling).
        **connection: Connection fields, with a backend name.

    Returns:
        The run's summary.

    Raises:
        RobotMismatchError: The backend drives another robot than the bundle's.
        RobotConnectionError: ``wait_start`` on a simulated backend (it has no remote), or
            no robot.
        NetworkOptionError: A bad ``interface`` or ``robot_ip``.
    """
    from quadmimic.core.errors import RobotConnectionError
    from robot_deploy.controller import PolicyController
    from robot_deploy.safety import SafetyLayer
    from sim_training.bundle import PolicyBundle

    conn = Connection.of(backend, **connection)
    bundle = PolicyBundle.load(policy)
    name = backend_robot(conn.backend, bundle.robot, conn.robot)
    if wait_start and conn.simulated:
        raise RobotConnectionError("--wait-start needs a wireless remote: go1-udp or "
                                   f"go2-dds, not the {conn.backend} backend")
    paced = realtime or not conn.simulated
    driven = make_backend(conn, name, dynamics=dynamics, realtime=paced)
    safe = SafetyLayer(DryRun(driven) if dry_run else driven)
    controller = PolicyController(bundle, safe, z=z, realtime=paced,  # type: ignore[arg-type]
                                  rt_priority=rt_priority)
    handle = log.open("w") if log else None
    try:
        if on_start is not None:
            on_start()
        result = controller.run(max_seconds, log=handle, ramp_seconds=ramp_seconds,
                                wait_start=wait_start, start_timeout=start_timeout)
    finally:
        if handle:
            handle.close()
        driven.close()  # type: ignore[attr-defined]
    return DeployResult(
        robot=name, seconds=result.seconds, policy_steps=result.policy_steps,
        commands=result.commands, stopped_by=result.stopped_by, trip=result.trip,
        scheduler=result.scheduler, start_wait_s=result.start_wait_s,
        safety_events=[dict(e.__dict__) for e in safe.events],
        inference_ms_p50=float(np.percentile(result.inference_ms, 50))
        if result.inference_ms else None)


__all__ = ["DeployResult", "DryRun", "default_wait_start", "run_policy"]
