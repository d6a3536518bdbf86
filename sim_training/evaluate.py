"""Evaluate a policy bundle in the env: return, episode length, falls, per-term rewards."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from motion_retarget.motion import Motion
from quadmimic.core.fileio import atomic_write_text
from quadmimic.core.geometry import planar_steps, planar_velocity, yaw_of
from quadmimic.core.records import JsonRecord
from sim_training.bundle import PolicyBundle
from sim_training.env import ImitationEnv
from sim_training.observations import PROPRIO_SIZE
from sim_training.rewards import ENV_TERMS

if TYPE_CHECKING:
    from sim_training.estimator import ZEstimator

TERMS = ENV_TERMS
TRACKING = ("forward_speed", "lateral_speed", "yaw_rate")
"""Planar motion figures of an episode: mean forward and lateral speed (m/s) and yaw rate
(rad/s), each in its own heading frame, for the robot and its reference."""
MOVING = {"forward_speed": 0.1, "lateral_speed": 0.1, "yaw_rate": 0.2}
"""Reference speeds (m/s, m/s, rad/s; root mean square over tracking windows) below which a
motion does not move in that direction: no tracking ratio is given for it."""
TRACKING_WINDOW_S = 0.5
"""Length of the windows whose displacements the tracking ratios compare (s): short enough
that a side-step to the left and back, or a spin and its return, are not averaged away."""
TRACKING_THRESHOLD = 0.85
"""Tracking ratio (and progress) a shipped skill reaches where its reference moves."""


@dataclass(frozen=True)
class EvalResult(JsonRecord):
    """An evaluation in the training env (:func:`evaluate`), the content of ``eval.json``.

    Its JSON document (:meth:`to_json`) also carries each reward term flat, as
    ``reward_terms.<name>``: the key the learning curves and the shipped ``eval.json`` files
    use. The tracking figures are :func:`tracking_figures`'.
    """

    bundle: str
    """The policy bundle (or run)."""
    robot: str
    """Its robot."""
    motion: str
    """The motion imitated."""
    dynamics: dict[str, float]
    """The fixed dynamics (every key of :data:`~sim_training.dynamics.DYNAMICS_KEYS`)."""
    z: list[float] | None
    """The latent given (None: the bundle's, or the encoder's mean of the dynamics)."""
    episodes: int
    """Episodes run."""
    episode_limit_seconds: float
    """Length of a full episode (s)."""
    physics_hz: float
    """Physics rate (Hz)."""
    mean_return: float
    """Mean episode return (sum of step rewards)."""
    mean_episode_seconds: float
    """Mean episode length (s)."""
    fall_rate: float
    """Fraction of episodes that ended in a fall."""
    reward_terms: dict[str, float]
    """Mean per-step value of each reward term, by name."""
    progress_ratio: float | None
    """Displacement along the reference's over the reference's (None: it does not travel)."""
    forward_speed: float
    """Mean forward speed (m/s, own heading frame)."""
    ref_forward_speed: float
    """The reference's (m/s)."""
    forward_speed_ratio: float | None
    """Tracking ratio of forward displacements (None: the reference does not move so)."""
    lateral_speed: float
    """Mean lateral speed (m/s, left positive)."""
    ref_lateral_speed: float
    """The reference's (m/s)."""
    lateral_speed_ratio: float | None
    """Tracking ratio of lateral displacements."""
    yaw_rate: float
    """Mean yaw rate (rad/s)."""
    ref_yaw_rate: float
    """The reference's (rad/s)."""
    yaw_rate_ratio: float | None
    """Tracking ratio of heading changes."""
    tracking_min: float | None
    """The smallest tracking ratio given (None if none is)."""
    per_episode: list[dict[str, Any]]
    """Per-episode details (return, seconds, progress, fell, steps, window sums, terms)."""
    gif: str | None = None
    """The GIF of the first episode, if one was written."""
    z_source: str | None = None
    """Which z the policy acted with when one was chosen: "estimate" (the online ẑ of the
    bundle's estimator), "prior" or "fixed" (None: as before, ``z`` or the encoder's mean)."""
    mean_z_hat: list[float] | None = None
    """With the estimate: the mean ẑ over all episodes' steps once the window was full."""

    def to_json(self) -> dict[str, Any]:
        """The ``eval.json`` document: fields in order, reward terms also flat, no nulls.

        A null ``gif``, ``z_source`` or ``mean_z_hat`` is left out.
        """
        fields = super().to_json()
        out: dict[str, Any] = {}
        for key, value in fields.items():
            if key == "reward_terms":
                out.update({f"reward_terms.{k}": v for k, v in value.items()})
            if key in ("gif", "z_source", "mean_z_hat") and value is None:
                continue
            out[key] = value
        return out


