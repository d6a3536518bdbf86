"""Rollouts of the transfer bench: settings, seeds, the robot rig and the figures.

:class:`Rig` is a robot under test (backend → shoves → sensor noise → safety layer);
:func:`evaluation_rollout` runs one rollout from a reset and measures its return (the
adaptation return, :func:`adaptation.returns.step_reward`), fall and progress ratio;
:func:`figure_of` and :func:`aggregate` turn rollouts into a seed's figure and seeds into a
row's. :func:`evaluate_on_backend` is ``quadmimic eval --backend``: the same rollouts, no shove;
:func:`evaluate_commands_on_backend` is ``quadmimic eval --backend --commands``: a steerable
gait's command script on the same rig, scored as the training env scores it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from adaptation.returns import step_reward
from adaptation.transfer_robots import TransferBenchError, TransferRobot, build_backend
from motion_retarget.kinematics import robot_model
from quadmimic.core.geometry import quat_to_matrix, roll_pitch, yaw_matrix, yaw_of
from quadmimic.core.records import JsonRecord
from robot_deploy.controller import PolicyController
from robot_deploy.noise import NoisyRobot
from robot_deploy.robot import RobotState
from robot_deploy.safety import SafetyConfig, SafetyLayer
from robot_deploy.shove import ShovedRobot
from sim_training.bundle import PolicyBundle
from sim_training.dynamics import dynamics_from
from sim_training.evaluate import progress_ratio
from sim_training.export import OnnxActor

if TYPE_CHECKING:
    from sim_training.command_eval import CommandEvalResult
    from sim_training.commands import CommandScript
    from sim_training.estimator import ZEstimator

STREAMS: dict[str, int] = {"search": 1, "eval": 2}
"""Seed streams: rollouts of an adaptation search, and evaluation rollouts."""


@dataclass(frozen=True)
class TransferConfig:
    """Settings of :func:`bench_transfer`."""

    seeds: tuple[int, ...] = (0, 1, 2)
    """Benchmark seeds: each is the seed of the evaluation rollouts and of the adaptation."""
    rollout_seconds: float = 4.0
    """Policy time per rollout (s), evaluation and search alike."""
    ramp_seconds: float = 0.5
    """Start-up ramp to the default pose before each rollout (s)."""
    eval_rollouts: int = 3
    """Evaluation rollouts per figure and seed."""
    adapt_checkpoints: tuple[int, ...] = (5, 10)
    """Rollout budgets after which the search's incumbent is evaluated (ascending)."""
    pairs: int = 2
    """Paired rollouts per round of the search (incumbent and candidate on the same seeds)."""
    shove_speed: float = 0.3
    """Horizontal speed (m/s) added to the base once per rollout, in a random direction."""
    shove_window: tuple[float, float] = (0.2, 1.0)
    """Interval (s after the policy starts) in which the shove's time is drawn uniformly;
    clipped to the rollout."""
    max_tilt: float = 0.8
    """Ground-truth body roll or pitch (rad) beyond which a rollout counts as a fall."""
    spread_latents: int = 0
    """Training latents per seed scored on each held-out robot for the spread of returns
    across z (the encoder's means of dynamics drawn from the bundle's training ranges); 0:
    none."""

    def __post_init__(self) -> None:
        """Check the settings (:class:`TransferBenchError`)."""
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        object.__setattr__(self, "adapt_checkpoints",
                           tuple(int(n) for n in self.adapt_checkpoints))
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise TransferBenchError("seeds: give at least one, without repeats")
        if not self.rollout_seconds > 0 or self.ramp_seconds < 0:
            raise TransferBenchError("rollout seconds must be > 0 and ramp seconds >= 0")
        if self.eval_rollouts < 1 or self.pairs < 2:
            raise TransferBenchError("evaluation rollouts must be >= 1 and pairs >= 2")
        ckpt = self.adapt_checkpoints
        if any(n < 1 for n in ckpt) or list(ckpt) != sorted(set(ckpt)):
            raise TransferBenchError(f"adaptation rollout counts must be ascending and >= 1, "
                                     f"got {list(ckpt)}")
        if self.spread_latents < 0:
            raise TransferBenchError("spread latents must be >= 0")
        lo, hi = self.shove_window
        if self.shove_speed < 0 or not 0 <= lo <= hi:
            raise TransferBenchError("shove speed must be >= 0 and its window 0 <= lo <= hi")


