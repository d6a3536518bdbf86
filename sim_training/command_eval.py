"""Evaluate a steerable policy on a command script (``quadmimic eval --commands``).

Each episode plays the script (:class:`~sim_training.commands.CommandScript`) from a start on
the reference at a random phase, in the training env at fixed dynamics. The figures:

- **speed error**: over 0.5 s windows once a command has held :data:`SETTLE_S`, the robot's
  planar velocity (its displacement over the window, in its own heading frame) against the
  commanded one, ``|v − v_cmd| / |v_cmd|``, averaged over the windows whose command moves;
  also per third of the playback range (slow, the clip's own speed, fast), which tells
  where a gait stops following: its fastest playback or its slowest;
- **speed bias**: the same windows' signed forward and lateral errors, ``(v − v_cmd) /
  |v_cmd|`` per component: a gait that walks short of its command (a negative forward bias)
  against one that wanders around it (no bias, the error all spread);
- **yaw-rate error**: the same windows' ``|ω − ω_cmd|`` (rad/s);
- **falls**: episodes that ended before the script in a fall (a body part other than a foot
  touched the ground). The env's limits on the distance to the reference are lifted here, as
  the deploy controller has none: a robot that lags behind a command is scored by its errors,
  not ended;
- **pose term at the clip's own speed**: the mean pose reward term over the steps at the
  clip's own playback rate (±5 %) on the gait (not standing, not blending);
- **response**: after each change of the commanded speed, the seconds until the robot's
  speed over the last 0.5 s is within 15 % of the new command (command to motion).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from motion_retarget.motion import Motion
from quadmimic.core.errors import BundleError
from quadmimic.core.fileio import atomic_write_text
from quadmimic.core.geometry import yaw_of
from quadmimic.core.records import JsonRecord
from sim_training.bundle import PolicyBundle
from sim_training.commands import (
    CommandScript,
    command_ranges,
    is_zero,
    motion_clip_command,
    playback_rate,
)
from sim_training.env import ImitationEnv
from sim_training.evaluate import TRACKING_WINDOW_S
from sim_training.observations import PROPRIO_SIZE

if TYPE_CHECKING:
    from sim_training.commands import CommandConfig
    from sim_training.estimator import ZEstimator

SETTLE_S = 1.0
"""Seconds after a command change (and after the start) that the errors leave out."""
NO_LIMIT = 1e9
"""The root position (m) and rotation (rad) error limits during a command evaluation: none."""
RESPONSE_TOLERANCE = 0.15
"""Relative speed error within which the robot has taken up a new command."""


@dataclass(frozen=True)
class CommandEvalResult(JsonRecord):
    """A steerable policy on a command script: its JSON is what ``--json`` writes."""

    bundle: str
    """The policy bundle (or run)."""
    robot: str
    """Its robot."""
    script: str
    """The command script (built-in name or file)."""
    script_seconds: float
    """Its length (s): each episode's."""
    episodes: int
    """Episodes run."""
    physics_hz: float
    """Physics rate (Hz)."""
    command_ranges: dict[str, list[float]]
    """The gait's command ranges (:func:`~sim_training.commands.command_ranges`)."""
    speed_error: float | None
    """Mean relative planar speed error over settled windows with a moving command (None:
    the script never moves)."""
    yaw_rate_error: float | None
    """Mean yaw-rate error (rad/s) over settled windows."""
    speed_error_by_playback: dict[str, float | None]
    """The speed error per third of the playback range (keys ``"0.50-0.83x"``...: the clip's
    playback rate of the window's command; None: no window in that band)."""
    speed_bias: dict[str, float | None]
    """Mean signed ``forward`` and ``lateral`` speed errors over the speed windows, relative
    to the commanded speed (negative forward: slower than commanded; None: no window)."""
    falls: int
    """Episodes that ended before the script did."""
    fall_rate: float
    """falls / episodes."""
    mean_episode_seconds: float
    """Mean episode length (s)."""
    pose_at_clip_speed: float | None
    """Mean pose reward term at the clip's own playback rate (None: never at it)."""
    mean_pose: float
    """Mean pose reward term over all steps."""
    response_seconds: float | None
    """Mean command-to-motion time over the speed changes (s; None: no change, or never
    taken up)."""
    per_episode: list[dict[str, Any]]
    """Per-episode figures (seconds, fell, errors, windows) and ``played``, the script's
    segments the episode played ``[[seconds, [forward, lateral, yaw rate]], ...]``."""
    gif: str | None = None
    """The GIF of the first episode, if written."""
    trajectory_plot: str | None = None
    """The top-down trajectory PNG, if written."""
    backend: str = "pybullet"
    """Where the episodes ran: ``pybullet`` (the training env, every reward term) or a
    simulated robot backend (``mujoco``, ``sim``) behind the deploy controller."""
    action_change: float | None = None
    """Mean absolute change of a clipped action component per policy step (normalised
    action units; the reward's ``action_rate`` quantity): the policy's chatter. Measured on
    2026-12-08, a steerable Go2 trot that chattered more (0.42 against 0.36 at nominal
    dynamics on the MuJoCo Go2) tripped there walking straight on; None: under 2 steps."""


