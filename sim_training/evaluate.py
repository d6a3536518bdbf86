"""Evaluate a policy bundle in the env: return, episode length, falls, per-term rewards."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from motion_retarget.fileio import atomic_write_text
from motion_retarget.motion import Motion
from sim_training.bundle import PolicyBundle
from sim_training.env import ImitationEnv
from sim_training.rewards import RewardConfig

TERMS = tuple(RewardConfig().weights)


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
) -> dict[str, Any]:
    """Roll out the deterministic policy for ``episodes`` episodes.

    Args:
        bundle: The policy.
        motion: Motion to imitate (default: the bundle's own).
        dynamics: Fixed dynamics (dict or JSON file); default nominal.
        z: Latent to use (default: bundle's fixed z, else the encoder's mean of the dynamics).
        episodes: Episodes, each from a random phase, up to the config's episode length.
        seed: Seed of the phases.
        gif: Optional GIF of the first episode.
        json_out: Optional JSON file for the result.
        physics_hz: Physics rate (Hz); None = the training envs' rate. Evaluating at another
            rate (1 kHz, as the robot backends run) is a check of the transfer.

    Returns:
        ``mean_return``, ``mean_episode_seconds``, ``fall_rate``, ``reward_terms.<name>``
        (mean per step), ``episodes`` (per-episode details) and the settings used.
    """
    env_cfg = bundle.config.env if physics_hz is None else dataclasses.replace(
        bundle.config.env, physics_hz=float(physics_hz))
    env = ImitationEnv(motion or bundle.motion_path, robot=bundle.robot, randomize=False,
                       dynamics=dynamics, seed=seed, config=env_cfg)
    rows, frames = [], []
    try:
        for ep in range(episodes):
            obs, info = env.reset(seed=seed + ep)
            dyn = obs["dynamics"]
            total, steps, terms = 0.0, 0, dict.fromkeys(TERMS, 0.0)
            terminated = truncated = False
            while not (terminated or truncated):
                action = bundle.act(obs["obs"], dynamics=dyn, z=z)
                obs, reward, terminated, truncated, info = env.step(action)
                total += reward
                steps += 1
                for k in TERMS:
                    terms[k] += info["reward_terms"][k]
                if ep == 0 and gif is not None:
                    pos, quat = env.robot.base_pose()
                    frames.append(np.r_[pos, quat, env.robot.joint_state()[0]])
            rows.append({"return": total, "seconds": steps * env.config.policy_dt,
                         "fell": bool(terminated), "steps": steps,
                         **{f"reward_terms.{k}": v / steps for k, v in terms.items()}})
    finally:
        env.close()
    out: dict[str, Any] = {
        "bundle": str(bundle.path), "robot": bundle.robot,
        "motion": str(motion or bundle.motion_path),
        "dynamics": env.dynamics, "z": None if z is None else list(map(float, z)),
        "episodes": episodes, "episode_limit_seconds": env.config.episode_seconds,
        "physics_hz": env.config.physics_hz,
        "mean_return": float(np.mean([r["return"] for r in rows])),
        "mean_episode_seconds": float(np.mean([r["seconds"] for r in rows])),
        "fall_rate": float(np.mean([r["fell"] for r in rows])),
    }
    for k in TERMS:
        out[f"reward_terms.{k}"] = float(np.mean([r[f"reward_terms.{k}"] for r in rows]))
    out["reward_terms"] = {k: out[f"reward_terms.{k}"] for k in TERMS}
    out["per_episode"] = rows
    if gif is not None and frames:
        from motion_retarget.preview import render_gif

        rollout = Motion(frames=np.array(frames), frame_duration=env.config.policy_dt,
                         loop_mode="Clamp")
        render_gif(rollout, bundle.robot, gif, fps=15, max_frames=150,
                   title=f"{bundle.robot} policy")
        out["gif"] = str(gif)
    if json_out is not None:
        atomic_write_text(json_out, json.dumps(out, indent=2) + "\n")
    return out
