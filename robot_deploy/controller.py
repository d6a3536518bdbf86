"""The control loop: a policy bundle on a robot, observations built exactly as in training.

Start-up: wait for a valid state (timeout → :class:`RobotConnectionError`), ramp from the
current joint angles to the default pose with the spec's PD gains, then hand over to the
policy; with ``wait_start`` the robot first holds the default pose until Start is pressed on
the wireless remote (see :mod:`robot_deploy.remote`). The policy runs at the training policy
rate, and with it, for a latent policy given an estimator, the online z estimator
(:class:`~sim_training.estimator.OnlineEstimator`): each policy step its window takes the
observation's newest proprioception frame and its ẑ is the actor's z for that step. Between
its decisions the command stream repeats the newest target at ``command_hz``.
It stops after ``seconds``, on a safety trip (the e-stop on the remote is one), or on
SIGTERM / Ctrl-C, and always leaves the robot in damping mode.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from motion_retarget.kinematics import robot_model
from motion_retarget.motion_file import load_motion
from quadmimic.core.errors import RobotConnectionError
from quadmimic.core.geometry import wrap_angle, yaw_of
from robot_deploy.realtime import frozen_heap, realtime_scheduling
from robot_deploy.remote import START_BUTTON
from robot_deploy.robot import JointCommand, Robot, RobotMismatchError, RobotState
from robot_deploy.safety import SafetyLayer
from sim_training.actions import ActionToTarget
from sim_training.bundle import PolicyBundle
from sim_training.commands import CommandedReference
from sim_training.export import OnnxActor
from sim_training.observations import PROPRIO_SIZE, ObservationBuilder, proprio_frame
from sim_training.reference import ReferenceMotion

if TYPE_CHECKING:
    from robot_deploy.commands import CommandSource
    from sim_training.estimator import ZEstimator

MAX_LAG = 0.02
"""Seconds behind the command schedule after which it restarts from now (no bursts)."""
SPIN_S = 0.0003
"""The last seconds before a command is due are waited by polling the clock, not sleeping.

