"""The model: π(a | s, z) and V(s, z) with z from an encoder of the dynamics, E(μ).

z = m(μ) + σ(μ) ⊙ ε, with the encoder's mean m and standard deviation σ, and ε ~ N(0, I) drawn
once per episode by :class:`LatentNoise` (a VecEnv wrapper that adds it to the observation
as ``z_noise``). Putting ε in the observation makes z a deterministic, differentiable function
of what the rollout buffer stores: PPO's probability ratios stay exact, and the gradient
reaches the encoder by reparameterisation. The information bottleneck is the KL term
``KL(N(m, σ²) ‖ N(0, I))`` (:func:`gaussian_kl`), added to PPO's loss with weight β.

Without the latent (``z_dim = 0``) the same classes give the robust baseline: actor and
critic see the proprioceptive observation only.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3.common.policies import MultiInputActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

from sim_training.dynamics import DYNAMICS_KEYS
from sim_training.randomization import RandomizationRanges, encoder_keys


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of the latent actor-critic."""

    z_dim: int = 8
    """Latent size; 0 = the robust baseline without encoder."""
    beta: float = 1e-3
    """Weight of the KL (information bottleneck) term in the loss."""
    encoder_hidden: tuple[int, ...] = (64, 64)
    """Encoder MLP hidden sizes."""
    actor_hidden: tuple[int, ...] = (512, 256)
    """Actor MLP hidden sizes (the paper: 512, 256)."""
    critic_hidden: tuple[int, ...] = (512, 256)
    """Critic MLP hidden sizes."""
    log_std_init: float = -1.0
    """Initial log standard deviation of the Gaussian actions."""
    min_log_sigma: float = -5.0
    """Lower clamp of the encoder's log σ (keeps the KL finite)."""


def dynamics_normaliser(ranges: RandomizationRanges) -> tuple[np.ndarray, np.ndarray]:
    """Offset and scale (k,) mapping each training range to [-1, 1] for the encoder.

    One entry per key the encoder reads (:func:`~sim_training.randomization.encoder_keys`).
    """
    keys = encoder_keys(ranges)
    lo = np.array([getattr(ranges, k)[0] for k in keys])
    hi = np.array([getattr(ranges, k)[1] for k in keys])
    mid, half = (lo + hi) / 2.0, np.maximum((hi - lo) / 2.0, 1e-6)
    return mid.astype(np.float32), half.astype(np.float32)


def gaussian_kl(mean: th.Tensor, log_sigma: th.Tensor) -> th.Tensor:
    """KL(N(mean, σ²) ‖ N(0, I)) per row: ½ Σ (mean² + σ² − 1 − 2 log σ). Shape (B,)."""
    return 0.5 * th.sum(mean**2 + th.exp(2.0 * log_sigma) - 1.0 - 2.0 * log_sigma, dim=-1)


def mlp(sizes: list[int], activation: type[th.nn.Module] = th.nn.ELU) -> th.nn.Sequential:
    """Linear layers of the given sizes with ``activation`` between them (none at the end)."""
    layers: list[th.nn.Module] = []
    for a, b in itertools.pairwise(sizes):
        layers += [th.nn.Linear(a, b), activation()]
    return th.nn.Sequential(*layers[:-1])


