"""Adapting on a robot: what ``quadmimic adapt`` does, as a function and its result.

:func:`run_adaptation` connects the robot a :class:`~robot_deploy.backends.Connection` names,
runs (or resumes) an :class:`~adaptation.adapt.AdaptationSession` on it (the safe search:
from the estimate, paired validations, the incumbent as the result), and leaves in the
session directory ``returns.png`` (returns per rollout with the incumbent's validations) and
``summary.json`` (:class:`AdaptResult`'s JSON, without ``adapted_bundle``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from adaptation.adapt import AdaptationSession
from adaptation.config import AdaptConfig
from quadmimic.core.errors import QuadmimicError
from quadmimic.core.fileio import atomic_write_text
from quadmimic.core.records import JsonRecord
from robot_deploy.backends import Connection, backend_robot, make_backend
from sim_training.bundle import PolicyBundle, write_bundle
from sim_training.plots import write_png


@dataclass(frozen=True)
class AdaptResult(JsonRecord):
    """What an adaptation session found (the summary ``quadmimic adapt`` prints)."""

    start: str
    """How the search started: "estimate" (acting with the bundle's online estimator),
    "prior" or "fixed" (a given z). The start choice is the first incumbent."""
    start_z: list[float]
    """The centre of the search: the given z, or the estimate's mean ẑ over the start
    rollout."""
    final: str
    """The result, the incumbent after the last round (never the single best rollout):
    "estimate" (no fixed z beat the online estimate: act with the estimator) or "fixed"
    (``final_z``; all zeros when the prior won)."""
    final_z: list[float] | None
    """The result's z when it is fixed; None when it is the estimate."""
    incumbent_changes: int
    """Rounds whose candidate replaced the incumbent."""
    rollouts: int
    """Finished rollouts of the session: the budget used."""
    budget: int
    """The rollout budget (a round that does not fit in it is not started)."""
    robot_seconds: float
    """Policy time run on the robot over the finished rollouts (s; ramps not counted)."""
    trips: int
    """Rollouts cut short by a safety trip (each scored as the worst)."""
    rounds: list[dict[str, Any]]
    """Each completed round (:meth:`~adaptation.adapt.Round.to_json`): candidate, seeds,
    scores, paired gain ± standard error, accepted."""
    returns: list[float]
    """Return of each rollout, in order."""
    kinds: list[str]
    """What each rollout was for: "start", "incumbent" or "candidate"."""
    stopped_by: list[str]
    """How each rollout ended ("time", "safety", ...)."""
    adapted_bundle: str | None = None
    """The bundle written with the final z, if one was asked for."""

    def to_json(self) -> dict[str, Any]:
        """The summary; ``adapted_bundle`` only when one was written."""
        out = super().to_json()
        if out["adapted_bundle"] is None:
            del out["adapted_bundle"]
        return out


def returns_png(records: list[dict[str, Any]], rounds: list[Any], out: Path,
                budget: int | None = None) -> Path:
    """Plot a session's returns per rollout with the incumbent's validations, headless.

    Each rollout is a point by kind (start, incumbent, candidate; a trip is a red cross at its
    score); each round draws the incumbent's and the candidate's mean score over its pairs,
    the candidate's with its paired gain's standard error, and marks an accepted candidate.

    Args:
        records: The session's finished rollouts.
        rounds: Its completed rounds (:class:`~adaptation.adapt.Round`).
        out: PNG path (written atomically).
        budget: The rollout budget, for the title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=100)
    style = {"start": ("*", "black", "start"), "incumbent": ("o", "tab:blue", "incumbent"),
             "candidate": ("^", "tab:orange", "candidate")}
    for kind, (marker, color, label) in style.items():
        xs = [r["index"] + 1 for r in records if r["kind"] == kind]
        ys = [r["return"] for r in records if r["kind"] == kind]
        if xs:
            ax.plot(xs, ys, marker, color=color, ms=6 if kind == "start" else 4, ls="",
                    label=label)
    tripped = [(r["index"] + 1, r["score"]) for r in records if r.get("trip")]
    if tripped:
        ax.plot(*zip(*tripped, strict=True), "x", color="tab:red", ms=7, ls="",
                label="trip (scored as the worst)")
    size = 2 * (len(rounds[0].seeds) if rounds else 1)
    for rnd in rounds:
        lo, hi = 1 + 1 + rnd.index * size - 0.3, 1 + (rnd.index + 1) * size + 0.3
        inc = float(np.mean(rnd.incumbent_scores))
        ax.hlines(inc, lo, hi, color="tab:blue", lw=1.5)
        cand = float(np.mean(rnd.candidate_scores))
        ax.hlines(cand, lo, hi, color="tab:orange", lw=1.0, ls="--")
        se = rnd.gain_se if np.isfinite(rnd.gain_se) else 0.0
        ax.errorbar(hi, cand, yerr=se, color="tab:orange", capsize=3, lw=1)
        ax.axvline(lo - 0.2, color="0.85", lw=0.8)
        if rnd.accepted:
            ax.annotate("accepted", (hi, cand), fontsize=7, color="tab:green",
                        xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("rollout")
    ax.set_ylabel("return (mean step reward)")
    used = len(records)
    ax.set_title(f"safe search: {used} rollouts" + (f" of a budget of {budget}" if budget
                                                      else "")
                 + "\nlines: mean of a round's incumbent (blue) and candidate (orange) rollouts",
                 fontsize=8)
    ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    return write_png(fig, out)


def run_adaptation(policy: Path, session: Path, backend: str | Connection = "sim", *,
                   control_port: int | None = None, dynamics: Path | None = None,
                   motion: Path | None = None, rollouts: int = AdaptConfig.rollouts,
                   rollout_seconds: float = AdaptConfig.rollout_seconds,
                   pairs: int = AdaptConfig.pairs, z: str | None = None,
                   out: Path | None = None, gif: Path | None = None,
                   progress: Callable[[dict, int], None] | None = None,
                   on_start: Callable[[str], None] | None = None,
                   **connection: Any) -> AdaptResult:
    """Search the latent of a frozen policy on a robot (a new or resumed session).

    Args:
        policy: Frozen latent policy (bundle or run).
        session: Session directory (an existing one resumes, with its own settings and start).
        backend: A :class:`~robot_deploy.backends.Connection`, or a backend name whose other
            connection fields come as keywords (``robot``, ``interface``, ``robot_ip``,
            ``port``, ``local_port``, ``domain``). The robot it drives (None: the one its
            protocol serves, the policy's on a simulated backend) must be the policy's,
            checked before anything connects.
        control_port: An emulator's control port: it resets the robot between rollouts.
        dynamics: Dynamics JSON of a simulated backend.
        motion: Motion (default: the policy's).
        rollouts: The rollout budget.
        rollout_seconds: Seconds per rollout.
        pairs: Paired rollouts per round.
        z: The start (``--z``: estimate, prior, a file or values; None: estimate when the
            policy carries an estimator, else prior). A resumed session keeps its own.
        out: Adapted bundle to write with the final z (the incumbent).
        gif: GIF of the policy with the final z (PyBullet, ``dynamics``).
        progress: Called after each rollout with its record and the planned total.
        on_start: Called with one line saying how the search starts, before the first rollout.
        **connection: Connection fields, with a backend name.

    Returns:
        The session's result, also written as ``summary.json`` (without ``adapted_bundle``).
    """
    from sim_training.estimator import choose_z

    conn = Connection.of(backend, **connection)
    if session.exists() and not session.is_dir():
        raise QuadmimicError(f"{session}: is a file, not an adaptation session directory")
    bundle = PolicyBundle.load(policy)
    if not bundle.z_dim:
        raise QuadmimicError("this policy has no latent to adapt (robust baseline)")
    resumed = (session / "session.json").is_file()
    if resumed and z is not None:
        raise QuadmimicError(f"{session}: a resumed session keeps its own start; --z is for a "
                             "new session")
    start = None if resumed else choose_z(bundle, z)
    if start is not None and start.kind == "fixed" and start.note:  # an adapted bundle's z
        start = choose_z(bundle, "estimate" if bundle.estimator() else "prior")
    try:
        config = AdaptConfig(rollouts=rollouts, rollout_seconds=rollout_seconds, pairs=pairs)
    except ValueError as exc:
        raise QuadmimicError(f"invalid options: {exc}") from None
    name = backend_robot(conn.backend, bundle.robot, conn.robot)
    driven: Any = make_backend(conn, name, dynamics=dynamics, realtime=False)
    driven.connect()
    reset_pose = getattr(driven, "reset_pose", None)
    reset: Callable[[int], None] | None = (None if reset_pose is None
                                           else lambda seed: reset_pose())
    if control_port is not None:
        from robot_deploy.emulator.core import control_request

        def reset(seed: int) -> None:
            control_request(control_port, {"op": "reset"})
    try:
        sess = AdaptationSession(policy, driven, session, config, reset_robot=reset,
                                 motion=motion, realtime=not conn.simulated, start=start)
        if on_start is not None:
            on_start(_start_line(sess))
        state = sess.run(progress=None if progress is None else (
            lambda rec: progress(rec, sess.planned)))
    finally:
        driven.close()
    records = sess.records
    returns_png(records, state.rounds, session / "returns.png", sess.config.rollouts)
    if state.start is None:  # unreachable: the budget is >= 1
        raise QuadmimicError(f"{session}: the start rollout did not finish")
    final_z = None if state.incumbent is None else state.incumbent.tolist()
    result = AdaptResult(
        start=sess.start_kind, start_z=state.start.tolist(),
        final="estimate" if state.estimating else "fixed", final_z=final_z,
        incumbent_changes=state.changes, rollouts=len(records), budget=sess.config.rollouts,
        robot_seconds=float(sum(r["steps"] for r in records) * bundle.config.env.policy_dt),
        trips=sum(bool(r["trip"]) for r in records),
        rounds=[r.to_json() for r in state.rounds], returns=[r["return"] for r in records],
        kinds=[r["kind"] for r in records], stopped_by=[r["stopped_by"] for r in records])
    atomic_write_text(session / "summary.json", json.dumps(result.to_json(), indent=2) + "\n")
    if out is not None:  # with the estimate as result, the bundle acts with its estimator
        write_bundle(policy, out, z=state.incumbent,
                     extra={"adapted_from_session": str(session), "adapted_result": result.final})
        result = dataclasses.replace(result, adapted_bundle=str(out))
    if gif is not None:
        from sim_training.evaluate import evaluate

        evaluate(bundle, dynamics=dynamics, z=state.incumbent, episodes=1, gif=gif,
                 estimator=sess.estimator if state.estimating else None)
    return result


def _start_line(sess: AdaptationSession) -> str:
    """How a session starts, for the command's output."""
    if sess.start_kind == "estimate":
        what = ("the estimate: acting with the bundle's estimator, searched around its ẑ "
                "averaged over the first rollout")
    elif sess.start_kind == "prior":
        what = "the prior z = 0" + ("" if sess.bundle.estimator() is not None
                                    else " (the policy carries no estimator)")
    else:
        what = "the given z"
    used = sess.config.rollouts_used()
    return (f"start: {what}; budget {sess.config.rollouts} rollouts of "
            f"{sess.config.rollout_seconds:g} s ({used} used: the start rollout and "
            f"{(used - 1) // (2 * sess.config.pairs)} rounds of {sess.config.pairs} "
            "paired rollouts)")


__all__ = ["AdaptResult", "returns_png", "run_adaptation"]
