"""Running a policy on a robot: what ``quadmimic deploy`` does, as a function and its result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from quadmimic.core.records import JsonRecord
from robot_deploy.backends import Connection, backend_robot, make_backend
from robot_deploy.robot import JointCommand, RobotWrapper

if TYPE_CHECKING:
    from sim_training.estimator import ZEstimator


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
    z_source: str | None = None
    """"estimate" when the policy acted with its estimator's online ẑ; None otherwise."""
    mean_z_hat: list[float] | None = None
    """With the estimate: the mean ẑ once its window was full."""
    estimator_us_p50: float | None = None
    """With the estimate: the median wall time of an estimator update (µs)."""
    command: str | None = None
    """A steerable policy's command source ("remote", a script); None: the clip's own."""
    skills: dict[str, str] | None = None
    """With ``--skill``: remote button → bundle."""
    skill_switches: list[dict[str, Any]] | None = None
    """With ``--skill``: each switch, ``time`` (policy s), ``from``, ``to`` (buttons)."""

    def to_json(self) -> dict[str, Any]:
        """The summary; the estimator's figures only when it ran."""
        out = super().to_json()
        for key in ("z_source", "mean_z_hat", "estimator_us_p50", "command", "skills",
                    "skill_switches"):
            if out[key] is None:
                del out[key]
        return out


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
               estimator: ZEstimator | None = None, command: str | None = None,
               skills: dict[str, Path] | None = None, **connection: Any) -> DeployResult:
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
        estimator: Act with this z estimator's online ẑ (``z`` None): the bundle's, usually
            (:meth:`~sim_training.bundle.PolicyBundle.estimator`).
        command: A steerable policy's commands: "remote" (the wireless remote's sticks, a
            networked backend), a built-in script name or a script file
            (:func:`robot_deploy.commands.command_source`); None: the clip's own command.
        skills: Remote button → bundle (``policy`` is then not loaded): the first runs first,
            another's button switches to it through the standing pose
            (:mod:`robot_deploy.skills`); needs a networked backend (the remote).
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
    from robot_deploy.commands import command_source
    from robot_deploy.controller import PolicyController
    from robot_deploy.robot import RobotMismatchError
    from robot_deploy.safety import SafetyLayer
    from sim_training.bundle import PolicyBundle

    conn = Connection.of(backend, **connection)
    bundles = {k: PolicyBundle.load(p) for k, p in (skills or {}).items()}
    bundle = next(iter(bundles.values())) if bundles else PolicyBundle.load(policy)
    name = backend_robot(conn.backend, bundle.robot, conn.robot)
    for path, other in zip((skills or {}).values(), bundles.values(), strict=True):
        if other.robot != bundle.robot:
            raise RobotMismatchError(f"{path}: a policy for {other.robot}; the first skill's "
                                     f"robot is {bundle.robot}")
    for what, asks in (("--wait-start", wait_start), ("--command remote", command == "remote"),
                       ("--skill", bool(skills))):
        if asks and conn.simulated:
            raise RobotConnectionError(f"{what} needs a wireless remote: go1-udp or "
                                       f"go2-dds, not the {conn.backend} backend")
    sources = {id(b): command_source(command, b) for b in [bundle, *bundles.values()]}
    paced = realtime or not conn.simulated
    driven = make_backend(conn, name, dynamics=dynamics, realtime=paced)
    safe = SafetyLayer(DryRun(driven) if dry_run else driven)
    if bundles:
        from robot_deploy.skills import SkillController

        controller: PolicyController = SkillController(
            bundles, safe, command_source_for=lambda b: sources[id(b)], realtime=paced,
            rt_priority=rt_priority)
    else:
        controller = PolicyController(bundle, safe, z=z, realtime=paced,  # type: ignore[arg-type]
                                      rt_priority=rt_priority, estimator=estimator,
                                      command_source=sources[id(bundle)])
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
        if result.inference_ms else None,
        z_source="estimate" if estimator is not None else None,
        mean_z_hat=(None if (m := result.mean_z_hat()) is None else m.round(4).tolist()),
        estimator_us_p50=float(np.percentile(result.estimator_us, 50))
        if result.estimator_us else None,
        command=command, skills={k: str(p) for k, p in skills.items()} if skills else None,
        skill_switches=getattr(controller, "switches", None) if skills else None)


__all__ = ["DeployResult", "DryRun", "default_wait_start", "run_policy"]