def trajectory_path(gif: str | Path) -> Path:
    """Where the trajectory plot of a GIF goes: beside it, ``<stem>_trajectory.png``."""
    gif = Path(gif)
    return gif.with_name(f"{gif.stem}_trajectory.png")


def require_commands(bundle: PolicyBundle) -> None:
    """Refuse a policy trained without commands: a command script means nothing to it.

    Raises:
        BundleError: The policy takes no command (one line naming the bundle).
    """
    if not bundle.config.env.commands.enabled:
        raise BundleError("this policy takes no command (train it with commands, e.g. "
                          "--env-config data/training/env_steer.json)", bundle.path)


def evaluate_commands(bundle: PolicyBundle, script: CommandScript, *, episodes: int = 5,
                      seed: int = 0, physics_hz: float | None = None,
                      dynamics: dict | str | Path | None = None, z: np.ndarray | None = None,
                      gif: str | Path | None = None, plot: str | Path | None = None,
                      json_out: str | Path | None = None,
                      estimator: ZEstimator | None = None) -> CommandEvalResult:
    """Run ``episodes`` episodes of ``script`` with the deterministic policy.

    Args:
        bundle: A steerable policy (its env config has commands enabled).
        script: The command sequence; each episode lasts its length.
        episodes: Episodes, each from a random phase (seeded ``seed + episode``).
        seed: Seed of the start phases.
        physics_hz: Physics rate (Hz); None: the training envs'.
        dynamics: Fixed dynamics (dict or JSON file); default nominal.
        z: Latent (default: the bundle's, else the encoder's mean of the dynamics).
        gif: GIF of the first episode.
        plot: Top-down trajectory PNG of every episode (robot and reference paths).
        json_out: The result as JSON.
        estimator: Act with its online ẑ (reset each episode, updated every policy step, as
            :func:`~sim_training.evaluate.evaluate` runs it); ``z`` must then be None.

    Raises:
        BundleError: The policy takes no command.
    """
    require_commands(bundle)
    env_cfg = bundle.config.env
    if estimator is not None and z is not None:
        raise ValueError("give z or an estimator, not both")
    runtime = estimator.runtime() if estimator is not None else None
    env_cfg = dataclasses.replace(env_cfg, episode_seconds=script.seconds,
                                  max_root_position_error=NO_LIMIT,
                                  max_root_rotation_error=NO_LIMIT)
    if physics_hz is not None:
        env_cfg = dataclasses.replace(env_cfg, physics_hz=float(physics_hz))
    env = ImitationEnv(bundle.motion_path, robot=bundle.robot, randomize=False,
                       dynamics=dynamics, seed=seed, config=env_cfg)
    assert env.commanded is not None
    clip, cfg, dt = env.commanded.clip, env_cfg.commands, env_cfg.policy_dt
    rows, tracks, frames = [], [], []
    try:
        for ep in range(episodes):
            played = script.for_episode(seed + ep)  # a drawn script: each episode its own
            obs, _ = env.reset(seed=seed + ep, options={"command": played.at(0.0)})
            log = CommandLog()
            log.add(env, played.at(0.0), None)
            terminated = truncated = False
            if runtime is not None:
                runtime.reset()
            while not (terminated or truncated):
                step_z = z if runtime is None else runtime.update(obs["obs"][:PROPRIO_SIZE])
                action = bundle.act(obs["obs"], dynamics=obs["dynamics"], z=step_z)
                obs, _, terminated, truncated, info = env.step(action)
                log.add(env, info["command"], info["reward_terms"]["pose"], action)
                env.set_command(played.at(env.steps * dt))
                if ep == 0 and gif is not None:
                    pos, quat = env.robot.base_pose()
                    frames.append(np.r_[pos, quat, env.robot.joint_state()[0]])
            rows.append({**log.figures(cfg, clip, dt, bool(terminated)),
                         "played": [[sec, list(cmd)] for sec, cmd in played.segments]})
            tracks.append((log.robot_xy(), log.ref_xy()))
    finally:
        env.close()
    written_gif = None
    if gif is not None and frames:
        from motion_retarget.preview import render_gif

        rollout = Motion(frames=np.array(frames), frame_duration=dt, loop_mode="Clamp")
        render_gif(rollout, bundle.robot, gif, fps=15, max_frames=300,
                   title=f"{bundle.robot} policy, {script.name}")
        written_gif = str(gif)
    if plot is None and gif is not None:
        plot = trajectory_path(gif)
    return command_result(bundle, script, rows, tracks, physics_hz=env_cfg.physics_hz,
                          gif=written_gif, plot=plot, json_out=json_out)


