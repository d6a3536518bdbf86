"""Velocity commands and the reference that follows them (steerable imitation).

A command is three numbers in the robot's heading frame: forward speed (m/s), lateral speed
(m/s, left positive) and yaw rate (rad/s). A policy trained with commands
(:class:`CommandConfig` ``enabled``) sees the command at the end of its observation
(:mod:`sim_training.observations`) and imitates a reference that follows it,
:class:`CommandedReference`:

- the clip is re-timed: it plays at a rate of 0.5–1.5× (``playback_range``) its own speed,
  set by the commanded velocity's component along the clip's own mean velocity (a clip that
  does not travel, a spin or steps in place, keeps its own rate);
- its root path is bent: the reference's heading turns at the commanded yaw rate (the clip's
  own heading changes are kept, its mean yaw rate replaced), the heading integrated and the
  clip's steps laid along it;
- with ``lean`` > 0 its trunk leans into a turn against the centripetal acceleration;
- a zero command (below ``stand_speed`` and ``stand_yaw_rate``) blends the reference into the
  robot's standing pose over ``blend_s``; once it stands, the clip starts again from its
  phase 0 when a command comes.

At the clip's own command (:func:`clip_command`) the reference is the clip's, to rounding: a
policy trained without commands and widened with zero weights for the command inputs acts as
before. The reference is a deterministic stepper at the policy rate; the future frames of the
observation are its states ahead with the current command held (what the robot knows).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from motion_retarget.kinematics import RobotModel
from motion_retarget.sampler import (
    ROW_ANG_VEL,
    ROW_JOINT_VEL,
    ROW_JOINTS,
    ROW_LIN_VEL,
    ROW_QUAT,
    ROW_SIZE,
)
from quadmimic.core.errors import ConfigError
from quadmimic.core.geometry import log_rotation, quat_to_matrix, wrap_angle, yaw_matrix
from sim_training.reference import ReferenceMotion, RefState

COMMAND_NAMES = ("forward_speed", "lateral_speed", "yaw_rate")
"""The command's components, in order (m/s, m/s, rad/s; robot heading frame)."""
TRAVELS = 0.1
"""Mean speed (m/s) below which a clip does not travel: commands do not re-time it."""
_FEET = slice(ROW_SIZE, ROW_SIZE + 12)  # the feet_local columns ReferenceMotion adds
GRAVITY = 9.81
"""Gravity (m/s²) the reference leans against in a turn (:attr:`CommandConfig.lean`)."""


@dataclass(frozen=True)
class CommandConfig:
    """Commands in training: whether the policy is steerable, and what it is steered over.

    The ranges are relative to the clip's own command (:func:`clip_command`), so one
    settings file serves every gait; :func:`command_ranges` gives a gait's absolute ranges.
    """

    enabled: bool = False
    """The observation carries a command and the reference follows it. False: the clip is
    replayed as it is, as every bundle before steering was trained."""
    playback_range: tuple[float, float] = (0.5, 1.5)
    """Playback rates of the clip (× its own speed) a command reaches; speeds beyond are
    clipped to them. Training draws rates uniformly over it."""
    yaw_rate_range: tuple[float, float] = (-1.0, 1.0)
    """Commanded yaw rate minus the clip's own mean yaw rate drawn in training (rad/s)."""
    stand_probability: float = 0.1
    """Probability that a command drawn in training is zero (stand)."""
    interval_s: tuple[float, float] = (2.0, 4.0)
    """Seconds a command drawn in training holds before the next draw (uniform)."""
    blend_s: float = 0.5
    """Seconds the reference takes to blend from the gait into the standing pose and back."""
    stand_speed: float = 0.05
    """Planar speeds (m/s) below which, with the yaw rate below ``stand_yaw_rate``, a command
    is zero."""
    stand_yaw_rate: float = 0.05
    """Yaw rates (rad/s) below which, with the speed below ``stand_speed``, a command is zero."""
    lean: float = 0.0
    """Fraction (0–1) of the centripetal lean the reference's trunk takes in a turn: it is
    tilted so that its up axis leans toward ``g − a``, with ``a = ω × v`` the centripetal
    acceleration of the reference path's velocity ``v`` and yaw rate ``ω`` (roll −atan(ω·v_x/g),
    pitch atan(−ω·v_y/g), × ``lean``; 1.2 m/s at 1 rad/s: 7°), as a running dog or a cyclist
    leans. The joints and the feet relative to the trunk keep the clip's; the foot term keeps
    the feet under the trunk in the heading frame. 0: the clip's own roll and pitch, as every
    bundle before leaning was trained."""

    def __post_init__(self) -> None:
        """Reject ranges that cannot work.

        Raises:
            ValueError: An unordered range, a rate outside (0, 3], a probability outside
                [0, 1], a non-positive interval or blend time.
        """
        lo, hi = self.playback_range
        if not 0.0 < lo <= hi <= 3.0:
            raise ValueError(f"commands.playback_range ({lo}, {hi}) must satisfy "
                             "0 < low <= high <= 3")
        if self.yaw_rate_range[0] > self.yaw_rate_range[1]:
            raise ValueError("commands.yaw_rate_range must be (low, high) with low <= high")
        if not 0.0 <= self.stand_probability <= 1.0:
            raise ValueError("commands.stand_probability must be in [0, 1]")
        if not 0.0 < self.interval_s[0] <= self.interval_s[1]:
            raise ValueError("commands.interval_s must be (low, high) with 0 < low <= high")
        if not (self.blend_s > 0.0 and self.stand_speed >= 0.0 and self.stand_yaw_rate >= 0.0):
            raise ValueError("commands.blend_s must be > 0, stand_speed and stand_yaw_rate "
                             ">= 0")
        if not 0.0 <= self.lean <= 1.0:
            raise ValueError(f"commands.lean ({self.lean}) must be in [0, 1]")