def rollout_seed(seed: int, stream: str, index: int) -> int:
    """The seed of rollout ``index`` of a stream (:data:`STREAMS`) of a benchmark seed."""
    seq = np.random.SeedSequence([int(seed), STREAMS[stream], int(index)])
    return int(seq.generate_state(1, np.uint32)[0])


class Rig:
    """A robot under test: backend → shoves → sensor noise → safety layer, and its seed log.

    Args:
        robot: The test robot.
        spec_name: The robot spec (the bundle's robot).
        config: Benchmark settings.
    """

    def __init__(self, robot: TransferRobot, spec_name: str, config: TransferConfig) -> None:
        self.robot = robot
        self.config = config
        self.backend = build_backend(robot, spec_name)
        self.shoved = ShovedRobot(self.backend)
        self.noisy = NoisyRobot(self.shoved, robot.sensor_noise)
        self.safe = SafetyLayer(self.noisy, SafetyConfig(max_tilt=config.max_tilt))
        self.used: list[tuple[str, int]] = []
        """(stream, seed) of every rollout started, in order."""

    def __enter__(self) -> Rig:
        self.backend.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.backend.close()

    def start(self, stream: str, seed: int) -> None:
        """Reset for a rollout: on its feet, noise from ``seed``, a shove planned from it."""
        cfg = self.config
        self.backend.reset_pose()
        self.noisy.reseed(seed)
        rng = np.random.default_rng([seed, 7])
        lo, hi = cfg.shove_window
        hi = min(hi, cfg.rollout_seconds)
        delay = cfg.ramp_seconds + rng.uniform(min(lo, hi), hi)
        angle = rng.uniform(-np.pi, np.pi)
        self.shoved.plan(self.backend.now() + delay,
                         cfg.shove_speed * np.array([np.cos(angle), np.sin(angle), 0.0]))
        self.used.append((stream, seed))


def evaluation_rollout(bundle: PolicyBundle, actor: OnnxActor, rig: Rig,
                       z: np.ndarray | None, seed: int,
                       estimator: ZEstimator | None = None) -> dict[str, Any]:
    """One evaluation rollout from a reset with ``seed`` (stream ``eval``).

    Args:
        bundle: The policy.
        actor: Its ONNX actor.
        rig: The robot under test.
        z: The latent (None: the bundle's, else the prior mean); None with ``estimator``.
        seed: The rollout's seed (shove, sensor noise).
        estimator: Act with its online ẑ instead of a fixed z.

    Returns:
        ``seed``, ``return`` (measurable return, missing steps 0), ``fell``, ``progress``
        (None for a motion that does not travel), ``seconds`` (policy time run),
        ``stopped_by`` and ``trip``; with an estimator also ``mean_z_hat``.
    """
    cfg = rig.config
    rig.start("eval", seed)
    rig.safe.rearm()
    ctl = PolicyController(bundle, rig.safe, z=z, actor=actor, estimator=estimator)
    rm = robot_model(bundle.robot)
    reward_cfg = bundle.config.env.reward
    offset_t = rm.base_offset.T
    start_pos, start_quat = rig.backend.base_pose()
    turn = float(yaw_of(quat_to_matrix(start_quat) @ offset_t)) - float(
        yaw_of(ctl.ref.state(0.0).root_rot))
    rewards: list[float] = []
    last = {"pos": start_pos, "tilt": 0.0}

    def on_step(t: float, state: RobotState, action: np.ndarray) -> None:
        rewards.append(step_reward(state, ctl.ref.state(t), rm, reward_cfg)[0])
        pos, quat = rig.backend.base_pose()
        last["pos"] = pos
        tilt = float(np.max(np.abs(roll_pitch(quat_to_matrix(quat) @ offset_t))))
        last["tilt"] = max(last["tilt"], tilt)

    result = ctl.run(cfg.rollout_seconds, ramp_seconds=cfg.ramp_seconds, on_step=on_step)
    result.raise_if_interrupted()
    planned = int(np.ceil(cfg.rollout_seconds / ctl.policy_dt - 1e-9))
    ref_shift = yaw_matrix(turn) @ (ctl.ref.state(planned * ctl.policy_dt).root_pos
                                    - ctl.ref.state(0.0).root_pos)
    robot_path = np.array([start_pos[:2], np.asarray(last["pos"])[:2]])
    ref_path = np.array([start_pos[:2], start_pos[:2] + ref_shift[:2]])
    out = {"seed": seed, "return": float(sum(rewards) / planned),
           "fell": bool(result.trip is not None or last["tilt"] > cfg.max_tilt),
           "progress": progress_ratio(robot_path, ref_path, planned * ctl.policy_dt),
           "seconds": result.seconds, "stopped_by": result.stopped_by, "trip": result.trip}
    mean_z = result.mean_z_hat()
    if mean_z is not None:
        out["mean_z_hat"] = mean_z.round(4).tolist()
    return out


