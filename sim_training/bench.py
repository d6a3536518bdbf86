"""The training stage's benchmarks: ``quadmimic bench env``, ``train`` and ``ray``.

:func:`bench_env` (``quadmimic bench env``), the env against raw PyBullet and the vector env's
overhead, measured in one run (these machines are noisy, so rates are medians of interleaved
rounds):

- ``ceiling``: raw PyBullet stepping the same robot URDF with a minimal Python PD loop holding
  the standing pose, the same physics rate and substeps per env step, nothing else;
- ``env``: the imitation env with randomisation on, random actions, resetting when done;
- ``vec_env``: a 2-process vector env (``envs_per_process`` envs in each), against the sum
  of what two processes reach when each runs the same number of envs alone, at the same time;
  stepped in lockstep (SB3's ``step``) and group by group (two groups per process, each sent
  its next actions as soon as its step arrives, as training collects rollouts); and the
  lockstep one with a stand-in env whose every step costs exactly 3.5 ms of CPU, which
  isolates the inter-process cost from the wait for the slower process (real steps vary with
  contacts, falls and resets).

:func:`bench_train` (``quadmimic bench train``): training samples/s against env-only samples/s
of the very same envs. :func:`bench_ray` (``quadmimic bench ray``): Ray's overhead per PPO
iteration, the same run locally and as a Ray Tune trial.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing as mp
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pybullet as pb

from quadmimic.core.robots import get_robot


def _ceiling_steps(robot: str, substeps: int, physics_hz: float) -> Any:
    """A generator: each ``next()`` runs one env step's worth of raw PyBullet + Python PD."""
    spec = get_robot(robot)
    c = pb.connect(pb.DIRECT)
    import pybullet_data

    pb.setGravity(0, 0, -9.81, physicsClientId=c)
    pb.setTimeStep(1.0 / physics_hz, physicsClientId=c)
    pb.loadURDF(f"{pybullet_data.getDataPath()}/plane.urdf", physicsClientId=c)
    body = pb.loadURDF(str(spec.resolved_urdf_path()), [0, 0, 0.4], physicsClientId=c)
    names = {pb.getJointInfo(body, j, physicsClientId=c)[1].decode(): j
             for j in range(pb.getNumJoints(body, physicsClientId=c))}
    ids = [names[n] for n in spec.joint_names]
    pb.setJointMotorControlArray(body, ids, pb.VELOCITY_CONTROL, forces=[0.0] * 12,
                                 physicsClientId=c)
    for k, j in enumerate(ids):
        pb.resetJointState(body, j, spec.default[k], physicsClientId=c)
    kp, kd = np.asarray(spec.kp), np.asarray(spec.kd)
    limit = np.asarray(spec.torque_limits)
    target = spec.default
    while True:
        for _ in range(substeps):
            states = pb.getJointStates(body, ids, physicsClientId=c)
            q = np.fromiter((s[0] for s in states), np.float64, 12)
            dq = np.fromiter((s[1] for s in states), np.float64, 12)
            tau = np.minimum(np.maximum(kp * (target - q) - kd * dq, -limit), limit)
            pb.setJointMotorControlArray(body, ids, pb.TORQUE_CONTROL, forces=tau.tolist(),
                                         physicsClientId=c)
            pb.stepSimulation(physicsClientId=c)
        yield


class _FixedCostEnv:
    """A stand-in env whose step burns exactly ``seconds`` of CPU.

    With it the vector env's pure inter-process cost shows, without the spread of real step
    times.
    """

    def __init__(self, seconds: float = 0.0035) -> None:
        self.seconds = seconds

    def step(self) -> None:
        end = time.perf_counter() + self.seconds
        while time.perf_counter() < end:
            pass


def _fixed_cost_gym_env() -> Any:
    import gymnasium

    class FixedCost(gymnasium.Env):
        observation_space = gymnasium.spaces.Box(-1.0, 1.0, (156,), np.float32)
        action_space = gymnasium.spaces.Box(-1.0, 1.0, (12,), np.float32)

        def __init__(self) -> None:
            self.burn = _FixedCostEnv()

        def reset(self, *, seed: int | None = None, options: dict | None = None) -> Any:
            return np.zeros(156, np.float32), {}

        def step(self, action: Any) -> Any:
            self.burn.step()
            return np.zeros(156, np.float32), 0.0, False, False, {}

    return FixedCost()


def _fixed_cost_steps(num_envs: int) -> Any:
    envs = [_FixedCostEnv() for _ in range(num_envs)]
    while True:
        for e in envs:
            e.step()
        yield


