"""Command-line interface of the training stage: ``quadmimic train``."""

from __future__ import annotations

import dataclasses
import signal
import time
from pathlib import Path
from typing import Annotated, Any

import typer


def train_command(
    motion: Annotated[Path | None, typer.Argument(help="Motion file to imitate (not needed "
                                                 "with --resume).")] = None,
    out: Annotated[Path | None, typer.Option(help="Run directory to create.")] = None,
    resume: Annotated[Path | None, typer.Option(help="Run directory to continue.")] = None,
    robot: Annotated[str, typer.Option(help="Robot.")] = "a1",
    timesteps: Annotated[int | None, typer.Option(help="Total samples (a resumed run may "
                                                  "be extended).")] = None,
    num_envs: Annotated[int, typer.Option(help="Parallel envs.")] = 32,
    num_workers: Annotated[int, typer.Option(help="Env processes (divides num-envs).")] = 2,
    groups_per_worker: Annotated[int, typer.Option(help="Env groups per process, stepped "
                                                   "one at a time (1: lockstep).")] = 2,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    init_from: Annotated[Path | None, typer.Option(help="Start from this run's, checkpoint's "
                                                   "or bundle's weights (fine-tuning).")] = None,
    no_latent: Annotated[bool, typer.Option("--no-latent", help="Robust baseline: no "
                                            "dynamics encoder.")] = False,
    checkpoint_minutes: Annotated[float, typer.Option(help="Minutes between "
                                                      "checkpoints.")] = 5.0,
    physics_hz: Annotated[float | None, typer.Option(help="Physics rate of the training envs "
                                                     "(Hz) [default: 500].")] = None,
    standing_starts: Annotated[float | None, typer.Option(
        help="Fraction of episodes that start standing still (as on a robot after its ramp) "
        "instead of on the moving reference [default: 0].")] = None,
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
    from motion_retarget.cli import console, progress_bar
    from motion_retarget.errors import QuadmimicError
    from sim_training.train import Trainer, validate_config

    if resume is None and (motion is None or out is None):
        raise QuadmimicError("give MOTION and --out for a new run, or --resume RUN_DIR")
    if ray or ray_address:
        from sim_training.distributed import train_on_ray

        if motion is None or out is None:
            raise QuadmimicError("with --ray give MOTION and --out (re-running resumes trials)")
        config = _train_config(motion=str(motion), robot=robot,
                               timesteps=timesteps or 2_000_000,
                               num_envs=num_envs, num_workers=num_workers, seed=seed,
                               groups_per_worker=groups_per_worker,
                               latent=not no_latent, checkpoint_minutes=checkpoint_minutes,
                               init_from=None if init_from is None else str(init_from),
                               env=_env_config(physics_hz, standing_starts, env_config))
        validate_config(config)
        seed_list = tuple(int(v) for v in seeds.split(",") if v.strip()) or (seed,)
        lr_list = tuple(float(v) for v in lrs.split(",") if v.strip()) or None
        with console.status("training on Ray"):
            summary = train_on_ray(config, out, seeds=seed_list, learning_rates=lr_list,
                                   address=ray_address)
        console.print_json(data=summary)
        failed = [t for t in summary["trials"] if t["error"]]
        if failed:
            raise QuadmimicError(f"{len(failed)} Ray trial(s) failed: {failed[0]['error']}")
        return
    config = None
    if resume is None:
        config = _train_config(motion=str(motion), robot=robot,
                               timesteps=timesteps or 2_000_000, num_envs=num_envs,
                               num_workers=num_workers, seed=seed, latent=not no_latent,
                               groups_per_worker=groups_per_worker,
                               checkpoint_minutes=checkpoint_minutes,
                               init_from=None if init_from is None else str(init_from),
                               env=_env_config(physics_hz, standing_starts, env_config))
        validate_config(config)  # before the progress bar and any worker
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
            trainer.stop_requested = True

        previous = signal.signal(signal.SIGTERM, stop)
        try:
            trainer.train()
        except KeyboardInterrupt:
            trainer.save_checkpoint()
        finally:
            signal.signal(signal.SIGTERM, previous)
            trainer.close()
    console.print(f"run: {trainer.run_dir}  samples: {trainer.model.num_timesteps:,}  "
                  f"checkpoint: {(trainer.run_dir / 'LATEST').read_text().strip()}")


def _env_config(physics_hz: float | None, standing_starts: float | None,
                path: Path | None = None) -> Any:
    """The env config of a new run from CLI options and an env-config file.

    Precedence: explicit options, then the file, then the training defaults (500 Hz physics,
    heading feedback). A bad file or an impossible value is one line naming it.
    """
    from motion_retarget.errors import QuadmimicError
    from sim_training.config import env_config_from
    from sim_training.env import EnvConfig

    overrides: dict[str, Any] = {}
    if physics_hz is not None:
        overrides["physics_hz"] = physics_hz
    if standing_starts is not None:
        overrides["standing_start_fraction"] = standing_starts
    base = EnvConfig(physics_hz=500.0, heading_feedback=True)
    if path is not None:
        return env_config_from(path, base, overrides)
    try:
        return dataclasses.replace(base, **overrides)
    except ValueError as exc:
        raise QuadmimicError(f"invalid options: {exc}") from exc


def _train_config(**kwargs: Any) -> Any:
    """A :class:`TrainConfig` from CLI options; an impossible combination is one line."""
    from motion_retarget.errors import QuadmimicError
    from sim_training.config import TrainConfig

    try:
        return TrainConfig(**kwargs)
    except ValueError as exc:
        raise QuadmimicError(f"invalid options: {exc}") from exc


def _parse_z(z: str | None) -> Any:
    import numpy as np

    if z is None:
        return None
    from motion_retarget.errors import BundleError

    try:
        values = np.array([float(v) for v in z.replace(",", " ").split()])
    except ValueError as exc:
        raise BundleError(f"--z must be numbers separated by commas, got {z!r}") from exc
    if not np.all(np.isfinite(values)):
        raise BundleError("--z values must be finite")
    return values


def _session_z(session: Path) -> Any:
    """The best latent of an adaptation session directory."""
    import numpy as np

    from motion_retarget.errors import QuadmimicError

    path = session / "rollouts.jsonl"
    if not path.is_file():
        raise QuadmimicError(f"{session} is not an adaptation session (no rollouts.jsonl)")
    import json

    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not records:
        raise QuadmimicError(f"{session} has no finished rollout yet")
    return np.asarray(max(records, key=lambda r: r["return"])["z"])


def eval_command(
    checkpoint: Annotated[Path, typer.Argument(help="Policy bundle or training run dir.")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Result JSON "
                                                  "(optional).")] = None,
    motion: Annotated[Path | None, typer.Option(help="Motion (default: the bundle's).")] = None,
    dynamics: Annotated[Path | None, typer.Option(help="Dynamics JSON (default: "
                                                  "nominal).")] = None,
    z: Annotated[str | None, typer.Option(help="Latent, comma-separated.")] = None,
    session: Annotated[Path | None, typer.Option(help="Adaptation session: use its best "
                                                 "z.")] = None,
    episodes: Annotated[int, typer.Option(help="Episodes.")] = 5,
    seed: Annotated[int, typer.Option(help="Seed of the start phases.")] = 0,
    gif: Annotated[Path | None, typer.Option(help="GIF of the first episode.")] = None,
    physics_hz: Annotated[float, typer.Option(help="Physics rate (Hz): 1 kHz as the robot "
                                              "backends (training ran at 500 Hz).")] = 1000.0,
    backend: Annotated[str, typer.Option(help="pybullet: the training env (every reward "
                                         "term); mujoco or sim: a simulated robot through the "
                                         "deploy controller (measurable return, falls, "
                                         "progress).")] = "pybullet",
    seconds: Annotated[float, typer.Option(help="With a robot backend: seconds per "
                                           "episode.")] = 10.0,
) -> None:
    """Evaluate a policy: return, episode length, fall rate, per-term rewards, tracking."""
    from motion_retarget.cli import console
    from motion_retarget.errors import BundleError
    from sim_training.bundle import PolicyBundle
    from sim_training.evaluate import evaluate

    bundle = PolicyBundle.load(checkpoint)
    latent = _parse_z(z)
    if session is not None:
        latent = _session_z(session)
    if latent is not None and latent.shape != (bundle.z_dim,):
        raise BundleError(f"the policy takes a z of {bundle.z_dim} values, got "
                          f"{latent.shape[0]}" + (" (a robust policy has no z)"
                                                  if not bundle.z_dim else ""), checkpoint)
    if backend != "pybullet":
        _evaluate_on_robot(bundle, backend, dynamics, latent, episodes, seconds, seed,
                           json_out, motion=motion, gif=gif)
        return
    with console.status(f"evaluating {episodes} episodes"):
        out = evaluate(bundle, motion=motion, dynamics=dynamics, z=latent,
                       episodes=episodes, seed=seed, gif=gif, json_out=json_out,
                       physics_hz=physics_hz)
    console.print(eval_table(out))


