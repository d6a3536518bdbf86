"""Training the z estimator by DAgger in the bundle's own randomised env, and evaluating it.

**Data.** Episodes of the bundle's :class:`~sim_training.env.ImitationEnv` with
``randomize=True`` and the bundle's env config, so dynamics are drawn from the policy's own
training ranges (at the curriculum fraction its manifest reports). At every observation the
newest proprioception frame (``obs[:28]``) is recorded with its label, the oracle z: the
encoder's mean of the *current* true params (``bundle.encode(obs["dynamics"])``).

**DAgger schedule.** Iteration 0 acts with the prior z (zeros) or, as configured, with the
oracle z (the policy then behaves as it was trained, but its actions reveal the true z: a
shortcut; see :class:`~sim_training.estimator.EstimatorConfig`). Every later iteration acts
with the previous fit's ẑ, computed online by
:class:`~sim_training.estimator.OnlineEstimator` exactly as the deploy loop would, and labels
every step with the oracle z: the estimator is then trained on the states its own mistakes
lead to. Episodes are aggregated over iterations; after each iteration the network is fitted
again (warm start) on everything collected so far, minus a held-out fraction of every
iteration's episodes that picks the epoch whose weights are kept.

**Figures.** Validation on fresh episodes (their own seeds) acting with the final ẑ: the mean
squared error of ẑ against the oracle z, against predicting the prior mean (zeros) and the
training labels' mean (the best constant), over all steps and once the window is full.
:func:`evaluate_estimator` compares returns acting with the prior, the estimate and the
oracle at given fixed dynamics.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch as th

from quadmimic.core.errors import BundleError
from sim_training.bundle import PolicyBundle
from sim_training.dynamics import dynamics_vector
from sim_training.env import ImitationEnv
from sim_training.estimator import (
    EstimatorConfig,
    EstimatorNet,
    OnlineEstimator,
    ZEstimator,
    build_net,
    history_layout,
    measure_update_microseconds,
    policy_fingerprint,
)
from sim_training.observations import PROPRIO_SIZE

MODES = ("prior", "estimate", "oracle")
"""Which z a rollout acts with: zeros, the online ẑ, or the encoder's mean of the truth."""
_STREAMS = {"train": 1, "validation": 2}


def episode_seed(seed: int, stream: str, iteration: int, index: int) -> int:
    """The env seed of one collected episode (dynamics draw and start phase)."""
    return int(np.random.SeedSequence([seed, _STREAMS[stream], iteration, index])
               .generate_state(1)[0])


@dataclass
class Episode:
    """One recorded episode.

    Attributes:
        frames: (T, 28) the newest proprioception frame of each observation (raw units).
        z_true: (T, z_dim) the oracle z at each observation.
        z_hat: (T, z_dim) the estimator's ẑ at each observation (NaN without estimator).
        total_reward: Sum of the env's rewards.
        steps: Policy steps taken (T − 1).
        fell: Whether it ended by termination (a fall or leaving the reference).
    """

    frames: np.ndarray
    z_true: np.ndarray
    z_hat: np.ndarray
    total_reward: float
    steps: int
    fell: bool


class _Oracle:
    """The encoder's mean of a dynamics vector, cached (dynamics rarely change in an episode)."""

    def __init__(self, bundle: PolicyBundle) -> None:
        self.bundle = bundle
        self._key: bytes | None = None
        self._z = np.zeros(bundle.z_dim)

    def __call__(self, dynamics: np.ndarray) -> np.ndarray:
        key = np.asarray(dynamics, np.float32).tobytes()
        if key != self._key:
            self._key, self._z = key, self.bundle.encode(np.asarray(dynamics, np.float32))[0]
        return self._z