@dataclass(frozen=True)
class BackendEvalResult(JsonRecord):
    """An evaluation on a simulated robot backend (:func:`evaluate_on_backend`)."""

    backend: str
    """The backend: ``mujoco`` or ``sim`` (PyBullet behind the controller)."""
    robot: str
    """The bundle's robot."""
    bundle: str
    """The policy bundle (or run)."""
    dynamics: dict[str, float]
    """The robot's dynamics (every key)."""
    episodes: int
    """Episodes run."""
    seconds: float
    """Policy time per episode (s)."""
    mean_return: float
    """Mean measurable return (adaptation's, per planned step)."""
    fall_rate: float
    """Fraction of episodes that fell (safety trip or tilt)."""
    mean_episode_seconds: float
    """Mean policy time run (s)."""
    progress_ratio: float | None
    """Mean progress along the reference (None: it does not travel)."""
    per_episode: list[dict[str, Any]]
    """Per-episode :func:`evaluation_rollout` results."""


def evaluate_on_backend(bundle: PolicyBundle, engine: str, *,
                        dynamics: dict | str | Path | None = None, z: np.ndarray | None = None,
                        episodes: int = 5, seconds: float = 10.0, seed: int = 0,
                        estimator: ZEstimator | None = None) -> BackendEvalResult:
    """Evaluate a policy through the deploy controller on a simulated robot backend.

    What ``quadmimic eval --backend mujoco`` runs: no shove, no sensor noise, episodes of
    ``seconds`` from a reset, the measurable return (as adaptation and the transfer bench
    score it), falls (safety trip or tilt) and progress along the reference.

    Args:
        bundle: The policy.
        engine: ``mujoco`` or ``sim`` (PyBullet behind the controller).
        dynamics: Dynamics params (dict or JSON file); default nominal.
        z: Latent (default: the bundle's, else the prior mean).
        episodes: Episodes.
        seconds: Policy time per episode (s).
        seed: First episode's seed.
        estimator: Act with its online ẑ (``z`` None).

    Returns:
        The figures.
    """
    robot = TransferRobot("cli", engine, dynamics_from(dynamics))
    config = TransferConfig(seeds=(seed,), rollout_seconds=seconds, shove_speed=0.0)
    actor = OnnxActor(bundle)
    rows = []
    with Rig(robot, bundle.robot, config) as rig:
        for ep in range(episodes):
            rows.append(evaluation_rollout(bundle, actor, rig, z, seed + ep, estimator))
    figure = figure_of(rows)
    return BackendEvalResult(
        backend=engine, robot=bundle.robot, bundle=str(bundle.path), dynamics=robot.dynamics,
        episodes=episodes, seconds=seconds, mean_return=figure["return"],
        fall_rate=figure["fall_rate"],
        mean_episode_seconds=float(np.mean([r["seconds"] for r in rows])),
        progress_ratio=figure["progress"], per_episode=rows)


