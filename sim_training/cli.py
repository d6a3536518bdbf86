"""Command line of the training stage: ``train``, ``estimator``, ``export``, ``bundle``."""

from __future__ import annotations

import dataclasses
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from quadmimic.core.fmt import MISSING, fig, percent
from quadmimic.core.options import (
    count,
    fraction,
    ints_at_least,
    non_negative,
    output_dir,
    positive,
    positive_floats,
)
from sim_training.rates import TRAIN_PHYSICS_HZ

if TYPE_CHECKING:
    from sim_training.estimator import EstimatorConfig
    from sim_training.evaluate import EvalResult

DEFAULT = "(default: the training config's)"
"""Help of the options whose default is :class:`~sim_training.config.TrainConfig`'s."""


def train_command(
    motion: Annotated[Path | None, typer.Argument(help="Motion file to imitate (not needed "
                                                 "with --resume).")] = None,
    out: Annotated[Path | None, typer.Option(help="Run directory to create.",
                                             callback=output_dir)] = None,
    resume: Annotated[Path | None, typer.Option(help="Run directory to continue.")] = None,
    robot: Annotated[str | None, typer.Option(help=f"Robot {DEFAULT}.")] = None,
    timesteps: Annotated[int | None, typer.Option(help=f"Total samples {DEFAULT} (a resumed "
                                                  "run may be extended).",
                                                  callback=count)] = None,
    num_envs: Annotated[int | None, typer.Option(help=f"Parallel envs {DEFAULT}.",
                                                 callback=count)] = None,
    num_workers: Annotated[int | None, typer.Option(help="Env processes (divides num-envs; 0: "
                                                    f"in the training process) {DEFAULT}.",
                                                    callback=non_negative)] = None,
    groups_per_worker: Annotated[int | None, typer.Option(
        help=f"Env groups per process, stepped one at a time (1: lockstep) {DEFAULT}.",
        callback=count)] = None,
    seed: Annotated[int | None, typer.Option(help=f"Seed {DEFAULT}.",
                                             callback=non_negative)] = None,
    init_from: Annotated[Path | None, typer.Option(help="Start from this run's, checkpoint's "
                                                   "or bundle's weights (fine-tuning).")] = None,
    no_latent: Annotated[bool, typer.Option("--no-latent", help="Robust baseline: no "
                                            "dynamics encoder.")] = False,
    checkpoint_minutes: Annotated[float | None, typer.Option(
        help=f"Minutes between checkpoints {DEFAULT}.", callback=positive)] = None,
    curriculum_start: Annotated[float | None, typer.Option(
        help="Fraction of the randomisation ranges the run starts at (1: the full ranges, "
        "for a warm start from a policy already trained on them) [default: 0.3].",
        callback=fraction)] = None,
    physics_hz: Annotated[float | None, typer.Option(help="Physics rate of the training envs "
                                                     f"(Hz) [default: {TRAIN_PHYSICS_HZ:g}].",
                                                     callback=positive)] = None,
    standing_starts: Annotated[float | None, typer.Option(
        help="Fraction of episodes that start standing still (as on a robot after its ramp) "
        "instead of on the moving reference [default: 0].", callback=fraction)] = None,
    env_config: Annotated[Path | None, typer.Option(
        help="JSON object of env settings (EnvConfig fields; nested ranges, reward and "
        "sensor_noise may be partial), e.g. wider randomisation, pushes, sensor noise; "
        "--physics-hz and --standing-starts override it.")] = None,
    ray: Annotated[bool, typer.Option("--ray", help="Run as Ray Tune trials (local Ray "
                                      "instance unless --ray-address).")] = False,
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster HOST:PORT.")] = None,
    seeds: Annotated[str, typer.Option(help="With --ray: seeds to try, e.g. 0,1,2.")] = "",
    lrs: Annotated[str, typer.Option(help="With --ray: learning rates to try.")] = "",
) -> None:
    """Train a latent-conditioned imitation policy with PPO (resumable)."""
    from quadmimic.core.console import console, progress_bar
    from quadmimic.core.errors import QuadmimicError
    from sim_training.train import Trainer, validate_config

    on_ray = bool(ray or ray_address)
    if resume is None and (motion is None or out is None):
        raise QuadmimicError("give MOTION and --out for a new run, or --resume RUN_DIR")
    if on_ray and (motion is None or out is None):
        raise QuadmimicError("with --ray give MOTION and --out (re-running resumes trials)")
    config = None
    if resume is None or on_ray:  # a new run: options over the training config's defaults
        given = {"robot": robot, "timesteps": timesteps, "num_envs": num_envs,
                 "num_workers": num_workers, "groups_per_worker": groups_per_worker,
                 "seed": seed, "checkpoint_minutes": checkpoint_minutes,
                 "curriculum_start": curriculum_start}
        config = _train_config(motion=str(motion), latent=not no_latent,
                               init_from=None if init_from is None else str(init_from),
                               env=_env_config(physics_hz, standing_starts, env_config),
                               **{k: v for k, v in given.items() if v is not None})
        validate_config(config)  # before the progress bar and any worker
    if on_ray:
        from sim_training.distributed import train_on_ray

        seed_list = ints_at_least(seeds, "--seeds", 0) or (config.seed,)
        lr_list = positive_floats(lrs, "--lrs") or None
        with console.status("training on Ray"):
            summary = train_on_ray(config, out, seeds=seed_list, learning_rates=lr_list,
                                   address=ray_address)
        console.print_json(data=summary)
        failed = [t for t in summary["trials"] if t["error"]]
        if failed:
            raise QuadmimicError(f"{len(failed)} Ray trial(s) failed: {failed[0]['error']}")
        return
    with progress_bar() as bar:
        task = bar.add_task("train", total=None, rate="")
        start = [time.monotonic(), 0]

        def on_progress(done: int, total: int, mean_return: float) -> None:
            if not start[1]:
                start[1] = done or 1
                start[0] = time.monotonic()
            rate = (done - start[1]) / max(time.monotonic() - start[0], 1e-9)
            bar.update(task, completed=done, total=total,
                       rate=f"{rate:,.0f} samples/s  return {mean_return:.2f}")

        if resume is not None:
            trainer = Trainer.resume(resume, progress=on_progress)
            if timesteps is not None:
                trainer.config = dataclasses.replace(trainer.config, timesteps=timesteps)
        else:
            trainer = Trainer.create(config, out, progress=on_progress)

        def stop(signum: int, frame: Any) -> None:
            # Stop at the next env step and write a checkpoint there; a second Ctrl-C quits
            # at once, the newest periodic checkpoint being the resume point. (A checkpoint
            # written from inside an interrupted step would read the workers' pipes out of
            # turn.)
            if signum == signal.SIGINT and trainer.stop_requested:
                raise KeyboardInterrupt
            trainer.stop_requested = True
            console.print("stopping at the next step with a checkpoint" + (
                " (Ctrl-C again: now, from the last checkpoint)" if signum == signal.SIGINT
                else ""))

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            trainer.train()
        except KeyboardInterrupt:
            console.print("stopped without a checkpoint; resume from the last one")
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            trainer.close()
    console.print(f"run: {trainer.run_dir}  samples: {trainer.model.num_timesteps:,}  "
                  f"checkpoint: {(trainer.run_dir / 'LATEST').read_text().strip()}")


