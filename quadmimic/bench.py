"""``quadmimic bench ...``: benchmarks that write JSON (never timed asserts in tests)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from quadmimic.paths import DEFAULT_CLIPS, SHARED

bench_app = typer.Typer(help="Benchmarks; each writes a JSON file.", no_args_is_help=True)

RETARGET_TARGETS = {
    "stance_slide_max_m": 0.01,
    "penetration_max_m": 0.005,
    "joint_limit_violations": 0,
    "contact_agreement_min": 0.85,
    "end_to_end_frames_per_second": 1200.0,
}
"""Targets of the retargeting issue, on the locomotion parts of the clips."""


def _clip_dir(clips: Path | None) -> Path:
    if clips is not None:
        return clips
    shared = SHARED / "mocap_raw"
    return shared if shared.is_dir() else DEFAULT_CLIPS


def unseen_variants(clip: Any, rng: np.random.Generator) -> dict[str, Any]:
    """Versions of a clip it was never tuned on: turned, moved, and with marker noise.

    Returns:
        Name → clip: ``heading_40deg`` and ``heading_135deg`` (turned about the vertical),
        ``moved`` (translated 3 m, −2 m, +0.05 m), ``noise_5mm`` (Gaussian marker noise,
        σ = 5 mm per coordinate per frame).
    """
    out: dict[str, Any] = {}
    for deg in (40.0, 135.0):
        a = np.deg2rad(deg)
        rot = np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0, 0, 1]])
        out[f"heading_{deg:.0f}deg"] = dataclasses.replace(clip, positions=clip.positions @ rot.T)
    out["moved"] = dataclasses.replace(clip, positions=clip.positions + np.array([3.0, -2.0, 0.05]))
    noisy = clip.positions + rng.normal(0.0, 0.005, clip.positions.shape)
    out["noise_5mm"] = dataclasses.replace(clip, positions=noisy)
    return out


def _end_to_end(clip: Path, robot: str) -> dict[str, Any]:
    """Time ``quadmimic retarget`` as a fresh process on one core (start-up included)."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "quadmimic", "retarget", str(clip), "--robot", robot,
               "--out", str(Path(tmp) / "m.txt")]
        cpu = min(os.sched_getaffinity(0))
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True,
                       preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))
        seconds = time.perf_counter() - start
        frames = len(json.loads((Path(tmp) / "m.txt").read_text())["Frames"])
    return {"clip": clip.name, "robot": robot, "frames": frames, "seconds": seconds,
            "frames_per_second": frames / seconds, "cores": 1,
            "includes": "process start, imports, load, retarget, write"}