def evaluate_commands_on_backend(bundle: PolicyBundle, engine: str, script: CommandScript, *,
                                 dynamics: dict | str | Path | None = None,
                                 z: np.ndarray | None = None, episodes: int = 5, seed: int = 0,
                                 estimator: ZEstimator | None = None,
                                 plot: str | Path | None = None,
                                 json_out: str | Path | None = None) -> CommandEvalResult:
    """A steerable policy on a command script, through the deploy controller on a robot backend.

    What ``quadmimic eval --backend mujoco --commands`` runs: the figures of
    :func:`sim_training.command_eval.evaluate_commands` (speed and yaw-rate error, falls, the
    pose term at the clip's own speed, command to motion), measured on a simulated robot as
    ``deploy --command`` drives it. Each episode starts from a reset with the start-up ramp,
    plays its own draw of the script (``script.for_episode(seed + episode)``), no shove, no
    sensor noise. The robot's path is the backend's ground-truth base pose; the pose term is
    the reward registry's, against the commanded reference; a fall is a safety trip or a
    body tilt beyond :attr:`TransferConfig.max_tilt`, and ends the episode. The first logged
    pose is the robot's before its ramp (it stands up in place; the first
    :data:`~sim_training.command_eval.SETTLE_S` are not scored).

    Args:
        bundle: A steerable policy.
        engine: ``mujoco`` or ``sim`` (PyBullet behind the controller).
        script: The command script.
        dynamics: Dynamics params (dict or JSON file); default nominal.
        z: Latent (default: the bundle's, else the prior mean).
        episodes: Episodes.
        seed: First episode's seed.
        estimator: Act with its online ẑ (``z`` None).
        plot: Top-down trajectory PNG of every episode.
        json_out: The result as JSON.

    Raises:
        BundleError: The policy takes no command.
    """
    from sim_training.command_eval import command_result, require_commands

    require_commands(bundle)
    from sim_training.commands import motion_clip_command

    clip = motion_clip_command(bundle.motion_path, bundle.robot)  # read once, not per episode
    robot = TransferRobot("cli", engine, dynamics_from(dynamics))
    config = TransferConfig(seeds=(seed,), rollout_seconds=script.seconds, shove_speed=0.0)
    actor = OnnxActor(bundle)
    rows, tracks = [], []
    with Rig(robot, bundle.robot, config) as rig:
        for ep in range(episodes):
            played = script.for_episode(seed + ep)
            rig.start("eval", seed + ep)
            row, track = _command_episode(bundle, actor, rig, played, clip, z, estimator)
            rows.append(row)
            tracks.append(track)
        physics_hz = float(rig.backend.physics_hz)
    return command_result(bundle, script, rows, tracks, physics_hz=physics_hz,
                          plot=plot, json_out=json_out, backend=engine)