def _env_steps(motion: str, robot: str, seed: int, num_envs: int = 1) -> Any:
    """A generator: each ``next()`` steps ``num_envs`` envs in this process once each.

    Random actions, auto-reset (SB3's DummyVecEnv), the same code a worker process runs.
    """
    from sim_training.vec_env import make_vec_env

    envs = make_vec_env(motion, robot=robot, num_envs=num_envs, seed=seed, num_workers=0)
    envs.reset()
    rng = np.random.default_rng(seed)
    while True:
        envs.step(rng.uniform(-0.3, 0.3, (num_envs, 12)).astype(np.float32))
        yield


def _rate(gen: Any, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        next(gen)
    return steps / (time.perf_counter() - start)


def _solo_worker(motion: str | None, robot: str, seed: int, num_envs: int, conn: Any) -> None:
    """Step ``num_envs`` envs alone when told, in a wall-clock window; answer the rate.

    Each command is (start_at, seconds); the answer is the env steps/s counted inside it.
    """
    gen = (_fixed_cost_steps(num_envs) if motion is None else
           _env_steps(motion, robot, seed, num_envs))
    next(gen)
    conn.send("ready")
    while True:
        window = conn.recv()
        if window is None:
            break
        start_at, seconds = window
        while time.time() < start_at:
            time.sleep(0.0005)
        n, end = 0, start_at + seconds
        while time.time() < end:
            next(gen)
            n += 1
        conn.send(n * num_envs / seconds)


class _SoloPair:
    """Two processes of ``num_envs`` envs each, kept alive between measurement windows."""

    def __init__(self, motion: str | None, robot: str, num_envs: int) -> None:
        ctx = mp.get_context("spawn")
        self.conns, self.procs = [], []
        for i in range(2):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_solo_worker, args=(motion, robot, 100 + i, num_envs,
                                                          child), daemon=True)
            proc.start()
            self.conns.append(parent)
            self.procs.append(proc)
        for conn in self.conns:
            if not conn.poll(300) or conn.recv() != "ready":
                raise RuntimeError("benchmark worker did not start")

    def measure(self, seconds: float) -> list[float]:
        """Both processes step over the same wall-clock window; their env steps/s."""
        start_at = time.time() + 0.2
        for conn in self.conns:
            conn.send((start_at, seconds))
        return [conn.recv() for conn in self.conns]

    def close(self) -> None:
        for conn in self.conns:
            conn.send(None)
        for proc in self.procs:
            proc.join(timeout=30)


def vec_rate(vec: Any, total: int, seconds: float, rng: np.random.Generator) -> float:
    """Total env steps/s of a vector env over ``seconds`` (random actions, auto-reset)."""
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        vec.step(rng.uniform(-0.3, 0.3, (total, 12)).astype(np.float32))
        n += 1
    return total * n / (time.perf_counter() - t0)


def grouped_rate(stepper: Any, seconds: float, rng: np.random.Generator) -> float:
    """Total env steps/s of grouped envs stepped group by group (random actions).

    Args:
        stepper: A :class:`~sim_training.collect.GroupStepper` (its wrappers included).
        seconds: How long to step.
        rng: Random actions.
    """
    size = stepper.base.group_size
    for group in range(stepper.num_groups):
        stepper.send(group, rng.uniform(-0.3, 0.3, (size, 12)).astype(np.float32))
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        group = stepper.recv()[0]
        n += size
        stepper.send(group, rng.uniform(-0.3, 0.3, (size, 12)).astype(np.float32))
    rate = n / (time.perf_counter() - t0)
    while stepper.base.groups_in_flight:
        stepper.recv()
    return rate


