"""The adaptation benchmark (``quadmimic bench adapt``): returns on held-out dynamics.

:func:`bench_adapt` scores a latent policy on a held-out robot (a dynamics file, the "real"
robot) with the prior latent, with the latent an :class:`~adaptation.adapt.AdaptationSession`
finds after 5, 10 and 20 rollouts, at nominal dynamics, and optionally a robust baseline policy
without an encoder. The transfer benchmark (``quadmimic bench transfer``) is
:func:`adaptation.transfer.bench_transfer`.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from adaptation.adapt import AdaptationSession, latent_return
from adaptation.config import AdaptConfig
from robot_deploy.backends.sim import SimBackend
from sim_training.bundle import PolicyBundle


def bench_adapt(policy: Path, dynamics: Path, robust: Path | None = None,
                motion: Path | None = None, eval_rollouts: int = 3,
                rollout_seconds: float = 4.0) -> dict[str, Any]:
    """Returns on held-out dynamics: robust, prior z, adapted after 5/10/20, nominal.

    Args:
        policy: Latent policy (bundle or run).
        dynamics: Held-out dynamics JSON (the "real" robot).
        robust: Robust baseline policy (no encoder), or None.
        motion: Motion (None: the policy's).
        eval_rollouts: Rollouts per figure.
        rollout_seconds: Seconds per rollout.

    Returns:
        The JSON-ready figures: ``robust`` (with ``robust``), ``prior``, ``nominal``,
        ``adapted_<n>`` and ``adapted_<n>_z`` for n = 5, 10, 20, ``target`` and ``pass``.
    """
    bundle = PolicyBundle.load(policy)
    out: dict[str, Any] = {"policy": str(policy), "dynamics": str(dynamics),
                           "eval_rollouts": eval_rollouts, "rollout_seconds": rollout_seconds}

    def figure(b: PolicyBundle, dyn: Path | None, z: Any) -> float:
        robot = SimBackend(b.robot, dyn)
        robot.connect()
        try:
            return latent_return(b, robot, z, rollouts=eval_rollouts, seconds=rollout_seconds,
                                 reset_robot=robot.reset_pose, motion=motion)
        finally:
            robot.close()

    if robust is not None:
        out["robust"] = figure(PolicyBundle.load(robust), dynamics, None)
    out["prior"] = figure(bundle, dynamics, np.zeros(bundle.z_dim))
    out["nominal"] = figure(bundle, None, np.zeros(bundle.z_dim))
    robot = SimBackend(bundle.robot, dynamics)
    robot.connect()
    with tempfile.TemporaryDirectory() as tmp:
        session = AdaptationSession(
            policy, robot, Path(tmp) / "s",
            AdaptConfig(rollouts=20, rollouts_per_update=5, rollout_seconds=rollout_seconds),
            reset_robot=robot.reset_pose, motion=motion)
        for n in (5, 10, 20):
            session.config = dataclasses.replace(session.config, rollouts=n)
            state = session.run()
            out[f"adapted_{n}"] = figure(bundle, dynamics, state.best_z)
            out[f"adapted_{n}_z"] = state.best_z.tolist()
    robot.close()
    out["target"] = "adapted_20 >= 0.9 * nominal and > robust and > prior"
    out["pass"] = bool(out["adapted_20"] >= 0.9 * out["nominal"]
                       and out["adapted_20"] > out["prior"]
                       and out["adapted_20"] > out.get("robust", -np.inf))
    return out