ROBOT_EVALUATOR: Any = None
"""``evaluate(bundle, engine, *, dynamics, z, episodes, seconds, seed) -> dict`` for
``eval --backend``: a later stage's function (the deploy controller and the measurable
return live after this one), set by the ``quadmimic`` command line."""
ROBOT_ENGINES = ("mujoco", "sim")
"""Backends ``eval --backend`` takes besides ``pybullet``."""


def _evaluate_on_robot(bundle: Any, backend: str, dynamics: Path | None, z: Any,
                       episodes: int, seconds: float, seed: int, json_out: Path | None, *,
                       motion: Path | None, gif: Path | None) -> None:
    """``eval --backend mujoco|sim``: through :data:`ROBOT_EVALUATOR`."""
    import json

    from motion_retarget.cli import console
    from motion_retarget.errors import QuadmimicError
    from motion_retarget.fileio import atomic_write_text

    if backend not in ROBOT_ENGINES:
        raise QuadmimicError(f"unknown backend {backend!r}; available: pybullet, "
                             f"{', '.join(ROBOT_ENGINES)}")
    if motion is not None or gif is not None:
        raise QuadmimicError("--motion and --gif are for the pybullet env, not --backend "
                             f"{backend}")
    if ROBOT_EVALUATOR is None:
        raise QuadmimicError("--backend needs the quadmimic command line")
    if not seconds > 0:
        raise QuadmimicError(f"--seconds must be > 0, got {seconds}")
    with console.status(f"evaluating {episodes} episodes on the {backend} backend"):
        out = ROBOT_EVALUATOR(bundle, backend, dynamics=dynamics, z=z, episodes=episodes,
                              seconds=seconds, seed=seed)
    if json_out is not None:
        atomic_write_text(json_out, json.dumps(out, indent=2) + "\n")
    progress = out["progress_ratio"]
    console.print(figure_table(
        f"{out['robot']} on the {backend} backend, {episodes} episodes of {seconds:g} s",
        [("mean return (measurable)", f"{out['mean_return']:.3f}"),
         ("mean episode", f"{out['mean_episode_seconds']:.2f} s"),
         ("fall rate", f"{out['fall_rate']:.2f}"),
         ("progress along the reference",
          "—" if progress is None else f"{100 * progress:.0f} %")]))


