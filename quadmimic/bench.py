"""``quadmimic bench ...``: benchmarks that write JSON (never timed asserts in tests).

Each benchmark lives with its stage, as a function that returns the JSON-ready figures:
``retarget`` in :mod:`motion_retarget.bench`; ``env``, ``train`` and ``ray`` in
:mod:`sim_training.bench`; ``deploy`` and ``robustness`` in :mod:`robot_deploy.bench`; ``adapt`` in
:mod:`adaptation.bench` and ``transfer`` in :mod:`adaptation.transfer`. The commands here only
resolve the defaults (the repository's ``data/``), write the JSON atomically and print.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from quadmimic.core.options import (
    count,
    ints_at_least,
    non_negative,
    output_file,
    positive,
    sched_priority,
)
from quadmimic.paths import DATA, DEFAULT_CLIPS

bench_app = typer.Typer(help="Benchmarks; each writes a JSON file.", no_args_is_help=True)

TROT = DATA / "motions" / "a1_trot.txt"
"""The default motion of the training benchmarks: the shipped A1 trot."""


def _clip_dir(clips: Path | None) -> Path:
    return clips if clips is not None else DEFAULT_CLIPS


def _write_json(path: Path, out: dict[str, Any]) -> None:
    """Write the figures to ``path`` atomically (indented JSON)."""
    from quadmimic.core.fileio import atomic_write_text

    atomic_write_text(path, json.dumps(out, indent=2) + "\n")


@bench_app.command("retarget")
def bench_retarget_command(
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the results.",
                                           callback=output_file)],
    clips: Annotated[Path | None, typer.Option(help="Folder of *_joint_pos.txt clips "
                                               "(default: data/mocap).")] = None,
    robots: Annotated[str, typer.Option(help="Comma-separated robots.")] = "a1,laikago,go1,go2",
    variants: Annotated[bool, typer.Option(help="Also run unseen variants.")] = True,
) -> None:
    """Retarget every clip onto every robot (+ unseen variants); figures vs the targets."""
    from motion_retarget.bench import bench_retarget
    from quadmimic.core.console import console, progress_bar

    with progress_bar() as bar:
        task = bar.add_task("bench retarget", total=None, rate="")
        out = bench_retarget(_clip_dir(clips), [r.strip() for r in robots.split(",") if r.strip()],
                             command=[sys.executable, "-m", "quadmimic", "retarget"],
                             variants=variants,
                             progress=lambda done, total: bar.update(task, completed=done,
                                                                     total=total))
    _write_json(json_out, out)
    console.print_json(json.dumps({k: out[k] for k in ("worst_locomotion", "end_to_end",
                                                        "pass")}))
    console.print(f"wrote {json_out}")


@bench_app.command("env")
def bench_env_command(
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the results.",
                                           callback=output_file)],
    robot: Annotated[str, typer.Option(help="Robot.")] = "a1",
    motion: Annotated[Path | None, typer.Option(help="Motion file (default: the shipped "
                                                "A1 trot).")] = None,
    rounds: Annotated[int, typer.Option(help="Interleaved rounds (median taken).",
                                        callback=count)] = 11,
    vec_seconds: Annotated[float, typer.Option(help="Seconds per vector-env round.",
                                               callback=positive)] = 4.0,
    envs_per_process: Annotated[int, typer.Option(help="Envs in each of the 2 processes.",
                                                  callback=count)] = 8,
) -> None:
    """Env steps/s against raw PyBullet (ceiling) and the 2-process vector env overhead."""
    from quadmimic.core.console import console
    from sim_training.bench import bench_env

    with console.status("benchmarking the env (about a minute)"):
        out = bench_env(motion or TROT, robot, rounds=rounds, vec_seconds=vec_seconds,
                        envs_per_process=envs_per_process)
    _write_json(json_out, out)
    console.print_json(json.dumps({k: v for k, v in out.items()
                                   if not k.endswith("rounds")}))
    console.print(f"wrote {json_out}")


@bench_app.command("train")
def bench_train_command(
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the results.",
                                           callback=output_file)],
    motion: Annotated[Path | None, typer.Option(help="Motion (default: shipped A1 "
                                                "trot).")] = None,
    run: Annotated[Path | None, typer.Option(help="A training run or bundle whose learning "
                                             "curve gives samples-to-threshold.")] = None,
    num_envs: Annotated[int | None, typer.Option(
        help="Envs (default: the training default).", callback=count)] = None,
    num_workers: Annotated[int, typer.Option(help="Env processes (0: in this one).",
                                             callback=non_negative)] = 2,
    groups_per_worker: Annotated[int | None, typer.Option(
        help="Env groups per process (default: the training default).", callback=count)] = None,
    n_steps: Annotated[int | None, typer.Option(
        help="Steps per env per update (default: the training default).",
        callback=count)] = None,
    rollouts: Annotated[int, typer.Option(help="PPO iterations to time.", callback=count)] = 6,
) -> None:
    """Training samples/s against env-only samples/s (same envs, same run).

    Env-only steps the very same envs (normalisation and noise wrappers included) with random
    actions, the way training steps them: group by group when the envs are grouped.
    """
    from quadmimic.core.console import console
    from sim_training.bench import bench_train

    with console.status("benchmarking training"):
        out = bench_train(motion or TROT, run=run, num_envs=num_envs, num_workers=num_workers,
                          groups_per_worker=groups_per_worker, n_steps=n_steps,
                          rollouts=rollouts)
    _write_json(json_out, out)
    console.print_json(data=out)


@bench_app.command("ray")
def bench_ray_command(
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the results.",
                                           callback=output_file)],
    iterations: Annotated[int, typer.Option(help="PPO iterations per measurement.",
                                            callback=count)] = 8,
    num_envs: Annotated[int, typer.Option(help="Envs (in the trial's own process).",
                                          callback=count)] = 4,
) -> None:
    """Ray's overhead per PPO iteration: the same run locally and as a Ray Tune trial."""
    from quadmimic.core.console import console
    from sim_training.bench import bench_ray

    with console.status("benchmarking Ray"):
        out = bench_ray(TROT, iterations=iterations, num_envs=num_envs)
    _write_json(json_out, out)
    console.print_json(data=out)