def clip_command(ref: ReferenceMotion) -> np.ndarray:
    """The clip's own command (3,): mean forward and lateral speed, mean yaw rate.

    Speeds are the mean of the root velocity in the clip's heading frame over its frames
    (m/s); the yaw rate is the heading change per cycle over the cycle (a looping clip) or
    over the clip (rad/s).
    """
    c, s = np.cos(ref.yaw), np.sin(ref.yaw)
    vx, vy = ref.lin_vel[:, 0], ref.lin_vel[:, 1]
    forward = float(np.mean(c * vx + s * vy))
    lateral = float(np.mean(-s * vx + c * vy))
    if ref.duration <= 0.0:
        return np.array([forward, lateral, 0.0])
    turn = ref.cycle_yaw if ref.wrap else float(ref.yaw[-1] - ref.yaw[0])
    return np.array([forward, lateral, turn / ref.duration])


def motion_clip_command(motion_path: str | Path, robot: str) -> np.ndarray:
    """The clip's own command (3,) of a motion file on a robot (:func:`clip_command`)."""
    from motion_retarget.kinematics import robot_model
    from motion_retarget.motion_file import load_motion

    return clip_command(ReferenceMotion(load_motion(motion_path), robot_model(robot)))


def command_ranges(config: CommandConfig, clip: np.ndarray) -> dict[str, list[float]]:
    """A gait's command ranges in absolute units (what its bundle documents).

    Args:
        config: The command settings.
        clip: The clip's own command (3,), :func:`clip_command`.

    Returns:
        ``forward_speed``, ``lateral_speed`` (m/s) and ``yaw_rate`` (rad/s), each
        ``[low, high]``, and ``clip`` (the clip's own command).
    """
    lo, hi = config.playback_range
    travels = math.hypot(clip[0], clip[1]) >= TRAVELS
    out: dict[str, list[float]] = {}
    for j, name in enumerate(COMMAND_NAMES[:2]):
        ends = sorted((lo * clip[j], hi * clip[j])) if travels else [0.0, 0.0]
        out[name] = [round(float(v), 4) for v in ends]
    out["yaw_rate"] = [round(float(clip[2] + v), 4) for v in config.yaw_rate_range]
    out["clip"] = [round(float(v), 4) for v in clip]
    return out


