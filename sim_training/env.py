"""The imitation env: a domain-randomised PyBullet quadruped tracking a reference motion.

Registered with gymnasium as ``quadmimic/Imitation-v0`` when :mod:`sim_training` is imported::

    import gymnasium, sim_training
    env = gymnasium.make("quadmimic/Imitation-v0", motion="m.txt", robot="a1",
                         randomize=True, dynamics=None, seed=0)

Observations are a dict: ``obs`` (see :mod:`sim_training.observations` for the layout) and
``dynamics`` (every dynamics param in :data:`~sim_training.dynamics.DYNAMICS_KEYS` order,
what the encoder consumes). Actions (12,) in [-1, 1] are joint targets: residuals on the
reference pose times ``action_scale`` (or absolute around the default pose), low-pass
filtered, then tracked by the PD motor model at the physics rate.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from motion_retarget.kinematics import robot_model
from motion_retarget.motion import Motion
from motion_retarget.motion_file import load_motion
from quadmimic.core.geometry import (
    quat_to_matrix,
    roll_pitch,
    rotation_angle,
    wrap_angle,
    yaw_matrix,
    yaw_of,
)
from quadmimic.core.robots import get_robot
from sim_training.actions import ActionToTarget
from sim_training.commands import CommandConfig, CommandedReference
from sim_training.dynamics import DYNAMICS_KEYS, LIMITS, dynamics_from, dynamics_vector
from sim_training.noise import SensorNoise, noisy_imu_and_joints
from sim_training.observations import ObservationBuilder, proprio_frame
from sim_training.randomization import (
    RandomizationRanges,
    command_interval_steps,
    sample_command,
    sample_dynamics,
)
from sim_training.reference import ReferenceMotion, RefState
from sim_training.rewards import RewardConfig, imitation_reward
from sim_training.robot_sim import SimRobot


@dataclass(frozen=True)
class EnvConfig:
    """Everything that shapes the imitation task (besides motion, robot and dynamics)."""

    physics_hz: float = 1000.0
    """Physics and PD motor-model rate (Hz)."""
    policy_hz: float = 30.0
    """Policy rate (Hz); physics steps per policy step = round(physics_hz / policy_hz)."""
    action_mode: str = "residual"
    """"residual": target = reference pose + action·action_scale; "absolute": target =
    default pose + action·action_scale."""
    action_scale: float = 0.3
    """Radians per unit action."""
    action_filter_hz: float = 8.0
    """Cut-off of the first-order low-pass on actions (Hz); 0 disables it."""
    history: int = 3
    """Proprioception frames in the observation."""
    future_steps: tuple[int, ...] = (1, 2, 10, 30)
    """Policy steps ahead of each future reference frame in the observation."""
    episode_seconds: float = 10.0
    """Episode length before truncation (s)."""
    random_start: bool = True
    """Reference state initialisation at a random phase of the motion (else phase 0)."""
    max_root_position_error: float = 0.6
    """Terminate when the base is this far from the reference base (m)."""
    max_root_rotation_error: float = 1.0
    """Terminate when the body orientation is this far from the reference's (rad)."""
    terminate_on_body_contact: bool = True
    """Terminate when any link but a foot touches the ground (a fall)."""
    sync_reference_each_cycle: bool = True
    """At every new cycle of a looping motion, move the reference's origin (horizontal
    position and heading) onto the robot's, as motion_imitation's cycle sync does: drift
    the policy cannot observe (its reference frames are relative to the reference's own root)
    then cannot accumulate over cycles into a root-error termination."""
    heading_feedback: bool = False
    """Express the observation's reference frames in the robot's heading (IMU yaw) and keep
    the reference's heading at the cycle sync (only its position moves onto the robot's).
    A heading drift is then observable and punished instead of reset away every cycle:
    without it the shipped A1 pace turned at 0.64 rad/s and got nowhere (progress −5 % of
    its reference in 10 s). False: as the first A1 bundles were trained."""
    standing_start_fraction: float = 0.0
    """Fraction of randomised episodes that start as a robot starts on the ground: standing
    still in the default pose (feet on the ground, zero velocities), heading and position
    of the reference at phase 0, as the deploy controller hands over after its ramp. Without
    them a fast gait learns to run only from the reference's own moving states: the
    backwards trot (1.1 m/s) passed its evaluation yet tripped 1 s after a standing start,
    in PyBullet and MuJoCo alike (measured). 0: every episode starts on the reference."""
    sensor_noise: SensorNoise = field(default_factory=SensorNoise)
    """Gaussian noise on the observed roll/pitch, gyro and joint angles of randomised episodes
    (training; an env at fixed dynamics observes the truth). The reward and the terminations
    use the true state. Default silent, as the first bundles were trained."""
    push_interval_s: float = 0.0
    """Mean time between pushes in randomised episodes (s; a Poisson process at the policy
    rate); 0: none. legged_gym pushes every 15 s."""
    push_speed: float = 0.0
    """Largest horizontal speed change of a push (m/s), uniform over the disc of that radius
    (legged_gym: up to 1 m/s per axis)."""
    latency_jitter_s: float = 0.0
    """In randomised episodes each policy command waits up to this much longer than the
    episode's latency (s, uniform per command, in physics steps; never overtaking an earlier
    command): a busy control computer or a network link. 0: none."""
    dynamics_resample_probability: float = 0.0
    """In randomised episodes, probability per policy step of drawing new dynamics (all but
    the ground slope) mid-episode, so the policy cannot assume they stay fixed (RMA: 0.004).
    0: fixed for the episode, as the first bundles were trained."""
    torque_speed_curve: bool = False
    """Clip torques to the robot's torque–speed curve (its actuator figures,
    :mod:`quadmimic.core.robots.actuator`, speeds × ``motor_speed_scale``), as the MuJoCo
    motors do. False: torque limits only, as the first bundles were trained."""
    ranges: RandomizationRanges = field(default_factory=RandomizationRanges)
    """Domain randomisation ranges (used when ``randomize``)."""
    randomization_fraction: float = 1.0
    """Fraction of the ranges in use (curriculum: 0 = nominal, 1 = full ranges)."""
    reward: RewardConfig = field(default_factory=RewardConfig)
    """Reward weights and scales."""
    commands: CommandConfig = field(default_factory=CommandConfig)
    """Velocity commands (:mod:`sim_training.commands`): off by default, the clip replayed as
    every bundle before steering was trained; on, the observation ends with a command the
    reference follows, drawn at random intervals in randomised episodes (an env at fixed
    dynamics holds the clip's own command unless given one)."""

    def __post_init__(self) -> None:
        """Reject settings that cannot work."""
        if self.action_mode not in ("residual", "absolute"):
            raise ValueError(f"action_mode must be residual or absolute, got {self.action_mode}")
        if not (0 < self.policy_hz <= self.physics_hz):
            raise ValueError("need 0 < policy_hz <= physics_hz")
        if not 0.0 <= self.standing_start_fraction <= 1.0:
            raise ValueError("standing_start_fraction must be in [0, 1]")
        if not (self.push_interval_s >= 0.0 and self.push_speed >= 0.0):
            raise ValueError("push_interval_s and push_speed must be >= 0")
        if not (0.0 <= self.latency_jitter_s <= 0.2):
            raise ValueError("latency_jitter_s must be in [0, 0.2]")
        if not 0.0 <= self.dynamics_resample_probability <= 1.0:
            raise ValueError("dynamics_resample_probability must be in [0, 1]")
        if self.history < 1 or not self.future_steps or min(self.future_steps) < 1:
            raise ValueError("history >= 1 and future_steps >= 1 are required")

    @property
    def substeps(self) -> int:
        """Physics steps per policy step."""
        return max(1, round(self.physics_hz / self.policy_hz))

    @property
    def policy_dt(self) -> float:
        """Policy period (s): substeps / physics_hz."""
        return self.substeps / self.physics_hz