def eval_table(result: dict[str, Any]) -> Any:
    """A rich table of an evaluation: return, episodes, falls, reward terms, tracking."""
    def ratio(v: float | None) -> str:
        return "—" if v is None else f"{100 * v:.0f} %"

    rows = [("mean return", f"{result['mean_return']:.1f}"),
            ("mean episode", f"{result['mean_episode_seconds']:.2f} s of "
                             f"{result['episode_limit_seconds']:.3g} s"),
            ("fall rate", f"{result['fall_rate']:.2f}")]
    rows += [(f"reward term {k}", f"{v:.3f}") for k, v in result["reward_terms"].items()]
    rows += [("progress along the reference", ratio(result.get("progress_ratio")))]
    for k, unit in (("forward_speed", "m/s"), ("lateral_speed", "m/s"), ("yaw_rate", "rad/s")):
        if k in result:
            rows.append((k.replace("_", " "), f"mean {result[k]:+.2f} {unit} (reference "
                         f"{result['ref_' + k]:+.2f}), tracking {ratio(result[k + '_ratio'])}"))
    return figure_table(f"{result['robot']}: {Path(result['motion']).name}, "
                        f"{result['episodes']} episodes at {result['physics_hz']:.0f} Hz "
                        "physics", rows)


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
    out: Annotated[Path, typer.Option(help="Output folder.")],
) -> None:
    """Export the actor (and encoder) to torch.export and ONNX, with deploy.json; check parity."""
    from motion_retarget.cli import console
    from motion_retarget.errors import BundleError
    from sim_training.bundle import PolicyBundle
    from sim_training.export import export_bundle

    report = export_bundle(PolicyBundle.load(checkpoint), out)
    console.print_json(data=report)
    if not report["parity_ok"]:
        raise BundleError("export parity check failed (max abs diff >= 1e-5)", out)