def _env_config(physics_hz: float | None, standing_starts: float | None,
                path: Path | None = None) -> Any:
    """The env config of a new run from CLI options and an env-config file.

    Precedence: explicit options, then the file, then the training defaults
    (:func:`sim_training.config.training_env`). A bad file or an impossible value is one line
    naming it.
    """
    from quadmimic.core.errors import QuadmimicError
    from sim_training.config import env_config_from, training_env

    overrides: dict[str, Any] = {}
    if physics_hz is not None:
        overrides["physics_hz"] = physics_hz
    if standing_starts is not None:
        overrides["standing_start_fraction"] = standing_starts
    base = training_env()
    if path is not None:
        return env_config_from(path, base, overrides)
    try:
        return dataclasses.replace(base, **overrides)
    except ValueError as exc:
        raise QuadmimicError(f"invalid options: {exc}") from exc


def _train_config(**kwargs: Any) -> Any:
    """A :class:`TrainConfig` from CLI options; an impossible combination is one line."""
    from quadmimic.core.errors import QuadmimicError
    from sim_training.config import TrainConfig

    try:
        return TrainConfig(**kwargs)
    except ValueError as exc:
        raise QuadmimicError(f"invalid options: {exc}") from exc


def eval_table(result: EvalResult) -> Any:
    """A rich table of an evaluation: return, episodes, falls, reward terms, tracking."""
    rows = [("mean return", f"{result.mean_return:.1f}"),
            ("mean episode", f"{result.mean_episode_seconds:.2f} s of "
                             f"{result.episode_limit_seconds:.3g} s"),
            ("fall rate", f"{result.fall_rate:.2f}")]
    rows += [(f"reward term {k}", f"{v:.3f}") for k, v in result.reward_terms.items()]
    rows += [("progress along the reference", percent(result.progress_ratio))]
    for k, unit in (("forward_speed", "m/s"), ("lateral_speed", "m/s"), ("yaw_rate", "rad/s")):
        rows.append((k.replace("_", " "), f"mean {getattr(result, k):+.2f} {unit} (reference "
                     f"{getattr(result, 'ref_' + k):+.2f}), tracking "
                     f"{percent(getattr(result, k + '_ratio'))}"))
    return figure_table(f"{result.robot}: {Path(result.motion).name}, "
                        f"{result.episodes} episodes at {result.physics_hz:.0f} Hz physics", rows)