class ImitationEnv(gym.Env):
    """Track a reference motion with a quadruped in PyBullet (gymnasium API).

    Args:
        motion: Motion file path or :class:`~motion_retarget.motion.Motion`.
        robot: Robot name.
        randomize: Sample dynamics params at every reset (``config.ranges``).
        dynamics: Fixed dynamics (dict or JSON path): used instead of sampling.
        seed: Seed of the env's random generator (also settable through ``reset``).
        config: Task settings.
        render_mode: ``"rgb_array"`` to render frames with PyBullet's TinyRenderer.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}  # noqa: RUF012 - gym API

    def __init__(
        self,
        motion: str | Path | Motion,
        robot: str = "a1",
        randomize: bool = True,
        dynamics: dict | str | Path | None = None,
        seed: int | None = None,
        config: EnvConfig | None = None,
        render_mode: str | None = None,
    ) -> None:
        super().__init__()
        self.config = config or EnvConfig()
        self.spec_robot = get_robot(robot)
        self.motion_source = None if isinstance(motion, Motion) else str(motion)
        self.motion = motion if isinstance(motion, Motion) else load_motion(motion)
        self.kin = robot_model(self.spec_robot.name)
        self.ref = ReferenceMotion(self.motion, self.kin)
        self.fixed_dynamics = None if dynamics is None else dynamics_from(dynamics)
        self.randomize = bool(randomize) and self.fixed_dynamics is None
        self.render_mode = render_mode
        cfg = self.config
        self.robot = SimRobot(self.spec_robot, time_step=1.0 / cfg.physics_hz)
        if cfg.torque_speed_curve:
            from quadmimic.core.robots.actuator import actuator_config

            self.robot.set_torque_speed(actuator_config(self.spec_robot))
        self._imu_bias: np.ndarray | None = None
        self.builder = ObservationBuilder(cfg.history, tuple(cfg.future_steps),
                                          cfg.commands.enabled)
        self.commanded = (CommandedReference(self.ref, self.kin, cfg.commands, cfg.policy_dt)
                          if cfg.commands.enabled else None)
        """The reference that follows the command (None: the clip replayed as it is)."""
        self._command_steps = 0  # policy steps until the next command draw (training)
        self._ranges = cfg.ranges.widened(cfg.randomization_fraction)
        self.actions = ActionToTarget(self.spec_robot, cfg.action_mode, cfg.action_scale,
                                      cfg.action_filter_hz, cfg.policy_dt)
        low = np.array([LIMITS[k][0] for k in DYNAMICS_KEYS], dtype=np.float32)
        high = np.array([LIMITS[k][1] for k in DYNAMICS_KEYS], dtype=np.float32)
        self.observation_space = gym.spaces.Dict({
            "obs": gym.spaces.Box(-np.inf, np.inf, (self.builder.size,), np.float32),
            "dynamics": gym.spaces.Box(low, high, (len(DYNAMICS_KEYS),), np.float32),
        })
        self.action_space = gym.spaces.Box(-1.0, 1.0, (12,), np.float32)
        self._offset_t = self.kin.base_offset.T
        self.t = 0.0
        self.steps = 0
        self.dynamics = dict(self.fixed_dynamics or dynamics_from(None))
        self._action = np.zeros(12)
        self._dynamics_vec = dynamics_vector(self.dynamics)
        self._velocities: deque[np.ndarray] = deque(
            maxlen=max(1, round(cfg.reward.mean_velocity_window_s / cfg.policy_dt)))
        """The last steps' horizontal velocities (robot, reference) (2, 2) for the reward's
        ``mean_velocity`` term (m/s, world frame)."""
        self._next_ref: RefState | None = None
        self._origin: tuple[np.ndarray, np.ndarray] | None = None  # (yaw matrix, shift)
        self._cycle = 0
        if seed is not None:
            self.np_random, _ = gym.utils.seeding.np_random(seed)

    # ------------------------------------------------------------------ curriculum
    def set_randomization_fraction(self, fraction: float) -> None:
        """Use ``fraction`` of the configured ranges from the next reset on (curriculum)."""
        self._ranges = self.config.ranges.widened(fraction)
        self.config = dataclasses.replace(self.config, randomization_fraction=float(fraction))

    def rng_state(self) -> dict[str, Any]:
        """The env's random generator state (dynamics draws, start phases), for checkpoints."""
        return self.np_random.bit_generator.state

    def set_rng_state(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`rng_state` (a resumed run draws what the run would have)."""
        self.np_random.bit_generator.state = state

    # ------------------------------------------------------------------ gym API
    def reset(
        self, *, seed: int | None = None, options: dict | None = None,
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Start an episode: new dynamics (if randomising), robot on the reference.

        Options: ``{"phase": seconds}`` starts at that phase instead of a random one;
        ``{"dynamics": dict}`` uses those params for this episode; ``{"standing": bool}``
        starts standing still in the default pose (or on the reference) whatever
        ``standing_start_fraction`` draws; ``{"command": (3,)}`` (a steerable policy) holds
        that command instead of drawing one (or the clip's own at fixed dynamics).
        """
        super().reset(seed=seed)
        options = options or {}
        if "dynamics" in options:
            self.dynamics = dynamics_from(options["dynamics"])
        elif self.randomize:
            self.dynamics = sample_dynamics(self._ranges, self.np_random)
        else:
            self.dynamics = dict(self.fixed_dynamics or dynamics_from(None))
        self.robot.apply_dynamics(self.dynamics)
        self._dynamics_vec = dynamics_vector(self.dynamics)
        bias = self.config.sensor_noise.roll_pitch_bias
        self._imu_bias = (self.np_random.normal(0.0, bias, 2) if self.randomize and bias > 0.0
                          else None)
        self._next_ref = None
        fraction = self.config.standing_start_fraction
        standing = bool(options.get("standing", self.randomize and fraction > 0.0
                                    and self.np_random.uniform() < fraction))
        if "phase" in options:
            phase = float(options["phase"])
        elif standing:
            phase = 0.0
        elif self.config.random_start and self.ref.duration > 0:
            phase = float(self.np_random.uniform(0.0, self.ref.duration))
        else:
            phase = 0.0
        self.t = phase
        self.steps = 0
        self._velocities.clear()
        self._origin = None
        if self.commanded is not None:
            self._reset_command(phase, standing, options.get("command"))
            self._cycle = self.commanded.cycle()
            ref = self.commanded.now()
        else:
            self._cycle = self.ref.cycle_and_phase(self.t)[0]
            ref = self.ref.state(self.t)
        quat = self._base_quat(ref.root_rot)
        # Lift the robot to clear a sloped ground; it then settles within the first step.
        lift = abs(np.tan(self.dynamics["ground_slope_rad"])) * 0.5
        if standing:
            stand = self.kin.standing_q()
            quat = self._base_quat(yaw_matrix(float(yaw_of(ref.root_rot))))
            pos = np.r_[ref.root_pos[:2], stand[2] + lift]
            zero = np.zeros(3)
            self.robot.reset(pos, quat, self.spec_robot.default, np.zeros(12), zero, zero)
        else:
            self.robot.reset(ref.root_pos + [0.0, 0.0, lift], quat, ref.joints, ref.joint_vel,
                             ref.root_lin_vel, ref.root_ang_vel)
        self._action = np.zeros(12)
        self.actions.reset()
        self.builder.reset(self._proprio())
        obs = self._observation(ref)
        return obs, {"dynamics": dict(self.dynamics), "phase": phase, "standing": standing}

    def step(
        self, action: np.ndarray,
    ) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Apply one action for one policy period; see the module docstring."""
        cfg = self.config
        t_next = self.t + cfg.policy_dt
        if self.commanded is not None:
            self.commanded.advance()
            raw = self.commanded.now()
        else:
            raw = self._next_ref if self._next_ref is not None else self.ref.state(t_next)
        ref = self._placed(raw)
        target = self.actions(action, ref.joints)
        previous, self._action = self._action, self.actions.last_action
        self._maybe_push()
        self._maybe_resample_dynamics()
        jitter = 0
        if self.randomize and cfg.latency_jitter_s > 0.0:
            jitter = int(self.np_random.integers(0, round(cfg.latency_jitter_s * cfg.physics_hz)
                                                 + 1))
        self.robot.command(target, jitter)
        self.robot.step(cfg.substeps)
        self.t = t_next
        self.steps += 1
        state = self._robot_quantities()
        state["action_change"] = self._action - previous
        ref_state = _ref_quantities(ref)
        self._velocities.append(np.array([state["lin_vel"][:2], ref_state["lin_vel"][:2]]))
        state["mean_planar_vel"], ref_state["mean_planar_vel"] = np.mean(self._velocities, axis=0)
        reward, terms = imitation_reward(cfg.reward, state, ref_state)
        feet_contact, body_contact = self.robot.ground_contacts()
        pos_err = float(np.linalg.norm(state["root_pos"] - ref.root_pos))
        rot_err = rotation_angle(state["root_rot"], ref.root_rot)
        fell = cfg.terminate_on_body_contact and body_contact
        terminated = bool(fell or pos_err > cfg.max_root_position_error
                          or rot_err > cfg.max_root_rotation_error)
        end_of_clamp = not self.ref.wrap and self.t >= self.ref.duration
        truncated = bool(not terminated and (self.steps * cfg.policy_dt >= cfg.episode_seconds
                                             or end_of_clamp))
        self.builder.push(self._proprio(state))
        if self.config.sync_reference_each_cycle and self.ref.wrap:
            cycle = (self.ref.cycle_and_phase(self.t)[0] if self.commanded is None
                     else self.commanded.cycle())
            if cycle != self._cycle:
                self._cycle = cycle
                self._sync_origin(state, raw)
        if self.commanded is not None:
            command = self.commanded.command
            self._maybe_draw_command()
        obs = self._observation(raw, state)
        info = {"reward_terms": terms, "dynamics": dict(self.dynamics), "fell": bool(fell),
                "root_position_error": pos_err, "root_rotation_error": rot_err,
                "foot_contacts": feet_contact, "time": self.t}
        if self.commanded is not None:
            info["command"] = command  # the command this step was taken under
        return obs, reward, terminated, truncated, info

    def render(self) -> np.ndarray | None:
        """An RGB frame (H, W, 3) uint8 of the robot, camera following it (TinyRenderer)."""
        if self.render_mode != "rgb_array":
            return None
        import pybullet as pb

        pos, _ = self.robot.base_pose()
        view = pb.computeViewMatrixFromYawPitchRoll(pos.tolist(), 1.0, 30.0, -20.0, 0.0, 2)
        proj = pb.computeProjectionMatrixFOV(60.0, 4 / 3, 0.05, 10.0)
        _, _, rgba, _, _ = pb.getCameraImage(320, 240, view, proj,
                                             renderer=pb.ER_TINY_RENDERER,
                                             physicsClientId=self.robot.client)
        return np.asarray(rgba, dtype=np.uint8).reshape(240, 320, 4)[..., :3]

    def close(self) -> None:
        """Release the physics client."""
        self.robot.close()

    # ------------------------------------------------------------------ commands
    def set_command(self, command: np.ndarray) -> None:
        """Hold ``command`` (3,) from the next step on (a steerable policy's env only).

        Forward and lateral speed (m/s), yaw rate (rad/s), robot heading frame. The next
        observation already carries it; a randomised episode still draws its own later.

        Raises:
            ValueError: The env has no commands (``EnvConfig.commands.enabled`` is False).
        """
        if self.commanded is None:
            raise ValueError("this env has no commands (EnvConfig.commands.enabled is False)")
        self.commanded.set_command(np.asarray(command, dtype=float))

    def reference_now(self) -> RefState:
        """The reference now, without the per-cycle origin sync (the commanded one if any)."""
        return self.ref.state(self.t) if self.commanded is None else self.commanded.now()

    def placed_reference_now(self) -> RefState:
        """The reference now as the episode tracks it (origin synced; commanded if any)."""
        return self._placed(self.reference_now())

    def _reset_command(self, phase: float, standing: bool, command: np.ndarray | None) -> None:
        """Start the commanded reference: the given command, a draw, or the clip's own."""
        assert self.commanded is not None
        cfg = self.config.commands
        if command is None and self.randomize:
            command = sample_command(cfg, self.commanded.clip, self.np_random)
            self._command_steps = command_interval_steps(cfg, self.config.policy_dt,
                                                         self.np_random)
        else:
            self._command_steps = 0  # held: no draws
        self.commanded.reset(phase, command, standing)

    def _maybe_draw_command(self) -> None:
        """In a randomised episode, draw a new command when the current one's time is up."""
        if not self.randomize or self._command_steps <= 0:
            return
        self._command_steps -= 1
        if self._command_steps == 0:
            assert self.commanded is not None
            cfg = self.config.commands
            self.commanded.set_command(sample_command(cfg, self.commanded.clip,
                                                      self.np_random))
            self._command_steps = command_interval_steps(cfg, self.config.policy_dt,
                                                         self.np_random)

    # ------------------------------------------------------------------ reference
    def ref_at(self, t: float) -> RefState:
        """The reference at time ``t`` (s) as this episode tracks it (origin synced)."""
        return self._placed(self.ref.state(t))

    def _placed(self, raw: RefState) -> RefState:
        """``raw`` moved by the episode's origin (a new state; ``raw`` is left as it is).

        Only the reward and the termination need it: the observation sees the reference
        relative to its own root, the same whatever the origin.
        """
        if self._origin is None:
            return raw
        turn, shift = self._origin
        return RefState(turn @ raw.root_pos + shift, turn @ raw.root_rot, raw.joints,
                        raw.joint_vel, turn @ raw.root_lin_vel, turn @ raw.root_ang_vel,
                        raw.feet_local)

    def _sync_origin(self, state: dict[str, np.ndarray], raw: RefState) -> None:
        """Move the reference's base (``raw``, now) onto the robot's: position and heading."""
        if self.config.heading_feedback:
            turn = np.eye(3) if self._origin is None else self._origin[0]
        else:
            turn = yaw_matrix(float(yaw_of(state["root_rot"]) - yaw_of(raw.root_rot)))
        shift = state["root_pos"] - turn @ raw.root_pos
        shift[2] = 0.0
        self._origin = (turn, shift)

    # ------------------------------------------------------------------ helpers
    def _base_quat(self, body_rot: np.ndarray) -> np.ndarray:
        return self.kin.body_quat_to_base(body_rot)

    def _robot_quantities(self) -> dict[str, np.ndarray]:
        pos, quat = self.robot.base_pose()
        rot = quat_to_matrix(quat) @ self._offset_t
        lin, ang = self.robot.base_velocity()
        q, dq = self.robot.joint_state()
        heading = yaw_matrix(float(yaw_of(rot)))
        feet = (self.robot.foot_positions() - pos) @ heading
        return {"joints": q, "joint_vel": dq, "feet_local": feet, "root_pos": pos,
                "root_rot": rot, "lin_vel": lin, "ang_vel": ang}

    def _maybe_push(self) -> None:
        """In a randomised episode, push the base now with probability policy_dt / interval."""
        cfg = self.config
        if not (self.randomize and cfg.push_interval_s > 0.0 and cfg.push_speed > 0.0):
            return
        if self.np_random.uniform() >= cfg.policy_dt / cfg.push_interval_s:
            return
        speed = cfg.push_speed * np.sqrt(self.np_random.uniform())  # uniform over the disc
        angle = self.np_random.uniform(-np.pi, np.pi)
        self.robot.shove(np.array([speed * np.cos(angle), speed * np.sin(angle), 0.0]))

    def _maybe_resample_dynamics(self) -> None:
        """In a randomised episode, draw new dynamics now with the configured probability.

        The ground slope stays (the ground does not tilt under a walking robot).
        """
        p = self.config.dynamics_resample_probability
        if not (self.randomize and p > 0.0) or self.np_random.uniform() >= p:
            return
        new = sample_dynamics(self._ranges, self.np_random)
        new["ground_slope_rad"] = self.dynamics["ground_slope_rad"]
        self.dynamics = new
        self.robot.apply_dynamics(new)
        self._dynamics_vec = dynamics_vector(new)

    def _proprio(self, state: dict[str, np.ndarray] | None = None) -> np.ndarray:
        state = state or self._robot_quantities()
        rot = state["root_rot"]
        rp, gyro, joints = roll_pitch(rot), rot.T @ state["ang_vel"], state["joints"]
        if self.randomize:
            rp, gyro, joints = noisy_imu_and_joints(self.config.sensor_noise, self.np_random,
                                                    rp, gyro, joints, self._imu_bias)
        return proprio_frame(rp, gyro, joints, self._action)

    def heading_error(self, raw: RefState, state: dict[str, np.ndarray] | None = None) -> float:
        """The placed reference's heading minus the robot's (rad, wrapped to ±π).

        0 without ``heading_feedback``.
        """
        if not self.config.heading_feedback:
            return 0.0
        state = state or self._robot_quantities()
        turn = 0.0 if self._origin is None else float(yaw_of(self._origin[0]))
        return wrap_angle(float(yaw_of(raw.root_rot)) + turn - float(yaw_of(state["root_rot"])))

    def _observation(self, ref: RefState,
                     state: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        if self.commanded is not None:
            future = self.commanded.ahead(self.config.future_steps)
            obs = self.builder.build(ref, future, self.heading_error(ref, state),
                                     self.commanded.command)
            return {"obs": obs, "dynamics": self._dynamics_vec.copy()}
        dt = self.config.policy_dt
        future = [self.ref.state(self.t + k * dt) for k in self.config.future_steps]
        # The +1 frame is the next step's target and reward reference: computed once.
        self._next_ref = future[self.config.future_steps.index(1)] if (
            1 in self.config.future_steps) else None
        obs = self.builder.build(ref, future, self.heading_error(ref, state))
        return {"obs": obs, "dynamics": self._dynamics_vec.copy()}


def _ref_quantities(ref: RefState) -> dict[str, np.ndarray]:
    return {"joints": ref.joints, "joint_vel": ref.joint_vel, "feet_local": ref.feet_local,
            "root_pos": ref.root_pos, "root_rot": ref.root_rot, "lin_vel": ref.root_lin_vel,
            "ang_vel": ref.root_ang_vel}