def command_statistics(config: CommandConfig, clip: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance (3,) of the training commands of a gait (their draws' distribution).

    The observation statistics of the command inputs when a policy trained without commands
    is widened to take them (its running statistics then continue from these).

    Args:
        config: The command settings.
        clip: The clip's own command (3,).

    Returns:
        Mean and variance (floored at 1e-4) of forward speed, lateral speed (m/s) and yaw
        rate (rad/s) under :func:`~sim_training.randomization.sample_command`.
    """
    go = 1.0 - config.stand_probability
    lo, hi = config.playback_range
    r1, r2 = (lo + hi) / 2.0, (lo * lo + lo * hi + hi * hi) / 3.0
    travels = math.hypot(clip[0], clip[1]) >= TRAVELS
    a, b = config.yaw_rate_range
    y1 = clip[2] + (a + b) / 2.0
    y2 = y1 * y1 + (b - a) ** 2 / 12.0
    first = np.array([r1 * clip[0], r1 * clip[1], y1]) if travels else np.array([0, 0, y1])
    second = np.array([r2 * clip[0] ** 2, r2 * clip[1] ** 2, y2]) if travels else np.array(
        [0.0, 0.0, y2])
    mean = go * first
    return mean, np.maximum(go * second - mean ** 2, 1e-4)


def is_zero(config: CommandConfig, command: np.ndarray) -> bool:
    """Whether ``command`` (3,) asks the robot to stand."""
    return (math.hypot(command[0], command[1]) < config.stand_speed
            and abs(command[2]) < config.stand_yaw_rate)


def playback_rate(config: CommandConfig, clip: np.ndarray, command: np.ndarray) -> float:
    """The clip's playback rate for ``command`` (3,).

    The command's speed along the clip's own mean velocity over the clip's speed, clipped to
    ``playback_range``; 1 for a clip that does not travel.
    """
    speed2 = clip[0] ** 2 + clip[1] ** 2
    if speed2 < TRAVELS ** 2:
        return 1.0
    lo, hi = config.playback_range
    return min(hi, max(lo, (command[0] * clip[0] + command[1] * clip[1]) / speed2))


class _Step:
    """One state of the commanded reference (see :class:`CommandedReference`)."""

    __slots__ = ("bend", "beta", "beta_rate", "psi", "rate", "ref", "row", "tau", "x", "y")

    def __init__(self, tau: float, x: float, y: float, psi: float, beta: float,
                 beta_rate: float, rate: float, bend: float, row: np.ndarray) -> None:
        self.tau, self.x, self.y, self.psi = tau, x, y, psi
        self.beta, self.beta_rate, self.rate, self.bend = beta, beta_rate, rate, bend
        self.row = row
        self.ref: RefState | None = None


def _heading(row: np.ndarray) -> float:
    """Heading (rad) of a sampler row's body quaternion."""
    x, y, z, w = row[ROW_QUAT].tolist()
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def _rotvec_matrix(v: np.ndarray) -> np.ndarray:
    """Rotation matrix (3, 3) of a rotation vector (3,) (Rodrigues)."""
    angle = float(np.linalg.norm(v))
    if angle < 1e-12:
        return np.eye(3)
    k = v / angle
    kx = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + math.sin(angle) * kx + (1.0 - math.cos(angle)) * (kx @ kx)


class CommandedReference:
    """The reference of a steerable policy: the clip re-timed, bent and stopped by commands.

    Steps at the policy rate. State: clip time τ (s, loops included), planar root position
    (m) and heading Ψ (rad), and the gait weight β (1: the clip, 0: the standing pose). One
    step with command c, rate r (:func:`playback_rate`) and the clip's own command
    (v_c, w_c): τ += r·dt; the clip's root displacement over the step, in its heading frame,
    is laid along Ψ (× β); Ψ += β·(the clip's heading change + (c_yaw − r·w_c)·dt); β moves
    toward 1 (0 for a zero command) by dt / blend_s. Once β is 0, τ returns to 0: the clip
    starts again from its phase 0 when a command comes. Velocities are the clip's × r (× β).

    Args:
        ref: The clip, precomputed.
        robot: Its robot's kinematics (the standing pose).
        config: The command settings.
        dt: Policy period (s).
    """

    def __init__(self, ref: ReferenceMotion, robot: RobotModel, config: CommandConfig,
                 dt: float) -> None:
        self.ref = ref
        self.config = config
        self.dt = float(dt)
        self.clip = clip_command(ref)
        """The clip's own command (3,)."""
        stand = robot.standing_q()
        frame = robot.frame_of(stand)
        self._stand_joints = frame[7:19].copy()
        self._stand_height = float(frame[2])
        self._stand_feet = robot.feet_of_frames(frame[None])[0] - frame[:3]
        self.command = self.clip.copy()
        """The command held now (3,)."""
        self._path: list[_Step] = []

    # ------------------------------------------------------------------ control
    def reset(self, phase: float, command: np.ndarray | None = None,
              standing: bool = False) -> None:
        """Start at clip time ``phase`` (s) on the clip's own root pose.

        Args:
            phase: Clip time (s).
            command: The command (3,) held from now (default: the clip's own).
            standing: Start in the standing pose (β = 0) at the clip's root place and heading
                at ``phase``, blending into the gait as the command asks.
        """
        self.command = self.clip.copy() if command is None else np.asarray(command, float)
        row = self.ref.sampler.sample(phase)
        x, y = row[0], row[1]
        self._path = [_Step(phase, float(x), float(y), _heading(row), 0.0 if standing else 1.0,
                            0.0, playback_rate(self.config, self.clip, self.command),
                            0.0, row)]

    def set_command(self, command: np.ndarray) -> None:
        """Hold ``command`` (3,) from the next step on (the states ahead are recomputed)."""
        command = np.asarray(command, dtype=float)
        if not np.array_equal(command, self.command):
            self.command = command.copy()
            del self._path[1:]

    def advance(self) -> None:
        """One policy step with the command held."""
        self._extend(1)
        self._path.pop(0)

    # ------------------------------------------------------------------ queries
    @property
    def clip_time(self) -> float:
        """Clip time τ now (s)."""
        return self._path[0].tau

    @property
    def gait_weight(self) -> float:
        """β now: 1 on the clip, 0 standing."""
        return self._path[0].beta

    def cycle(self) -> int:
        """The clip cycle τ is in now."""
        return self.ref.cycle_and_phase(self._path[0].tau)[0]

    def now(self) -> RefState:
        """The reference now (world frame; a shared state: do not modify it)."""
        return self._state(self._path[0])

    def ahead(self, steps: tuple[int, ...] | list[int]) -> list[RefState]:
        """The reference ``k`` policy steps ahead for each ``k`` in ``steps``, command held."""
        self._extend(max(steps))
        return [self._state(self._path[k]) for k in steps]

    # ------------------------------------------------------------------ internals
    def _extend(self, n: int) -> None:
        while len(self._path) <= n:
            self._path.append(self._next(self._path[-1]))

    def _next(self, s: _Step) -> _Step:
        cfg, dt, clip = self.config, self.dt, self.clip
        stand = is_zero(cfg, self.command)
        rate = playback_rate(cfg, clip, self.command)
        step = dt / cfg.blend_s
        beta = max(0.0, s.beta - step) if stand else min(1.0, s.beta + step)
        if beta == 0.0:  # standing: hold the place and heading; the clip restarts at 0
            row = s.row if s.tau == 0.0 else self.ref.sampler.sample(0.0)
            return _Step(0.0, s.x, s.y, s.psi, 0.0, 0.0, rate, 0.0, row)
        tau = s.tau + rate * dt
        row = self.ref.sampler.sample(tau)
        psi_c0, psi_c1 = _heading(s.row), _heading(row)
        dx, dy = row[0] - s.row[0], row[1] - s.row[1]
        c0, s0 = math.cos(psi_c0), math.sin(psi_c0)
        lx, ly = c0 * dx + s0 * dy, -s0 * dx + c0 * dy  # clip step in its heading frame
        c, sn = math.cos(s.psi), math.sin(s.psi)
        bend = self.command[2] - rate * clip[2]
        turn = wrap_angle(psi_c1 - psi_c0) + bend * dt
        return _Step(tau, s.x + beta * (c * lx - sn * ly), s.y + beta * (sn * lx + c * ly),
                     s.psi + beta * turn, beta, (beta - s.beta) / dt, rate, bend, row)

    def _state(self, s: _Step) -> RefState:
        if s.ref is not None:
            return s.ref
        row, beta, rate = s.row, s.beta, s.rate
        rot_c = quat_to_matrix(row[ROW_QUAT])
        psi_c = _heading(row)
        turn = yaw_matrix(s.psi - psi_c)
        if beta == 1.0:
            rot = turn @ rot_c
            joints = row[ROW_JOINTS].copy()
            z = float(row[2])
            feet = row[_FEET].reshape(4, 3).copy()
        else:
            tilt = yaw_matrix(-psi_c) @ rot_c
            rot = yaw_matrix(s.psi) @ _rotvec_matrix(beta * log_rotation(tilt))
            joints = beta * row[ROW_JOINTS] + (1.0 - beta) * self._stand_joints
            z = beta * float(row[2]) + (1.0 - beta) * self._stand_height
            feet = beta * row[_FEET].reshape(4, 3) + (1.0 - beta) * self._stand_feet
        scale = beta * rate
        joint_vel = scale * row[ROW_JOINT_VEL] + s.beta_rate * (
            row[ROW_JOINTS] - self._stand_joints)
        lin = scale * (turn @ row[ROW_LIN_VEL])
        lin[2] += s.beta_rate * (float(row[2]) - self._stand_height)
        ang = scale * (turn @ row[ROW_ANG_VEL])
        ang[2] += beta * s.bend
        if self.config.lean > 0.0:
            rot = self._leaned(rot, s)
        pos = np.array([s.x, s.y, z])
        s.ref = RefState(pos, rot, joints, joint_vel, lin, ang, feet)
        return s.ref

    def _leaned(self, rot: np.ndarray, s: _Step) -> np.ndarray:
        """``rot`` (3, 3) tilted toward ``g − ω × v`` by ``lean`` (see :class:`CommandConfig`).

        ``v`` and ``ω`` are the path's: the clip's mean velocity and yaw rate at the playback
        rate, plus the bend, × β (not the trunk's surge and yaw wobble within a stride).

        Args:
            rot: The reference's trunk orientation (world frame).
            s: The reference's step (heading, rate, bend, β).
        """
        v_x, v_y = s.beta * s.rate * self.clip[0], s.beta * s.rate * self.clip[1]
        yaw_rate = s.beta * (s.rate * self.clip[2] + s.bend)
        a_x, a_y = -yaw_rate * v_y, yaw_rate * v_x  # centripetal acceleration, m/s²
        lean = self.config.lean
        roll = -lean * math.atan2(a_y, GRAVITY)
        pitch = lean * math.atan2(a_x, GRAVITY)
        heading = yaw_matrix(s.psi)
        tilt = _rotvec_matrix(np.array([0.0, pitch, 0.0])) @ _rotvec_matrix(
            np.array([roll, 0.0, 0.0]))
        return heading @ tilt @ heading.T @ rot


# ---------------------------------------------------------------------- scripts
BUILTIN_SCRIPTS: dict[str, list[dict[str, float]]] = {
    "figure_eight": [
        {"seconds": 2 * math.pi / 0.8, "rate": 1.0, "yaw_rate": 0.8},
        {"seconds": 2 * math.pi / 0.8, "rate": 1.0, "yaw_rate": -0.8},
    ],
    "start_stop": [
        {"seconds": 3.0, "rate": 1.0}, {"seconds": 2.0},
        {"seconds": 3.0, "rate": 1.0}, {"seconds": 2.0},
    ],
    "speed_ramp": [
        {"seconds": 2.0, "rate": r} for r in (0.5, 0.75, 1.0, 1.25, 1.5)
    ],
}
"""Built-in command scripts. A segment holds ``seconds`` and any of ``forward_speed``,
``lateral_speed`` (m/s), ``yaw_rate`` (rad/s) and ``rate`` (× the clip's own velocity: sets
forward and lateral speed); what a segment leaves out is 0 (an empty segment stands). The
built-in ``random`` is not a fixed list: commands drawn as in training (:data:`RANDOM_SCRIPT`)."""
RANDOM_SCRIPT = "random"
"""The built-in script of commands drawn as in training: each held 2–4 s (the gait's
``interval_s``), drawn by :func:`sim_training.randomization.sample_command` over the gait's
ranges; each evaluation episode draws its own (:meth:`CommandScript.for_episode`)."""
RANDOM_SCRIPT_SECONDS = 20.0
"""Length (s) of a ``random`` script."""
_SEGMENT_KEYS = ("seconds", "rate", *COMMAND_NAMES)


@dataclass(frozen=True)
class CommandScript:
    """A scripted command sequence: segments of constant command, then the last one held.

    Attributes:
        name: The built-in's name or the file it was read from.
        segments: Each ``(seconds, command (3,))``, in order.
    """

    name: str
    segments: tuple[tuple[float, tuple[float, float, float]], ...]
    redraw: Callable[[int], CommandScript] | None = field(default=None, compare=False,
                                                           repr=False)
    """A drawn script (``random``): the same kind drawn from another seed; None: fixed."""

    def for_episode(self, seed: int) -> CommandScript:
        """The script an episode seeded ``seed`` plays (a fixed script: itself)."""
        return self if self.redraw is None else self.redraw(seed)

    @property
    def seconds(self) -> float:
        """The script's length (s)."""
        return float(sum(s for s, _ in self.segments))

    def at(self, t: float) -> np.ndarray:
        """The command (3,) at time ``t`` (s) from the script's start."""
        end = 0.0
        for seconds, command in self.segments:
            end += seconds
            if t < end:
                return np.array(command)
        return np.array(self.segments[-1][1])


def random_command_script(config: CommandConfig, clip: np.ndarray, seed: int,
                          seconds: float = RANDOM_SCRIPT_SECONDS) -> CommandScript:
    """Commands drawn as in training, each held a drawn interval, for ``seconds`` (s).

    Args:
        config: The gait's command settings (ranges, stand probability, intervals).
        clip: The gait's own command (3,).
        seed: Seed of the draws.
        seconds: The script's length (s).

    Returns:
        The ``random`` script; :meth:`CommandScript.for_episode` draws another from a seed.
    """
    from sim_training.randomization import sample_command

    rng = np.random.default_rng([int(seed), 7])
    segments, total = [], 0.0
    while total < seconds - 1e-9:
        hold = min(float(rng.uniform(*config.interval_s)), seconds - total)
        segments.append((hold, tuple(float(v) for v in sample_command(config, clip, rng))))
        total += hold
    return CommandScript(RANDOM_SCRIPT, tuple(segments), redraw=lambda other: (
        random_command_script(config, clip, other, seconds)))


def load_command_script(spec: str, clip: np.ndarray,
                        config: CommandConfig | None = None) -> CommandScript:
    """A command script: a built-in name (:data:`BUILTIN_SCRIPTS`, ``random``) or a JSON file.

    A file holds ``{"segments": [{"seconds": 3, "forward_speed": 1.0, "yaw_rate": 0.5},
    ...]}`` (or the list alone), keys as in :data:`BUILTIN_SCRIPTS`.

    Args:
        spec: ``figure_eight``, ``start_stop``, ``speed_ramp``, ``random`` or a JSON file
            path.
        clip: The gait's own command (3,) (``rate`` is relative to it).
        config: The gait's command settings (``random`` draws over their ranges; seed 0).

    Raises:
        ConfigError: Not a built-in and not a readable script file (one line, naming it).
    """
    if spec == RANDOM_SCRIPT:
        if config is None:
            raise ConfigError("the random script needs the gait's command settings", spec)
        return random_command_script(config, clip, 0)
    if spec in BUILTIN_SCRIPTS:
        data, where = BUILTIN_SCRIPTS[spec], None
    else:
        where = Path(spec)
        if not where.is_file():
            raise ConfigError(f"not a built-in script ({', '.join(BUILTIN_SCRIPTS)}, "
                              f"{RANDOM_SCRIPT}) nor a file", spec)
        try:
            data = json.loads(where.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"not a readable JSON command script: {exc}", where) from None
        if isinstance(data, dict):
            data = data.get("segments")
    if not isinstance(data, list) or not data:
        raise ConfigError('expected {"segments": [{"seconds": ..., ...}, ...]}', where)
    segments = []
    for i, seg in enumerate(data):
        if not isinstance(seg, dict) or set(seg) - set(_SEGMENT_KEYS):
            raise ConfigError(f"segment {i + 1}: expected an object with keys among "
                              f"{', '.join(_SEGMENT_KEYS)}", where)
        try:
            values = {k: float(v) for k, v in seg.items()}
        except (TypeError, ValueError):
            raise ConfigError(f"segment {i + 1}: values must be numbers", where) from None
        seconds = values.get("seconds", 0.0)
        if not (math.isfinite(seconds) and seconds > 0.0) or not all(
                math.isfinite(v) for v in values.values()):
            raise ConfigError(f"segment {i + 1}: seconds must be > 0 and values finite", where)
        rate = values.get("rate", 0.0)
        command = (values.get("forward_speed", rate * clip[0]),
                   values.get("lateral_speed", rate * clip[1]), values.get("yaw_rate", 0.0))
        segments.append((seconds, tuple(float(v) for v in command)))
    return CommandScript(spec if where is None else str(where), tuple(segments))


__all__ = ["BUILTIN_SCRIPTS", "COMMAND_NAMES", "RANDOM_SCRIPT", "TRAVELS", "CommandConfig",
           "CommandScript", "CommandedReference", "clip_command", "command_ranges",
           "command_statistics", "is_zero", "load_command_script", "motion_clip_command",
           "playback_rate", "random_command_script"]