@bench_app.command("deploy")
def bench_deploy_command(
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the results.",
                                           callback=output_file)],
    policy: Annotated[Path | None, typer.Option(help="Policy bundle or run (default: "
                                                "the shipped A1 trot).")] = None,
    seconds: Annotated[float, typer.Option(help="Real-time run length (s) per "
                                           "scheduling mode.", callback=positive)] = 10.0,
    backend: Annotated[str, typer.Option(help="go1-udp: the emulator in its own process over "
                                         "the SDK's UDP (as on hardware); sim: physics "
                                         "thread in this process.")] = "go1-udp",
    rt_priorities: Annotated[str, typer.Option(help="Command-loop scheduling modes to run "
                                               "one after the other: SCHED_FIFO priorities, "
                                               "0 = normal scheduling.")] = "0,49",
) -> None:
    """Policy inference p50/p99 and the 500 Hz command loop's period jitter p50/p99."""
    from quadmimic.core.console import console
    from quadmimic.core.errors import QuadmimicError
    from robot_deploy.bench import bench_deploy

    priorities = list(ints_at_least(rt_priorities, "--rt-priorities", 0))
    for priority in priorities:
        try:
            sched_priority(priority)
        except typer.BadParameter as exc:
            raise typer.BadParameter(exc.message, param_hint="'--rt-priorities'") from None
    if not priorities:
        raise QuadmimicError("--rt-priorities: give at least one priority (0: normal)")
    out = bench_deploy(policy or DATA / "policies" / "a1_trot", seconds=seconds, backend=backend,
                       rt_priorities=priorities, status=console.status)
    _write_json(json_out, out)
    console.print_json(data=out)