@bench_app.command("retarget")
def bench_retarget(
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the results.")],
    clips: Annotated[Path | None, typer.Option(help="Folder of *_joint_pos.txt clips "
                                               "(default: ../shared/mocap_raw).")] = None,
    robots: Annotated[str, typer.Option(help="Comma-separated robots.")] = "a1,laikago,go1,go2",
    variants: Annotated[bool, typer.Option(help="Also run unseen variants.")] = True,
) -> None:
    """Retarget every clip onto every robot (+ unseen variants); figures vs the targets."""
    from motion_retarget.cli import console, progress_bar
    from motion_retarget.fileio import atomic_write_text
    from motion_retarget.mocap import load_clip
    from motion_retarget.quality import quality_report
    from motion_retarget.retarget import retarget

    folder = _clip_dir(clips)
    files = sorted(folder.glob("*_joint_pos.txt"))
    robot_list = [r.strip() for r in robots.split(",") if r.strip()]
    rng = np.random.default_rng(0)
    jobs: list[tuple[str, str, Any]] = []
    for f in files:
        clip = load_clip(f)
        jobs.append((f.stem.removesuffix("_joint_pos"), "original", clip))
        if variants and clip.num_frames <= 1500:
            jobs += [(f.stem.removesuffix("_joint_pos"), k, c)
                     for k, c in unseen_variants(clip, rng).items()]
    rows: list[dict[str, Any]] = []
    with progress_bar() as bar:
        task = bar.add_task("bench retarget", total=len(jobs) * len(robot_list), rate="")
        for name, variant, clip in jobs:
            for robot in robot_list:
                start = time.perf_counter()
                result = retarget(clip, robot)
                rep = quality_report(result, seconds=time.perf_counter() - start,
                                     clip_name=name)
                rows.append({"clip": name, "variant": variant, "robot": robot,
                             "frames": rep["frames"], "locomotion": rep["locomotion"],
                             "all": rep["all"], "unmatched_frames": rep["unmatched"]["frames"],
                             "finite": rep["finite"],
                             "frames_per_second": rep["timing"]["frames_per_second"]})
                bar.advance(task)
    loco = [r["locomotion"] for r in rows if r["locomotion"]["frames"] > 0]
    worst = {
        "stance_slide_max_m": max(b["stance_slide_max_m"] for b in loco),
        "penetration_max_m": max(b["penetration_max_m"] for b in loco),
        "joint_limit_violations": sum(b["joint_limit_violations"] for b in loco),
        "contact_agreement_min": min(b["contact_agreement"] for b in loco),
        "all_finite": all(r["finite"] for r in rows),
        "all_frames_penetration_max_m": max(r["all"]["penetration_max_m"] for r in rows),
        "all_frames_joint_limit_violations": sum(r["all"]["joint_limit_violations"]
                                                 for r in rows),
    }
    walk09 = folder / "dog_walk09_joint_pos.txt"
    e2e = _end_to_end(walk09 if walk09.is_file() else files[0], robot_list[0])
    t = RETARGET_TARGETS
    passed = {
        "stance_slide": worst["stance_slide_max_m"] < t["stance_slide_max_m"],
        "penetration": worst["penetration_max_m"] < t["penetration_max_m"],
        "joint_limits": worst["joint_limit_violations"] == t["joint_limit_violations"],
        "contact_agreement": worst["contact_agreement_min"] >= t["contact_agreement_min"],
        "speed": e2e["frames_per_second"] >= t["end_to_end_frames_per_second"],
    }
    out = {"clips_folder": str(folder), "robots": robot_list, "targets": t,
           "worst_locomotion": worst, "end_to_end": e2e, "pass": passed, "runs": rows}
    atomic_write_text(json_out, json.dumps(out, indent=2) + "\n")
    console.print_json(json.dumps({"worst_locomotion": worst, "end_to_end": e2e,
                                   "pass": passed}))
    console.print(f"wrote {json_out}")


@bench_app.command("env")
def bench_env_command(
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the results.")],
    robot: Annotated[str, typer.Option(help="Robot.")] = "a1",
    motion: Annotated[Path | None, typer.Option(help="Motion file (default: the shipped "
                                                "A1 trot).")] = None,
    rounds: Annotated[int, typer.Option(help="Interleaved rounds (median taken).")] = 11,
    vec_seconds: Annotated[float, typer.Option(help="Seconds per vector-env round.")] = 4.0,
    envs_per_process: Annotated[int, typer.Option(help="Envs in each of the 2 processes.")] = 8,
) -> None:
    """Env steps/s against raw PyBullet (ceiling) and the 2-process vector env overhead."""
    from motion_retarget.cli import console
    from motion_retarget.fileio import atomic_write_text
    from quadmimic.bench_env import bench_env
    from quadmimic.paths import DATA

    motion = motion or DATA / "motions" / "a1_trot.txt"
    with console.status("benchmarking the env (about a minute)"):
        out = bench_env(motion, robot, rounds=rounds, vec_seconds=vec_seconds,
                        envs_per_process=envs_per_process)
    atomic_write_text(json_out, json.dumps(out, indent=2) + "\n")
    console.print_json(json.dumps({k: v for k, v in out.items()
                                   if not k.endswith("rounds")}))
    console.print(f"wrote {json_out}")