def bench_env(motion: str | Path, robot: str = "a1", rounds: int = 11,
              steps_per_round: int = 150, vec_seconds: float = 4.0,
              envs_per_process: int = 8, vec_rounds: int = 7) -> dict[str, Any]:
    """Run the three measurements; returns the JSON-ready figures.

    The grouped vector env (two groups per process) needs an even ``envs_per_process``; with
    an odd one its figures are None.
    """
    from sim_training.env import EnvConfig

    cfg = EnvConfig()
    motion = str(motion)
    ceiling = _ceiling_steps(robot, cfg.substeps, cfg.physics_hz)
    env = _env_steps(motion, robot, 0)
    next(ceiling)
    next(env)
    ceil_rates, env_rates = [], []
    for _ in range(rounds):
        ceil_rates.append(_rate(ceiling, steps_per_round))
        env_rates.append(_rate(env, steps_per_round))
    ceil_rate, env_rate = statistics.median(ceil_rates), statistics.median(env_rates)
    # The ratio is the median of the rounds' own ratios: each round times both back to back,
    # so a slow spell of the machine (seen here: rates halving for seconds) cancels out.
    env_over_ceiling = statistics.median(e / c for e, c in zip(env_rates, ceil_rates,
                                                                strict=True))

    # Two solo processes at the same time vs the 2-process vector env, in interleaved short
    # rounds; the loss is the median of the per-round ratios (the machine's speed drifts).
    from sim_training.vec_env import make_vec_env

    total = 2 * envs_per_process
    pair = _SoloPair(motion, robot, envs_per_process)
    from sim_training.vec_env import TRAINING_INFO_KEYS

    vec = make_vec_env(motion, robot=robot, num_envs=total, seed=7, num_workers=2,
                       info_keys=TRAINING_INFO_KEYS)
    vec.reset()
    # Two groups per process need an even number of envs in it: with an odd one (one env
    # per process, say) the grouped vector env is not measured (its figures are None).
    grouped = grouped_steps = None
    if envs_per_process % 2 == 0:
        from sim_training.collect import GroupStepper

        grouped = make_vec_env(motion, robot=robot, num_envs=total, seed=7, num_workers=2,
                               info_keys=TRAINING_INFO_KEYS, groups_per_worker=2)
        grouped.reset()
        grouped_steps = GroupStepper([], grouped)
    rng = np.random.default_rng(0)
    vec_rate(vec, total, 1.0, rng)
    if grouped_steps is not None:
        grouped_rate(grouped_steps, 1.0, rng)
    solos, vec_rates, losses, grouped_rates, grouped_losses = [], [], [], [], []
    try:
        for _ in range(vec_rounds):
            solo = pair.measure(vec_seconds)
            rate = vec_rate(vec, total, vec_seconds, rng)
            solos.append(solo)
            vec_rates.append(rate)
            losses.append(1.0 - rate / sum(solo))
            if grouped_steps is not None:
                g_rate = grouped_rate(grouped_steps, vec_seconds, rng)
                grouped_rates.append(g_rate)
                grouped_losses.append(1.0 - g_rate / sum(solo))
    finally:
        pair.close()
        vec.close()
        if grouped is not None:
            grouped.close()
    solo_sum = statistics.median(sum(p) for p in solos)
    lockstep_rate = statistics.median(vec_rates)
    loss = statistics.median(losses)
    grouped_loss = statistics.median(grouped_losses) if grouped_losses else None

    # The same with a fixed-cost stand-in env: the inter-process cost alone.
    from stable_baselines3.common.vec_env import DummyVecEnv  # noqa: F401 - worker import

    from sim_training.vec_env import MultiprocVecEnv

    pair = _SoloPair(None, robot, envs_per_process)
    fixed = MultiprocVecEnv([_fixed_cost_gym_env] * total, 2)
    fixed.reset()
    fixed_losses = []
    try:
        for _ in range(3):
            solo = sum(pair.measure(vec_seconds / 2))
            rate = vec_rate(fixed, total, vec_seconds / 2, rng)
            fixed_losses.append(1.0 - rate / solo)
    finally:
        pair.close()
        fixed.close()
    ipc_loss = statistics.median(fixed_losses)
    return {
        "robot": robot, "motion": motion, "physics_hz": cfg.physics_hz,
        "substeps_per_env_step": cfg.substeps,
        "ceiling_steps_per_s": ceil_rate, "env_steps_per_s": env_rate,
        "env_over_ceiling": env_over_ceiling,
        "ceiling_rounds": ceil_rates, "env_rounds": env_rates,
        "envs_per_process": envs_per_process,
        "solo_pairs_steps_per_s": solos, "solo_sum_steps_per_s": solo_sum,
        "vec_env_2proc_rounds": vec_rates, "vec_env_2proc_steps_per_s": lockstep_rate,
        "vec_env_loss_rounds": losses, "vec_env_loss": loss,
        "vec_env_grouped_rounds": grouped_rates,
        "vec_env_grouped_steps_per_s": (statistics.median(grouped_rates) if grouped_rates
                                        else None),
        "vec_env_grouped_loss_rounds": grouped_losses, "vec_env_grouped_loss": grouped_loss,
        "fixed_cost_env_loss_rounds": fixed_losses, "inter_process_overhead": ipc_loss,
        "targets": {"env_over_ceiling_min": 0.75, "vec_env_loss_max": 0.10},
        "pass": {"env": env_over_ceiling >= 0.75, "vec_env_lockstep": loss <= 0.10,
                 "vec_env_grouped": None if grouped_loss is None else grouped_loss <= 0.10},
    }


