"""Frozen configs of the training entry point, and their JSON round trip."""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim_training.env import EnvConfig
from sim_training.policy import ModelConfig
from sim_training.rates import TRAIN_PHYSICS_HZ


@dataclass(frozen=True)
class PPOConfig:
    """PPO hyper-parameters (stable-baselines3 names), tuned for CPU with 32 envs."""

    n_steps: int = 64
    """Env steps per env per rollout, on average (32 envs: 2048 samples per update; with
    grouped envs each env's segment length varies around it)."""
    batch_size: int = 512
    """Minibatch size."""
    n_epochs: int = 5
    """Passes over each rollout."""
    learning_rate: float = 3e-4
    """Adam step size."""
    gamma: float = 0.95
    """Discount (the paper: 0.95)."""
    gae_lambda: float = 0.95
    """GAE λ."""
    clip_range: float = 0.2
    """PPO ratio clip."""
    ent_coef: float = 0.0
    """Entropy bonus weight."""
    vf_coef: float = 0.5
    """Value loss weight."""
    max_grad_norm: float = 1.0
    """Gradient norm clip."""
    target_kl: float | None = 0.03
    """Stop an update's epochs early past 1.5 × this approximate KL (None: never)."""


def training_env() -> EnvConfig:
    """The env settings of a new training run.

    Its physics rate is :data:`~sim_training.rates.TRAIN_PHYSICS_HZ`, heading feedback on.
    """
    return EnvConfig(physics_hz=TRAIN_PHYSICS_HZ, heading_feedback=True)