def figure_table(title: str, rows: list[tuple[str, str]]) -> Any:
    """A rich two-column table (figure, value) of an evaluation."""
    from rich.table import Table

    table = Table(title=title)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in rows:
        table.add_row(name, value)
    return table


def export_command(
    checkpoint: Annotated[Path, typer.Argument(help="Policy bundle or training run dir.")],
    out: Annotated[Path, typer.Option(help="Output folder.", callback=output_dir)],
) -> None:
    """Export the actor (and encoder) to torch.export and ONNX, with deploy.json; check parity."""
    from quadmimic.core.console import console
    from quadmimic.core.errors import BundleError
    from sim_training.bundle import PolicyBundle
    from sim_training.export import export_bundle

    report = export_bundle(PolicyBundle.load(checkpoint), out)
    console.print_json(data=report)
    if not report["parity_ok"]:
        raise BundleError("export parity check failed (max abs diff >= 1e-5)", out)


def bundle_command(
    run: Annotated[Path, typer.Argument(help="Training run (its newest checkpoint).")],
    out: Annotated[Path, typer.Option(help="Bundle directory to write (replaced).",
                                      callback=output_dir)],
    episodes: Annotated[int, typer.Option(help="Evaluation episodes at nominal "
                                          "dynamics.", callback=count)] = 10,
) -> None:
    """Write a shippable bundle: policy, config, motion, learning curve, eval JSON, GIF, strip."""
    import shutil

    from quadmimic.core.console import console
    from sim_training.bundle import write_bundle
    from sim_training.evaluate import own_evaluation

    tmp = out.parent / f".{out.name}.ship"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        write_bundle(run, tmp)
        with console.status(f"evaluating {episodes} episodes at nominal dynamics"):
            result = own_evaluation(tmp, episodes)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # nothing half-written stays behind
        raise
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    console.print(eval_table(result))
    console.print(f"bundle: {out}")


ESTIMATOR_DEFAULT = "(default: the estimator config's)"
"""Help of the options whose default is :class:`~sim_training.estimator.EstimatorConfig`'s."""


