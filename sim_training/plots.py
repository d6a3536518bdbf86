"""Headless pictures of training: the learning curve PNG."""

from __future__ import annotations

import itertools
from pathlib import Path

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

    def write(f: object) -> None:
        fig.savefig(f, format="png")

    try:
        return atomic_write(out, write)
    finally:
        plt.close(fig)


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