@bench_app.command("train")
def bench_train_command(
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the results.")],
    motion: Annotated[Path | None, typer.Option(help="Motion (default: shipped A1 "
                                                "trot).")] = None,
    run: Annotated[Path | None, typer.Option(help="A training run or bundle whose learning "
                                             "curve gives samples-to-threshold.")] = None,
    num_envs: Annotated[int | None, typer.Option(
        help="Envs (default: the training default).")] = None,
    num_workers: Annotated[int, typer.Option(help="Env processes.")] = 2,
    groups_per_worker: Annotated[int | None, typer.Option(
        help="Env groups per process (default: the training default).")] = None,
    n_steps: Annotated[int | None, typer.Option(
        help="Steps per env per update (default: the training default).")] = None,
    rollouts: Annotated[int, typer.Option(help="PPO iterations to time.")] = 6,
) -> None:
    """Training samples/s against env-only samples/s (same envs, same run).

    Env-only steps the very same envs (normalisation and noise wrappers included) with random
    actions, the way training steps them: group by group when the envs are grouped.
    """
    import time as _time

    from motion_retarget.cli import console
    from motion_retarget.fileio import atomic_write_text
    from quadmimic.paths import DATA
    from sim_training.config import TrainConfig
    from sim_training.plots import samples_to_threshold
    from sim_training.train import Trainer

    motion = motion or DATA / "motions" / "a1_trot.txt"
    from quadmimic.bench_env import grouped_rate, vec_rate
    from sim_training.collect import GroupStepper

    given = {"num_envs": num_envs, "groups_per_worker": groups_per_worker}
    cfg = TrainConfig(motion=str(motion), num_workers=num_workers,
                      **{k: v for k, v in given.items() if v is not None})
    num_envs = cfg.num_envs
    if n_steps is not None:
        cfg = dataclasses.replace(cfg, ppo=dataclasses.replace(cfg.ppo, n_steps=n_steps))
    per_rollout = cfg.ppo.n_steps * num_envs
    import tempfile

    with tempfile.TemporaryDirectory() as tmp, console.status("benchmarking training"):
        trainer = Trainer.create(
            dataclasses.replace(cfg, timesteps=per_rollout * (rollouts + 1)), Path(tmp) / "r")
        marks: list[tuple[float, int]] = []
        trainer.progress = lambda done, total, ret: (
            marks.append((_time.perf_counter(), done)) if done % per_rollout == 0 else None)
        trainer.train()
        venv = trainer.noise  # the very same envs (normalisation and noise wrappers included)
        rng = np.random.default_rng(0)
        stepper = GroupStepper.of(venv)
        venv.reset()
        env_rate = (vec_rate(venv, num_envs, 20.0, rng) if stepper is None
                    else grouped_rate(stepper, 20.0, rng))
        trainer.close()
    # Skip the first rollout (start-up); time from the end of the first to the last.
    (t_a, s_a), (t_b, s_b) = marks[0], marks[-1]
    train_rate = (s_b - s_a) / (t_b - t_a)
    out: dict[str, Any] = {
        "num_envs": num_envs, "num_workers": num_workers,
        "groups_per_worker": cfg.groups_per_worker, "samples_per_update": per_rollout,
        "train_samples_per_s": train_rate, "env_only_samples_per_s": env_rate,
        "train_over_env": train_rate / env_rate, "target_train_over_env": 0.9,
    }
    if run is not None:
        if (run / "curve.json").is_file():  # a bundle: its whole lineage
            curve = json.loads((run / "curve.json").read_text())
        else:
            state_dir = run / "checkpoints" / (run / "LATEST").read_text().strip()
            curve = json.loads((state_dir / "state.json").read_text())["curve"]
        out["run"] = str(run)
        out["run_samples"] = curve[-1]["timesteps"] if curve else 0
        out["samples_to_threshold"] = samples_to_threshold(curve, 10.0 * 0.95, 0.6)
        out["threshold"] = "mean episode >= 9.5 s of 10 s and pose term >= 0.6"
    atomic_write_text(json_out, json.dumps(out, indent=2) + "\n")
    console.print_json(data=out)