def estimator_command(
    bundle_dir: Annotated[Path, typer.Argument(metavar="BUNDLE", help="Latent policy bundle: "
                                               "the estimator is written into it.")],
    iterations: Annotated[int | None, typer.Option(
        help="DAgger iterations (the first acts with the prior z, every later one with its "
        f"own ẑ) {ESTIMATOR_DEFAULT}.", callback=count)] = None,
    episodes: Annotated[int | None, typer.Option(
        help="Training episodes per iteration, dynamics drawn from the bundle's training "
        f"ranges {ESTIMATOR_DEFAULT}.", callback=count)] = None,
    episode_seconds: Annotated[float | None, typer.Option(
        help=f"Longest training episode (s) {ESTIMATOR_DEFAULT}.", callback=positive)] = None,
    validation_episodes: Annotated[int | None, typer.Option(
        help=f"Fresh episodes acting with ẑ for the figures {ESTIMATOR_DEFAULT}.",
        callback=count)] = None,
    window: Annotated[int | None, typer.Option(
        help=f"Proprioception frames in the window, at the policy rate {ESTIMATOR_DEFAULT}.",
        callback=count)] = None,
    seed: Annotated[int | None, typer.Option(
        help=f"Seed of the weights and of every episode {ESTIMATOR_DEFAULT}.",
        callback=non_negative)] = None,
) -> None:
    """Train the bundle's online z estimator (ẑ from the last ~0.7 s of proprioception).

    DAgger in the bundle's own randomised env: labels are the encoder's z of the true
    dynamics. Writes estimator.pt, estimator.json and estimator.png (error per iteration)
    into the bundle; `eval`, `deploy` and `adapt` then default to --z estimate.
    """
    from quadmimic.core.console import console, progress_bar
    from quadmimic.core.errors import BundleError
    from sim_training.bundle import PolicyBundle
    from sim_training.estimator import META, save_estimator
    from sim_training.estimator_training import train_estimator
    from sim_training.plots import estimator_png

    if bundle_dir.is_dir() and not (bundle_dir / "manifest.json").is_file():
        raise BundleError("not a policy bundle (no manifest.json): write one first with "
                          "quadmimic bundle RUN --out BUNDLE", bundle_dir)
    bundle = PolicyBundle.load(bundle_dir)
    if not bundle.z_dim:
        raise BundleError("this policy has no latent to estimate (robust baseline)", bundle_dir)
    given = {"iterations": iterations, "episodes_per_iteration": episodes,
             "episode_seconds": episode_seconds, "validation_episodes": validation_episodes,
             "window": window, "seed": seed}
    config = _estimator_config(**{k: v for k, v in given.items() if v is not None})
    total = config.iterations + 1
    with progress_bar() as bar:
        task = bar.add_task("estimator", total=total, rate="")

        def on_progress(row: dict[str, Any]) -> None:
            if "validation" in row:
                bar.update(task, completed=total, rate="validated")
                return
            mse = row.get("holdout_mse")
            bar.update(task, completed=row["iteration"] + 1,
                       rate=f"iteration {row['iteration']} ({row['acting_with']}): held-out "
                            f"error {mse if mse is not None else row['train_mse']:.3f}")

        estimator = train_estimator(bundle, config, progress=on_progress)
    save_estimator(estimator, bundle_dir)
    estimator_png(estimator.meta, bundle_dir / "estimator.png",
                  title=f"{bundle.robot}: z estimator ({bundle_dir.name})")
    val = estimator.meta["validation"]
    cost = estimator.meta["update_microseconds"]
    ratio = val["mse_over_prior"]
    console.print(
        f"validation on {val['episodes']} fresh episodes acting with ẑ: error "
        f"{val['mse']:.3f} against the prior's {val['prior_mse']:.3f} (mean squared, per "
        "value" + (f"; {ratio:.2f} × the prior's" if ratio is not None else "") + "); "
        f"update {cost['p50_us']:.0f} µs (p50)", highlight=False)
    console.print(f"estimator: {bundle_dir / META}, error per iteration: "
                  f"{bundle_dir / 'estimator.png'}", highlight=False)
    if (bundle_dir / "eval.json").is_file():  # a shipped bundle now acts with ẑ by default
        from sim_training.evaluate import own_evaluation

        with console.status("evaluating the bundle again, acting with its estimate"):
            result = own_evaluation(bundle_dir)
        console.print(eval_table(result))


def _estimator_config(**kwargs: Any) -> EstimatorConfig:
    """An :class:`EstimatorConfig` from CLI options; an impossible combination is one line."""
    from quadmimic.core.errors import QuadmimicError
    from sim_training.estimator import EstimatorConfig

    try:
        return EstimatorConfig(**kwargs)
    except ValueError as exc:
        raise QuadmimicError(f"invalid options: {exc}") from exc


def skills_command(
    policies: Annotated[Path, typer.Argument(help="Folder of policy bundles.")] = Path(
        "data/policies"),
    markdown: Annotated[bool, typer.Option(help="Print a Markdown table (for a README).")] = False,
) -> None:
    """List the shipped skills: source motion, samples, threshold, pose and tracking."""
    from quadmimic.core.console import console
    from quadmimic.core.errors import QuadmimicError
    from sim_training.skills import markdown_table, skill_rows

    if not policies.is_dir():
        raise QuadmimicError(f"{policies}: not a folder of policy bundles")
    rows = skill_rows(policies)
    if not rows:
        raise QuadmimicError(f"{policies}: holds no policy bundle (no manifest.json)")
    if markdown:
        typer.echo(markdown_table(rows, relative_to=Path.cwd()), nl=False)
        return
    from rich.table import Table

    table = Table(title=f"skills in {policies}")
    for col in ("skill", "robot", "source motion", "samples", "threshold at", "pose",
                "progress", "fwd / lat / yaw tracking", "falls"):
        table.add_column(col)

    for r in rows:
        at = (MISSING if r["samples_to_threshold"] is None
              else f"{r['samples_to_threshold'] / 1e3:.0f} k, {r['minutes_to_threshold']:.0f} min")
        table.add_row(r["name"], r["robot"], r["source"] or r["motion"],
                      f"{r['samples'] / 1e6:.2f} M ({r['wall_hours']:.2f} h)", at,
                      fig(r["pose"]), percent(r["progress"]),
                      " / ".join(percent(r[f"{k}_ratio"]) for k in
                                 ("forward_speed", "lateral_speed", "yaw_rate")),
                      fig(r["fall_rate"], "{:.0%}"))
    console.print(table)
