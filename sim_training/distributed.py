"""Training on Ray: one Ray Tune trial per (seed, learning rate), on a local instance or a cluster.

Each trial is an ordinary training run (:class:`~sim_training.train.Trainer`) in
``<out>/<trial>/``, so any trial can later be resumed, evaluated or bundled without Ray. A trial
whose directory already holds a checkpoint resumes from it, so re-running the same command
after a crash or a pre-empted node continues every trial. Trials report their learning-curve
rows to Tune after every checkpoint interval; ``<out>/ray_summary.json`` ranks them.

Ray runs each trial in a working directory of its own, so every path (motion, ``--out``,
``--init-from``) is made absolute against the caller's working directory before dispatch; on a
cluster these paths must name the same files on every node (shared storage).
"""

from __future__ import annotations

import dataclasses
import json
import signal
import time
from pathlib import Path
from typing import Any

from quadmimic.core.errors import BundleError, MotionFormatError
from quadmimic.core.fileio import atomic_write_text
from sim_training.config import TrainConfig, from_dict, to_dict


def _absolute(path: str | Path) -> Path:
    return Path(path).expanduser().resolve()


def absolute_paths(config: TrainConfig) -> TrainConfig:
    """``config`` with its motion and ``init_from`` paths made absolute (from the cwd).

    Raises:
        MotionFormatError: The motion file does not exist.
        BundleError: ``init_from`` does not exist.
    """
    motion = _absolute(config.motion)
    if not motion.is_file():
        raise MotionFormatError("motion file not found", motion)
    init_from = None if config.init_from is None else _absolute(config.init_from)
    if init_from is not None and not init_from.exists():
        raise BundleError("no run, checkpoint or bundle here (--init-from)", init_from)
    return dataclasses.replace(config, motion=str(motion),
                               init_from=None if init_from is None else str(init_from))


def _trial(params: dict[str, Any]) -> None:
    """Ray Tune trainable: train (or resume) one run, reporting after every chunk."""
    from ray import tune

    from sim_training.train import Trainer

    config = from_dict(TrainConfig, params["config"])
    config = dataclasses.replace(config, seed=int(params["seed"]),
                                 ppo=dataclasses.replace(config.ppo,
                                                         learning_rate=float(params["lr"])))
    run_dir = Path(params["out"]) / f"seed{params['seed']}_lr{params['lr']:g}"
    trainer = (Trainer.resume(run_dir) if (run_dir / "config.json").is_file()
               else Trainer.create(config, run_dir))
    per_report = max(config.ppo.n_steps * config.num_envs,
                     int(params.get("report_every", 4) * config.ppo.n_steps * config.num_envs))
    try:
        while trainer.model.num_timesteps < config.timesteps:
            target = min(config.timesteps, trainer.model.num_timesteps + per_report)
            trainer.config = dataclasses.replace(trainer.config, timesteps=target)
            start = time.perf_counter()
            before = trainer.model.num_timesteps
            trainer.train()
            row = dict(trainer.curve[-1]) if trainer.curve else {}
            row["samples_per_s"] = (trainer.model.num_timesteps - before) / (
                time.perf_counter() - start)
            row["run_dir"] = str(run_dir)
            tune.report({k: v for k, v in row.items() if isinstance(v, (int, float, str))})
    finally:
        trainer.close()


def train_on_ray(
    config: TrainConfig,
    out: str | Path,
    *,
    seeds: tuple[int, ...] = (0,),
    learning_rates: tuple[float, ...] | None = None,
    address: str | None = None,
    report_every: int = 4,
) -> dict[str, Any]:
    """Run one trial per (seed, learning rate) on Ray and summarise them.

    Relative paths (``config.motion``, ``config.init_from``, ``out``) are taken from the
    current working directory here, in the driver: the trials run elsewhere.

    Args:
        config: The base config (each trial overrides seed and learning rate).
        out: Folder of the trial run directories.
        seeds: Seeds to try.
        learning_rates: Learning rates to try (default: the config's).
        address: Ray cluster address (``"HOST:PORT"``); None starts a local instance of
            its own (never joins a cluster already running on the machine, nor the one in
            ``RAY_ADDRESS``), stopped at the end.
        report_every: PPO updates between reports to Tune.

    Returns:
        The summary (also written to ``<out>/ray_summary.json``).

    Raises:
        MotionFormatError: The motion file does not exist.
        BundleError: ``config.init_from`` does not exist.
    """
    import ray
    from ray import tune

    config = absolute_paths(config)
    out = _absolute(out)
    out.mkdir(parents=True, exist_ok=True)
    lrs = learning_rates or (config.ppo.learning_rate,)
    cpus = max(1, config.num_workers)
    started = time.perf_counter()
    # Ray Tune installs its own SIGINT handler for the fit and leaves it behind; the caller's
    # handlers are put back when the trials end (a process that goes on after them, tests and
    # notebooks included, keeps its own Ctrl-C).
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    ray.init(address=address or "local", include_dashboard=False, log_to_driver=False,
             ignore_reinit_error=True)
    try:
        tuner = tune.Tuner(
            tune.with_resources(_trial, {"cpu": cpus}),
            param_space={"config": to_dict(config), "out": str(out),
                         "seed": tune.grid_search(list(seeds)),
                         "lr": tune.grid_search(list(lrs)), "report_every": report_every},
            run_config=tune.RunConfig(name="quadmimic", storage_path=str(out / "ray_results"),
                                      verbose=0),
        )
        results = tuner.fit()
        nodes = len([n for n in ray.nodes() if n.get("Alive")])
    finally:
        ray.shutdown()
        for sig, handler in handlers.items():
            if handler is not None:
                signal.signal(sig, handler)
    trials = []
    for res in results:
        metrics = res.metrics or {}
        trials.append({"seed": res.config["seed"], "lr": res.config["lr"],
                       "run_dir": metrics.get("run_dir"),
                       "timesteps": metrics.get("timesteps"),
                       "mean_return": metrics.get("mean_return"),
                       "mean_episode_seconds": metrics.get("mean_episode_seconds"),
                       "samples_per_s": metrics.get("samples_per_s"),
                       "error": None if res.error is None else str(res.error)})
    trials.sort(key=lambda t: -(t["mean_episode_seconds"] or 0.0))
    summary = {"address": address or "local", "nodes": nodes, "trials": trials,
               "wall_seconds": time.perf_counter() - started}
    atomic_write_text(out / "ray_summary.json", json.dumps(summary, indent=2) + "\n")
    return summary