def _command_episode(bundle: PolicyBundle, actor: OnnxActor, rig: Rig, played: CommandScript,
                     clip: np.ndarray, z: np.ndarray | None, estimator: ZEstimator | None
                     ) -> tuple[dict[str, Any], tuple[np.ndarray, np.ndarray]]:
    """One episode of :func:`evaluate_commands_on_backend` on a rig just started.

    Returns:
        The episode's figures (with ``trip``, ``stopped_by`` and ``played``), and the robot's
        and the reference's planar paths.
    """
    from robot_deploy.commands import ScriptedCommands
    from sim_training.command_eval import CommandLog
    from sim_training.commands import playback_rate

    cfg = bundle.config.env.commands
    rm = robot_model(bundle.robot)
    offset_t = rm.base_offset.T
    reward_cfg = bundle.config.env.reward
    rig.safe.rearm()
    ctl = PolicyController(bundle, rig.safe, z=z, actor=actor, estimator=estimator,
                           command_source=ScriptedCommands(played))
    commanded = ctl.commanded
    assert commanded is not None
    log = CommandLog()
    pos, quat = rig.backend.base_pose()
    start_yaw = float(yaw_of(quat_to_matrix(quat) @ offset_t))
    log.record((pos[0], pos[1], start_yaw), (pos[0], pos[1]), played.at(0.0),
               playback_rate(cfg, clip, played.at(0.0)), 0.0, None)
    ref_own: list[np.ndarray] = []
    tilt = [0.0]

    def on_step(t: float, state: RobotState, action: np.ndarray) -> None:
        ref = commanded.now()
        command = played.at(t - ctl.policy_dt)  # the command this step acted on
        pose = step_reward(state, ref, rm, reward_cfg)[1]["pose"]
        p, q = rig.backend.base_pose()
        body = quat_to_matrix(q) @ offset_t
        tilt[0] = max(tilt[0], float(np.max(np.abs(roll_pitch(body)))))
        ref_own.append(np.array([*ref.root_pos[:2], float(yaw_of(ref.root_rot))]))
        log.record((p[0], p[1], float(yaw_of(body))), (0.0, 0.0), command,
                   playback_rate(cfg, clip, command), commanded.gait_weight, pose, action)

    result = ctl.run(played.seconds, ramp_seconds=rig.config.ramp_seconds, on_step=on_step)
    result.raise_if_interrupted()
    if ref_own:  # the reference's own path, placed on the robot's start
        own = np.array(ref_own)
        turn = start_yaw - own[0, 2]
        world = (yaw_matrix(turn)[:2, :2] @ (own[:, :2] - own[0, :2]).T).T + pos[:2]
        log.ref[1:] = [(float(x), float(y)) for x, y in world]
    fell = result.trip is not None or tilt[0] > rig.config.max_tilt
    row = log.figures(cfg, clip, ctl.policy_dt, fell)
    return ({**row, "trip": result.trip, "stopped_by": result.stopped_by,
             "played": [[sec, list(cmd)] for sec, cmd in played.segments]},
            (log.robot_xy(), log.ref_xy()))


def figure_of(rollouts: list[dict[str, Any]]) -> dict[str, Any]:
    """One seed's figure: means over its evaluation rollouts.

    Args:
        rollouts: :func:`evaluation_rollout` results.

    Returns:
        ``return`` and ``fall_rate`` (means), ``progress`` (mean of those given, None if
        none), ``eval_seeds`` and the ``rollouts`` themselves.
    """
    progress = [r["progress"] for r in rollouts if r["progress"] is not None]
    return {"return": float(np.mean([r["return"] for r in rollouts])),
            "fall_rate": float(np.mean([r["fell"] for r in rollouts])),
            "progress": float(np.mean(progress)) if progress else None,
            "eval_seeds": [r["seed"] for r in rollouts], "rollouts": rollouts}


def sample_std(values: list[float]) -> float:
    """Sample standard deviation (ddof 1) of ``values``; 0 for fewer than two."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def aggregate(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean ± std over seeds of the per-seed figures; fall rate over all rollouts."""
    returns = [s["return"] for s in per_seed]
    progress = [s["progress"] for s in per_seed if s["progress"] is not None]
    falls = [r["fell"] for s in per_seed for r in s["rollouts"]]
    return {"return_mean": float(np.mean(returns)), "return_std": sample_std(returns),
            "fall_rate": float(np.mean(falls)), "falls": int(sum(falls)),
            "rollouts": len(falls),
            "progress_mean": float(np.mean(progress)) if progress else None,
            "progress_std": sample_std(progress) if progress else None}


__all__ = ["STREAMS", "BackendEvalResult", "Rig", "TransferConfig", "aggregate",
           "evaluate_commands_on_backend", "evaluate_on_backend",
           "evaluation_rollout", "figure_of", "rollout_seed",
           "sample_std"]