class DynamicsEncoder(th.nn.Module):
    """E(μ): dynamics params (B, len(DYNAMICS_KEYS)) → mean (B, z) and log σ (B, z).

    It reads the columns of ``keys`` (the keys its training randomised), each mapped to
    [-1, 1] over its training range by ``offset`` and ``scale`` (one entry per key).
    """

    def __init__(self, z_dim: int, hidden: tuple[int, ...], offset: np.ndarray,
                 scale: np.ndarray, min_log_sigma: float = -5.0,
                 keys: tuple[str, ...] | None = None) -> None:
        super().__init__()
        keys = tuple(DYNAMICS_KEYS[:len(offset)]) if keys is None else tuple(keys)
        if len(keys) != len(offset):
            raise ValueError(f"{len(keys)} encoder keys but {len(offset)} normaliser entries")
        self.keys = keys
        self.net = mlp([len(keys), *hidden, 2 * z_dim])
        self.register_buffer("offset", th.as_tensor(offset, dtype=th.float32))
        self.register_buffer("scale", th.as_tensor(scale, dtype=th.float32))
        # Not in the state dict: bundles saved before later keys existed load unchanged.
        self.register_buffer("columns", th.as_tensor([DYNAMICS_KEYS.index(k) for k in keys]),
                             persistent=False)
        self.z_dim = z_dim
        self.min_log_sigma = min_log_sigma

    def forward(self, dynamics: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        """Mean and log σ of q(z | μ) from the full dynamics vectors (B, len(DYNAMICS_KEYS))."""
        out = self.net((dynamics[..., self.columns] - self.offset) / self.scale)
        mean, log_sigma = out[..., :self.z_dim], out[..., self.z_dim:]
        return mean, th.clamp(log_sigma, min=self.min_log_sigma, max=2.0)


class LatentFeatures(BaseFeaturesExtractor):
    """Observation dict → [obs, z] (B, n_obs + z_dim); the encoder lives here.

    Keys: ``obs`` (normalised observation), ``dynamics`` (raw params), ``z_noise`` (ε).
    With ``z_dim = 0`` the features are ``obs`` alone (robust baseline).
    """

    def __init__(self, observation_space: gym.spaces.Dict, z_dim: int = 8,
                 encoder_hidden: tuple[int, ...] = (64, 64),
                 offset: np.ndarray | None = None, scale: np.ndarray | None = None,
                 min_log_sigma: float = -5.0, keys: tuple[str, ...] | None = None) -> None:
        n_obs = int(observation_space["obs"].shape[0])
        super().__init__(observation_space, n_obs + z_dim)
        self.z_dim = z_dim
        n = len(DYNAMICS_KEYS if keys is None else keys) if offset is None else len(offset)
        self.encoder = (DynamicsEncoder(z_dim, encoder_hidden,
                                        np.zeros(n) if offset is None else offset,
                                        np.ones(n) if scale is None else scale,
                                        min_log_sigma, keys) if z_dim else None)
        self.fixed_z: th.Tensor | None = None  # set to use one z for everything (adaptation)

    def latent(self, observations: dict[str, th.Tensor]) -> th.Tensor:
        """The latent (B, z_dim): a fixed z if set, else mean + σ·ε from the encoder."""
        batch = observations["obs"].shape[0]
        if self.fixed_z is not None:
            return self.fixed_z.expand(batch, -1)
        assert self.encoder is not None
        mean, log_sigma = self.encoder(observations["dynamics"])
        return mean + th.exp(log_sigma) * observations["z_noise"]

    def forward(self, observations: dict[str, th.Tensor]) -> th.Tensor:
        """Concatenate the observation and z."""
        if not self.z_dim:
            return observations["obs"]
        return th.cat([observations["obs"], self.latent(observations)], dim=-1)

    def kl(self, observations: dict[str, th.Tensor]) -> th.Tensor:
        """Mean KL(q(z|μ) ‖ N(0, I)) over the batch (0 without latent)."""
        if not self.z_dim or self.encoder is None:
            return th.zeros(())
        mean, log_sigma = self.encoder(observations["dynamics"])
        return gaussian_kl(mean, log_sigma).mean()


class LatentActorCriticPolicy(MultiInputActorCriticPolicy):
    """SB3 actor-critic on [obs, z], sharing the :class:`LatentFeatures` extractor."""

    def __init__(self, *args: Any, model: ModelConfig | None = None,
                 dynamics_offset: np.ndarray | None = None,
                 dynamics_scale: np.ndarray | None = None,
                 dynamics_keys: tuple[str, ...] | None = None, **kwargs: Any) -> None:
        model = model or ModelConfig()
        kwargs.setdefault("net_arch", {"pi": list(model.actor_hidden),
                                       "vf": list(model.critic_hidden)})
        kwargs.setdefault("activation_fn", th.nn.ELU)
        kwargs.setdefault("log_std_init", model.log_std_init)
        kwargs["features_extractor_class"] = LatentFeatures
        kwargs["features_extractor_kwargs"] = {
            "z_dim": model.z_dim, "encoder_hidden": model.encoder_hidden,
            "offset": dynamics_offset, "scale": dynamics_scale,
            "min_log_sigma": model.min_log_sigma, "keys": dynamics_keys}
        kwargs["share_features_extractor"] = True
        self.model_config = model
        super().__init__(*args, **kwargs)

    def kl(self, observations: dict[str, th.Tensor]) -> th.Tensor:
        """Mean information-bottleneck KL of a batch."""
        return self.features_extractor.kl(observations)


class LatentNoise(VecEnvWrapper):
    """Adds ``z_noise`` (z_dim,) ~ N(0, I) to dict observations, redrawn at each episode start.

    Args:
        venv: The vector env (dict observations).
        z_dim: Noise size (the latent size).
        seed: Seed of the noise generator.
    """

    def __init__(self, venv: VecEnv, z_dim: int, seed: int = 0) -> None:
        spaces = dict(venv.observation_space.spaces)
        spaces["z_noise"] = gym.spaces.Box(-np.inf, np.inf, (max(z_dim, 1),), np.float32)
        super().__init__(venv, observation_space=gym.spaces.Dict(spaces))
        self.z_dim = max(z_dim, 1)
        self.rng = np.random.default_rng(seed)
        self.noise = self.rng.standard_normal((venv.num_envs, self.z_dim)).astype(np.float32)

    def reset(self) -> dict[str, np.ndarray]:
        """Reset every env with fresh noise."""
        obs = self.venv.reset()
        self.noise = self.rng.standard_normal(self.noise.shape).astype(np.float32)
        return {**obs, "z_noise": self.noise.copy()}

    def step_wait(self) -> tuple[Any, np.ndarray, np.ndarray, list[dict]]:
        """Step; envs whose episode ended get fresh noise (their obs is the new episode's)."""
        obs, rewards, dones, infos = self.venv.step_wait()
        obs = self.group_step(np.arange(self.num_envs), obs, dones, infos)
        return obs, rewards, dones, infos

    def group_step(self, idx: np.ndarray, obs: dict[str, np.ndarray], dones: np.ndarray,
                   infos: list[dict]) -> dict[str, np.ndarray]:
        """What :meth:`step_wait` does, for the results of the envs ``idx`` (k,) alone.

        A terminal observation keeps the noise of the episode it ends (the value bootstrap
        of a time-limited episode is computed on it); the new episode's obs gets new noise.
        """
        ended = idx[dones]
        for i in np.flatnonzero(dones):
            term = infos[i].get("terminal_observation")
            if isinstance(term, dict):
                infos[i]["terminal_observation"] = {**term, "z_noise": self.noise[idx[i]].copy()}
        if len(ended):
            self.noise[ended] = self.rng.standard_normal((len(ended), self.z_dim)).astype(
                np.float32)
        return {**obs, "z_noise": self.noise[idx].copy()}