def run_episode(bundle: PolicyBundle, env: ImitationEnv, mode: str, *,
                runtime: OnlineEstimator | None, seed: int, max_steps: int,
                oracle: Callable[[np.ndarray], np.ndarray] | None = None) -> Episode:
    """Roll out the deterministic policy acting with the z of ``mode`` for one episode.

    Args:
        bundle: The latent policy.
        env: Its env (randomised or at fixed dynamics).
        mode: One of :data:`MODES`.
        runtime: The online estimator; required for "estimate", else (if given) run
            alongside to measure its error on the episode.
        seed: The env seed of the episode.
        max_steps: Longest episode (policy steps); the env's own limits also end it.
        oracle: Maps the observation's dynamics vector to the oracle z (default: the
            bundle's encoder).

    Returns:
        The recorded :class:`Episode`.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if mode == "estimate" and runtime is None:
        raise ValueError("acting with the estimate needs the online estimator")
    oracle = oracle or _Oracle(bundle)
    obs, _ = env.reset(seed=seed, options=None if env.ref.wrap else {"phase": 0.0})
    if runtime is not None:
        runtime.reset()
    prior = np.zeros(bundle.z_dim)
    frames, z_true, z_hat = [], [], []
    total, steps, terminated, truncated = 0.0, 0, False, False
    while True:
        frame = obs["obs"][:PROPRIO_SIZE]
        truth = oracle(obs["dynamics"])
        est = runtime.update(frame) if runtime is not None else np.full(bundle.z_dim, np.nan)
        frames.append(frame.copy())
        z_true.append(truth.copy())
        z_hat.append(est)
        if terminated or truncated or steps >= max_steps:
            break
        z = {"prior": prior, "estimate": est, "oracle": truth}[mode]
        obs, reward, terminated, truncated, _ = env.step(bundle.act(obs["obs"], z=z))
        total += float(reward)
        steps += 1
    return Episode(np.asarray(frames, np.float32), np.asarray(z_true), np.asarray(z_hat),
                   total, steps, bool(terminated))


class WindowData:
    """Episodes as windows: row i is the window ending at recorded frame i.

    Windows are gathered on demand from the concatenated frames (no (N, window, 28) copy),
    repeating an episode's first frame before its start as the runtime does after a reset.

    Args:
        episodes: The episodes.
        window: Frames per window.
    """

    def __init__(self, episodes: Sequence[Episode], window: int) -> None:
        self.window = window
        self.episodes = len(episodes)
        z_dim = episodes[0].z_true.shape[1] if episodes else 0
        self.frames = (np.concatenate([e.frames for e in episodes]) if episodes
                       else np.zeros((0, PROPRIO_SIZE), np.float32))
        self.labels = (np.concatenate([e.z_true for e in episodes]).astype(np.float32)
                       if episodes else np.zeros((0, z_dim), np.float32))
        starts, offset = [], 0
        for e in episodes:
            starts.append(np.full(len(e.frames), offset))
            offset += len(e.frames)
        self.starts = np.concatenate(starts) if starts else np.zeros(0, int)
        self.position = np.arange(len(self.frames)) - self.starts  # index within the episode

    def __len__(self) -> int:
        return len(self.frames)

    def windows(self, rows: np.ndarray) -> np.ndarray:
        """Raw windows (len(rows), window, 28), newest first."""
        rows = np.asarray(rows)
        idx = np.maximum(rows[:, None] - np.arange(self.window)[None], self.starts[rows][:, None])
        return self.frames[idx]


def _mse(net: EstimatorNet, data: WindowData, rows: np.ndarray | None = None,
         batch: int = 4096) -> float:
    """Mean squared error of ``net`` on ``data`` (all rows, or ``rows``), per value."""
    rows = np.arange(len(data)) if rows is None else rows
    if len(rows) == 0:
        return float("nan")
    total = 0.0
    with th.no_grad():
        for k in range(0, len(rows), batch):
            r = rows[k:k + batch]
            pred = net(th.as_tensor(data.windows(r)))
            total += float(((pred - th.as_tensor(data.labels[r])) ** 2).sum())
    return total / (len(rows) * data.labels.shape[1])


def _fit(net: EstimatorNet, optimizer: th.optim.Optimizer, train: WindowData,
         hold: WindowData | None, config: EstimatorConfig,
         rng: np.random.Generator) -> dict[str, Any]:
    """``config.epochs`` passes over ``train``; keeps the epoch best on ``hold`` (if any)."""
    best_state, best, best_epoch = None, float("inf"), config.epochs
    curve = []
    net.train()
    for epoch in range(1, config.epochs + 1):
        order = rng.permutation(len(train))
        total = 0.0
        for k in range(0, len(order), config.batch_size):
            rows = order[k:k + config.batch_size]
            pred = net(th.as_tensor(train.windows(rows)))
            loss = th.mean((pred - th.as_tensor(train.labels[rows])) ** 2)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(rows)
        row = {"epoch": epoch, "train_mse": total / len(order)}
        if hold is not None and len(hold):
            net.eval()
            row["holdout_mse"] = _mse(net, hold)
            net.train()
            if row["holdout_mse"] < best:
                best, best_epoch = row["holdout_mse"], epoch
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        curve.append(row)
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    return {"best_epoch": best_epoch, "holdout_mse": None if best_state is None else best,
            "train_mse": curve[-1]["train_mse"],
            "curve": [{k: round(v, 6) if isinstance(v, float) else v for k, v in r.items()}
                      for r in curve]}


def error_figures(episodes: Sequence[Episode], window: int,
                  constant: np.ndarray | None = None) -> dict[str, Any]:
    """ẑ's errors against the oracle z over recorded episodes (per value: mean over dims).

    Args:
        episodes: Episodes with ``z_hat`` recorded.
        window: The estimator's window (rows before it is full are also reported apart).
        constant: The best constant predictor (the training labels' mean), if known.

    Returns:
        ``samples``; ``mse`` (ẑ), ``prior_mse`` (zeros), ``constant_mse``; ``mse_full_window``
        and ``prior_mse_full_window`` over rows whose window holds only the episode's own
        frames; ``explained_variance`` = 1 − mse / var(z); ``rmse_per_dim`` and
        ``prior_rmse_per_dim``; ``mse_over_prior``.
    """
    z = np.concatenate([e.z_true for e in episodes])
    zh = np.concatenate([e.z_hat for e in episodes])
    pos = np.concatenate([np.arange(len(e.frames)) for e in episodes])
    err2, prior2 = (zh - z) ** 2, z ** 2
    full = pos >= window - 1
    var = float(z.var(axis=0).mean())
    out: dict[str, Any] = {
        "samples": len(z), "mse": float(err2.mean()), "prior_mse": float(prior2.mean()),
        "mse_full_window": float(err2[full].mean()) if full.any() else None,
        "prior_mse_full_window": float(prior2[full].mean()) if full.any() else None,
        "explained_variance": 1.0 - float(err2.mean()) / var if var > 0 else None,
        "rmse_per_dim": np.sqrt(err2.mean(axis=0)).round(4).tolist(),
        "prior_rmse_per_dim": np.sqrt(prior2.mean(axis=0)).round(4).tolist(),
    }
    out["mse_over_prior"] = out["mse"] / out["prior_mse"] if out["prior_mse"] > 0 else None
    if constant is not None:
        out["constant_mse"] = float(((np.asarray(constant) - z) ** 2).mean())
    return out


def _rollout_figures(episodes: Sequence[Episode], dt: float) -> dict[str, float]:
    returns = [e.total_reward for e in episodes]
    return {"episodes": len(episodes), "mean_return": float(np.mean(returns)),
            "std_return": float(np.std(returns)),
            "fall_rate": float(np.mean([e.fell for e in episodes])),
            "mean_episode_seconds": float(np.mean([e.steps for e in episodes]) * dt)}


def training_env(bundle: PolicyBundle, seed: int) -> ImitationEnv:
    """The bundle's randomised env at the curriculum fraction its training reached."""
    env = ImitationEnv(bundle.motion_path, robot=bundle.robot, randomize=True, seed=seed,
                       config=bundle.config.env)
    fraction = bundle.manifest.get("randomization_fraction")
    if fraction is not None:
        env.set_randomization_fraction(float(fraction))
    return env


def train_estimator(bundle: PolicyBundle, config: EstimatorConfig | None = None, *,
                    progress: Callable[[dict[str, Any]], None] | None = None) -> ZEstimator:
    """Train an estimator of ``bundle``'s z by DAgger (see the module docstring).

    Args:
        bundle: A latent policy bundle (its env config, ranges, statistics and encoder).
        config: Architecture and budget.
        progress: Called with each iteration's figures (and once with the validation's).

    Returns:
        The trained estimator; its ``meta`` holds the history layout, the policy it belongs
        to, per-iteration figures, the validation figures, the runtime's per-step cost and
        the wall and CPU seconds of the training.

    Raises:
        BundleError: The bundle has no latent.
    """
    if not bundle.z_dim:
        raise BundleError("this policy has no latent to estimate (robust baseline)",
                          bundle.path)
    config = config or EstimatorConfig()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    threads = th.get_num_threads()
    th.set_num_threads(config.torch_threads)
    try:
        th.manual_seed(config.seed)
        rng = np.random.default_rng(config.seed)
        net = build_net(config, bundle.z_dim, bundle.obs_mean, bundle.obs_var,
                        bundle.epsilon, bundle.clip_obs).eval()
        optimizer = th.optim.Adam(net.parameters(), lr=config.learning_rate,
                                  weight_decay=config.weight_decay)
        env = training_env(bundle, config.seed)
        oracle = _Oracle(bundle)
        dt = env.config.policy_dt
        max_steps = max(1, round(config.episode_seconds / dt))
        meta = {"history": history_layout(config.window, bundle.z_dim, 1.0 / dt)}
        estimator = ZEstimator(net, config, meta)
        train_eps: list[Episode] = []
        hold_eps: list[Episode] = []
        iterations = []
        n = config.episodes_per_iteration
        n_hold = min(n - 1, round(config.holdout_fraction * n)) if n > 1 else 0
        try:
            for it in range(config.iterations):
                t0 = time.perf_counter()
                mode = config.first_acting if it == 0 else "estimate"
                runtime = OnlineEstimator(estimator) if it > 0 else None
                new = [run_episode(bundle, env, mode, runtime=runtime,
                                   seed=episode_seed(config.seed, "train", it, k),
                                   max_steps=max_steps, oracle=oracle) for k in range(n)]
                collect_s = time.perf_counter() - t0
                if it == 1 and not config.keep_first:
                    train_eps, hold_eps = [], []
                train_eps += new[:n - n_hold]
                hold_eps += new[n - n_hold:]
                fit = _fit(net, optimizer, WindowData(train_eps, config.window),
                           WindowData(hold_eps, config.window) if hold_eps else None,
                           config, rng)
                row = {"iteration": it, "acting_with": mode, "episodes": n,
                       "steps": int(sum(e.steps for e in new)),
                       "samples_aggregated": int(sum(len(e.frames)
                                                     for e in train_eps + hold_eps)),
                       **_rollout_figures(new, dt),
                       "acting_mse": (error_figures(new, config.window)["mse"]
                                      if runtime is not None else None),
                       "collect_seconds": collect_s,
                       "fit_seconds": time.perf_counter() - t0 - collect_s, **fit}
                iterations.append(row)
                if progress is not None:
                    progress({k: v for k, v in row.items() if k != "curve"})
            train_data = WindowData(train_eps, config.window)
            constant = train_data.labels.mean(axis=0)
            runtime = OnlineEstimator(estimator)
            val = [run_episode(bundle, env, "estimate", runtime=runtime,
                               seed=episode_seed(config.seed, "validation", 0, k),
                               max_steps=max_steps, oracle=oracle)
                   for k in range(config.validation_episodes)]
        finally:
            env.close()
        validation = {**error_figures(val, config.window, constant),
                      **_rollout_figures(val, dt), "acting_with": "estimate",
                      "constant": constant.round(6).tolist()}
        if progress is not None:
            progress({"validation": validation})
        fingerprint = policy_fingerprint(bundle.path)
        meta.update({
            "bundle": str(bundle.path), "robot": bundle.robot,
            "policy_sha256": fingerprint,
            "ranges": "the bundle's training ranges (config.env.ranges) at randomization "
                      f"fraction {env.config.randomization_fraction}",
            "network": {"kind": "mlp over the flattened window", "activation": "elu",
                        "layers": [config.window * PROPRIO_SIZE, *config.hidden,
                                   bundle.z_dim],
                        "parameters": int(sum(p.numel() for p in net.parameters()))},
            "training": {
                "episodes_collected": config.iterations * n,
                "episodes_used": len(train_eps) + len(hold_eps),
                "holdout_episodes": len(hold_eps),
                "samples": int(sum(len(e.frames) for e in train_eps)),
                "holdout_samples": int(sum(len(e.frames) for e in hold_eps)),
                "env_steps": int(sum(r["steps"] for r in iterations)),
                "wall_seconds": time.perf_counter() - wall0,
                "cpu_seconds": time.process_time() - cpu0,
                "iterations": iterations},
            "validation": validation,
            "update_microseconds": measure_update_microseconds(estimator),
        })
        return estimator
    finally:
        th.set_num_threads(threads)


def evaluate_estimator(bundle: PolicyBundle, estimator: ZEstimator,
                       dynamics: dict[str, float], *, episodes: int = 3, seed: int = 0,
                       modes: Sequence[str] = MODES, episode_seconds: float | None = None,
                       physics_hz: float | None = None) -> dict[str, Any]:
    """Returns acting with prior, estimate and oracle z at fixed dynamics, and ẑ's error.

    Every mode runs the same ``episodes`` env seeds (``seed + k``: the same start phases);
    the estimator runs in every mode, so its error against the oracle z is also reported
    when the policy acts with another z.

    Args:
        bundle: The latent policy.
        estimator: Its estimator.
        dynamics: The fixed dynamics (missing keys nominal).
        episodes: Episodes per mode.
        seed: Seed of the first episode.
        modes: Which z to act with (:data:`MODES`).
        episode_seconds: Episode length (s); None: the bundle's.
        physics_hz: Physics rate (Hz); None: the bundle's training rate.

    Returns:
        ``dynamics``, ``oracle_z``, and per mode: ``mean_return``, ``std_return``,
        ``fall_rate``, ``mean_episode_seconds``, ``z_error`` (:func:`error_figures`) and
        ``mean_z_hat`` (over full windows); ``estimate_gap_recovered`` = (estimate − prior)
        / (oracle − prior) of the mean returns when all three ran and the gap is not 0.
    """
    import dataclasses

    cfg = bundle.config.env
    if physics_hz is not None:
        cfg = dataclasses.replace(cfg, physics_hz=float(physics_hz))
    env = ImitationEnv(bundle.motion_path, robot=bundle.robot, randomize=False,
                       dynamics=dynamics, seed=seed, config=cfg)
    oracle = _Oracle(bundle)
    runtime = OnlineEstimator(estimator)
    limit = episode_seconds if episode_seconds is not None else cfg.episode_seconds
    max_steps = max(1, round(limit / cfg.policy_dt))
    out: dict[str, Any] = {"dynamics": dict(env.dynamics), "episodes": episodes,
                           "physics_hz": cfg.physics_hz}
    try:
        for mode in modes:
            eps = [run_episode(bundle, env, mode, runtime=runtime, seed=seed + k,
                               max_steps=max_steps, oracle=oracle) for k in range(episodes)]
            full = np.concatenate([e.z_hat[estimator.window - 1:] for e in eps])
            out[mode] = {**_rollout_figures(eps, cfg.policy_dt),
                         "z_error": error_figures(eps, estimator.window),
                         "mean_z_hat": (full.mean(axis=0).round(4).tolist() if len(full)
                                        else None)}
        out["oracle_z"] = oracle(dynamics_vector(env.dynamics)).round(4).tolist()
    finally:
        env.close()
    if all(m in out for m in MODES):
        gap = out["oracle"]["mean_return"] - out["prior"]["mean_return"]
        out["estimate_gap_recovered"] = ((out["estimate"]["mean_return"]
                                          - out["prior"]["mean_return"]) / gap
                                         if abs(gap) > 1e-9 else None)
    return out


__all__ = ["MODES", "Episode", "WindowData", "error_figures", "evaluate_estimator",
           "run_episode", "train_estimator", "training_env"]