def command_result(bundle: PolicyBundle, script: CommandScript, rows: list[dict[str, Any]],
                   tracks: list[tuple[np.ndarray, np.ndarray]], *, physics_hz: float,
                   gif: str | None = None, plot: str | Path | None = None,
                   json_out: str | Path | None = None, backend: str = "pybullet"
                   ) -> CommandEvalResult:
    """Pool the episodes of a command script into its figures; write the plot and JSON.

    Args:
        bundle: The steerable policy.
        script: The script the episodes played.
        rows: Per-episode figures (:meth:`CommandLog.figures` plus ``played``).
        tracks: Per episode, the robot's and the reference's planar paths ((n, 2) each).
        physics_hz: The physics rate they ran at (Hz).
        gif: The GIF written of the first episode, if any.
        plot: The top-down trajectory PNG to write (None: none).
        json_out: The result as JSON.
        backend: Where the episodes ran: ``pybullet`` (the training env) or a simulated
            robot backend behind the deploy controller.
    """
    cfg = bundle.config.env.commands
    clip = motion_clip_command(bundle.motion_path, bundle.robot)
    written_plot = None
    if plot is not None:
        from sim_training.plots import trajectory_png

        trajectory_png(tracks, plot, title=f"{bundle.robot}: {Path(script.name).name}, "
                       f"{len(rows)} episodes" + ("" if backend == "pybullet"
                                                  else f" on {backend}"))
        written_plot = str(plot)
    result = CommandEvalResult(
        bundle=str(bundle.path), robot=bundle.robot, script=script.name,
        script_seconds=script.seconds, episodes=len(rows), physics_hz=float(physics_hz),
        command_ranges=command_ranges(cfg, clip),
        speed_error=_pooled(rows, "speed_error", "speed_windows"),
        yaw_rate_error=_pooled(rows, "yaw_rate_error"),
        speed_error_by_playback=speed_error_by_playback(rows, cfg.playback_range),
        speed_bias=speed_bias(rows),
        falls=sum(r["fell"] for r in rows), fall_rate=float(np.mean([r["fell"] for r in rows])),
        mean_episode_seconds=float(np.mean([r["seconds"] for r in rows])),
        pose_at_clip_speed=_pooled(rows, "pose_at_clip_speed", "clip_speed_steps"),
        mean_pose=float(np.mean([r["mean_pose"] for r in rows])),
        response_seconds=_mean([s for r in rows for s in r["responses"]]),
        action_change=_pooled(rows, "action_change", "action_steps"),
        per_episode=rows, gif=gif, trajectory_plot=written_plot, backend=backend)
    if json_out is not None:
        atomic_write_text(json_out, json.dumps(result.to_json(), indent=2) + "\n")
    return result


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _pooled(rows: list[dict[str, Any]], key: str, weight: str = "windows") -> float | None:
    """The mean of a per-episode figure weighted by its windows (or steps)."""
    pairs = [(r[key], r[weight]) for r in rows if r[key] is not None and r[weight]]
    total = sum(w for _, w in pairs)
    return float(sum(v * w for v, w in pairs) / total) if total else None