On this project's VMs a sleeping thread is woken 0.3 ms or more late in about 1–2 % of
periods (an idle vCPU is slow to wake): a bare 2 ms sleep loop, alone on the machine, had a
period jitter p99 of 1.1–1.4 ms. Polling the last 0.3 ms costs 15 % of a core; longer polls
(0.8–1.2 ms) under SCHED_FIFO starved the emulator sharing the two vCPUs (stale-state trips)."""


@dataclass
class RunResult:
    """What a deployment did.

    Attributes:
        seconds: Policy time run (s, the robot's clock).
        policy_steps: Policy decisions.
        commands: Commands sent.
        stopped_by: "time", "safety", "signal", "error", or "no_start" (Start was not
            pressed within the start timeout).
        trip: The safety trip kind, if any.
        inference_ms: Policy inference times (ms), one per decision.
        command_periods_ms: Wall-clock periods between commands (ms; real-time robots).
        scheduler: How the loop was scheduled ("SCHED_FIFO 49", or normal and why).
        start_wait_s: Seconds the robot stood waiting for Start (None: it did not wait).
        z_hats: With an estimator: the ẑ (z_dim,) the actor got at each policy step.
        estimator_window: With an estimator: its window (frames); the ẑ from step
            ``estimator_window - 1`` on saw only this run's own frames.
        estimator_us: With an estimator: the wall time of each of its updates (µs).
        commands_given: A steerable policy: the command (3,) of each policy step.
    """

    seconds: float = 0.0
    policy_steps: int = 0
    commands: int = 0
    stopped_by: str = "time"
    trip: str | None = None
    inference_ms: list[float] = field(default_factory=list)
    command_periods_ms: list[float] = field(default_factory=list)
    scheduler: str = "normal"
    start_wait_s: float | None = None
    z_hats: list[np.ndarray] = field(default_factory=list)
    estimator_window: int = 0
    estimator_us: list[float] = field(default_factory=list)
    commands_given: list[np.ndarray] = field(default_factory=list)

    def mean_z_hat(self) -> np.ndarray | None:
        """The mean ẑ (z_dim,) over the run's policy steps once the window was full.

        Over every step when the run was shorter than the window; None without estimator
        or without a policy step.
        """
        if not self.z_hats:
            return None
        full = self.z_hats[max(self.estimator_window - 1, 0):] or self.z_hats
        return np.mean(full, axis=0)

    def raise_if_interrupted(self) -> None:
        """Raise :class:`KeyboardInterrupt` if a signal (SIGTERM, Ctrl-C) stopped the run.

        :meth:`PolicyController.run` takes the signal itself so that the robot always ends in
        damping; code that loops over runs (benchmarks, adaptation sessions) calls this after
        each one, so that the loop stops too instead of starting the next run on a cut one.
        """
        if self.stopped_by == "signal":
            raise KeyboardInterrupt


def wait_for_state(robot: Robot, timeout: float, max_age: float = 0.02) -> RobotState:
    """Connect and return the first valid, fresh state, or raise after ``timeout`` s.

    A Unitree robot on the low-level UDP protocol only sends state in answer to commands:
    after a pause (between adaptation rollouts, say) its newest state is old, and the safety
    layer's watchdog would trip on the first command. So until a state no older than
    ``max_age`` seconds arrives, damping commands are sent (motors limp: nothing moves).
    """
    robot.connect(timeout)
    deadline = time.monotonic() + timeout
    while True:
        state = robot.read()
        if state.finite and robot.now() - state.stamp <= max_age:
            return state
        if time.monotonic() > deadline:
            raise RobotConnectionError(f"no fresh valid robot state within {timeout:.1f} s")
        robot.damp()
        time.sleep(0.002)


class PolicyController:
    """Runs a bundle on a (safety-wrapped) robot.

    Args:
        bundle: The policy.
        robot: The robot; wrapped in a :class:`SafetyLayer` unless it already is one.
        motion: Motion to imitate (default: the bundle's).
        z: Latent (default: the bundle's z, else the prior mean 0).
        estimator: Act with its online ẑ, updated at the policy rate (a latent policy; ``z``
            must then be None). The ẑ of every step is in :attr:`RunResult.z_hats`.
        command_hz: Command stream rate (Hz).
        realtime: Pace the loop by wall clock (hardware, emulator); False for lockstep sims.
        actor: An ONNX actor of ``bundle`` to reuse (building one exports the network, about
            a second; adaptation runs many rollouts with one actor and different z).
        rt_priority: With ``realtime``: run the loop under SCHED_FIFO at this priority when
            the OS permits (see :mod:`robot_deploy.realtime`); None or 0: normal scheduling.
            Off by default: with the emulator on the same two vCPUs, priority 49 lowered the
            jitter p99 but starved the emulator into stale-state trips in 2 of 4 runs; on a
            robot (its own computer) 49 is the usual choice.
        command_source: A steerable policy's command at each policy step (the remote's
            sticks, a script: :mod:`robot_deploy.commands`); None: the clip's own command.
            A policy trained without commands ignores it. Its reference
            (:class:`~sim_training.commands.CommandedReference`) starts in the standing pose
            and blends into the gait as the command asks.
    """

    def __init__(self, bundle: PolicyBundle, robot: Robot, *, motion: str | Path | None = None,
                 z: np.ndarray | None = None, command_hz: float = 500.0,
                 realtime: bool = False, actor: OnnxActor | None = None,
                 rt_priority: int | None = None,
                 estimator: ZEstimator | None = None,
                 command_source: CommandSource | None = None) -> None:
        if estimator is not None and (z is not None or not bundle.z_dim):
            raise ValueError("an estimator is for a latent policy given no fixed z")
        if estimator is not None and estimator.z_dim != bundle.z_dim:
            raise ValueError(f"the estimator outputs {estimator.z_dim} values, the policy "
                             f"takes {bundle.z_dim}")
        self.bundle = bundle
        self.robot = robot if isinstance(robot, SafetyLayer) else SafetyLayer(robot)
        self.spec = self.robot.spec
        if self.spec.name != bundle.robot:
            raise RobotMismatchError(f"policy is for {bundle.robot}, robot is {self.spec.name}")
        env = bundle.config.env
        self.ref = ReferenceMotion(load_motion(motion or bundle.motion_path),
                                   robot_model(self.spec.name))
        self.builder = ObservationBuilder(env.history, tuple(env.future_steps),
                                          env.commands.enabled)
        self.commanded = (CommandedReference(self.ref, robot_model(self.spec.name),
                                             env.commands, env.policy_dt)
                          if env.commands.enabled else None)
        """A steerable policy's reference (None: the clip replayed, :attr:`ref`)."""
        self.command_source = command_source
        self.actions = ActionToTarget(self.spec, env.action_mode, env.action_scale,
                                      env.action_filter_hz, env.policy_dt)
        self.policy_dt = env.policy_dt
        self.command_dt = 1.0 / command_hz
        self.z = z if z is not None else (bundle.z if bundle.z is not None else (
            np.zeros(bundle.z_dim) if bundle.z_dim else None))
        self.realtime = realtime
        self.rt_priority = rt_priority if realtime else None
        self.stop_requested = False
        self.phase = "idle"
        """Where :meth:`run` is: idle, connect, ramp, wait_start, policy, done."""
        if actor is not None and actor.bundle is not bundle:
            raise ValueError("the actor must be built from the same bundle")
        self.actor = actor if actor is not None else OnnxActor(bundle, self.z)
        self._z_in = None if self.z is None else np.asarray(self.z, np.float32).reshape(1, -1)
        self.estimator = None if estimator is None else estimator.runtime()
        """The online estimator (None: the fixed ``z``)."""

    def _proprio(self, state: RobotState) -> np.ndarray:
        return proprio_frame(state.roll_pitch, state.gyro, state.q, self.actions.last_action)

    def _send(self, cmd: JointCommand, result: RunResult, last: list[float]) -> RobotState:
        """Send ``cmd`` when due; returns the state read right before it."""
        if self.realtime:
            # A fixed schedule (due times k·dt), not "dt after the last send": oversleeping
            # one period then does not stretch every later one (measured: 472 Hz instead of
            # 500 with the relative schedule). After a stall of over MAX_LAG the schedule
            # restarts from now instead of bursting to catch up.
            now = time.perf_counter()
            due = last[1] + self.command_dt if last[1] > 0 else now
            if now - due > MAX_LAG:
                due = now
            if (rest := due - SPIN_S - time.perf_counter()) > 0:
                time.sleep(rest)
            while (now := time.perf_counter()) < due:
                pass
            if last[0] > 0:
                result.command_periods_ms.append((now - last[0]) * 1000.0)
            last[0], last[1] = now, due
        state = self.robot.read()  # fresh state for the safety checks (and its watchdog)
        self.robot.command(cmd)
        result.commands += 1
        return state

    def run(self, seconds: float, *, ramp_seconds: float = 1.0, timeout: float = 2.0,
            log: IO[str] | None = None,
            on_step: Callable[[float, RobotState, np.ndarray], None] | None = None,
            wait_start: bool = False, start_timeout: float = 60.0) -> RunResult:
        """Start up, run the policy for ``seconds`` (robot clock), end in damping.

        ``on_step(t, state, action)`` is called after every policy step with the reference
        time reached, the state read then, and the action taken. With ``wait_start`` the
        robot holds the default pose after the ramp until Start is pressed on the remote (a
        press: a Start already held when the wait begins must be released first); after
        ``start_timeout`` s without one it stops (``stopped_by`` "no_start").

        Raises:
            RobotConnectionError: No valid state within ``timeout``, or ``wait_start`` on a
                robot that reports no wireless remote.
        """
        result = RunResult()
        previous = signal.getsignal(signal.SIGTERM)

        def on_term(signum: int, frame: Any) -> None:
            self.stop_requested = True

        if signal.getsignal(signal.SIGTERM) is not None:
            try:
                signal.signal(signal.SIGTERM, on_term)
            except ValueError:  # not the main thread
                previous = None
        last = [0.0, 0.0]  # time of the last command sent, its due time
        try:
            with (realtime_scheduling(self.rt_priority) as result.scheduler,
                  frozen_heap() if self.realtime else contextlib.nullcontext()):
                self.phase = "connect"
                state = wait_for_state(self.robot, timeout)
                if wait_start and state.remote is None:
                    raise RobotConnectionError(
                        "cannot wait for Start: this robot reports no wireless remote")
                self.phase = "ramp"
                self._ramp(state, ramp_seconds, result, last)
                if not wait_start or self._wait_start(start_timeout, result, last):
                    self.phase = "policy"
                    self._policy_loop(seconds, result, last, log, on_step)
        except KeyboardInterrupt:
            result.stopped_by = "signal"
        finally:
            try:
                self.robot.damp()
            except RobotConnectionError:
                if sys.exc_info()[0] is None:  # no earlier error to report: this one
                    raise
            self.phase = "done"
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
        result.trip = self.robot.tripped
        if result.trip and result.stopped_by != "signal":  # a signal outranks the trip it
            result.stopped_by = "safety"  # may meet: loops over runs must still stop
        return result

    def _ramp(self, state: RobotState, seconds: float, result: RunResult,
              last: list[float]) -> None:
        start_q, goal = state.q.copy(), self.spec.default
        n = max(1, round(seconds / self.command_dt))
        for i in range(1, n + 1):
            if self.stop_requested or self.robot.tripped:
                return
            a = i / n
            s = a * a * (3 - 2 * a)
            self._send(JointCommand.position((1 - s) * start_q + s * goal, self.spec),
                       result, last)

    def _wait_start(self, timeout: float, result: RunResult, last: list[float]) -> bool:
        """Hold the default pose until Start is pressed; False if the run must stop."""
        if self.stop_requested:
            result.stopped_by = "signal"
            return False
        if self.robot.tripped:
            return False
        self.phase = "wait_start"
        hold = JointCommand.position(self.spec.default, self.spec)
        remote = self.robot.read().remote
        held = remote is not None and remote.pressed(START_BUTTON)
        start = time.monotonic()
        while True:
            if self.stop_requested:
                result.stopped_by = "signal"
                return False
            if self.robot.tripped:
                return False
            waited = time.monotonic() - start
            result.start_wait_s = waited
            if waited > timeout:
                result.stopped_by = "no_start"
                return False
            remote = self._send(hold, result, last).remote
            pressed = remote is not None and remote.pressed(START_BUTTON)
            if pressed and not held:
                return True
            held = pressed

    def _command(self, t: float, state: RobotState) -> np.ndarray:
        """A steerable policy's command now: the source's, else the clip's own."""
        assert self.commanded is not None
        if self.command_source is None:
            return self.commanded.clip.copy()
        return np.asarray(self.command_source(t, state.remote), dtype=float)

    def _policy_loop(self, seconds: float, result: RunResult, last: list[float],
                     log: IO[str] | None,
                     on_step: Callable[[float, RobotState, np.ndarray], None] | None,
                     until: Callable[[RobotState], bool] | None = None) -> None:
        """Run the policy from a standing robot; ``until(state)`` True ends it ("switch")."""
        t = 0.0
        self.actions.reset()
        runtime = self.estimator
        if runtime is not None:
            runtime.reset()
            result.estimator_window = runtime.window
        z_in = self._z_in
        state = self.robot.read()
        self.builder.reset(self._proprio(state))
        # Heading feedback: the reference's heading is placed on the robot's (IMU yaw) once,
        # at the start; afterwards the robot sees how far it turned away (as in training).
        feedback = self.bundle.config.env.heading_feedback
        commanded = self.commanded
        if commanded is not None:
            commanded.reset(0.0, self._command(0.0, state), standing=True)
        turn = state.yaw - float(yaw_of(self.ref.state(0.0).root_rot))
        per_policy = max(1, round(self.policy_dt / self.command_dt))
        # The future frames and the +1 frame (the next step's target), each computed once.
        steps = tuple(self.builder.future_steps)
        ahead = steps if 1 in steps else (*steps, 1)
        while t < seconds - 1e-9:
            if self.stop_requested:
                result.stopped_by = "signal"
                return
            if self.robot.tripped:
                return
            if until is not None and until(state):
                result.stopped_by = "switch"
                return
            command = None
            if commanded is not None:
                command = self._command(t, state)
                commanded.set_command(command)
                result.commands_given.append(command)
                now_ref = commanded.now()
                frames = commanded.ahead(ahead)
            else:
                now_ref = self.ref.state(t)
                frames = [self.ref.state(t + k * self.policy_dt) for k in ahead]
            future = frames[:len(self.builder.future_steps)]
            next_joints = frames[ahead.index(1)].joints  # the next step's target reference
            error = wrap_angle(float(yaw_of(now_ref.root_rot)) + turn - state.yaw) if (
                feedback) else 0.0
            obs = self.builder.build(now_ref, future, error, command)
            if runtime is not None:
                start = time.perf_counter()
                z_hat = runtime.update(obs[:PROPRIO_SIZE])
                result.estimator_us.append((time.perf_counter() - start) * 1e6)
                result.z_hats.append(z_hat)
                z_in = z_hat.astype(np.float32).reshape(1, -1)
            start = time.perf_counter()
            action = self.actor(obs, z_in)
            result.inference_ms.append((time.perf_counter() - start) * 1000.0)
            target = self.actions(action, next_joints)
            cmd = JointCommand.position(target, self.spec)
            for _ in range(per_policy):
                self._send(cmd, result, last)
                if self.robot.tripped:
                    break
            t += self.policy_dt
            if commanded is not None:
                commanded.advance()
            result.policy_steps += 1
            result.seconds = t
            state = self.robot.read()
            self.builder.push(self._proprio(state))
            if on_step is not None:
                on_step(t, state, action)
            if log is not None:
                line = {"t": round(t, 4), "q": state.q.round(4).tolist(),
                        "roll_pitch": state.roll_pitch.round(4).tolist(),
                        "action": np.round(action, 4).tolist()}
                if command is not None:
                    line["command"] = np.round(command, 4).tolist()
                log.write(json.dumps(line) + "\n")