def _training_rate(trainer: Any, every: int) -> float:
    """Train ``trainer`` to its end; its samples/s from the end of its first rollout to the last.

    Args:
        trainer: A :class:`~sim_training.train.Trainer` (its progress callback is replaced).
        every: Samples per rollout (PPO iteration): a mark is taken at each multiple.
    """
    marks: list[tuple[float, int]] = []
    trainer.progress = lambda done, total, ret: (
        marks.append((time.perf_counter(), done)) if done % every == 0 else None)
    trainer.train()
    # Skip the first rollout (start-up); time from the end of the first to the last.
    (t_a, s_a), (t_b, s_b) = marks[0], marks[-1]
    return (s_b - s_a) / (t_b - t_a)


def bench_train(motion: str | Path, run: Path | None = None, num_envs: int | None = None,
                num_workers: int = 2, groups_per_worker: int | None = None,
                n_steps: int | None = None, rollouts: int = 6) -> dict[str, Any]:
    """Training samples/s against env-only samples/s (same envs, same run).

    Env-only steps the very same envs (normalisation and noise wrappers included) with random
    actions, the way training steps them: group by group when the envs are grouped.

    Args:
        motion: Motion file to train on.
        run: A training run or bundle whose learning curve gives samples-to-threshold.
        num_envs: Envs (None: the training default).
        num_workers: Env processes.
        groups_per_worker: Env groups per process (None: the training default).
        n_steps: Steps per env per update (None: the training default).
        rollouts: PPO iterations to time.

    Returns:
        The JSON-ready figures (with ``run``, ``run_samples``, ``samples_to_threshold`` and
        ``threshold`` when ``run`` is given).
    """
    from sim_training.collect import GroupStepper
    from sim_training.config import TrainConfig
    from sim_training.plots import samples_to_threshold
    from sim_training.train import Trainer

    given = {"num_envs": num_envs, "groups_per_worker": groups_per_worker}
    cfg = TrainConfig(motion=str(motion), num_workers=num_workers,
                      **{k: v for k, v in given.items() if v is not None})
    num_envs = cfg.num_envs
    if n_steps is not None:
        cfg = dataclasses.replace(cfg, ppo=dataclasses.replace(cfg.ppo, n_steps=n_steps))
    per_rollout = cfg.ppo.n_steps * num_envs
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer.create(
            dataclasses.replace(cfg, timesteps=per_rollout * (rollouts + 1)), Path(tmp) / "r")
        train_rate = _training_rate(trainer, per_rollout)
        venv = trainer.noise  # the very same envs (normalisation and noise wrappers included)
        rng = np.random.default_rng(0)
        stepper = GroupStepper.of(venv)
        venv.reset()
        env_rate = (vec_rate(venv, num_envs, 20.0, rng) if stepper is None
                    else grouped_rate(stepper, 20.0, rng))
        trainer.close()
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
    return out


def bench_ray(motion: str | Path, iterations: int = 8, num_envs: int = 4) -> dict[str, Any]:
    """Ray's overhead per PPO iteration: the same run locally and as a Ray Tune trial.

    Args:
        motion: Motion file to train on.
        iterations: PPO iterations per measurement.
        num_envs: Envs (in the trial's own process).

    Returns:
        The JSON-ready figures.
    """
    from sim_training.config import PPOConfig, TrainConfig
    from sim_training.distributed import train_on_ray
    from sim_training.train import Trainer

    ppo = PPOConfig(n_steps=128)
    per_it = ppo.n_steps * num_envs
    cfg = TrainConfig(motion=str(motion), num_envs=num_envs, num_workers=0,
                      timesteps=per_it * iterations, ppo=ppo)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer.create(cfg, Path(tmp) / "local")
        local_rate = _training_rate(trainer, per_it)
        trainer.close()
        start = time.perf_counter()
        summary = train_on_ray(cfg, Path(tmp) / "ray", report_every=1)
        ray_wall = time.perf_counter() - start
    ray_rate = float(summary["trials"][0]["samples_per_s"])
    overhead = 1.0 - ray_rate / local_rate
    return {"iterations": iterations, "samples_per_iteration": per_it,
            "local_samples_per_s": local_rate, "ray_trial_samples_per_s": ray_rate,
            "ray_overhead_per_iteration": overhead,
            "ray_wall_seconds_incl_startup": ray_wall,
            "ray_startup_seconds": ray_wall - cfg.timesteps / ray_rate,
            "implied_speedup": {str(n): n * (1.0 - max(overhead, 0.0)) for n in (2, 4, 8, 16)},
            "note": "independent trials (seeds or hyper-parameters), one per worker CPU"}