def speed_bias(rows: list[dict[str, Any]]) -> dict[str, float | None]:
    """The mean signed forward and lateral speed errors of every episode's speed windows.

    Args:
        rows: Per-episode figures with ``speed_window_bias`` (one ``[forward, lateral]`` pair
            per speed window: ``(v − v_cmd) / |v_cmd|`` per component).

    Returns:
        ``{"forward": mean or None, "lateral": mean or None}`` (None: no window).
    """
    pairs = np.array([p for row in rows for p in row["speed_window_bias"]],
                     dtype=float).reshape(-1, 2)
    if not len(pairs):
        return {"forward": None, "lateral": None}
    forward, lateral = pairs.mean(axis=0)
    return {"forward": float(forward), "lateral": float(lateral)}


def speed_error_by_playback(rows: list[dict[str, Any]], playback_range: tuple[float, float],
                            bands: int = 3) -> dict[str, float | None]:
    """The speed error of every episode's settled windows, per band of the playback range.

    Args:
        rows: Per-episode figures with ``speed_window_rates`` and ``speed_window_errors``
            (one entry per speed window: the clip's playback rate, the relative error).
        playback_range: The gait's (lowest, highest) playback rate.
        bands: Equal bands the range is cut into.

    Returns:
        ``{"LO-HIx": mean error or None}`` in order, slowest first; a rate on a border goes
        to the faster band, the highest rate to the last.
    """
    lo, hi = playback_range
    edges = np.linspace(lo, hi, bands + 1)
    rates = np.array([r for row in rows for r in row["speed_window_rates"]], dtype=float)
    errors = np.array([e for row in rows for e in row["speed_window_errors"]], dtype=float)
    index = np.clip(np.searchsorted(edges, rates, side="right") - 1, 0, bands - 1)
    return {f"{edges[b]:.2f}-{edges[b + 1]:.2f}x":
            (float(errors[index == b].mean()) if np.any(index == b) else None)
            for b in range(bands)}


