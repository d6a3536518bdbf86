"""Rollout collection group by group: the workers never wait for each other.

SB3's ``collect_rollouts`` steps every env together: the policy runs while all workers wait,
then all workers step while the policy waits, and each step lasts as long as the slowest
worker's. Here each worker's envs form groups (see :class:`~sim_training.vec_env.MultiprocVecEnv`)
and each group is served as soon as its step arrives: its observations are normalised, the
policy acts on them and the group is sent its next actions while the workers step their other
groups. Every env still takes each action from the current policy on its own current
observation, so the rollout buffer holds the same kind of data as SB3's (the order in which
envs advance differs, and with it the order of the normalisation statistics' updates).

A rollout ends when ``n_steps × num_envs`` samples are in, not when every env has made
``n_steps`` steps: a process that runs faster (its envs fall and reset less, or its vCPU is
less contended) contributes longer segments instead of idling until the slower one catches
up. Measured with a fixed ``n_steps`` per env, the faster process waited at the end of every
rollout and training was no faster than lockstep (396 vs 406 samples/s, 16 envs). Each env's
column of :class:`SegmentRolloutBuffer` is one on-policy segment of its own length; GAE
bootstraps each at its own end.

The observation wrappers of training (``VecNormalize``, then
:class:`~sim_training.policy.LatentNoise`) are applied per group by :func:`normalize_group`
and ``LatentNoise.group_step``, which do what their ``step_wait`` does for a subset of envs.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.buffers import DictRolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.type_aliases import DictRolloutBufferSamples
from stable_baselines3.common.utils import obs_as_tensor
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper, VecNormalize

from sim_training.policy import LatentNoise
from sim_training.vec_env import MultiprocVecEnv


class SegmentRolloutBuffer(DictRolloutBuffer):
    """SB3's dict rollout buffer whose env columns hold segments of different lengths.

    Room is ``slack × buffer_size`` steps per env; a rollout holds ``buffer_size × n_envs``
    samples in all (:attr:`target_steps` per env on average). ``lengths`` (n_envs,) says how
    many steps of each column are real; advantages, returns and minibatches only use those.

    Args:
        buffer_size: Average steps per env (PPO's ``n_steps``).
        observation_space: Dict observation space.
        action_space: Action space.
        device: Torch device.
        gae_lambda: GAE λ.
        gamma: Discount.
        n_envs: Envs.
        slack: Room per env, as a multiple of ``buffer_size``.
    """

    def __init__(self, buffer_size: int, observation_space: Any, action_space: Any,
                 device: Any = "auto", gae_lambda: float = 1.0, gamma: float = 0.99,
                 n_envs: int = 1, slack: float = 2.0) -> None:
        self.target_steps = buffer_size
        self.lengths = np.zeros(n_envs, dtype=int)
        super().__init__(math.ceil(buffer_size * slack), observation_space, action_space,
                         device=device, gae_lambda=gae_lambda, gamma=gamma, n_envs=n_envs)

    def reset(self) -> None:
        """Empty the buffer (every segment length 0)."""
        super().reset()
        self.lengths = np.zeros(self.n_envs, dtype=int)

    def valid_mask(self) -> np.ndarray:
        """(buffer_size, n_envs) bool: which entries are real steps."""
        return np.arange(self.buffer_size)[:, None] < self.lengths[None, :]

    def compute_returns_and_advantage(self, last_values: th.Tensor, dones: np.ndarray) -> None:
        """GAE(λ) per segment, bootstrapped with ``last_values`` (n_envs,) at each segment's end.

        The recursion is SB3's, with "the last step" being each env's own last step; entries
        past a segment's end get advantage 0 (and are never sampled).
        """
        last = last_values.clone().cpu().numpy().flatten()
        done_at_end = np.asarray(dones, dtype=np.float32)
        gae = np.zeros(self.n_envs, dtype=np.float32)
        self.advantages[:] = 0.0
        for t in reversed(range(int(self.lengths.max(initial=0)))):
            at_end = t == self.lengths - 1
            if t + 1 < self.buffer_size:
                next_values = np.where(at_end, last, self.values[t + 1])
                next_live = np.where(at_end, 1.0 - done_at_end, 1.0 - self.episode_starts[t + 1])
            else:
                next_values, next_live = last, 1.0 - done_at_end
            delta = self.rewards[t] + self.gamma * next_values * next_live - self.values[t]
            gae = np.where(t < self.lengths,
                           delta + self.gamma * self.gae_lambda * next_live * gae, 0.0)
            self.advantages[t] = gae
        self.returns = self.advantages + self.values

    def get(self, batch_size: int | None = None,
            ) -> Generator[DictRolloutBufferSamples, None, None]:
        """Minibatches drawn (without replacement) from the real steps only."""
        assert self.full, "the rollout is not complete"
        valid = np.flatnonzero(self.valid_mask().T.ravel())  # the flattened order: env-major
        indices = np.random.permutation(valid)
        if not self.generator_ready:
            for key, obs in self.observations.items():
                self.observations[key] = self.swap_and_flatten(obs)
            for name in ("actions", "values", "log_probs", "advantages", "returns"):
                self.__dict__[name] = self.swap_and_flatten(self.__dict__[name])
            self.generator_ready = True
        batch_size = batch_size or len(indices)
        for start in range(0, len(indices), batch_size):
            yield self._get_samples(indices[start:start + batch_size])


def normalize_group(norm: VecNormalize, idx: np.ndarray, obs: dict[str, np.ndarray],
                    rewards: np.ndarray, dones: np.ndarray,
                    infos: list[dict]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """``VecNormalize.step_wait`` for the results of the envs ``idx`` (k,) alone.

    Statistics are updated from this group's batch (when ``norm.training``); the discounted
    returns behind the reward scale are tracked per env, as VecNormalize does.

    Returns:
        The normalised observation and rewards (k,).
    """
    if norm.training and norm.norm_obs:
        for key, rms in norm.obs_rms.items():
            rms.update(obs[key])
    normed = norm.normalize_obs(obs)
    if norm.training:
        norm.returns[idx] = norm.returns[idx] * norm.gamma + rewards
        norm.ret_rms.update(norm.returns[idx])
    scaled = norm.normalize_reward(rewards)
    for i in np.flatnonzero(dones):
        if "terminal_observation" in infos[i]:
            infos[i]["terminal_observation"] = norm.normalize_obs(infos[i]["terminal_observation"])
    norm.returns[idx[dones]] = 0
    return normed, scaled


class GroupStepper:
    """Steps a training env chain (VecNormalize / LatentNoise over a MultiprocVecEnv) by group.

    Args:
        wrappers: The wrappers, outermost first.
        base: The grouped vector env under them.
    """

    def __init__(self, wrappers: list[VecEnvWrapper], base: MultiprocVecEnv) -> None:
        self.wrappers = wrappers
        self.base = base
        self.num_groups = base.num_groups

    @classmethod
    def of(cls, env: VecEnv) -> GroupStepper | None:
        """A stepper for ``env``, or None when it cannot be stepped by group.

        That is when its base is not a :class:`MultiprocVecEnv` with several groups per
        worker, or a wrapper other than VecNormalize and LatentNoise sits on it.
        """
        wrappers: list[VecEnvWrapper] = []
        while isinstance(env, VecEnvWrapper):
            if not isinstance(env, (VecNormalize, LatentNoise)):
                return None
            wrappers.append(env)
            env = env.venv
        if isinstance(env, MultiprocVecEnv) and env.groups_per_worker > 1:
            return cls(wrappers, env)
        return None

    def indices(self, group: int) -> np.ndarray:
        """Env indices (group_size,) of a group."""
        return self.base.group_indices(group)

    def send(self, group: int, actions: np.ndarray) -> None:
        """Send a group its actions (group_size, action_dim)."""
        self.base.step_group_async(group, actions)

    def recv(self) -> tuple[int, dict[str, np.ndarray], np.ndarray, np.ndarray, list[dict]]:
        """The next group step to finish, through the wrappers.

        Returns:
            (group, obs, rewards (group_size,), dones (group_size,), infos).
        """
        group, obs, rewards, dones, infos = self.base.step_group_wait()
        idx = self.indices(group)
        for wrapper in reversed(self.wrappers):  # innermost first, as step_wait nests
            if isinstance(wrapper, VecNormalize):
                obs, rewards = normalize_group(wrapper, idx, obs, rewards, dones, infos)
            else:
                obs = wrapper.group_step(idx, obs, dones, infos)
        return group, obs, rewards, dones, infos


def collect_by_group(algo: Any, stepper: GroupStepper, callback: BaseCallback,
                     buffer: SegmentRolloutBuffer, n_steps: int) -> bool:
    """Fill ``buffer`` with ``n_steps × num_envs`` samples, serving groups as they finish.

    What SB3's ``OnPolicyAlgorithm.collect_rollouts`` does (callbacks per step, episode info,
    time-limit bootstrapping, returns and advantages at the end), group by group: a group is
    sent its next actions as soon as its step is in, until the samples stored and in flight
    make the rollout. Stopped by the callback, it still receives the steps in flight, so that
    the next collection starts from every env's true current observation.

    Args:
        algo: The algorithm (:class:`~sim_training.ppo.LatentPPO`: its policy,
            ``num_timesteps``, ``collection_state``, ``end_collection``, ...).
        stepper: The grouped training envs.
        callback: SB3 callback.
        buffer: The rollout buffer.
        n_steps: Steps per env on average.

    Returns:
        False if the callback stopped the collection, else True.
    """
    policy = algo.policy
    policy.set_training_mode(False)
    buffer.reset()
    callback.on_rollout_start()
    last_obs, starts = algo.collection_state()
    size = stepper.base.group_size
    target = n_steps * stepper.base.num_envs
    filled = np.zeros(stepper.num_groups, dtype=int)
    pending: dict[int, tuple[dict[str, np.ndarray], np.ndarray, th.Tensor, th.Tensor]] = {}
    low, high = algo.action_space.low, algo.action_space.high

    def act(group: int) -> None:
        idx = stepper.indices(group)
        obs = {k: v[idx] for k, v in last_obs.items()}
        with th.no_grad():
            actions, values, log_probs = policy(obs_as_tensor(obs, algo.device))
        actions = actions.cpu().numpy()
        pending[group] = (obs, actions, values, log_probs)
        stepper.send(group, np.clip(actions, low, high))

    for group in range(stepper.num_groups):
        act(group)
    running = True
    stored = 0
    while pending:
        group, new_obs, rewards, dones, infos = stepper.recv()
        idx = stepper.indices(group)
        obs, actions, values, log_probs = pending.pop(group)
        if running:
            algo.num_timesteps += len(idx)
            callback.update_locals({"infos": infos, "dones": dones, "rewards": rewards,
                                    "new_obs": new_obs, "actions": actions, "env_ids": idx})
            running = callback.on_step()
        if running:
            algo.record_episodes(infos, dones)
            rewards = np.asarray(rewards, dtype=np.float32).copy()
            for i in np.flatnonzero(dones):  # time limit: bootstrap with the value (SB3 #633)
                term = infos[i].get("terminal_observation")
                if term is not None and infos[i].get("TimeLimit.truncated", False):
                    with th.no_grad():
                        value = policy.predict_values(policy.obs_to_tensor(term)[0])[0]
                    rewards[i] += algo.gamma * float(value)
            t = filled[group]
            for key, store in buffer.observations.items():
                store[t, idx] = obs[key]
            buffer.actions[t, idx] = actions.reshape(len(idx), -1)
            buffer.rewards[t, idx] = rewards
            buffer.episode_starts[t, idx] = starts[idx]
            buffer.values[t, idx] = values.cpu().numpy().ravel()
            buffer.log_probs[t, idx] = log_probs.cpu().numpy().ravel()
            filled[group] += 1
            stored += len(idx)
        for key, value in new_obs.items():
            last_obs[key][idx] = value
        starts[idx] = dones
        if (running and stored + len(pending) * size < target
                and filled[group] < buffer.buffer_size):
            act(group)
    algo.end_collection(last_obs, starts)
    if not running:
        return False
    buffer.lengths = np.repeat(filled, size)
    buffer.pos, buffer.full = int(filled.max()), True
    with th.no_grad():
        values = policy.predict_values(obs_as_tensor(last_obs, algo.device))
    buffer.compute_returns_and_advantage(last_values=values, dones=starts)
    callback.update_locals({"values": values, "dones": starts})
    callback.on_rollout_end()
    return True