def window_sums(robot_steps: np.ndarray, ref_steps: np.ndarray, steps_per_window: int
                ) -> dict[str, float]:
    """Sums over the windows of an episode that the tracking ratios are made of.

    Args:
        robot_steps: (N, 3) the robot's per-step forward, lateral (m) and yaw (rad) changes
            (:func:`quadmimic.core.geometry.planar_steps`).
        ref_steps: (N, 3) the reference's.
        steps_per_window: Steps per window; a last partial window is dropped.

    Returns:
        ``windows`` and, per :data:`TRACKING` key, ``dot.<k>`` (sum over windows of robot
        times reference displacement) and ``ref2.<k>`` (sum of the reference's squared).
    """
    n = len(ref_steps) // steps_per_window
    cut = n * steps_per_window
    robot = robot_steps[:cut].reshape(n, steps_per_window, 3).sum(axis=1)
    ref = ref_steps[:cut].reshape(n, steps_per_window, 3).sum(axis=1)
    out = {"windows": float(n)}
    for j, k in enumerate(TRACKING):
        out[f"dot.{k}"] = float(robot[:, j] @ ref[:, j])
        out[f"ref2.{k}"] = float(ref[:, j] @ ref[:, j])
    return out


def evaluate(
    bundle: PolicyBundle,
    *,
    motion: str | Path | None = None,
    dynamics: dict | str | Path | None = None,
    z: np.ndarray | None = None,
    episodes: int = 5,
    seed: int = 0,
    gif: str | Path | None = None,
    json_out: str | Path | None = None,
    physics_hz: float | None = None,
    estimator: ZEstimator | None = None,
    z_source: str | None = None,
) -> EvalResult:
    """Roll out the deterministic policy for ``episodes`` episodes.

    Args:
        bundle: The policy.
        motion: Motion to imitate (default: the bundle's own).
        dynamics: Fixed dynamics (dict or JSON file); default nominal.
        z: Latent to use (default: bundle's fixed z, else the encoder's mean of the dynamics).
        episodes: Episodes, each from a random phase, up to the config's episode length; a
            Clamp (one-shot) motion from its start to its end (or the episode length).
        seed: Seed of the phases.
        gif: Optional GIF of the first episode.
        json_out: Optional JSON file for the result.
        physics_hz: Physics rate (Hz); None = the training envs' rate. Evaluating at another
            rate (1 kHz, as the robot backends run) is a check of the transfer.
        estimator: Act with its online ẑ instead (reset at each episode's start, updated at
            every policy step with the observation's newest proprioception frame, as the
            deploy controller runs it); ``z`` must then be None.
        z_source: What the z is, recorded in the result ("estimate", "prior", "fixed").

    Returns:
        The figures and the settings used; its JSON (``json_out``) is ``eval.json``.
    """
    if estimator is not None and z is not None:
        raise ValueError("give z or an estimator, not both")
    env_cfg = bundle.config.env if physics_hz is None else dataclasses.replace(
        bundle.config.env, physics_hz=float(physics_hz))
    env = ImitationEnv(motion or bundle.motion_path, robot=bundle.robot, randomize=False,
                       dynamics=dynamics, seed=seed, config=env_cfg)
    rows, frames, z_hats = [], [], []
    runtime = estimator.runtime() if estimator is not None else None
    try:
        for ep in range(episodes):
            # A one-shot (Clamp) motion is judged over its own length, from its start.
            obs, info = env.reset(seed=seed + ep,
                                  options=None if env.ref.wrap else {"phase": 0.0})
            dyn = obs["dynamics"]
            total, steps, terms = 0.0, 0, dict.fromkeys(TERMS, 0.0)
            terminated = truncated = False
            track, ref_track = [_planar_sample(env)], [_planar_ref_sample(env)]
            if runtime is not None:
                runtime.reset()
            while not (terminated or truncated):
                step_z = z
                if runtime is not None:
                    step_z = runtime.update(obs["obs"][:PROPRIO_SIZE])
                    if runtime.frames_seen >= runtime.window:
                        z_hats.append(step_z)
                action = bundle.act(obs["obs"], dynamics=dyn, z=step_z)
                obs, reward, terminated, truncated, info = env.step(action)
                total += reward
                steps += 1
                for k in TERMS:
                    terms[k] += info["reward_terms"][k]
                track.append(_planar_sample(env))
                ref_track.append(_planar_ref_sample(env))
                if ep == 0 and gif is not None:
                    pos, quat = env.robot.base_pose()
                    frames.append(np.r_[pos, quat, env.robot.joint_state()[0]])
            dt = env.config.policy_dt
            robot_v = planar_velocity(*map(np.array, zip(*track, strict=True)), dt)
            ref_v = planar_velocity(*map(np.array, zip(*ref_track, strict=True)), dt)
            sums = window_sums(planar_steps(*map(np.array, zip(*track, strict=True))),
                               planar_steps(*map(np.array, zip(*ref_track, strict=True))),
                               max(1, round(TRACKING_WINDOW_S / dt)))
            robot_path = np.array([p for p, _ in track])[:, :2]
            ref_path = np.array([p for p, _ in ref_track])[:, :2]
            rows.append({"return": total, "seconds": steps * dt,
                         "progress": progress_ratio(robot_path, ref_path, steps * dt),
                         "fell": bool(terminated), "steps": steps,
                         "window_seconds": max(1, round(TRACKING_WINDOW_S / dt)) * dt,
                         **{f"window.{k}": v for k, v in sums.items()},
                         **{f"reward_terms.{k}": v / steps for k, v in terms.items()},
                         **{k: float(v) for k, v in zip(TRACKING, robot_v, strict=True)},
                         **{f"ref_{k}": float(v) for k, v in zip(TRACKING, ref_v,
                                                                   strict=True)}})
    finally:
        env.close()
    limit = env.config.episode_seconds if env.ref.wrap else min(env.config.episode_seconds,
                                                                  env.ref.duration)
    written_gif = None
    if gif is not None and frames:
        from motion_retarget.preview import render_gif

        rollout = Motion(frames=np.array(frames), frame_duration=env.config.policy_dt,
                         loop_mode="Clamp")
        render_gif(rollout, bundle.robot, gif, fps=15, max_frames=150,
                   title=f"{bundle.robot} policy")
        written_gif = str(gif)
    result = EvalResult(
        bundle=str(bundle.path), robot=bundle.robot, motion=str(motion or bundle.motion_path),
        dynamics=env.dynamics, z=None if z is None else list(map(float, z)),
        episodes=episodes, episode_limit_seconds=limit, physics_hz=env.config.physics_hz,
        mean_return=float(np.mean([r["return"] for r in rows])),
        mean_episode_seconds=float(np.mean([r["seconds"] for r in rows])),
        fall_rate=float(np.mean([r["fell"] for r in rows])),
        reward_terms={k: float(np.mean([r[f"reward_terms.{k}"] for r in rows])) for k in TERMS},
        **tracking_figures(rows), per_episode=rows, gif=written_gif,
        z_source=z_source if z_source is not None else (
            "estimate" if estimator is not None else None),
        mean_z_hat=(np.mean(z_hats, axis=0).round(4).tolist() if z_hats else None))
    if json_out is not None:
        atomic_write_text(json_out, json.dumps(result.to_json(), indent=2) + "\n")
    return result


