"""``quadmimic eval``: a policy in the training env, or on a simulated robot backend.

The command spans the stages: the training env's evaluation
(:func:`sim_training.evaluate.evaluate`), the deploy controller on a simulated robot
(:func:`adaptation.rollouts.evaluate_on_backend`, the measurable return adaptation and the
transfer bench use) and an adaptation session's best latent
(:func:`adaptation.adapt.best_latent`); so it lives here, above them all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from quadmimic.core.options import count, non_negative, output_file, positive
from robot_deploy.backends import SIMULATED
from sim_training.rates import EVAL_PHYSICS_HZ, TRAIN_PHYSICS_HZ


def eval_command(
    checkpoint: Annotated[Path, typer.Argument(help="Policy bundle or training run dir.")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Result JSON "
                                                  "(optional).", callback=output_file)] = None,
    motion: Annotated[Path | None, typer.Option(help="Motion (default: the bundle's).")] = None,
    dynamics: Annotated[Path | None, typer.Option(help="Dynamics JSON (default: "
                                                  "nominal).")] = None,
    z: Annotated[str | None, typer.Option(help="Latent, comma-separated.")] = None,
    session: Annotated[Path | None, typer.Option(help="Adaptation session: use its best "
                                                 "z.")] = None,
    episodes: Annotated[int, typer.Option(help="Episodes.", callback=count)] = 5,
    seed: Annotated[int, typer.Option(help="Seed of the start phases.",
                                      callback=non_negative)] = 0,
    gif: Annotated[Path | None, typer.Option(help="GIF of the first episode.",
                                             callback=output_file)] = None,
    physics_hz: Annotated[float, typer.Option(
        help=f"Physics rate (Hz): {EVAL_PHYSICS_HZ / 1000:g} kHz as the robot backends "
        f"(training ran at {TRAIN_PHYSICS_HZ:g} Hz).", callback=positive)] = EVAL_PHYSICS_HZ,
    backend: Annotated[str, typer.Option(help="pybullet: the training env (every reward "
                                         "term); mujoco or sim: a simulated robot through the "
                                         "deploy controller (measurable return, falls, "
                                         "progress).")] = "pybullet",
    seconds: Annotated[float, typer.Option(help="With a robot backend: seconds per "
                                           "episode.", callback=positive)] = 10.0,
) -> None:
    """Evaluate a policy: return, episode length, fall rate, per-term rewards, tracking."""
    from quadmimic.core.console import console
    from quadmimic.core.errors import BundleError, QuadmimicError
    from sim_training.bundle import PolicyBundle, parse_latent

    bundle = PolicyBundle.load(checkpoint)
    latent = parse_latent(z)
    if session is not None:
        from adaptation.adapt import best_latent

        latent = best_latent(session)
    if latent is not None and latent.shape != (bundle.z_dim,):
        raise BundleError(f"the policy takes a z of {bundle.z_dim} values, got "
                          f"{latent.shape[0]}" + (" (a robust policy has no z)"
                                                  if not bundle.z_dim else ""), checkpoint)
    if backend == "pybullet":
        from sim_training.cli import eval_table
        from sim_training.evaluate import evaluate

        with console.status(f"evaluating {episodes} episodes"):
            result = evaluate(bundle, motion=motion, dynamics=dynamics, z=latent,
                              episodes=episodes, seed=seed, gif=gif, json_out=json_out,
                              physics_hz=physics_hz)
        console.print(eval_table(result))
        return
    if backend not in SIMULATED:
        raise QuadmimicError(f"unknown backend {backend!r}; available: pybullet, "
                             f"{', '.join(SIMULATED)}")
    if motion is not None or gif is not None:
        raise QuadmimicError("--motion and --gif are for the pybullet env, not --backend "
                             f"{backend}")
    import json

    from adaptation.rollouts import evaluate_on_backend
    from quadmimic.core.fileio import atomic_write_text
    from sim_training.cli import figure_table

    with console.status(f"evaluating {episodes} episodes on the {backend} backend"):
        out = evaluate_on_backend(bundle, backend, dynamics=dynamics, z=latent,
                                  episodes=episodes, seconds=seconds, seed=seed)
    if json_out is not None:
        atomic_write_text(json_out, json.dumps(out.to_json(), indent=2) + "\n")
    progress = out.progress_ratio
    console.print(figure_table(
        f"{out.robot} on the {backend} backend, {episodes} episodes of {seconds:g} s",
        [("mean return (measurable)", f"{out.mean_return:.3f}"),
         ("mean episode", f"{out.mean_episode_seconds:.2f} s"),
         ("fall rate", f"{out.fall_rate:.2f}"),
         ("progress along the reference",
          "—" if progress is None else f"{100 * progress:.0f} %")]))


__all__ = ["eval_command"]
