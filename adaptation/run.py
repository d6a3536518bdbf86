"""Adapting on a robot: what ``quadmimic adapt`` does, as a function and its result.

:func:`run_adaptation` connects the robot a :class:`~robot_deploy.backends.Connection` names,
runs (or resumes) an :class:`~adaptation.adapt.AdaptationSession` on it, and leaves in the
session directory ``returns.png`` (return per rollout) and ``summary.json``
(:class:`AdaptResult`'s JSON, without ``adapted_bundle``).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adaptation.adapt import AdaptationSession
from adaptation.config import AdaptConfig
from quadmimic.core.errors import QuadmimicError
from quadmimic.core.fileio import atomic_write, atomic_write_text
from quadmimic.core.records import JsonRecord
from robot_deploy.backends import Connection, backend_robot, make_backend
from sim_training.bundle import PolicyBundle, write_bundle


@dataclass(frozen=True)
class AdaptResult(JsonRecord):
    """What an adaptation session found (the summary ``quadmimic adapt`` prints)."""

    rollouts: int
    """Finished rollouts of the session."""
    best_return: float
    """The best rollout's return (−inf with none)."""
    best_z: list[float] | None
    """The best rollout's latent (None with none)."""
    mean: list[float]
    """Mean of the search distribution."""
    std: list[float]
    """Standard deviation of the search distribution."""
    returns: list[float]
    """Return of each rollout, in order."""
    stopped_by: list[str]
    """How each rollout ended ("time", "safety", ...)."""
    adapted_bundle: str | None = None
    """The bundle written with the best latent, if one was asked for and found."""

    def to_json(self) -> dict[str, Any]:
        """The summary; ``adapted_bundle`` only when one was written."""
        out = super().to_json()
        if out["adapted_bundle"] is None:
            del out["adapted_bundle"]
        return out


def returns_png(returns: list[float], out: Path, per_update: int) -> Path:
    """Plot return per rollout (and the AWR update boundaries) to a PNG, headless."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.4), dpi=100)
    ax.plot(range(1, len(returns) + 1), returns, "o-", color="tab:blue", ms=3)
    best = list(itertools.accumulate(returns, max))
    ax.plot(range(1, len(returns) + 1), best, "--", color="tab:orange", label="best so far")
    for k in range(per_update, len(returns), per_update):
        ax.axvline(k + 0.5, color="0.85", lw=0.8)
    ax.set_xlabel("rollout")
    ax.set_ylabel("return (mean step reward)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    try:
        return atomic_write(out, lambda f: fig.savefig(f, format="png"))
    finally:
        plt.close(fig)


def run_adaptation(policy: Path, session: Path, backend: str | Connection = "sim", *,
                   control_port: int | None = None, dynamics: Path | None = None,
                   motion: Path | None = None, rollouts: int = AdaptConfig.rollouts,
                   rollout_seconds: float = AdaptConfig.rollout_seconds,
                   per_update: int = AdaptConfig.rollouts_per_update,
                   out: Path | None = None, gif: Path | None = None,
                   progress: Callable[[dict, int], None] | None = None,
                   **connection: Any) -> AdaptResult:
    """Search the latent of a frozen policy on a robot (a new or resumed session).

    Args:
        policy: Frozen policy (bundle or run).
        session: Session directory (an existing one resumes, with its own settings).
        backend: A :class:`~robot_deploy.backends.Connection`, or a backend name whose other
            connection fields come as keywords (``robot``, ``interface``, ``robot_ip``,
            ``port``, ``local_port``, ``domain``). The robot it drives (None: the one its
            protocol serves, the policy's on a simulated backend) must be the policy's,
            checked before anything connects.
        control_port: An emulator's control port: it resets the robot between rollouts.
        dynamics: Dynamics JSON of a simulated backend.
        motion: Motion (default: the policy's).
        rollouts: Rollouts in total.
        rollout_seconds: Seconds per rollout.
        per_update: Rollouts per AWR update.
        out: Adapted bundle to write with the best latent.
        gif: GIF of the policy with the best latent (PyBullet, ``dynamics``).
        progress: Called after each rollout with its record and the planned total.
        **connection: Connection fields, with a backend name.

    Returns:
        The session's result, also written as ``summary.json`` (without ``adapted_bundle``).
    """
    conn = Connection.of(backend, **connection)
    if session.exists() and not session.is_dir():
        raise QuadmimicError(f"{session}: is a file, not an adaptation session directory")
    name = backend_robot(conn.backend, PolicyBundle.load(policy).robot, conn.robot)
    driven: Any = make_backend(conn, name, dynamics=dynamics, realtime=False)
    driven.connect()
    reset = getattr(driven, "reset_pose", None)
    if control_port is not None:
        from robot_deploy.emulator.core import control_request

        def reset() -> None:
            control_request(control_port, {"op": "reset"})
    config = AdaptConfig(rollouts=rollouts, rollout_seconds=rollout_seconds,
                         rollouts_per_update=per_update)
    sess = AdaptationSession(policy, driven, session, config, reset_robot=reset, motion=motion,
                             realtime=not conn.simulated)
    try:
        state = sess.run(progress=None if progress is None else (
            lambda rec: progress(rec, sess.config.rollouts)))
    finally:
        driven.close()
    returns_png(state.returns, session / "returns.png", sess.config.rollouts_per_update)
    result = AdaptResult(
        rollouts=len(state.returns), best_return=state.best_return,
        best_z=None if state.best_z is None else state.best_z.tolist(),
        mean=state.mean.tolist(), std=state.std.tolist(), returns=state.returns,
        stopped_by=[rec["stopped_by"] for rec in sess.records])
    atomic_write_text(session / "summary.json", json.dumps(result.to_json(), indent=2) + "\n")
    if out is not None and state.best_z is not None:
        write_bundle(policy, out, z=state.best_z, extra={"adapted_from_session": str(session)})
        result = dataclasses.replace(result, adapted_bundle=str(out))
    if gif is not None and state.best_z is not None:
        from sim_training.evaluate import evaluate

        evaluate(PolicyBundle.load(policy), dynamics=dynamics, z=state.best_z, episodes=1,
                 gif=gif)
    return result


__all__ = ["AdaptResult", "returns_png", "run_adaptation"]