OWN_EPISODES = 10
"""Episodes of a bundle's own evaluation (its ``eval.json``)."""
OWN_COMMAND_SCRIPTS = (("random", OWN_EPISODES), ("figure_eight", 2))
"""A steerable bundle's command evaluations (script, episodes): ``commands_<script>.json`` and
``trajectory_<script>.png`` (:func:`sim_training.command_eval.evaluate_commands`)."""


def own_command_files() -> tuple[str, ...]:
    """The files a steerable bundle's own command evaluations write into it."""
    return tuple(f"{kind}_{name}.{ext}" for name, _ in OWN_COMMAND_SCRIPTS
                 for kind, ext in (("commands", "json"), ("trajectory", "png")))


def own_evaluation(bundle_dir: str | Path, episodes: int = OWN_EPISODES) -> EvalResult:
    """A bundle's own evaluation: ``eval.json``, ``rollout.gif`` and ``strip.png`` in it.

    At nominal dynamics, seed 0, the robot backends' physics rate, with the z the bundle acts
    with by default (:func:`sim_training.estimator.choose_z`: a fixed z, else its estimator's
    online ẑ, else the prior), so that ``quadmimic eval BUNDLE --episodes 10`` reproduces it.
    Written again whenever that default changes (a new estimator). A steerable bundle also
    gets its command evaluations (:data:`OWN_COMMAND_SCRIPTS`), as ``quadmimic eval BUNDLE
    --commands random --episodes 10`` (and ``figure_eight``, 2 episodes) reproduce them.

    Args:
        bundle_dir: The bundle directory (written into).
        episodes: Episodes from random phases (seeds 0 … episodes − 1).

    Returns:
        The figures written to ``eval.json``.
    """
    from motion_retarget.preview import gif_strip
    from sim_training.estimator import choose_z
    from sim_training.rates import EVAL_PHYSICS_HZ

    bundle_dir = Path(bundle_dir)
    bundle = PolicyBundle.load(bundle_dir)
    choice = choose_z(bundle, None)
    z, estimator = (None, None) if choice is None else (choice.z, choice.estimator)
    result = evaluate(bundle, z=z, episodes=episodes, seed=0, gif=bundle_dir / "rollout.gif",
                      json_out=bundle_dir / "eval.json", physics_hz=EVAL_PHYSICS_HZ,
                      estimator=estimator, z_source=None if choice is None else choice.kind)
    gif_strip(bundle_dir / "rollout.gif", bundle_dir / "strip.png")
    if bundle.config.env.commands.enabled:
        from sim_training.command_eval import evaluate_commands
        from sim_training.commands import load_command_script, motion_clip_command

        clip = motion_clip_command(bundle.motion_path, bundle.robot)
        for name, count in OWN_COMMAND_SCRIPTS:
            evaluate_commands(bundle, load_command_script(name, clip, bundle.config.env.commands),
                              episodes=count, seed=0, physics_hz=EVAL_PHYSICS_HZ,
                              z=z, estimator=estimator,
                              json_out=bundle_dir / f"commands_{name}.json",
                              plot=bundle_dir / f"trajectory_{name}.png")
    return result