class CommandLog:
    """What an episode on a command script did, step by step, and its figures.

    One entry per policy step (and one at the start): the robot's planar pose, the
    reference's planar position, the command, the clip's playback rate for it, the gait's
    weight in the commanded reference (1: on the gait, not standing or blending) and the pose
    reward term (none at the start). Filled from the training env (:meth:`add`) or from a
    robot backend (:meth:`record`, ``adaptation.rollouts``); :meth:`figures` is the one
    place the tracking figures are computed.

    In the env the reference's path is the commanded reference's own, without the per-cycle
    origin sync (which moves it onto the robot): the path the commands drew from the start.
    """

    def __init__(self) -> None:
        self.robot: list[tuple[float, float, float]] = []
        self.ref: list[tuple[float, float]] = []
        self.commands: list[np.ndarray] = []
        self.pose: list[float] = []
        self.rates: list[float] = []
        self.weights: list[float] = []
        self.actions: list[np.ndarray] = []

    def record(self, robot_xy_yaw: tuple[float, float, float], ref_xy: tuple[float, float],
               command: np.ndarray, rate: float, gait_weight: float,
               pose: float | None, action: np.ndarray | None = None) -> None:
        """Log one step.

        Args:
            robot_xy_yaw: The robot's base x, y (m, world) and heading (rad).
            ref_xy: The reference's root x, y (m, world).
            command: The command in force (3,): forward, lateral (m/s), yaw rate (rad/s).
            rate: The clip's playback rate for it (:func:`playback_rate`).
            gait_weight: The gait's weight in the commanded reference (0 standing .. 1).
            pose: The step's pose reward term (None at the start).
            action: The step's policy action (12,), clipped to ±1 here (None at the start).
        """
        self.robot.append(tuple(float(v) for v in robot_xy_yaw))
        self.ref.append((float(ref_xy[0]), float(ref_xy[1])))
        self.commands.append(np.asarray(command, dtype=float))
        self.rates.append(float(rate))
        self.weights.append(float(gait_weight))
        if pose is not None:
            self.pose.append(float(pose))
        if action is not None:
            self.actions.append(np.clip(np.asarray(action, dtype=float), -1.0, 1.0))

    def add(self, env: ImitationEnv, command: np.ndarray, pose: float | None,
            action: np.ndarray | None = None) -> None:
        """Log one step of the training env (``action``: the one the step acted on)."""
        state = env._robot_quantities()
        assert env.commanded is not None
        self.record((*state["root_pos"][:2].tolist(), float(yaw_of(state["root_rot"]))),
                    tuple(env.reference_now().root_pos[:2].tolist()), command,
                    playback_rate(env.config.commands, env.commanded.clip, command),
                    env.commanded.gait_weight, pose, action)

    def robot_xy(self) -> np.ndarray:
        """The robot's planar path (n, 2) (m)."""
        return np.array(self.robot)[:, :2]

    def ref_xy(self) -> np.ndarray:
        """The reference's planar path (n, 2) (m)."""
        return np.array(self.ref)

    def figures(self, cfg: CommandConfig, clip: np.ndarray, dt: float,
                fell: bool) -> dict[str, Any]:
        """Per-episode figures (see the module docstring)."""
        robot = np.array(self.robot)
        n = len(robot) - 1  # steps
        width = max(1, round(TRACKING_WINDOW_S / dt))
        settle = round(SETTLE_S / dt)
        changed = [0] + [k for k in range(1, n + 1)
                         if not np.array_equal(self.commands[k], self.commands[k - 1])]
        speed_err, yaw_err, speed_rates, speed_bias = [], [], [], []
        for start in range(0, n - width + 1, width):
            end = start + width
            last_change = max(c for c in changed if c <= end)
            command = self.commands[end]
            if start < last_change + settle or any(
                    not np.array_equal(self.commands[k], command) for k in range(start + 1, end)):
                continue
            v, w = _window_velocity(robot, start, end, dt)
            yaw_err.append(abs(w - command[2]))
            speed = math.hypot(command[0], command[1])
            if not is_zero(cfg, command) and speed >= cfg.stand_speed:
                speed_err.append(float(np.linalg.norm(v - command[:2])) / speed)
                speed_rates.append(float(self.rates[end]))
                speed_bias.append([float(e) / speed for e in v - command[:2]])
        responses = []
        for k in changed[1:]:
            new, old = self.commands[k], self.commands[k - 1]
            speed = math.hypot(new[0], new[1])
            if abs(speed - math.hypot(old[0], old[1])) < 0.1 or speed < cfg.stand_speed:
                continue
            for j in range(k + width, n + 1):
                if not np.array_equal(self.commands[j], new):
                    break
                v, _ = _window_velocity(robot, j - width, j, dt)
                if np.linalg.norm(v - new[:2]) <= RESPONSE_TOLERANCE * speed:
                    responses.append((j - k) * dt)
                    break
        own = [p for p, r, b in zip(self.pose, self.rates[1:], self.weights[1:], strict=True)
               if abs(r - 1.0) <= 0.05 and b == 1.0]
        return {"seconds": n * dt, "fell": fell, "steps": n, "windows": len(yaw_err),
                "speed_windows": len(speed_err),
                "speed_window_rates": speed_rates, "speed_window_errors": speed_err,
                "speed_window_bias": speed_bias,
                "speed_error": _mean(speed_err), "yaw_rate_error": _mean(yaw_err),
                "pose_at_clip_speed": _mean(own), "clip_speed_steps": len(own),
                "mean_pose": _mean(self.pose) or 0.0, "responses": responses,
                "action_change": (float(np.abs(np.diff(self.actions, axis=0)).mean())
                                  if len(self.actions) > 1 else None),
                "action_steps": max(0, len(self.actions) - 1)}


def _window_velocity(robot: np.ndarray, start: int, end: int,
                     dt: float) -> tuple[np.ndarray, float]:
    """Planar velocity (2,) in the heading frame at the window's start, and yaw rate."""
    seconds = (end - start) * dt
    d = robot[end, :2] - robot[start, :2]
    yaws = np.unwrap(robot[start:end + 1, 2])
    mid = 0.5 * (yaws[0] + yaws[-1])  # the heading halfway: a turning robot's chord
    c, s = math.cos(mid), math.sin(mid)
    v = np.array([c * d[0] + s * d[1], -s * d[0] + c * d[1]]) / seconds
    return v, float(yaws[-1] - yaws[0]) / seconds


__all__ = ["SETTLE_S", "CommandEvalResult", "CommandLog", "command_result", "evaluate_commands",
           "require_commands", "trajectory_path"]
