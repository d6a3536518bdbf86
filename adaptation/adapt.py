"""The adaptation loop: search z for a frozen policy on a robot, resumable rollout by rollout.

A *session* directory holds ``session.json`` (policy, motion, config), ``rollouts/NNNNN.npz``
(every step's state, action and reward of a rollout, written atomically) and
``rollouts.jsonl`` (one line per finished rollout: z, return, how it ended), appended only
after the rollout's file is complete. Rollout i's latent is drawn from the search distribution
after ``i // rollouts_per_update`` AWR updates with a generator seeded by (seed, i), so a
killed session resumes exactly: finished rollouts are replayed into the distribution, the
interrupted one is simply run again, none is lost or duplicated.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from adaptation.awr import awr_update
from adaptation.config import AdaptConfig
from adaptation.returns import step_reward
from motion_retarget.kinematics import robot_model
from quadmimic.core.errors import ConfigError, QuadmimicError
from quadmimic.core.fileio import atomic_write, atomic_write_text, read_table
from robot_deploy.controller import PolicyController
from robot_deploy.robot import Robot, RobotState
from robot_deploy.safety import SafetyLayer
from sim_training.bundle import PolicyBundle
from sim_training.config import from_dict, to_dict
from sim_training.export import OnnxActor


@dataclass
class SearchState:
    """The search distribution and the best rollout so far."""

    mean: np.ndarray
    std: np.ndarray
    best_z: np.ndarray | None = None
    best_return: float = -np.inf
    returns: list[float] = field(default_factory=list)


class AdaptationSession:
    """One adaptation session on a robot (see the module docstring).

    Args:
        policy: The frozen policy bundle (or run directory).
        robot: The robot (wrapped in a safety layer here if it is not one).
        session_dir: Where the session lives; an existing session is resumed.
        config: Settings (a resumed session keeps its own).
        reset_robot: Puts the robot back on its feet between rollouts (the operator).
        motion: Motion to imitate (default: the policy's).
        realtime: Pace rollouts by wall clock (hardware, emulators).
    """

    def __init__(self, policy: str | Path, robot: Robot, session_dir: str | Path,
                 config: AdaptConfig | None = None,
                 reset_robot: Callable[[], None] | None = None,
                 motion: str | Path | None = None, realtime: bool = False) -> None:
        self.dir = Path(session_dir)
        self.realtime = realtime
        self.bundle = PolicyBundle.load(policy)
        if not self.bundle.z_dim:
            raise QuadmimicError("this policy has no latent to adapt (robust baseline)")
        meta = self.dir / "session.json"
        if meta.is_file():
            saved = read_table(meta, ConfigError, "adaptation session file")
            try:
                self.config = from_dict(AdaptConfig, saved["config"])
                motion = str(saved["motion"])
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                raise ConfigError(f"not an adaptation session: {exc!s} (config and motion "
                                  "expected)", meta) from None
        else:
            self.config = config or AdaptConfig()
            motion = str(motion or self.bundle.motion_path)
            (self.dir / "rollouts").mkdir(parents=True, exist_ok=True)
            atomic_write_text(meta, json.dumps({
                "policy": str(policy), "motion": motion, "config": to_dict(self.config),
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, indent=2))
        self.motion = motion
        self.robot = robot if isinstance(robot, SafetyLayer) else SafetyLayer(robot)
        self.reset_robot = reset_robot
        self.rm = robot_model(self.bundle.robot)
        self.records = self._load_records()
        self._actor: OnnxActor | None = None

    # ------------------------------------------------------------------ bookkeeping
    def _load_records(self) -> list[dict[str, Any]]:
        return finished_rollouts(self.dir)

    def search_state(self) -> SearchState:
        """The distribution after replaying every finished rollout's update."""
        cfg = self.config
        zd = self.bundle.z_dim
        state = SearchState(np.zeros(zd), np.full(zd, cfg.init_std))
        k = cfg.rollouts_per_update
        for start in range(0, len(self.records) - k + 1, k):
            group = self.records[start:start + k]
            state.mean, state.std = awr_update(
                state.mean, state.std, np.array([r["z"] for r in group]),
                np.array([r["return"] for r in group]), cfg.awr)
        for rec in self.records:
            state.returns.append(rec["return"])
            if rec["return"] > state.best_return:
                state.best_return, state.best_z = rec["return"], np.asarray(rec["z"])
        return state

    def latent_for(self, index: int, state: SearchState) -> np.ndarray:
        """Rollout ``index``'s latent: deterministic given the seed and the distribution."""
        rng = np.random.default_rng([self.config.seed, index])
        return state.mean + state.std * rng.standard_normal(self.bundle.z_dim)

    # ------------------------------------------------------------------ rollouts
    def rollout(self, z: np.ndarray) -> dict[str, Any]:
        """Run one rollout with latent ``z``; returns its record (not yet appended)."""
        if self.reset_robot is not None:
            self.reset_robot()
        self.robot.rearm()
        if self._actor is None:
            self._actor = OnnxActor(self.bundle)
        controller = PolicyController(self.bundle, self.robot, motion=self.motion, z=z,
                                      realtime=self.realtime, actor=self._actor)
        steps: list[tuple[float, RobotState, np.ndarray, float]] = []
        reward_cfg = self.bundle.config.env.reward

        def on_step(t: float, state: RobotState, action: np.ndarray) -> None:
            r, _ = step_reward(state, controller.ref.state(t), self.rm, reward_cfg)
            steps.append((t, state, action, r))

        result = controller.run(self.config.rollout_seconds,
                                ramp_seconds=self.config.ramp_seconds, on_step=on_step)
        result.raise_if_interrupted()  # a cut rollout is not recorded; the session resumes
        planned = int(np.ceil(self.config.rollout_seconds / controller.policy_dt - 1e-9))
        rewards = np.array([s[3] for s in steps]) if steps else np.zeros(0)
        return {"z": np.asarray(z, float).tolist(),
                "return": float(rewards.sum() / planned), "steps": len(steps),
                "planned_steps": planned, "stopped_by": result.stopped_by,
                "trip": result.trip, "_steps": steps}

    def _append(self, rec: dict[str, Any]) -> dict[str, Any]:
        index = len(self.records)
        steps = rec.pop("_steps")
        name = f"rollouts/{index:05d}.npz"

        def write(f: Any) -> None:
            np.savez(f, t=np.array([s[0] for s in steps]),
                     q=np.array([s[1].q for s in steps]).reshape(-1, 12),
                     dq=np.array([s[1].dq for s in steps]).reshape(-1, 12),
                     quat=np.array([s[1].quat for s in steps]).reshape(-1, 4),
                     gyro=np.array([s[1].gyro for s in steps]).reshape(-1, 3),
                     action=np.array([s[2] for s in steps]).reshape(-1, 12),
                     reward=np.array([s[3] for s in steps]), z=np.asarray(rec["z"]))

        atomic_write(self.dir / name, write)
        rec = {"index": index, "file": name, **rec}
        with (self.dir / "rollouts.jsonl").open("a") as f:
            f.write(json.dumps(rec) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.records.append(rec)
        return rec

    def run(self, progress: Callable[[dict[str, Any]], None] | None = None) -> SearchState:
        """Run the remaining rollouts (resuming where the session stopped)."""
        while len(self.records) < self.config.rollouts:
            state = self.search_state()
            z = self.latent_for(len(self.records), state)
            rec = self._append(self.rollout(z))
            if progress is not None:
                progress(rec)
        return self.search_state()


def finished_rollouts(session_dir: str | Path) -> list[dict[str, Any]]:
    """The records of a session's finished rollouts, in order (``rollouts.jsonl``).

    A record: ``index``, ``file`` (its steps, relative to the session), ``z``, ``return``,
    ``stopped_by``, ... Reading stops at a torn line or a record whose file is missing (that
    rollout did not finish). An empty list when the session has no log yet.
    """
    session_dir = Path(session_dir)
    path = session_dir / "rollouts.jsonl"
    if not path.is_file():
        return []
    records: list[dict[str, Any]] = []
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:  # a torn last line: that rollout did not finish
            break
        if rec.get("index") != len(records) or not (session_dir / rec["file"]).is_file():
            break
        records.append(rec)
    return records


def best_latent(session_dir: str | Path) -> np.ndarray:
    """The latent (z_dim,) of a session's best rollout (highest return) in ``rollouts.jsonl``.

    A torn last line (a rollout that did not finish) is skipped; blank lines are ignored.

    Raises:
        QuadmimicError: ``session_dir`` is no adaptation session (no ``rollouts.jsonl``), or
            it has no finished rollout yet.
        ConfigError: A line (not the last) that is not a rollout record, located.
    """
    session_dir = Path(session_dir)
    path = session_dir / "rollouts.jsonl"
    if not path.is_file():
        raise QuadmimicError(f"{session_dir} is not an adaptation session (no rollouts.jsonl)")
    records = []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            records.append((float(rec["return"]), np.asarray(rec["z"], dtype=np.float64)))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            if number == len(lines):  # a torn last line: that rollout did not finish
                break
            raise ConfigError('not a rollout record ({"z": [...], "return": x, ...})', path,
                              number) from None
    if not records:
        raise QuadmimicError(f"{session_dir} has no finished rollout yet")
    return max(records, key=lambda r: r[0])[1]


def latent_return(bundle: PolicyBundle, robot: Robot, z: np.ndarray | None, *,
                  rollouts: int = 3, seconds: float = 4.0, ramp_seconds: float = 0.5,
                  reset_robot: Callable[[], None] | None = None,
                  motion: str | Path | None = None, realtime: bool = False) -> float:
    """Mean return per rollout of ``bundle`` with a fixed latent ``z`` on ``robot``.

    ``z`` None uses the prior mean (zeros) for a latent policy and nothing for a baseline.
    Returns are computed exactly as in an adaptation session.
    """
    safe = robot if isinstance(robot, SafetyLayer) else SafetyLayer(robot)
    rm = robot_model(bundle.robot)
    totals = []
    actor = OnnxActor(bundle)
    for _ in range(rollouts):
        if reset_robot is not None:
            reset_robot()
        safe.rearm()
        controller = PolicyController(bundle, safe, motion=motion, z=z, realtime=realtime,
                                      actor=actor)
        rewards: list[float] = []

        def on_step(t: float, state: RobotState, action: np.ndarray,
                    ctl: PolicyController = controller, acc: list[float] = rewards) -> None:
            acc.append(step_reward(state, ctl.ref.state(t), rm, bundle.config.env.reward)[0])

        controller.run(seconds, ramp_seconds=ramp_seconds,
                       on_step=on_step).raise_if_interrupted()
        planned = int(np.ceil(seconds / controller.policy_dt - 1e-9))
        totals.append(sum(rewards) / planned)
    return float(np.mean(totals))