@bench_app.command("robustness")
def bench_robustness_command(
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the results.",
                                           callback=output_file)],
    policy: Annotated[list[Path], typer.Option(help="Policy bundle, run or checkpoint copy "
                                               "(repeatable).")],
    runs: Annotated[int, typer.Option(help="Runs per policy.", callback=count)] = 8,
    seconds: Annotated[float, typer.Option(help="Policy seconds per run.",
                                           callback=positive)] = 10.0,
    seed: Annotated[int, typer.Option(help="Seed of the first run (run k: seed + k).",
                                      callback=non_negative)] = 100,
    shove_speed: Annotated[float, typer.Option(help="Shove (m/s), once per run.",
                                               callback=non_negative)] = 0.3,
    shove_at: Annotated[float, typer.Option(help="Policy time of the shove (s).",
                                            callback=non_negative)] = 3.0,
    min_distance: Annotated[float, typer.Option(help="Distance (m) a run must cover "
                                                "without a trip to count.",
                                                callback=non_negative)] = 3.0,
) -> None:
    """Start-and-shove runs on PyBullet under training-range dynamics; the rule's pick."""
    from quadmimic.core.console import console, progress_bar
    from quadmimic.core.errors import QuadmimicError
    from robot_deploy.bench import RobustnessConfig, bench_robustness
    from sim_training.bundle import PolicyBundle

    try:
        config = RobustnessConfig(runs=runs, seconds=seconds, seed=seed,
                                  shove_speed=shove_speed, shove_at=shove_at,
                                  min_distance=min_distance)
    except ValueError as exc:
        raise QuadmimicError(f"bench robustness: {exc}") from exc
    for path in policy:
        PolicyBundle.load(path)  # every policy loads before the first run
    with progress_bar() as bar:
        task = bar.add_task("bench robustness", total=None, rate="")
        out = bench_robustness(policy, config, progress=lambda done, total, what: bar.update(
            task, completed=done, total=total, rate=Path(what).name))
    _write_json(json_out, out)
    for row in out["policies"]:
        console.print(f"{row['policy']}: {row['passed']} of {runs} runs, "
                      f"{row['mean_distance_m']:.1f} m mean")
    console.print(f"pick: {out['pick']}  (wrote {json_out})")


@bench_app.command("adapt")
def bench_adapt_command(
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the results.",
                                           callback=output_file)],
    policy: Annotated[Path, typer.Option(help="Latent policy (bundle or run).")],
    dynamics: Annotated[Path, typer.Option(help="Held-out dynamics JSON (the 'real' robot).")],
    robust: Annotated[Path | None, typer.Option(help="Robust baseline policy (no "
                                                "encoder).")] = None,
    engine: Annotated[str, typer.Option(help="Physics of the robot: sim (PyBullet) or "
                                        "mujoco.")] = "sim",
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds.")] = "0,1,2",
    eval_rollouts: Annotated[int, typer.Option(help="Evaluation rollouts per figure and "
                                               "seed.", callback=count)] = 3,
    rollout_seconds: Annotated[float, typer.Option(help="Seconds per rollout.",
                                                   callback=positive)] = 4.0,
    adapt_rollouts: Annotated[str, typer.Option(
        help="Comma-separated search budgets after which the incumbent is scored.")
    ] = "5,10",
    pairs: Annotated[int, typer.Option(help="Paired rollouts per round of the search.",
                                       callback=count)] = 2,
) -> None:
    """The transfer protocol on one held-out robot: prior, estimate, adapted, oracle, robust."""
    from adaptation.bench import bench_adapt
    from quadmimic.core.console import console, progress_bar
    from quadmimic.core.errors import QuadmimicError

    if engine not in ("sim", "mujoco"):
        raise QuadmimicError(f"--engine must be sim or mujoco, got {engine!r}")
    config = _transfer_config(seeds, rollout_seconds, eval_rollouts, adapt_rollouts, pairs, 0)
    with progress_bar() as bar:
        task = bar.add_task("bench adapt", total=None, rate="")
        out = bench_adapt(policy, dynamics, robust=robust, config=config, engine=engine,
                          progress=lambda done, total, what: bar.update(
                              task, completed=done, total=total, rate=what))
    _write_json(json_out, out.to_json())
    console.print(out.markdown)
    console.print(f"wrote {json_out} ({out.wall_seconds:.0f} s)")


def _transfer_config(seeds: str, rollout_seconds: float, eval_rollouts: int,
                     adapt_rollouts: str, pairs: int, spread_latents: int) -> Any:
    """The transfer bench's settings from its options (a bad one: one line)."""
    from adaptation.rollouts import TransferConfig
    from adaptation.transfer import parse_ints

    ints_at_least(seeds, "--seeds", 0)
    ints_at_least(adapt_rollouts, "--adapt-rollouts", 1)
    if pairs < 2:
        raise typer.BadParameter(f"{pairs} is less than 2 (a standard error needs two pairs)",
                                 param_hint="'--pairs'")
    return TransferConfig(seeds=parse_ints(seeds, "--seeds"), rollout_seconds=rollout_seconds,
                          eval_rollouts=eval_rollouts, pairs=pairs,
                          adapt_checkpoints=parse_ints(adapt_rollouts, "--adapt-rollouts"),
                          spread_latents=spread_latents)