def _planar_sample(env: ImitationEnv) -> tuple[np.ndarray, float]:
    """The robot's body position (m) and heading (rad) now."""
    state = env._robot_quantities()
    return state["root_pos"], float(yaw_of(state["root_rot"]))


def _planar_ref_sample(env: ImitationEnv) -> tuple[np.ndarray, float]:
    """The reference's position and heading now, without the per-cycle origin sync."""
    ref = env.ref.state(env.t)
    return ref.root_pos, float(yaw_of(ref.root_rot))


def tracking_figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean planar speeds of robot and reference, and their ratios where the reference moves.

    Args:
        rows: Per-episode rows with the :data:`TRACKING` keys and their ``ref_`` twins.

    Returns:
        ``progress_ratio``: the robot's net displacement along the reference's net
        displacement over the reference's (mean over episodes; None for a motion that does
        not travel), the distance criterion of a shipped gait (a robot that turns away from
        its path or lags scores below 1); ``<k>``, ``ref_<k>`` (mean speeds over episodes);
        ``<k>_ratio``, the tracking ratio: over windows of :data:`TRACKING_WINDOW_S`, the
        least-squares gain of the robot's displacement in that direction (in its own
        heading frame) on the reference's, ``sum(robot * ref) / sum(ref**2)``: 1 for exact
        tracking, the speed ratio for a steady gait, below 1 for a robot that lags, falls
        short or goes out of phase, negative for one going the wrong way; it also judges
        motions that go and come back (side-steps, a turn and its return) whose mean speed is
        zero. None where the reference's root-mean-square speed is below :data:`MOVING`.
        Rows without the window sums fall back to the ratio of mean speeds.
        ``tracking_min``: the smallest ratio given (None if none is), which shipped skills
        hold to :data:`TRACKING_THRESHOLD`.
    """
    out: dict[str, Any] = {}
    progress = [r["progress"] for r in rows if r.get("progress") is not None]
    out["progress_ratio"] = float(np.mean(progress)) if progress else None
    windowed = all("window.windows" in r for r in rows)
    ratios = []
    for k in TRACKING:
        robot = float(np.mean([r[k] for r in rows]))
        ref = float(np.mean([r[f"ref_{k}"] for r in rows]))
        out[k], out[f"ref_{k}"] = robot, ref
        if windowed:
            ref2 = sum(r[f"window.ref2.{k}"] for r in rows)
            windows = sum(r["window.windows"] for r in rows)
            seconds = rows[0]["window_seconds"] if rows else 1.0
            moving = windows > 0 and np.sqrt(ref2 / windows) / seconds >= MOVING[k]
            ratio = sum(r[f"window.dot.{k}"] for r in rows) / ref2 if moving else None
        else:
            ratio = robot / ref if abs(ref) >= MOVING[k] else None
        out[f"{k}_ratio"] = ratio
        if ratio is not None:
            ratios.append(ratio)
    out["tracking_min"] = min(ratios) if ratios else None
    return out


def progress_ratio(robot_path: np.ndarray, ref_path: np.ndarray,
                   seconds: float) -> float | None:
    """Robot displacement along the reference's, over the reference's (None if it stays).

    Args:
        robot_path: (N, 2) the robot's horizontal positions (m); first and last are used.
        ref_path: (N, 2) the reference's.
        seconds: Time the paths span (s).

    Returns:
        The ratio, or None when the reference moves slower than
        ``MOVING["forward_speed"]`` (or ``seconds`` <= 0).
    """
    ref = ref_path[-1] - ref_path[0]
    length2 = float(ref @ ref)
    if seconds <= 0 or np.sqrt(length2) / seconds < MOVING["forward_speed"]:
        return None
    return float((robot_path[-1] - robot_path[0]) @ ref / length2)
