"""``quadmimic eval``: a policy in the training env, or on a simulated robot backend.

The command spans the stages: the training env's evaluation
(:func:`sim_training.evaluate.evaluate`), the deploy controller on a simulated robot
(:func:`adaptation.rollouts.evaluate_on_backend`, the measurable return adaptation and the
transfer bench use), the z choice of a latent policy (``--z estimate | prior | FILE | values``,
:func:`sim_training.estimator.choose_z`) and an adaptation session's final latent
(:func:`adaptation.adapt.session_latent`); so it lives here, above them all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from quadmimic.core.fmt import fig, percent
from quadmimic.core.options import count, non_negative, output_file, positive
from robot_deploy.backends import SIMULATED
from robot_deploy.cli import Z_HELP
from sim_training.rates import EVAL_PHYSICS_HZ, TRAIN_PHYSICS_HZ


def eval_command(
    checkpoint: Annotated[Path, typer.Argument(help="Policy bundle or training run dir.")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Result JSON "
                                                  "(optional).", callback=output_file)] = None,
    motion: Annotated[Path | None, typer.Option(help="Motion (default: the bundle's).")] = None,
    dynamics: Annotated[Path | None, typer.Option(help="Dynamics JSON (default: "
                                                  "nominal).")] = None,
    z: Annotated[str | None, typer.Option(help=Z_HELP + " With the pybullet backend also "
                                          "oracle: the encoder's z of the true dynamics.")
                 ] = None,
    session: Annotated[Path | None, typer.Option(help="Adaptation session: use its final z "
                                                 "(the incumbent).")] = None,
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
    commands: Annotated[str | None, typer.Option(
        "--commands", help="A steerable policy on a command script: figure_eight, "
        "start_stop, speed_ramp, random (commands drawn as in training, every 2-4 s, each "
        "episode its own) or a JSON file (segments of seconds, forward_speed, "
        "lateral_speed, yaw_rate, rate); reports speed and yaw-rate error, falls, the pose "
        "term at the clip's own speed and the response time, and writes a top-down "
        "trajectory plot beside the GIF (or at --plot). With --backend mujoco or sim: "
        "through the deploy controller, a fall being a safety trip or a tilt.")] = None,
    plot: Annotated[Path | None, typer.Option(help="With --commands: the trajectory PNG "
                                              "(default: beside the GIF).",
                                              callback=output_file)] = None,
) -> None:
    """Evaluate a policy: return, episode length, fall rate, per-term rewards, tracking."""
    from quadmimic.core.console import console
    from quadmimic.core.errors import BundleError, QuadmimicError
    from sim_training.bundle import PolicyBundle
    from sim_training.estimator import ZChoice, choose_z

    bundle = PolicyBundle.load(checkpoint)
    if backend != "pybullet" and backend not in SIMULATED:
        raise QuadmimicError(f"unknown backend {backend!r}; available: pybullet, "
                             f"{', '.join(SIMULATED)}")
    if session is not None and z is not None:
        raise QuadmimicError("give --z or --session, not both")
    oracle = z == "oracle"
    if oracle and backend != "pybullet":
        raise QuadmimicError("--z oracle needs the pybullet backend (the true dynamics)")
    if oracle and not bundle.z_dim:
        raise BundleError("--z: this policy has no latent (a robust baseline)", checkpoint)
    choice: ZChoice | None = None
    if session is not None:
        from adaptation.adapt import session_latent

        latent = session_latent(session)
        if latent is None:  # no fixed z beat the online estimate
            if bundle.estimator() is None:
                raise BundleError("the session's result is the online estimate, and this "
                                  "policy carries no estimator", checkpoint)
            choice = ZChoice("estimate", None, bundle.estimator(), f"the session {session}",
                             f"the result of the session {session}: no fixed z beat the "
                             "online estimate")
        elif latent.shape != (bundle.z_dim,):
            raise BundleError(f"the session's z has {latent.shape[0]} values, the policy "
                              f"takes {bundle.z_dim}", checkpoint)
        else:
            choice = ZChoice("fixed", latent, None, f"the session {session}")
    elif not oracle:
        choice = choose_z(bundle, z)
    if oracle:
        console.print("z: oracle (the encoder's z of the true dynamics)", highlight=False)
    elif choice is not None:
        console.print(choice.describe(), highlight=False)
    fixed = None if choice is None else choice.z
    estimator = None if choice is None else choice.estimator
    if commands is not None or plot is not None:
        if commands is None:
            raise QuadmimicError("--plot is for --commands")
        if oracle or motion is not None:
            raise QuadmimicError("--commands runs without --motion or --z oracle")
        if backend != "pybullet" and gif is not None:
            raise QuadmimicError(f"--gif is for the pybullet env, not --backend {backend} "
                                 "(--plot writes the trajectory plot)")
        _eval_commands(bundle, commands, fixed, estimator, backend, episodes=episodes,
                       seed=seed, gif=gif, plot=plot, json_out=json_out,
                       physics_hz=physics_hz, dynamics=dynamics)
        return
    if backend == "pybullet":
        from sim_training.cli import eval_table
        from sim_training.evaluate import evaluate

        with console.status(f"evaluating {episodes} episodes"):
            result = evaluate(bundle, motion=motion, dynamics=dynamics, z=fixed,
                              episodes=episodes, seed=seed, gif=gif, json_out=json_out,
                              physics_hz=physics_hz, estimator=estimator,
                              z_source="oracle" if oracle else (
                                  None if choice is None else choice.kind))
        console.print(eval_table(result))
        return
    if motion is not None or gif is not None:
        raise QuadmimicError("--motion and --gif are for the pybullet env, not --backend "
                             f"{backend}")
    import json

    from adaptation.rollouts import evaluate_on_backend
    from quadmimic.core.fileio import atomic_write_text
    from sim_training.cli import figure_table

    with console.status(f"evaluating {episodes} episodes on the {backend} backend"):
        out = evaluate_on_backend(bundle, backend, dynamics=dynamics, z=fixed,
                                  episodes=episodes, seconds=seconds, seed=seed,
                                  estimator=estimator)
    if json_out is not None:
        atomic_write_text(json_out, json.dumps(out.to_json(), indent=2) + "\n")
    progress = out.progress_ratio
    console.print(figure_table(
        f"{out.robot} on the {backend} backend, {episodes} episodes of {seconds:g} s",
        [("mean return (measurable)", f"{out.mean_return:.3f}"),
         ("mean episode", f"{out.mean_episode_seconds:.2f} s"),
         ("fall rate", f"{out.fall_rate:.2f}"),
         ("progress along the reference", percent(progress))]))


def _eval_commands(bundle: Any, spec: str, z: Any, estimator: Any, backend: str,
                   **kwargs: Any) -> None:
    """``eval --commands``: the command script's figures as a table."""
    from quadmimic.core.console import console
    from sim_training.cli import figure_table
    from sim_training.commands import load_command_script, motion_clip_command

    clip = motion_clip_command(bundle.motion_path, bundle.robot)
    script = load_command_script(spec, clip, bundle.config.env.commands)
    where = "" if backend == "pybullet" else f" on the {backend} backend"
    with console.status(f"{kwargs['episodes']} episodes of {script.seconds:.1f} s of "
                        f"{script.name}{where}"):
        if backend == "pybullet":
            from sim_training.command_eval import evaluate_commands

            out = evaluate_commands(bundle, script, z=z, estimator=estimator, **kwargs)
        else:
            from adaptation.rollouts import evaluate_commands_on_backend

            out = evaluate_commands_on_backend(
                bundle, backend, script, dynamics=kwargs["dynamics"], z=z,
                episodes=kwargs["episodes"], seed=kwargs["seed"], estimator=estimator,
                plot=kwargs["plot"], json_out=kwargs["json_out"])

    ranges = out.command_ranges
    console.print(figure_table(
        f"{out.robot}: {script.name}, {out.episodes} episodes of {out.script_seconds:.1f} s "
        f"at {out.physics_hz:.0f} Hz physics{where}",
        [("command ranges", f"forward {ranges['forward_speed']} m/s, lateral "
          f"{ranges['lateral_speed']} m/s, yaw {ranges['yaw_rate']} rad/s"),
         ("speed error", fig(out.speed_error, "{:.1%} of the commanded speed")),
         ("speed error by playback", ", ".join(
             f"{band}: {fig(err, '{:.0%}')}" for band, err in out.speed_error_by_playback.items())),
         ("speed bias", f"forward {fig(out.speed_bias['forward'], '{:+.0%}')}, lateral "
          f"{fig(out.speed_bias['lateral'], '{:+.0%}')} of the commanded speed"),
         ("yaw-rate error", fig(out.yaw_rate_error, "{:.3f} rad/s")),
         ("falls", f"{out.falls} of {out.episodes} (mean episode "
                   f"{out.mean_episode_seconds:.2f} s)"),
         ("pose term at the clip's own speed", fig(out.pose_at_clip_speed, "{:.3f}")),
         ("command to motion", fig(out.response_seconds, "{:.2f} s")),
         ("action change per step", fig(out.action_change, "{:.3f}")),
         ("trajectory plot", out.trajectory_plot or "—")]))


__all__ = ["eval_command"]
