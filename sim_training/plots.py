"""Headless pictures: the learning curve, the z estimator's error, command-script paths."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from quadmimic.core.fileio import atomic_write


def learning_curve_png(curve: list[dict[str, float]], out: str | Path,
                       title: str = "learning curve") -> Path:
    """Plot mean episode length (s) and the pose reward term against samples.

    Args:
        curve: Rows with ``timesteps``, ``mean_episode_seconds``, ``reward_terms.pose`` (as
            written by the training runner), optionally ``eval_nominal_*`` (drawn as dots)
            and ``from`` (the run a row comes from; a dashed line marks where it changes).
        out: PNG path.
        title: Figure title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in curve if "mean_episode_seconds" in r]
    x = [r["timesteps"] / 1e6 for r in rows]
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
    ax.plot(x, [r["mean_episode_seconds"] for r in rows], color="tab:blue")
    ax.set_xlabel("samples (millions)")
    ax.set_ylabel("mean episode (s)", color="tab:blue")
    ax2 = ax.twinx()
    ax2.plot(x, [r.get("reward_terms.pose", float("nan")) for r in rows], color="tab:orange")
    for prev, row in itertools.pairwise(curve):
        if prev.get("from") != row.get("from"):  # a fine-tuning run starts here
            ax.axvline(row["timesteps"] / 1e6, color="0.6", lw=0.8, ls="--")
            ax.annotate("fine-tuned from here", (row["timesteps"] / 1e6, 9.6), fontsize=7,
                        color="0.4", xytext=(3, 0), textcoords="offset points")
    evals = [r for r in curve if "eval_nominal_seconds" in r]
    if evals:
        ax.plot([r["timesteps"] / 1e6 for r in evals], [r["eval_nominal_seconds"] for r in evals],
                "o", color="tab:blue", ms=3, label="episode at nominal dynamics (eval)")
        ax2.plot([r["timesteps"] / 1e6 for r in evals], [r["eval_nominal_pose"] for r in evals],
                 "o", color="tab:orange", ms=3, label="pose at nominal dynamics (eval)")
        ax.legend(loc="lower right", fontsize=7)
    ax2.set_ylabel("pose reward term", color="tab:orange")
    ax2.set_ylim(0, 1)
    ax.set_title(title)
    fig.tight_layout()

    return write_png(fig, out)


def estimator_png(meta: dict[str, Any], out: str | Path, title: str = "z estimator") -> Path:
    """Plot a z estimator's error per DAgger iteration (its ``estimator.json`` figures).

    Per iteration: the held-out error of the fit (mean squared error per value against the
    oracle z, on held-out episodes of the aggregated data) and, from iteration 1 on, the error
    of the ẑ the rollouts acted with; as horizontal lines the final validation error (fresh
    episodes acting with ẑ) and the prior mean's (z = 0) on the same episodes.

    Args:
        meta: The estimator's description (``training.iterations``, ``validation``).
        out: PNG path (written atomically).
        title: Figure title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = meta["training"]["iterations"]
    val = meta["validation"]
    x = [r["iteration"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 3.4), dpi=100)
    hold = [r.get("holdout_mse") if r.get("holdout_mse") is not None else r["train_mse"]
            for r in rows]
    ax.plot(x, hold, "o-", color="tab:blue", label="fit, held-out episodes")
    acting = [(r["iteration"], r["acting_mse"]) for r in rows if r.get("acting_mse") is not None]
    if acting:
        ax.plot(*zip(*acting, strict=True), "s--", color="tab:green",
                label="ẑ the rollouts acted with")
    ax.axhline(val["mse"], color="tab:orange", lw=1.2,
               label=f"validation ẑ ({val['mse']:.3f})")
    ax.axhline(val["prior_mse"], color="0.4", lw=1.0, ls=":",
               label=f"validation prior z = 0 ({val['prior_mse']:.3f})")
    ax.set_xlabel("DAgger iteration")
    ax.set_ylabel("mean squared error of z")
    ax.set_xticks(x)
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    return write_png(fig, out)


def samples_to_threshold(curve: list[dict[str, float]], episode_seconds: float,
                         pose: float) -> float | None:
    """First sample count where episodes last ``episode_seconds`` with pose term ``pose``.

    Uses the evaluations at nominal dynamics (``eval_nominal_*``, no fall allowed) when the
    curve has them, else the training rollouts' figures (randomised dynamics).
    """
    evals = [r for r in curve if "eval_nominal_seconds" in r]
    for row in evals:
        if (row["eval_nominal_fall_rate"] == 0.0
                and row["eval_nominal_seconds"] >= episode_seconds
                and row["eval_nominal_pose"] >= pose):
            return row["timesteps"]
    if evals:
        return None
    for row in curve:
        if (row.get("mean_episode_seconds", 0.0) >= episode_seconds
                and row.get("reward_terms.pose", 0.0) >= pose):
            return row["timesteps"]
    return None


def trajectory_png(tracks: list[tuple[Any, Any]], out: str | Path,
                   title: str = "trajectories") -> Path:
    """Top-down paths of robot and reference, one colour per episode (equal axes, metres).

    Args:
        tracks: Per episode ``(robot_xy, reference_xy)``, each (N, 2) m, world frame.
        out: PNG path (written atomically).
        title: Figure title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5.5), dpi=100)
    for i, (robot, ref) in enumerate(tracks):
        colour = f"C{i % 10}"
        ax.plot(ref[:, 0], ref[:, 1], ls="--", lw=0.8, color=colour, alpha=0.6,
                label="reference" if i == 0 else None)
        ax.plot(robot[:, 0], robot[:, 1], lw=1.4, color=colour,
                label="robot" if i == 0 else None)
        ax.plot(robot[:1, 0], robot[:1, 1], "o", ms=4, color=colour)
        ax.plot(robot[-1:, 0], robot[-1:, 1], "x", ms=6, color=colour)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="best", fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()

    return write_png(fig, out)


def write_png(fig: Any, out: str | Path) -> Path:
    """Write ``fig`` to ``out`` as PNG (temp file, then rename) and close it."""
    import matplotlib.pyplot as plt

    def write(f: object) -> None:
        fig.savefig(f, format="png")

    try:
        return atomic_write(out, write)
    finally:
        plt.close(fig)