@bench_app.command("transfer")
def bench_transfer_command(
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the results.",
                                           callback=output_file)],
    policy: Annotated[list[Path] | None, typer.Option(help="Policy bundle (repeatable; "
                                                      "default: every shipped one).")] = None,
    held_out: Annotated[Path | None, typer.Option(help="Held-out robot file (default: "
                                                  "data/dynamics/held_out_mujoco.json).")] = None,
    robots: Annotated[str | None, typer.Option(help="Comma-separated robots: "
                                               "pybullet_nominal, mujoco_nominal and held-out "
                                               "names (default: all).")] = None,
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds.")] = "0,1,2",
    rollout_seconds: Annotated[float, typer.Option(help="Seconds per rollout.",
                                                   callback=positive)] = 4.0,
    eval_rollouts: Annotated[int, typer.Option(help="Evaluation rollouts per figure and "
                                               "seed.", callback=count)] = 3,
    adapt_rollouts: Annotated[str, typer.Option(
        help="Comma-separated search budgets (rollouts) after which the search's incumbent "
        "is scored on fresh rollouts.")] = "5,10",
    pairs: Annotated[int, typer.Option(help="Paired rollouts per round of the search.",
                                       callback=count)] = 2,
    spread_latents: Annotated[int, typer.Option(
        help="Training latents per seed scored on each held-out robot (the spread of returns "
        "across z; 0: none).", callback=non_negative)] = 0,
    markdown: Annotated[Path | None, typer.Option(help="Also write the table here.",
                                                  callback=output_file)] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue the --json file of an interrupted run with the same options: "
        "its finished bundles are kept (the file is rewritten after every bundle).")] = False,
    merge: Annotated[list[Path] | None, typer.Option(
        help="With --resume: also keep the finished bundles of this --json file of a run "
        "with the same options on other bundles, e.g. on another machine (repeatable).")
                     ] = None,
) -> None:
    """Transfer: prior, estimate, adapted, oracle, robust on PyBullet, MuJoCo, held-out robots."""
    from adaptation.transfer import (
        TransferResult,
        bench_transfer,
        load_partial,
        merge_partials,
        shipped_bundles,
    )
    from adaptation.transfer_robots import load_held_out, select_robots
    from quadmimic.core.console import console, progress_bar
    from quadmimic.core.errors import QuadmimicError
    from quadmimic.core.fileio import atomic_write_text

    config = _transfer_config(seeds, rollout_seconds, eval_rollouts, adapt_rollouts, pairs,
                              spread_latents)
    chosen = select_robots(load_held_out(held_out or DATA / "dynamics" / "held_out_mujoco.json"),
                           [r.strip() for r in robots.split(",") if r.strip()] if robots else None)
    bundles = policy or shipped_bundles(DATA / "policies")
    if merge and not resume:
        raise QuadmimicError("--merge continues a run: give --resume too")
    parts = [load_partial(json_out)] if resume and json_out.is_file() else []
    parts += [load_partial(path) for path in merge or []]
    previous = merge_partials(parts) if parts else None

    def finished(partial: TransferResult) -> None:
        _write_json(json_out, partial.to_json())
        done = partial.settings["finished"]
        console.print(f"{done[-1]} finished ({len(done)} of {len(bundles)} bundles, "
                      f"{partial.wall_seconds:.0f} s); wrote {json_out}", highlight=False)

    with progress_bar() as bar:
        task = bar.add_task("bench transfer", total=None, rate="")
        out = bench_transfer(bundles, chosen, config, robust_search=[DATA / "policies"],
                             progress=lambda done, total, what: bar.update(
                                 task, completed=done, total=total, rate=what),
                             previous=previous, on_bundle=finished)
    _write_json(json_out, out.to_json())
    if markdown is not None:
        atomic_write_text(markdown, out.markdown)
    console.print(out.markdown)
    console.print(f"wrote {json_out} ({out.wall_seconds:.0f} s)")