@bench_app.command("ray")
def bench_ray_command(
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the results.")],
    iterations: Annotated[int, typer.Option(help="PPO iterations per measurement.")] = 8,
    num_envs: Annotated[int, typer.Option(help="Envs (in the trial's own process).")] = 4,
) -> None:
    """Ray's overhead per PPO iteration: the same run locally and as a Ray Tune trial."""
    import tempfile
    import time as _time

    from motion_retarget.cli import console
    from motion_retarget.fileio import atomic_write_text
    from quadmimic.paths import DATA
    from sim_training.config import PPOConfig, TrainConfig
    from sim_training.distributed import train_on_ray
    from sim_training.train import Trainer

    ppo = PPOConfig(n_steps=128)
    per_it = ppo.n_steps * num_envs
    cfg = TrainConfig(motion=str(DATA / "motions" / "a1_trot.txt"), num_envs=num_envs,
                      num_workers=0, timesteps=per_it * iterations, ppo=ppo)
    with tempfile.TemporaryDirectory() as tmp, console.status("benchmarking Ray"):
        marks: list[tuple[float, int]] = []
        trainer = Trainer.create(cfg, Path(tmp) / "local")
        trainer.progress = lambda done, total, ret: (
            marks.append((_time.perf_counter(), done)) if done % per_it == 0 else None)
        trainer.train()
        trainer.close()
        (t_a, s_a), (t_b, s_b) = marks[0], marks[-1]
        local_rate = (s_b - s_a) / (t_b - t_a)
        start = _time.perf_counter()
        summary = train_on_ray(cfg, Path(tmp) / "ray", report_every=1)
        ray_wall = _time.perf_counter() - start
    ray_rate = float(summary["trials"][0]["samples_per_s"])
    overhead = 1.0 - ray_rate / local_rate
    out = {"iterations": iterations, "samples_per_iteration": per_it,
           "local_samples_per_s": local_rate, "ray_trial_samples_per_s": ray_rate,
           "ray_overhead_per_iteration": overhead,
           "ray_wall_seconds_incl_startup": ray_wall,
           "ray_startup_seconds": ray_wall - cfg.timesteps / ray_rate,
           "implied_speedup": {str(n): n * (1.0 - max(overhead, 0.0)) for n in (2, 4, 8, 16)},
           "note": "independent trials (seeds or hyper-parameters), one per worker CPU"}
    atomic_write_text(json_out, json.dumps(out, indent=2) + "\n")
    console.print_json(data=out)


