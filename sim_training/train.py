"""The runner: builds envs and model from a :class:`TrainConfig`, trains, checkpoints, resumes.

A run directory holds ``config.json``, ``checkpoints/<steps>/`` (policy and optimizer state,
observation normalisation, counters, the learning curve), ``LATEST`` (the newest complete
checkpoint, replaced atomically after the checkpoint is fully written), TensorBoard logs under
``tb/``, and the policy bundle under ``bundle/`` at the end. Killing a run at any moment loses
at most the steps since the last checkpoint; ``resume`` continues from ``LATEST`` with the
same optimizer, normalisation statistics, step counter, curriculum and random generators.
``BEST`` names the checkpoint whose evaluation at nominal dynamics had the highest return
without a fall (:func:`nominal_score`); it is kept when older checkpoints are pruned, so that a
long run under wide randomisation does not lose its best walker (as SB3's ``EvalCallback``
keeps ``best_model``).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import configure
from stable_baselines3.common.vec_env import VecNormalize

from quadmimic.core.errors import BundleError, QuadmimicError
from quadmimic.core.fileio import atomic_write_text
from sim_training.collect import SegmentRolloutBuffer
from sim_training.config import TrainConfig, load_train_config, save_config
from sim_training.observations import COMMAND_SIZE
from sim_training.policy import LatentActorCriticPolicy, LatentNoise, dynamics_normaliser
from sim_training.ppo import LatentPPO
from sim_training.randomization import encoder_keys
from sim_training.rewards import ENV_TERMS
from sim_training.vec_env import TRAINING_INFO_KEYS, make_vec_env

TERMS = ENV_TERMS


def build(config: TrainConfig) -> tuple[LatentPPO, VecNormalize, LatentNoise]:
    """Envs (normalised observations, latent noise) and the PPO model for a config."""
    th.set_num_threads(config.torch_threads)
    venv = make_vec_env(config.motion, robot=config.robot, num_envs=config.num_envs,
                        seed=config.seed, num_workers=config.num_workers, randomize=True,
                        config=config.env, info_keys=TRAINING_INFO_KEYS,
                        groups_per_worker=config.groups_per_worker)
    norm = VecNormalize(venv, norm_obs=True, norm_reward=True, norm_obs_keys=["obs"],
                        gamma=config.ppo.gamma, clip_obs=10.0)
    model_cfg = config.model if config.latent else _no_latent(config)
    noisy = LatentNoise(norm, model_cfg.z_dim, seed=config.seed + 10_000)
    offset, scale = dynamics_normaliser(config.env.ranges)
    p = config.ppo
    grouped = config.num_workers > 0 and config.groups_per_worker > 1
    model = LatentPPO(
        LatentActorCriticPolicy, noisy, beta=model_cfg.beta if config.latent else 0.0,
        n_steps=p.n_steps, batch_size=p.batch_size, n_epochs=p.n_epochs,
        learning_rate=p.learning_rate, gamma=p.gamma, gae_lambda=p.gae_lambda,
        clip_range=p.clip_range, ent_coef=p.ent_coef, vf_coef=p.vf_coef,
        max_grad_norm=p.max_grad_norm, target_kl=p.target_kl, seed=config.seed, device="cpu",
        update_threads=config.update_threads,
        rollout_buffer_class=SegmentRolloutBuffer if grouped else None,
        policy_kwargs={"model": model_cfg, "dynamics_offset": offset, "dynamics_scale": scale,
                       "dynamics_keys": encoder_keys(config.env.ranges)},
        verbose=0)
    return model, norm, noisy


def _no_latent(config: TrainConfig) -> Any:
    import dataclasses

    return dataclasses.replace(config.model, z_dim=0, beta=0.0)


EVAL_SEED = 12345
"""Seed of the start phases of the evaluations at checkpoints."""
CURRICULUM_EPISODES = 50
"""Completed episodes the curriculum needs to see before it widens the ranges."""


BEST = "BEST"
"""File in a run directory naming its best checkpoint (see :func:`nominal_score`)."""


def nominal_score(row: dict[str, Any]) -> float | None:
    """A checkpoint's standing for ``BEST``: the return of its evaluation at nominal dynamics.

    Args:
        row: The learning-curve row the evaluation was written into (``eval_nominal_*``).

    Returns:
        ``eval_nominal_return`` (mean return per episode), or None when the row holds no
        evaluation or an evaluated episode fell.
    """
    if "eval_nominal_return" not in row or row.get("eval_nominal_fall_rate", 1.0) > 0.0:
        return None
    return float(row["eval_nominal_return"])


def checkpoint_score(checkpoint: Path) -> float | None:
    """:func:`nominal_score` of a checkpoint directory (its curve's last row; None if absent)."""
    state = checkpoint / "state.json"
    if not state.is_file():
        return None
    curve = json.loads(state.read_text()).get("curve") or [{}]
    return nominal_score(curve[-1])


class _RunCallback(BaseCallback):
    """Per-term reward logging, curriculum, checkpoints and progress for a :class:`Trainer`."""

    def __init__(self, trainer: Trainer) -> None:
        super().__init__()
        self.trainer = trainer
        self.terms: dict[str, list[float]] = {k: [] for k in TERMS}
        self.lengths: list[float] = []
        self.returns: list[float] = []
        self.last_checkpoint = time.monotonic()

    def _on_step(self) -> bool:
        for info in self.locals["infos"]:
            for k, v in info.get("reward_terms", {}).items():
                self.terms[k].append(v)
            episode = info.get("episode")
            if episode:
                self.lengths.append(float(episode["l"]))
                self.returns.append(float(episode["r"]))
        tr = self.trainer
        if tr.progress:
            tr.progress(self.num_timesteps, tr.config.timesteps, tr.last_mean_reward)
        return not tr.stop_requested

    def _on_rollout_start(self) -> None:
        # Right after an update: the checkpoint holds every sample it counts.
        tr = self.trainer
        if time.monotonic() - self.last_checkpoint > 60.0 * tr.config.checkpoint_minutes:
            if tr.config.eval_episodes > 0 and tr.curve:
                figures = tr.nominal_eval()
                tr.curve[-1].update(figures)
                for k, v in figures.items():
                    self.logger.record(f"eval/{k.removeprefix('eval_')}", v)
            tr.save_checkpoint()
            self.last_checkpoint = time.monotonic()

    def _on_rollout_end(self) -> None:
        tr = self.trainer
        row: dict[str, float] = {"timesteps": float(self.num_timesteps),
                                 "wall_seconds": tr.wall_seconds(),
                                 "randomization_fraction": tr.fraction}
        for k, values in self.terms.items():
            if values:
                row[f"reward_terms.{k}"] = float(np.mean(values))
                self.logger.record(f"reward_terms/{k}", row[f"reward_terms.{k}"])
        if self.lengths:
            dt = tr.config.env.policy_dt
            row["mean_episode_seconds"] = float(np.mean(self.lengths)) * dt
            row["mean_return"] = float(np.mean(self.returns))
            tr.last_mean_reward = row["mean_return"]
            self.logger.record("episode/mean_seconds", row["mean_episode_seconds"])
            # The curriculum only ever widens, so it reads a steady figure: the last 100
            # episodes (SB3's buffer), not one rollout's few, which crossed the threshold by
            # chance and widened the ranges to full within 80 k samples (measured).
            recent = [e["l"] for e in self.model.ep_info_buffer]
            limit = tr.config.env.episode_seconds
            if (len(recent) >= CURRICULUM_EPISODES and tr.fraction < 1.0
                    and float(np.mean(recent)) * dt
                    >= tr.config.curriculum_episode_fraction * limit):
                tr.set_fraction(min(1.0, tr.fraction + tr.config.curriculum_step))
                self.model.ep_info_buffer.clear()  # judge the new ranges on their own
        self.logger.record("curriculum/randomization_fraction", tr.fraction)
        tr.curve.append(row)
        self.terms = {k: [] for k in TERMS}
        self.lengths, self.returns = [], []


class Trainer:
    """Train one run; see the module docstring for the run directory.

    Args:
        config: The run's config (never mutated).
        run_dir: Where the run lives.
        progress: Optional ``(timesteps, total, mean_return)`` callback, called every step.
    """

    def __init__(self, config: TrainConfig, run_dir: str | Path,
                 progress: Callable[[int, int, float], None] | None = None) -> None:
        self.config = config
        self.run_dir = Path(run_dir)
        self.progress = progress
        self.curve: list[dict[str, float]] = []
        self.fraction = config.curriculum_start
        self.last_mean_reward = float("nan")
        self.stop_requested = False
        self._wall_before = 0.0
        self._started = time.monotonic()
        self.model, self.norm, self.noise = build(config)
        self.set_fraction(self.fraction)

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def create(cls, config: TrainConfig, run_dir: str | Path, **kwargs: Any) -> Trainer:
        """A new run in an empty (or new) directory."""
        run_dir = Path(run_dir)
        if (run_dir / "LATEST").exists():
            raise QuadmimicError(f"{run_dir} already holds a run; use --resume to continue it")
        validate_config(config)
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(config, run_dir / "config.json")
        shutil.copyfile(config.motion, run_dir / "motion.txt")
        trainer = cls(config, run_dir, **kwargs)
        if config.init_from is not None:
            trainer.init_weights_from(config.init_from)
        return trainer

    @classmethod
    def resume(cls, run_dir: str | Path, **kwargs: Any) -> Trainer:
        """Continue the run in ``run_dir`` from its newest complete checkpoint."""
        run_dir = Path(run_dir)
        if not (run_dir / "config.json").is_file():
            raise QuadmimicError(f"{run_dir} is not a training run (no config.json)")
        config = load_train_config(run_dir / "config.json")
        if (run_dir / "motion.txt").is_file():  # the run's own copy, whatever became of the
            config = dataclasses.replace(config, motion=str(run_dir / "motion.txt"))  # source
        trainer = cls(config, run_dir, **kwargs)
        latest = run_dir / "LATEST"
        if latest.is_file():
            trainer.load_checkpoint(run_dir / "checkpoints" / latest.read_text().strip())
        return trainer

    def init_weights_from(self, source: str | Path) -> None:
        """Copy network weights and observation statistics from a run, checkpoint or bundle.

        A latent policy may seed a robust baseline (see :func:`drop_latent_inputs`).

        Raises:
            BundleError: ``source`` holds no policy or one of another shape.
        """
        src = Path(source)
        from sim_training.bundle import lineage_of

        source_robot = _source_robot(src)

        # What led to these weights, frozen now: the source run goes on and prunes its
        # checkpoints, so reading it later would give a longer history than was inherited.
        atomic_write_text(self.run_dir / "lineage.json", json.dumps(lineage_of(src)))
        if (src / "LATEST").is_file():
            src = src / "checkpoints" / (src / "LATEST").read_text().strip()
        if not (src / "policy.pt").is_file() or not (src / "normalization.npz").is_file():
            raise BundleError("no policy.pt + normalization.npz here (give a run, a "
                              "checkpoint or a bundle)", src)
        from sim_training.bundle import load_normalization, load_weights

        state = load_weights(src / "policy.pt")
        arrays = load_normalization(src / "normalization.npz", ("obs_mean",))
        n_source = int(arrays["obs_mean"].shape[0])
        n_target = int(self.norm.obs_rms["obs"].mean.shape[0])
        if self.config.env.commands.enabled and n_source + COMMAND_SIZE == n_target:
            # A gait trained without commands, warm-started into a steerable one.
            state = widen_command_inputs(state, n_source)
            arrays = widen_command_statistics(arrays, *self._command_statistics())
        if not self.config.latent:
            state = drop_latent_inputs(state, self.model.policy.state_dict())
        else:
            state = widen_encoder_inputs(state, self.model.policy.state_dict(),
                                         _source_encoder_keys(src),
                                         encoder_keys(self.config.env.ranges))
        try:
            self.model.policy.load_state_dict(state)
        except RuntimeError as exc:
            raise BundleError(f"the policy does not fit this run's model config: {exc}",
                              src) from exc
        if arrays["obs_mean"].shape != self.norm.obs_rms["obs"].mean.shape:
            raise BundleError(f"observation layout {arrays['obs_mean'].shape[0]} does not fit "
                              f"this run's {self.norm.obs_rms['obs'].mean.shape[0]}", src)
        if source_robot is not None and source_robot != self.config.robot:
            # Another robot: its statistics are only the prior. With a count of one sample
            # the first rollout's observations of this robot outweigh them at once, so the
            # statistics are re-estimated on this robot from the first step on.
            arrays = {**arrays, "obs_count": np.array(1.0)}
        set_normalization(self.norm, arrays, returns=False)  # returns: this run's own task

    def _command_statistics(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance (3,) of this run's training commands (its clip's ranges)."""
        from motion_retarget.kinematics import robot_model
        from motion_retarget.motion_file import load_motion
        from sim_training.commands import clip_command, command_statistics
        from sim_training.reference import ReferenceMotion

        ref = ReferenceMotion(load_motion(self.config.motion), robot_model(self.config.robot))
        return command_statistics(self.config.env.commands, clip_command(ref))

    def nominal_eval(self) -> dict[str, float]:
        """Evaluate the current policy at nominal dynamics (as ``quadmimic eval`` does).

        ``config.eval_episodes`` deterministic episodes from fixed start phases.

        Returns:
            ``eval_nominal_seconds`` (mean episode, s), ``eval_nominal_length`` (its fraction
            of a full episode: the episode limit, or a one-shot motion's length),
            ``eval_nominal_fall_rate``,
            ``eval_nominal_pose`` (mean pose term), ``eval_nominal_return`` and, for a
            motion that travels, ``eval_nominal_progress`` (distance along the reference
            over the reference's) and, for one that moves, ``eval_nominal_tracking`` (the
            smallest tracking ratio of forward, lateral and yaw motion).
        """
        from sim_training.bundle import PolicyBundle
        from sim_training.evaluate import evaluate

        rms = self.norm.obs_rms["obs"]
        manifest = {"z_dim": self.config.model.z_dim if self.config.latent else 0}
        bundle = PolicyBundle(self.run_dir, self.config, manifest, self.model.policy,
                              rms.mean.copy(), rms.var.copy(), float(self.norm.clip_obs),
                              float(self.norm.epsilon), None)
        result = evaluate(bundle, episodes=self.config.eval_episodes, seed=EVAL_SEED)
        out = {"eval_nominal_seconds": result.mean_episode_seconds,
               "eval_nominal_length": (result.mean_episode_seconds
                                       / result.episode_limit_seconds),
               "eval_nominal_fall_rate": result.fall_rate,
               "eval_nominal_pose": result.reward_terms["pose"],
               "eval_nominal_return": result.mean_return}
        if result.progress_ratio is not None:
            out["eval_nominal_progress"] = result.progress_ratio
        if result.tracking_min is not None:
            out["eval_nominal_tracking"] = result.tracking_min
        return out

    def _restore_generators(self, path: Path) -> None:
        """Numpy's global generator (minibatch order) and every env's generator."""
        states = json.loads(path.read_text())
        name, keys, pos, has_gauss, gauss = states["numpy_global"]
        np.random.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, gauss))
        envs = states["envs"]
        if len(envs) == self.config.num_envs:
            for i, state in enumerate(envs):
                self.norm.env_method("set_rng_state", state, indices=[i])

    def wall_seconds(self) -> float:
        """Training wall time so far, across resumes (s)."""
        return self._wall_before + time.monotonic() - self._started

    def set_fraction(self, fraction: float) -> None:
        """Randomisation curriculum: use this fraction of the ranges in every env."""
        self.fraction = float(fraction)
        self.norm.env_method("set_randomization_fraction", self.fraction)

    def train(self) -> None:
        """Train until ``config.timesteps``; checkpoint at the end (and along the way)."""
        self.model.set_logger(configure(str(self.run_dir / "tb"), ["tensorboard"]))
        remaining = self.config.timesteps - self.model.num_timesteps
        if remaining > 0:
            self.model.learn(remaining, callback=_RunCallback(self), reset_num_timesteps=False)
        self.save_checkpoint()

    def close(self) -> None:
        """Stop the env workers."""
        self.noise.close()

    # ------------------------------------------------------------------ checkpoints
    def save_checkpoint(self) -> Path:
        """Write a checkpoint; point ``LATEST`` (and ``BEST``) at it; keep two and the best.

        ``BEST`` moves only when this checkpoint's evaluation beats the one it names.
        """
        steps = int(self.model.num_timesteps)
        root = self.run_dir / "checkpoints"
        final = root / f"{steps:012d}"
        tmp = root / f".{steps:012d}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        th.save(self.model.policy.state_dict(), tmp / "policy.pt")
        th.save(self.model.policy.optimizer.state_dict(), tmp / "optimizer.pt")
        th.save({"torch_rng": th.get_rng_state()}, tmp / "rng.pt")
        name, keys, pos, has_gauss, gauss = np.random.get_state()
        (tmp / "generators.json").write_text(json.dumps({
            "numpy_global": [name, keys.tolist(), pos, has_gauss, gauss],
            "envs": self.norm.env_method("rng_state")}))
        np.savez(tmp / "normalization.npz", **normalization_arrays(self.norm))
        state = {"num_timesteps": steps, "n_updates": int(self.model._n_updates),
                 "randomization_fraction": self.fraction, "wall_seconds": self.wall_seconds(),
                 "noise_rng": self.noise.rng.bit_generator.state, "curve": self.curve}
        (tmp / "state.json").write_text(json.dumps(state))
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        atomic_write_text(self.run_dir / "LATEST", final.name + "\n")
        best = self._update_best(final)
        for old in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(
                "."))[:-2]:
            if old.name != best:
                shutil.rmtree(old, ignore_errors=True)
        return final

    def _update_best(self, final: Path) -> str | None:
        """Point ``BEST`` at ``final`` if its evaluation beats the one ``BEST`` names.

        Returns:
            The name of the best checkpoint (None while no evaluation has passed).
        """
        pointer = self.run_dir / BEST
        best = pointer.read_text().strip() if pointer.is_file() else None
        held = checkpoint_score(final.parent / best) if best else None
        if held is None and best:  # it names a checkpoint that is gone
            pointer.unlink()
            best = None
        score = nominal_score(self.curve[-1]) if self.curve else None  # what final holds
        if score is not None and (held is None or score > held):
            atomic_write_text(pointer, final.name + "\n")
            best = final.name
        return best

    def load_checkpoint(self, path: Path) -> None:
        """Restore model, optimizer, normalisation, counters and generators from a checkpoint."""
        from sim_training.bundle import load_normalization, load_weights, read_json

        self.model.policy.load_state_dict(load_weights(path / "policy.pt"))
        self.model.policy.optimizer.load_state_dict(load_weights(path / "optimizer.pt"))
        th.set_rng_state(load_weights(path / "rng.pt")["torch_rng"])
        if (path / "generators.json").is_file():  # older checkpoints reseed as they did
            self._restore_generators(path / "generators.json")
        set_normalization(self.norm, load_normalization(path / "normalization.npz", ()))
        state = read_json(path / "state.json")
        self.model.num_timesteps = int(state["num_timesteps"])
        self.model._num_timesteps_at_start = self.model.num_timesteps
        self.model._n_updates = int(state["n_updates"])
        self.noise.rng.bit_generator.state = state["noise_rng"]
        self.curve = list(state["curve"])
        self._wall_before = float(state["wall_seconds"])
        self.set_fraction(float(state["randomization_fraction"]))


def validate_config(config: TrainConfig) -> None:
    """Check what a run reads before any env process starts (errors name file and reason).

    The motion must load and fit the robot, and an ``init_from`` source must hold a policy
    of the run's layout, so a bad input is one line instead of dead worker processes.

    Raises:
        QuadmimicError: A subclass naming the file and what is wrong with it.
    """
    from motion_retarget.motion_file import load_motion
    from quadmimic.core.robots import get_robot
    from sim_training.observations import observation_size

    get_robot(config.robot)
    motion = load_motion(config.motion)
    if motion.frames.shape[1] != 19:
        raise BundleError(f"a motion frame has {motion.frames.shape[1]} values; a quadruped "
                          "motion has 19 (position 3, quaternion 4, 12 joints)", config.motion)
    if config.init_from is None:
        return
    src = Path(config.init_from)
    if (src / "LATEST").is_file():
        src = src / "checkpoints" / (src / "LATEST").read_text().strip()
    if not (src / "policy.pt").is_file() or not (src / "normalization.npz").is_file():
        raise BundleError("no policy.pt + normalization.npz here (give a run, a checkpoint or "
                          "a bundle)", config.init_from)
    _source_robot(src)
    from sim_training.bundle import load_normalization, load_weights

    load_weights(src / "policy.pt")  # a truncated or corrupt file: one line, before any write
    size = int(load_normalization(src / "normalization.npz", ("obs_mean",))["obs_mean"].shape[0])
    commands = config.env.commands.enabled
    want = observation_size(config.env.history, tuple(config.env.future_steps), commands)
    if size != want and not (commands and size + COMMAND_SIZE == want):
        raise BundleError(f"observation layout {size} does not fit this run's {want}",
                          config.init_from)


def _source_robot(src: Path) -> str | None:
    """The robot a run, checkpoint or bundle was trained for (None if it does not say)."""
    for folder in (src, src.parent.parent):
        path = folder / "config.json"
        if path.is_file():
            try:
                return str(json.loads(path.read_text())["robot"])
            except (ValueError, KeyError, TypeError) as exc:
                raise BundleError(f"unreadable config.json: {exc}", path) from exc
    return None


def drop_latent_inputs(state: dict[str, th.Tensor],
                       target: dict[str, th.Tensor]) -> dict[str, th.Tensor]:
    """A latent policy's weights shaped for a policy without latent (the robust baseline).

    The encoders go, and the first actor and critic layers lose their z columns (the
    features are ``[obs, z]``), which is exactly the latent policy evaluated at z = 0, the
    prior mean. Weights that already fit ``target`` are kept as they are.

    Args:
        state: Source state dict.
        target: State dict of the policy to load into (for the shapes).

    Returns:
        A state dict with ``target``'s keys, where the source has them.
    """
    out = {}
    for key, value in state.items():
        if key not in target:
            continue
        want = target[key].shape
        if value.shape != want and value.ndim == 2 and value.shape[0] == want[0]:
            value = value[:, :want[1]]
        out[key] = value
    return out


def widen_encoder_inputs(state: dict[str, th.Tensor], target: dict[str, th.Tensor],
                         source_keys: tuple[str, ...],
                         target_keys: tuple[str, ...]) -> dict[str, th.Tensor]:
    """A latent policy's weights for an encoder that reads more keys or other ranges.

    The encoder's first layer is re-expressed exactly for the target's normalisation of the
    keys both read (``x_old = (μ − o_old)/s_old = (x_new·s_new + o_new − o_old)/s_old``), and
    gets zero weights for the keys only the target reads: at the start the warm policy's z
    is what the source's was on every dynamics the source knew, and the new keys enter as
    training moves their weights off zero. Every copy of the encoder in the state dict (SB3
    keeps the shared extractor under three names) is treated alike.

    Args:
        state: Source state dict (a latent policy).
        target: State dict of the policy to load into.
        source_keys: The keys the source's encoder reads, in order.
        target_keys: The keys the target's encoder reads, in order.

    Returns:
        ``state`` with the target's encoder normalisation and first-layer shape.
    """
    out = dict(state)
    for w_key in [k for k in state if k.endswith("encoder.net.0.weight") and k in target]:
        prefix = w_key[:-len("net.0.weight")]
        b_key, o_key, s_key = prefix + "net.0.bias", prefix + "offset", prefix + "scale"
        n_target = target[o_key].shape[0]
        if len(target_keys) != n_target or len(source_keys) != state[o_key].shape[0]:
            raise BundleError(f"encoder keys ({len(source_keys)} → {len(target_keys)}) do not "
                              f"fit the encoder inputs ({state[o_key].shape[0]} → {n_target})")
        w_old, b_old = state[w_key].double(), state[b_key].double()
        o_old, s_old = state[o_key].double(), state[s_key].double()
        o_new, s_new = target[o_key].double(), target[s_key].double()
        w_new = th.zeros(w_old.shape[0], n_target, dtype=th.float64)
        b_new = b_old.clone()
        for j, key in enumerate(target_keys):
            if key in source_keys:
                i = source_keys.index(key)
                w_new[:, j] = w_old[:, i] * s_new[j] / s_old[i]
                b_new += w_old[:, i] * (o_new[j] - o_old[i]) / s_old[i]
        out[w_key], out[b_key] = w_new.float(), b_new.float()
        out[o_key], out[s_key] = target[o_key].clone(), target[s_key].clone()
    return out


def widen_command_inputs(state: dict[str, th.Tensor], n_obs: int) -> dict[str, th.Tensor]:
    """A policy's weights for the observation with the command block (a steerable policy).

    The actor's and critic's first layers read the features ``[obs, z]``; the command is
    appended to ``obs`` (:mod:`sim_training.observations`), so each gets
    :data:`~sim_training.observations.COMMAND_SIZE` zero columns at ``n_obs``. Exact: the
    widened policy's actions and values are the source's whatever the command, so at the
    clip's own command (where the reference is the clip's) it acts as the source did, and the
    command enters as training moves these weights off zero.

    Args:
        state: Source state dict (observation of ``n_obs`` values, no command).
        n_obs: The source's observation size.

    Returns:
        ``state`` with the two first layers widened (other tensors as they are).
    """
    out = dict(state)
    for key in ("mlp_extractor.policy_net.0.weight", "mlp_extractor.value_net.0.weight"):
        w = state[key]
        zeros = th.zeros(w.shape[0], COMMAND_SIZE, dtype=w.dtype)
        out[key] = th.cat([w[:, :n_obs], zeros, w[:, n_obs:]], dim=1)
    return out


def widen_command_statistics(arrays: dict[str, np.ndarray], mean: np.ndarray,
                             var: np.ndarray) -> dict[str, np.ndarray]:
    """Observation statistics with entries for the command block appended.

    Args:
        arrays: :func:`normalization_arrays`' arrays of a policy without commands.
        mean: Mean (3,) of the commands (:func:`sim_training.commands.command_statistics`).
        var: Their variance (3,).

    Returns:
        The arrays with ``obs_mean`` and ``obs_var`` extended.
    """
    return {**arrays, "obs_mean": np.r_[arrays["obs_mean"], mean],
            "obs_var": np.r_[arrays["obs_var"], var]}


def _source_encoder_keys(src: Path) -> tuple[str, ...]:
    """The dynamics keys a checkpoint's or bundle's encoder reads (from its config)."""
    from sim_training.dynamics import FIRST_KEYS

    for path in (src / "config.json", src.parent.parent / "config.json"):
        if path.is_file():
            from sim_training.bundle import read_train_config

            return encoder_keys(read_train_config(path).env.ranges)
    return FIRST_KEYS


def normalization_arrays(norm: VecNormalize) -> dict[str, np.ndarray]:
    """Observation (``obs`` key) and return running statistics as arrays."""
    rms = norm.obs_rms["obs"]
    return {"obs_mean": rms.mean, "obs_var": rms.var, "obs_count": np.array(rms.count),
            "ret_mean": norm.ret_rms.mean, "ret_var": norm.ret_rms.var,
            "ret_count": np.array(norm.ret_rms.count),
            "clip_obs": np.array(norm.clip_obs), "epsilon": np.array(norm.epsilon)}


def set_normalization(norm: VecNormalize, arrays: dict[str, np.ndarray],
                      returns: bool = True) -> None:
    """Inverse of :func:`normalization_arrays`; with ``returns`` False, observations only."""
    rms = norm.obs_rms["obs"]
    rms.mean, rms.var, rms.count = arrays["obs_mean"], arrays["obs_var"], float(
        arrays["obs_count"])
    if returns:
        norm.ret_rms.mean, norm.ret_rms.var = arrays["ret_mean"], arrays["ret_var"]
        norm.ret_rms.count = float(arrays["ret_count"])