@dataclass(frozen=True)
class TrainConfig:
    """One training run: what to imitate, with which robot, how long, how."""

    motion: str
    """Motion file (motion_imitation JSON)."""
    robot: str = "a1"
    """Robot name."""
    timesteps: int = 2_000_000
    """Total env steps (samples) to train for."""
    num_envs: int = 32
    """Parallel envs. Training samples/s measured in one run (``quadmimic bench train``,
    2 processes, 2048 samples per update): 311 with 8 envs in lockstep, 406 with 16,
    408 with 32, 466 with 32 in groups (the default)."""
    num_workers: int = 2
    """Processes the envs run in (must divide num_envs; 0 = in the training process)."""
    groups_per_worker: int = 2
    """Groups each process's envs are split into (num_workers × this must divide num_envs).
    With 2 or more, rollouts are collected group by group: the policy acts on one group while
    the processes step the others (:mod:`sim_training.collect`); 1 = SB3's lockstep. Runs
    whose config predates this field resume with 1, as they were trained."""
    seed: int = 0
    """Seed of envs, noise and network initialisation."""
    latent: bool = True
    """Condition the policy on an encoder latent (False: the robust baseline, same budget)."""
    checkpoint_minutes: float = 5.0
    """Wall-clock minutes between checkpoints."""
    curriculum_start: float = 0.3
    """Fraction of the randomisation ranges used at the start."""
    curriculum_step: float = 0.1
    """Widening of the ranges each time tracking is good enough."""
    curriculum_episode_fraction: float = 0.6
    """Tracking is good enough when mean episode length ≥ this × the episode limit."""
    torch_threads: int = 1
    """Torch CPU threads in the training process while collecting (the env workers need the
    cores)."""
    update_threads: int = 0
    """Torch CPU threads during each PPO update, when the env workers are idle (0: all)."""
    eval_episodes: int = 2
    """Deterministic episodes at nominal dynamics run at every checkpoint (0: none); their
    length, falls and pose term go into the learning curve as ``eval_nominal_*``."""
    init_from: str | None = None
    """Start the network and observation statistics from this run, checkpoint or bundle
    (same model config) instead of at random, e.g. a pace from a trained trot."""
    env: EnvConfig = field(default_factory=lambda: training_env())
    """The env's task settings (:func:`training_env`). Training defaults to
    :data:`~sim_training.rates.TRAIN_PHYSICS_HZ` physics; evaluation on other dynamics and
    deployment run at :data:`~sim_training.rates.EVAL_PHYSICS_HZ`, a check of the transfer. New
    runs observe
    their heading error (``heading_feedback``); a config file without the key (the first A1
    bundles) loads without it, as it was trained."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """The network."""
    ppo: PPOConfig = field(default_factory=PPOConfig)
    """The algorithm."""

    def __post_init__(self) -> None:
        """Check that the envs split evenly over processes and groups.

        Raises:
            ValueError: They do not.
        """
        if self.num_workers < 0 or self.groups_per_worker < 1 or self.num_envs < 1:
            raise ValueError(f"num_envs ({self.num_envs}) ≥ 1, num_workers "
                             f"({self.num_workers}) ≥ 0 and groups_per_worker "
                             f"({self.groups_per_worker}) ≥ 1 are required")
        if self.num_workers and self.num_envs % (self.num_workers * self.groups_per_worker):
            raise ValueError(f"num_envs ({self.num_envs}) must be a multiple of num_workers × "
                             f"groups_per_worker ({self.num_workers} × "
                             f"{self.groups_per_worker})")


def to_dict(config: Any) -> dict[str, Any]:
    """A dataclass config as plain JSON-ready data (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Rebuild a (nested) frozen dataclass from :func:`to_dict` output; unknown keys fail."""
    hints = typing.get_type_hints(cls)
    kwargs = {}
    names = {f.name for f in dataclasses.fields(cls)}
    for key, value in data.items():
        if key not in names:
            raise ValueError(f"{cls.__name__} has no field {key!r}")
        kind = hints[key]
        if dataclasses.is_dataclass(kind) and isinstance(value, dict):
            kwargs[key] = from_dict(kind, value)
        elif isinstance(value, list):
            kwargs[key] = _tuple_of(value)
        else:
            kwargs[key] = value
    return cls(**kwargs)


def _tuple_of(value: list) -> tuple:
    return tuple(_tuple_of(v) if isinstance(v, list) else v for v in value)


def _merged(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``update``'s values, nested tables merged key by key."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


def env_config_from(path: str | Path, base: EnvConfig | None = None,
                    overrides: dict[str, Any] | None = None) -> EnvConfig:
    """An :class:`EnvConfig` from a settings file (JSON, or TOML by suffix) over ``base``.

    The file names any :class:`EnvConfig` fields; nested ones (``ranges``, ``reward``,
    ``sensor_noise``) may be partial, e.g. ``{"ranges": {"latency_s": [0, 0.06]},
    "push_interval_s": 5, "push_speed": 0.5}``. ``overrides`` (field → value) win over the file.

    Raises:
        ConfigError: Unreadable file, bad syntax, an unknown field or an impossible value,
            naming the file.
    """
    from quadmimic.core.errors import ConfigError, QuadmimicError
    from quadmimic.core.fileio import read_table

    data = read_table(path, ConfigError, "env settings file")
    merged = _merged(to_dict(base or EnvConfig()), data)
    merged.update(overrides or {})
    try:
        return from_dict(EnvConfig, merged)
    except (QuadmimicError, ValueError, TypeError) as exc:  # e.g. a range outside the limits
        raise ConfigError(str(exc), path) from None


def save_config(config: Any, path: str | Path) -> Path:
    """Write a config as JSON (atomically)."""
    from quadmimic.core.fileio import atomic_write_text

    return atomic_write_text(path, json.dumps(to_dict(config), indent=2) + "\n")


def load_train_config(path: str | Path) -> TrainConfig:
    """Read a :class:`TrainConfig` JSON file.

    A config written before ``groups_per_worker`` existed gets 1 (lockstep), as it trained.

    Raises:
        ConfigError: Not valid JSON, or not a training config (named).
    """
    from quadmimic.core.errors import ConfigError
    from quadmimic.core.fileio import read_table

    data = read_table(path, ConfigError, "training config")
    data.setdefault("groups_per_worker", 1)
    try:
        return from_dict(TrainConfig, data)
    except (AttributeError, TypeError, ValueError) as exc:
        raise ConfigError(f"not a training config: {exc}", path) from None