@bench_app.command("deploy")
def bench_deploy_command(
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the results.")],
    policy: Annotated[Path | None, typer.Option(help="Policy bundle or run (default: "
                                                "the shipped A1 trot).")] = None,
    seconds: Annotated[float, typer.Option(help="Real-time run length (s) per "
                                           "scheduling mode.")] = 10.0,
    backend: Annotated[str, typer.Option(help="go1-udp: the emulator in its own process over "
                                         "the SDK's UDP (as on hardware); sim: physics "
                                         "thread in this process.")] = "go1-udp",
    rt_priorities: Annotated[str, typer.Option(help="Command-loop scheduling modes to run "
                                               "one after the other: SCHED_FIFO priorities, "
                                               "0 = normal scheduling.")] = "0,49",
) -> None:
    """Policy inference p50/p99 and the 500 Hz command loop's period jitter p50/p99."""
    import time as _time

    from motion_retarget.cli import console
    from motion_retarget.errors import QuadmimicError
    from motion_retarget.fileio import atomic_write_text
    from quadmimic.paths import DATA
    from robot_deploy.controller import PolicyController
    from sim_training.bundle import PolicyBundle
    from sim_training.export import OnnxActor

    if backend not in ("go1-udp", "sim"):
        raise QuadmimicError(f"bench deploy: backend must be go1-udp or sim, got {backend!r}")
    try:
        priorities = [int(p) for p in rt_priorities.split(",")]
    except ValueError as exc:
        raise QuadmimicError(f"--rt-priorities: comma-separated integers, got "
                             f"{rt_priorities!r}") from exc
    bundle = PolicyBundle.load(policy or DATA / "policies" / "a1_trot")
    actor = OnnxActor(bundle)
    rng = np.random.default_rng(0)
    obs = bundle.obs_mean + rng.standard_normal((2000, bundle.obs_mean.size)) * np.sqrt(
        bundle.obs_var)
    times = []
    for o in obs:
        t0 = _time.perf_counter()
        actor(o)
        times.append((_time.perf_counter() - t0) * 1000.0)

    def run_once(priority: int) -> dict[str, Any]:
        counters: dict[str, float] = {}
        if backend == "sim":
            from robot_deploy.backends.sim import SimBackend

            robot: Any = SimBackend(bundle.robot, realtime=True)
            try:
                result = PolicyController(bundle, robot, realtime=True, actor=actor,
                                          rt_priority=priority).run(seconds, ramp_seconds=0.5)
            finally:
                robot.close()
        else:
            from robot_deploy.backends.go1_udp import Go1UdpBackend
            from robot_deploy.emulator.process import EmulatorProcess, free_udp_port

            with EmulatorProcess(bundle.robot) as emulator:
                robot = Go1UdpBackend(bundle.robot, robot_port=emulator.port,
                                      local_port=free_udp_port())
                try:
                    result = PolicyController(bundle, robot, realtime=True, actor=actor,
                                              rt_priority=priority).run(
                        seconds, ramp_seconds=0.5)
                finally:
                    robot.close()
                counters = emulator.counters()
        periods = np.asarray(result.command_periods_ms)
        jitter = np.abs(periods - 2.0)
        return {"scheduler": result.scheduler, "commands": result.commands,
                "loop_inference_ms_p99": float(np.percentile(result.inference_ms, 99)),
                "command_period_ms_mean": float(periods.mean()),
                "jitter_ms_p50": float(np.percentile(jitter, 50)),
                "jitter_ms_p99": float(np.percentile(jitter, 99)),
                "jitter_ms_max": float(jitter.max()),
                "stopped_by": result.stopped_by, "trip": result.trip,
                "emulator_counters": counters,
                "pass_jitter": bool(np.percentile(jitter, 99) < 1.0 and not result.trip)}

    runs = []
    for priority in priorities:
        with console.status(f"running the policy in real time on {backend} for {seconds:g} s "
                            f"(rt priority {priority})"):
            runs.append(run_once(priority))
    out = {"policy": str(bundle.path), "backend": backend, "seconds_per_run": seconds,
           "inference_ms_p50": float(np.percentile(times, 50)),
           "inference_ms_p99": float(np.percentile(times, 99)),
           "command_hz_target": 500.0, "runs": runs,
           "targets": {"inference_ms_p99": 0.5, "jitter_ms_p99": 1.0}}
    atomic_write_text(json_out, json.dumps(out, indent=2) + "\n")
    console.print_json(data=out)


@bench_app.command("adapt")
def bench_adapt_command(
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the results.")],
    policy: Annotated[Path, typer.Option(help="Latent policy (bundle or run).")],
    dynamics: Annotated[Path, typer.Option(help="Held-out dynamics JSON (the 'real' robot).")],
    robust: Annotated[Path | None, typer.Option(help="Robust baseline policy (no "
                                                "encoder).")] = None,
    motion: Annotated[Path | None, typer.Option(help="Motion (default: the policy's).")] = None,
    eval_rollouts: Annotated[int, typer.Option(help="Rollouts per figure.")] = 3,
    rollout_seconds: Annotated[float, typer.Option(help="Seconds per rollout.")] = 4.0,
) -> None:
    """Returns on held-out dynamics: robust, prior z, adapted after 5/10/20, nominal."""
    import tempfile

    from adaptation.adapt import AdaptationSession, AdaptConfig, latent_return
    from motion_retarget.cli import console
    from motion_retarget.fileio import atomic_write_text
    from robot_deploy.backends.sim import SimBackend
    from sim_training.bundle import PolicyBundle

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

    with console.status("benchmarking adaptation"):
        if robust is not None:
            out["robust"] = figure(PolicyBundle.load(robust), dynamics, None)
        out["prior"] = figure(bundle, dynamics, np.zeros(bundle.z_dim))
        out["nominal"] = figure(bundle, None, np.zeros(bundle.z_dim))
        robot = SimBackend(bundle.robot, dynamics)
        robot.connect()
        with tempfile.TemporaryDirectory() as tmp:
            session = AdaptationSession(
                policy, robot, Path(tmp) / "s",
                AdaptConfig(rollouts=20, rollouts_per_update=5,
                            rollout_seconds=rollout_seconds),
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
    atomic_write_text(json_out, json.dumps(out, indent=2) + "\n")
    console.print_json(data=out)