EVAL_PHYSICS_HZ = 1000.0
"""Physics rate of shipped evaluations: the robot backends' (training runs at 500 Hz)."""


def bundle_command(
    run: Annotated[Path, typer.Argument(help="Training run (its newest checkpoint).")],
    out: Annotated[Path, typer.Option(help="Bundle directory to write (replaced).")],
    episodes: Annotated[int, typer.Option(help="Evaluation episodes at nominal "
                                          "dynamics.")] = 10,
) -> None:
    """Write a shippable bundle: policy, config, motion, learning curve, eval JSON, GIF, strip."""
    import shutil

    from motion_retarget.cli import console
    from motion_retarget.preview import gif_strip
    from sim_training.bundle import PolicyBundle, write_bundle
    from sim_training.evaluate import evaluate

    tmp = out.parent / f".{out.name}.ship"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        write_bundle(run, tmp)
        with console.status(f"evaluating {episodes} episodes at nominal dynamics"):
            result = evaluate(PolicyBundle.load(tmp), episodes=episodes,
                              json_out=tmp / "eval.json", gif=tmp / "rollout.gif",
                              physics_hz=EVAL_PHYSICS_HZ)
        gif_strip(tmp / "rollout.gif", tmp / "strip.png")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # nothing half-written stays behind
        raise
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    console.print(eval_table(result))
    console.print(f"bundle: {out}")


def skills_command(
    policies: Annotated[Path, typer.Argument(help="Folder of policy bundles.")] = Path(
        "data/policies"),
    markdown: Annotated[bool, typer.Option(help="Print a Markdown table (for a README).")] = False,
) -> None:
    """List the shipped skills: source motion, samples, threshold, pose and tracking."""
    from motion_retarget.cli import console
    from motion_retarget.errors import QuadmimicError
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

    def pct(v: float | None) -> str:
        return "—" if v is None else f"{100 * v:.0f} %"

    for r in rows:
        at = ("—" if r["samples_to_threshold"] is None
              else f"{r['samples_to_threshold'] / 1e3:.0f} k, {r['minutes_to_threshold']:.0f} min")
        table.add_row(r["name"], r["robot"], r["source"] or r["motion"],
                      f"{r['samples'] / 1e6:.2f} M ({r['wall_hours']:.2f} h)", at,
                      "—" if r["pose"] is None else f"{r['pose']:.2f}", pct(r["progress"]),
                      " / ".join(pct(r[f"{k}_ratio"]) for k in
                                 ("forward_speed", "lateral_speed", "yaw_rate")),
                      "—" if r["fall_rate"] is None else f"{r['fall_rate']:.0%}")
    console.print(table)
